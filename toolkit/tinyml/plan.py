"""Static memory plan: every activation tensor gets an offset in one arena, from tensor lifetimes.

Buffers whose lifetimes do not overlap share bytes. Reshapes alias their input; elementwise operators write over
an input that dies with them (in place). Placement is greedy, largest buffer first, at the lowest offset free for
its whole lifetime (the approach TFLite Micro's greedy planner takes, here with operator-level in-place reuse).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

from tinyml.codegen.context import Lowered
from tinyml.ir.graph import Graph

ALIGN = 4


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    tensor_offsets: Mapping[int, int]   # tensor index -> byte offset
    scratch_offsets: Mapping[int, int]  # operator index -> byte offset of its scratch buffer


@dataclass
class _Buffer:
    size: int
    first: int
    last: int
    offset: int = -1


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(graph: Graph, lowered: Sequence[Lowered]) -> MemoryPlan:
    n_ops = len(graph.operators)
    end = n_ops  # graph outputs stay alive past the last operator
    group: dict[int, int] = {}  # tensor -> representative tensor of its buffer

    def root(t: int) -> int:
        while group.get(t, t) != t:
            t = group[t]
        return t

    first_use: dict[int, int] = {t: -1 for t in graph.inputs}
    last_use: dict[int, int] = {}
    for op in graph.operators:
        for t in op.inputs:
            if t >= 0 and not graph.tensors[t].is_constant:
                last_use[t] = op.index
        for t in op.outputs:
            first_use.setdefault(t, op.index)
    for t in graph.outputs:
        last_use[t] = end
    for t in first_use:
        last_use.setdefault(t, first_use[t])

    def group_last(rep: int, excluding: int) -> int:
        return max(last_use[t] for t in first_use if root(t) == rep and t != excluding)

    for op, low in zip(graph.operators, lowered):
        out = op.outputs[0] if op.outputs else None
        if low.alias_input is not None:
            group[out] = root(low.alias_input)
        elif low.inplace_input is not None:
            src = low.inplace_input
            fits = graph.tensors[src].nbytes >= graph.tensors[out].nbytes
            if fits and src not in graph.outputs and group_last(root(src), out) <= op.index:
                group[out] = root(src)

    buffers: dict[int, _Buffer] = {}
    for t in first_use:
        rep = root(t)
        b = buffers.setdefault(rep, _Buffer(0, first_use[t], last_use[t]))
        b.size = max(b.size, graph.tensors[t].nbytes)
        b.first, b.last = min(b.first, first_use[t]), max(b.last, last_use[t])
    scratch: dict[int, _Buffer] = {
        op.index: _Buffer(low.scratch_bytes, op.index, op.index)
        for op, low in zip(graph.operators, lowered) if low.scratch_bytes > 0}

    placed: list[_Buffer] = []
    for b in sorted([*buffers.values(), *scratch.values()], key=lambda b: (-b.size, b.first)):
        live = sorted((p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + b.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        b.offset = offset
        placed.append(b)
    arena = _align(max((b.offset + b.size for b in placed), default=0))
    return MemoryPlan(
        arena_bytes=arena,
        tensor_offsets=MappingProxyType({t: buffers[root(t)].offset for t in first_use}),
        scratch_offsets=MappingProxyType({i: b.offset for i, b in scratch.items()}),
    )
