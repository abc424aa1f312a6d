"""Static memory plan: every buffer gets an offset in one arena, from plain records of sizes and lifetimes.

The planner knows nothing of operators (like TFLite Micro's `AddBuffer(size, first_time_used, last_time_used)`): the
code generator hands it `Requests` (see `tinyml.compiler.codegen.buffers`):
- `tensors`: per activation tensor, a `Buffer` (bytes, first and last time it is live, inclusive); time is a
  position in the execution order;
- `scratch`: per operator, a `Buffer` live at its step only;
- `shares`: relations that let a tensor share bytes with another one live at the same step:
  - `ALIAS`: `dst` IS `src`'s bytes (reshapes; no code runs);
  - `INPLACE` (optional): `dst` may take over `src` at the same offset when `src` is at least as large and dies at
    that step (with every tensor tied to it, none of them among the step's other `readers`);
  - `OVERLAP` (mandatory): the kernel writes `dst` over `src`, which must die at that step, `src` starting `delta`
    bytes after `dst` (partial overlap; the kernel is written for exactly that geometry).
Tensors tied this way form a rigid group: one block of rectangles (bytes x lifetime) at fixed relative offsets.

Placement: groups in some order, each at the lowest aligned offset where none of its rectangles meets a placed one
(the greedy of TFLite Micro, with rigid groups). The order matters, so several orders are tried (largest first,
longest-lived first, by first use, ... and a few seeded shuffles) and the smallest arena wins; the search stops
early when an order reaches the lower bound (the largest sum of bytes live at one time).
`verify_plan` checks a plan independently: no two rectangles live at the same time share a byte, except the legal
pairs above, and each `OVERLAP` pair sits at its declared offset. A failure is a bug in tinyml (`TinymlBug`).
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from tinyml.errors import TinymlBug

ALIGN = 4
_SHUFFLES = 24  # seeded random group orders tried after the heuristic ones


ALIAS, INPLACE, OVERLAP = "alias", "inplace", "overlap"


@dataclass(frozen=True)
class Buffer:
    size: int
    first: int  # first step it is live
    last: int   # last step it is live (inclusive)


@dataclass(frozen=True)
class Share:
    kind: str                    # ALIAS, INPLACE or OVERLAP
    src: int                     # the tensor whose bytes are taken
    dst: int                     # the tensor that takes them
    at: int                      # the step where this happens
    delta: int = 0               # OVERLAP: offset(src) - offset(dst)
    readers: tuple[int, ...] = ()  # the step's other input tensors (none may be tied to src)


@dataclass(frozen=True)
class Requests:
    """What the planner places: tensors by index, scratch buffers by operator index, and their relations."""

    tensors: Mapping[int, Buffer]
    scratch: Mapping[int, Buffer]
    shares: tuple[Share, ...]
    steps: int       # number of steps (operators); graph outputs stay live up to this one
    name: str = ""   # for messages


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
                raise TinymlBug(f"memory planner: tensors {x} and {y} are tied at two different offsets")
            return
        self.parent[ry], self.rel[ry] = rx, ox - oy - delta


def plan_memory(requests: Requests) -> MemoryPlan:
    """The smallest arena found for `requests`."""
    all_groups, pairs = _groups(requests)
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
    for g, base in zip(all_groups, bases, strict=True):
        for r in g.rects:
            (tensor_offsets if r.key[0] == "t" else scratch_offsets)[r.key[1]] = base + r.rel
    plan = MemoryPlan(arena_bytes=_align(arena), tensor_offsets=MappingProxyType(tensor_offsets),
                      scratch_offsets=MappingProxyType(scratch_offsets), lower_bound=bound,
                      inplace_pairs=tuple(pairs))
    verify_plan(requests, plan)
    return plan


def live_bytes(requests: Requests) -> list[int]:
    """Per step, the bytes live there (tensors, with shared bytes counted once, plus its scratch): no plan can use
    less than the largest of these. The code generator shrinks scratch where this peaks."""
    all_groups, _ = _groups(requests)
    return [_live_at(all_groups, t) for t in range(requests.steps)]


def _groups(req: Requests) -> tuple[list[_Group], list[tuple[int, int]]]:
    union = _OffsetUnion()
    pairs: list[tuple[int, int]] = []

    def group_dies(share: Share) -> bool:
        root = union.find(share.src)[0]
        members = {t for t in req.tensors if union.find(t)[0] == root}
        return all(req.tensors[t].last <= share.at for t in members) and not members.intersection(share.readers)

    for share in req.shares:
        if share.kind == ALIAS:
            union.tie(share.dst, share.src, 0)
        elif share.kind == OVERLAP:
            if not group_dies(share):
                raise TinymlBug(f"{req.name}: step {share.at} writes over tensor {share.src}, which is still needed "
                                "after it")
            union.tie(share.src, share.dst, share.delta)
            pairs.append((share.src, share.dst))
        elif req.tensors[share.src].size >= req.tensors[share.dst].size and group_dies(share):
            union.tie(share.src, share.dst, 0)
            pairs.append((share.src, share.dst))

    groups: dict[int, _Group] = {}
    for t, buf in req.tensors.items():
        root, rel = union.find(t)
        groups.setdefault(root, _Group()).rects.append(_Rect(("t", t), buf.size, buf.first, buf.last, rel))
    all_groups = list(groups.values())
    for g in all_groups:
        low_rel = min(r.rel for r in g.rects)
        for r in g.rects:
            r.rel -= low_rel
    for op_index, buf in req.scratch.items():
        if buf.size > 0:
            all_groups.append(_Group([_Rect(("s", op_index), buf.size, buf.first, buf.last)]))
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
        for _start, end, first, last in placed:
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


def verify_plan(req: Requests, plan: MemoryPlan) -> None:
    """Raise `TinymlBug` if two buffers live at the same time share a byte without being a legal pair, if an
    overlap pair is not at its declared offset, or if anything lies outside the arena."""
    rects = [(("t", t), plan.tensor_offsets[t], b.size, b.first, b.last) for t, b in req.tensors.items()]
    rects += [(("s", op), plan.scratch_offsets[op], b.size, b.first, b.last) for op, b in req.scratch.items()
              if b.size > 0]
    legal: set[frozenset] = set()
    alias = _OffsetUnion()
    for share in req.shares:
        gap = plan.tensor_offsets[share.src] - plan.tensor_offsets[share.dst]
        if share.kind == ALIAS:
            alias.tie(share.dst, share.src, 0)
            if gap:
                raise TinymlBug(f"plan: alias {share.src} -> {share.dst} at different offsets")
        elif share.kind == OVERLAP and gap != share.delta:
            raise TinymlBug(f"plan: step {share.at}: overlap input {share.src} is not {share.delta} B after its "
                            f"output {share.dst}")
    for src, out in plan.inplace_pairs:
        legal.add(frozenset((("t", src), ("t", out))))
        if req.tensors[src].last != req.tensors[out].first:
            raise TinymlBug(f"plan: in-place pair {src} -> {out} does not meet at one step")
    for key, off, size, _, _ in rects:
        if off < 0 or off + size > plan.arena_bytes:
            raise TinymlBug(f"plan: {key} [{off}, {off + size}) lies outside the {plan.arena_bytes}-byte arena")
    for i, (ka, oa, sa, fa, la) in enumerate(rects):
        for kb, ob, sb, fb, lb in rects[i + 1:]:
            if fa <= lb and fb <= la and oa < ob + sb and ob < oa + sa and sa and sb:
                if frozenset((ka, kb)) in legal:
                    continue
                if ka[0] == kb[0] == "t" and alias.find(ka[1])[0] == alias.find(kb[1])[0]:
                    continue
                raise TinymlBug(f"plan: {ka} [{oa}, {oa + sa}) t{fa}..{la} and {kb} [{ob}, {ob + sb}) "
                                f"t{fb}..{lb} overlap")
