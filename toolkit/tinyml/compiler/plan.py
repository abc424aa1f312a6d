"""Static memory plan: every activation tensor gets an offset in one arena, from tensor lifetimes.

Time is the position in the execution order (graph inputs are written at -1, graph outputs are read at the end).
A tensor occupies its bytes from the operator that writes it to the last one that reads it, inclusive.

Buffers that are never live at the same time share bytes. Three kinds of operators let an output share bytes with
an input that is live at the same operator:
- `alias_input`: the output IS the input's bytes (reshapes; no code runs);
- `inplace_input` (optional): an elementwise output may take over an input of at least its size that dies with the
  operator, at the same offset;
- `overlap_input` (mandatory): the kernel writes its output over an input that dies with it, the input starting
  `overlap_delta` bytes after the output (partial overlap; the kernel is written for exactly that geometry).
Tensors tied this way form a rigid group: one block of rectangles (bytes x lifetime) at fixed relative offsets.
Every scratch buffer (`scratch_bytes`) is a rectangle of its own, live during its operator only.

Placement: groups in some order, each at the lowest aligned offset where none of its rectangles meets a placed one
(the greedy of TFLite Micro, with rigid groups). The order matters, so several orders are tried (largest first,
longest-lived first, by first use, ... and a few seeded shuffles) and the smallest arena wins; the search stops
early when an order reaches the lower bound (the largest sum of bytes live at one time).
`verify_plan` checks a plan independently: no two rectangles live at the same time share a byte, except the legal
pairs above, and each `overlap_input` pair sits at its declared offset.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

from tinyml.compiler.codegen.context import Lowered
from tinyml.errors import TinymlError
from tinyml.compiler.ir.graph import Graph

ALIGN = 4
_SHUFFLES = 24  # seeded random group orders tried after the heuristic ones


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    tensor_offsets: Mapping[int, int]   # tensor index -> byte offset
    scratch_offsets: Mapping[int, int]  # operator index -> byte offset of its scratch buffer
    lower_bound: int = 0                # largest sum of bytes live at one time (no plan can do better)
    inplace_pairs: tuple[tuple[int, int], ...] = ()  # (input, output) tensors that share bytes at one operator


@dataclass
class _Rect:
    key: tuple[str, int]  # ("t", tensor index) or ("s", operator index)
    size: int
    first: int
    last: int
    rel: int = 0          # offset from its group's base


@dataclass
class _Group:
    rects: list[_Rect] = field(default_factory=list)
    base: int = 0

    @property
    def span(self) -> int:
        return max((r.rel + r.size for r in self.rects), default=0)

    @property
    def first(self) -> int:
        return min(r.first for r in self.rects)

    @property
    def last(self) -> int:
        return max(r.last for r in self.rects)

    @property
    def area(self) -> int:
        return sum(r.size * (r.last - r.first + 1) for r in self.rects)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class _OffsetUnion:
    """Union-find over tensors with a byte offset to the parent: offset(t) = offset(parent) + rel[t]."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.rel: dict[int, int] = {}

    def find(self, t: int) -> tuple[int, int]:
        if self.parent.get(t, t) == t:
            return t, 0
        root, rel = self.find(self.parent[t])
        self.parent[t], self.rel[t] = root, self.rel[t] + rel
        return root, self.rel[t]

    def tie(self, x: int, y: int, delta: int) -> None:
        """Make offset(x) = offset(y) + delta."""
        rx, ox = self.find(x)
        ry, oy = self.find(y)
        if rx == ry:
            if ox != oy + delta:
                raise TinymlError(f"memory planner: tensors {x} and {y} are tied at two different offsets")
            return
        self.parent[ry], self.rel[ry] = rx, ox - oy - delta


def lifetimes(graph: Graph) -> tuple[dict[int, int], dict[int, int]]:
    """First and last time (operator position) of every activation tensor, for the graph's operator order."""
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


def plan_memory(graph: Graph, lowered: Sequence[Lowered]) -> MemoryPlan:
    """The smallest arena found for `graph` executed in its operator order, with `lowered` (one per operator)."""
    all_groups, pairs = _groups(graph, lowered)
    bound = _lower_bound(all_groups)
    best: tuple[int, list[int]] | None = None
    for order in _orders(all_groups):
        arena, bases = _place(all_groups, order, best[0] if best else None)
        if arena is not None and (best is None or arena < best[0]):
            best = (arena, bases)
            if arena <= _align(bound):
                break
    assert best is not None
    arena, bases = best
    tensor_offsets: dict[int, int] = {}
    scratch_offsets: dict[int, int] = {}
    for g, base in zip(all_groups, bases):
        for r in g.rects:
            (tensor_offsets if r.key[0] == "t" else scratch_offsets)[r.key[1]] = base + r.rel
    plan = MemoryPlan(arena_bytes=_align(arena), tensor_offsets=MappingProxyType(tensor_offsets),
                      scratch_offsets=MappingProxyType(scratch_offsets), lower_bound=bound,
                      inplace_pairs=tuple(pairs))
    verify_plan(graph, lowered, plan)
    return plan


def live_bytes(graph: Graph, lowered: Sequence[Lowered]) -> list[int]:
    """Per operator position, the bytes live there (tensors, with shared bytes counted once, plus its scratch): no
    plan can use less than the largest of these. The code generator shrinks scratch where this peaks."""
    all_groups, _ = _groups(graph, lowered)
    return [_live_at(all_groups, t) for t in range(len(graph.operators))]


def _groups(graph: Graph, lowered: Sequence[Lowered]) -> tuple[list[_Group], list[tuple[int, int]]]:
    first, last = lifetimes(graph)
    union = _OffsetUnion()
    pairs: list[tuple[int, int]] = []

    def group_dies(src: int, pos: int, op_inputs: Sequence[int]) -> bool:
        if src in graph.outputs:
            return False
        root = union.find(src)[0]
        members = [t for t in first if union.find(t)[0] == root]
        other_inputs = {t for t in op_inputs if t >= 0 and t != src}
        return all(last[t] <= pos for t in members) and not other_inputs.intersection(members)

    for pos, (op, low) in enumerate(zip(graph.operators, lowered)):
        out = op.outputs[0] if op.outputs else None
        if low.alias_input is not None:
            union.tie(out, low.alias_input, 0)
        elif low.overlap_input is not None:
            src = low.overlap_input
            if not group_dies(src, pos, op.inputs):
                raise TinymlError(f"{graph.name}: {op.describe()} writes over input tensor {src}, which is still "
                                  "needed after it (internal error of the code generator)")
            union.tie(src, out, low.overlap_delta)
            pairs.append((src, out))
        elif low.inplace_input is not None:
            src = low.inplace_input
            if graph.tensors[src].nbytes >= graph.tensors[out].nbytes and group_dies(src, pos, op.inputs):
                union.tie(src, out, 0)
                pairs.append((src, out))

    groups: dict[int, _Group] = {}
    for t in first:
        root, rel = union.find(t)
        groups.setdefault(root, _Group()).rects.append(_Rect(("t", t), graph.tensors[t].nbytes, first[t], last[t], rel))
    all_groups = list(groups.values())
    for g in all_groups:
        low_rel = min(r.rel for r in g.rects)
        for r in g.rects:
            r.rel -= low_rel
    for pos, (op, low) in enumerate(zip(graph.operators, lowered)):
        if low.scratch_bytes > 0:
            all_groups.append(_Group([_Rect(("s", op.index), low.scratch_bytes, pos, pos)]))
    all_groups = [g for g in all_groups if g.span > 0] + [g for g in all_groups if g.span == 0]
    return all_groups, pairs


def _live_at(groups: list[_Group], t: int) -> int:
    live = 0
    for g in groups:
        spans = [(r.rel, r.rel + r.size) for r in g.rects if r.first <= t <= r.last]
        live += _union_length(spans)
    return live


def _lower_bound(groups: list[_Group]) -> int:
    times = sorted({r.first for g in groups for r in g.rects})
    return max((_live_at(groups, t) for t in times), default=0)


def _union_length(spans: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _orders(groups: list[_Group]):
    n = len(groups)
    keys = [
        lambda i: (-groups[i].span, groups[i].first),
        lambda i: (-groups[i].area, groups[i].first),
        lambda i: (-(groups[i].last - groups[i].first), -groups[i].span),
        lambda i: (groups[i].first, -groups[i].span),
        lambda i: (-groups[i].last, -groups[i].span),
        lambda i: (-groups[i].span * (groups[i].last - groups[i].first + 1), groups[i].first),
    ]
    seen = set()
    for key in keys:
        order = tuple(sorted(range(n), key=key))
        if order not in seen:
            seen.add(order)
            yield order
    rng = random.Random(n)
    base = sorted(range(n), key=keys[0])
    for _ in range(_SHUFFLES):
        # perturb the largest-first order: swap a few neighbours
        order = list(base)
        for _ in range(max(1, n // 4)):
            i = rng.randrange(n)
            j = min(n - 1, i + rng.randrange(1, 4))
            order[i], order[j] = order[j], order[i]
        if tuple(order) not in seen:
            seen.add(tuple(order))
            yield tuple(order)


def _place(groups: list[_Group], order: Sequence[int], give_up: int | None) -> tuple[int | None, list[int]]:
    """Greedy lowest-offset placement of the groups in `order`; None if the arena reaches `give_up`."""
    placed: list[tuple[int, int, int, int]] = []  # start, end, first, last
    bases = [0] * len(groups)
    arena = 0
    for gi in order:
        g = groups[gi]
        candidates = {0}
        for start, end, first, last in placed:
            for r in g.rects:
                if r.first <= last and first <= r.last and end - r.rel > 0:
                    candidates.add(_align(end - r.rel))
        for base in sorted(candidates):
            if all(not (r.first <= last and first <= r.last and start < base + r.rel + r.size
                        and base + r.rel < end)
                   for r in g.rects for start, end, first, last in placed):
                break
        bases[gi] = base
        for r in g.rects:
            placed.append((base + r.rel, base + r.rel + r.size, r.first, r.last))
        arena = max(arena, base + g.span)
        if give_up is not None and arena >= give_up:
            return None, bases
    return arena, bases


def verify_plan(graph: Graph, lowered: Sequence[Lowered], plan: MemoryPlan) -> None:
    """Raise if two buffers live at the same time share a byte without being a legal pair, if an overlap pair is not
    at its declared offset, or if anything lies outside the arena."""
    first, last = lifetimes(graph)
    rects = [(("t", t), plan.tensor_offsets[t], graph.tensors[t].nbytes, first[t], last[t]) for t in first]
    for pos, (op, low) in enumerate(zip(graph.operators, lowered)):
        if low.scratch_bytes > 0:
            rects.append((("s", op.index), plan.scratch_offsets[op.index], low.scratch_bytes, pos, pos))
    legal: set[frozenset] = set()
    alias = _OffsetUnion()
    for pos, (op, low) in enumerate(zip(graph.operators, lowered)):
        if low.alias_input is not None:
            alias.tie(op.outputs[0], low.alias_input, 0)
            if plan.tensor_offsets[op.outputs[0]] != plan.tensor_offsets[low.alias_input]:
                raise TinymlError(f"plan: alias {low.alias_input} -> {op.outputs[0]} at different offsets")
        if low.overlap_input is not None:
            src, out = low.overlap_input, op.outputs[0]
            if plan.tensor_offsets[src] - plan.tensor_offsets[out] != low.overlap_delta:
                raise TinymlError(f"plan: {op.describe()} overlap input {src} is not {low.overlap_delta} B after "
                                  f"its output {out}")
    for src, out in plan.inplace_pairs:
        legal.add(frozenset((("t", src), ("t", out))))
        if last[src] != first[out]:
            raise TinymlError(f"plan: in-place pair {src} -> {out} does not meet at one operator")
    for key, off, size, _, _ in rects:
        if off < 0 or off + size > plan.arena_bytes:
            raise TinymlError(f"plan: {key} [{off}, {off + size}) lies outside the {plan.arena_bytes}-byte arena")
    for i, (ka, oa, sa, fa, la) in enumerate(rects):
        for kb, ob, sb, fb, lb in rects[i + 1:]:
            if fa <= lb and fb <= la and oa < ob + sb and ob < oa + sa and sa and sb:
                if frozenset((ka, kb)) in legal:
                    continue
                if ka[0] == kb[0] == "t" and alias.find(ka[1])[0] == alias.find(kb[1])[0]:
                    continue
                raise TinymlError(f"plan: {ka} [{oa}, {oa + sa}) t{fa}..{la} and {kb} [{ob}, {ob + sb}) "
                                  f"t{fb}..{lb} overlap")
