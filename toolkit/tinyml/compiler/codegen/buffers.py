"""The planner's records (`tinyml.compiler.plan.Requests`) from a graph and its lowerings: tensor lifetimes in the
execution order, each operator's scratch, and the byte sharing its lowering allows or requires."""
from __future__ import annotations

from collections.abc import Sequence

from tinyml.compiler.codegen.lowered import Lowered
from tinyml.compiler.ir.graph import Graph
from tinyml.compiler.plan import ALIAS, INPLACE, OVERLAP, Buffer, Requests, Share


def lifetimes(graph: Graph) -> tuple[dict[int, int], dict[int, int]]:
    """First and last time (operator position) of every activation tensor, for the graph's operator order. Graph
    inputs are written at -1, graph outputs are read at the end (one past the last operator)."""
    end = len(graph.operators)
    first: dict[int, int] = {t: -1 for t in graph.inputs}
    last: dict[int, int] = {}
    for pos, op in enumerate(graph.operators):
        for t in op.inputs:
            if t >= 0 and not graph.tensors[t].is_constant:
                last[t] = pos
        for t in op.outputs:
            first.setdefault(t, pos)
    for t in graph.outputs:
        last[t] = end
    for t in first:
        last.setdefault(t, first[t])
    return first, last


def buffer_requests(graph: Graph, lowered: Sequence[Lowered]) -> Requests:
    """One `Buffer` per activation tensor and per operator's scratch, one `Share` per alias, in-place or overlap."""
    first, last = lifetimes(graph)
    tensors = {t: Buffer(graph.tensors[t].nbytes, first[t], last[t]) for t in first}
    scratch = {op.index: Buffer(low.scratch_bytes, pos, pos)
               for pos, (op, low) in enumerate(zip(graph.operators, lowered, strict=True)) if low.scratch_bytes > 0}
    shares = []
    for pos, (op, low) in enumerate(zip(graph.operators, lowered, strict=True)):
        out = op.outputs[0] if op.outputs else -1
        kind, src = ((ALIAS, low.alias_input) if low.alias_input is not None
                     else (OVERLAP, low.overlap_input) if low.overlap_input is not None
                     else (INPLACE, low.inplace_input))
        if src is None:
            continue
        readers = tuple(t for t in op.inputs if t >= 0 and t != src and not graph.tensors[t].is_constant)
        shares.append(Share(kind, src, out, pos, low.overlap_delta if kind == OVERLAP else 0, readers))
    return Requests(tensors, scratch, tuple(shares), len(graph.operators), graph.name)
