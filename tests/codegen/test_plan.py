"""The memory planner: property tests over random graphs (no two buffers live at the same time share a byte, except
the legal in-place and alias pairs, checked byte by byte independently of the planner), its search, its records
(plain buffers and relations, no operators), and the arena of the MLPerf Tiny models against the TFLite Micro budget
of issue 5."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.buffers import buffer_requests, lifetimes
from tinyml.compiler.codegen.inplace import choose_geometry, simulate_ring
from tinyml.compiler.codegen.lowered import Lowered
from tinyml.compiler.ir.graph import Graph, Operator, Quantization, Tensor
from tinyml.compiler.plan import ALIAS, OVERLAP, Buffer, MemoryPlan, Requests, Share, plan_memory, verify_plan
from tinyml.errors import TinymlBug


def _tensor(index: int, size: int, const: bool = False) -> Tensor:
    return Tensor(index, f"t{index}", "int8", (size,), Quantization((1.0,), (0,)),
                  np.zeros(size, np.int8) if const else None)


def random_graph(rng: np.random.Generator) -> tuple[Graph, list[Lowered]]:
    """A random DAG of operators with random sizes, and per operator a random memory behaviour: plain, scratch,
    alias (reshape), optional in-place, or mandatory overlap at a random offset (only when the input dies there)."""
    tensors = [_tensor(0, int(rng.integers(1, 300)))]
    if rng.random() < 0.5:
        tensors.append(_tensor(1, int(rng.integers(1, 300))))
    inputs = tuple(range(len(tensors)))
    available = list(inputs)
    ops, lowered = [], []
    for i in range(int(rng.integers(1, 14))):
        k = int(rng.integers(1, min(3, len(available)) + 1))
        ins = sorted({int(rng.choice(available[-4:] if rng.random() < 0.7 else available)) for _ in range(k)})
        if rng.random() < 0.2:
            tensors.append(_tensor(len(tensors), int(rng.integers(1, 50)), const=True))
            ins.append(len(tensors) - 1)
        kind = rng.choice(["plain", "scratch", "alias", "inplace", "overlap"])
        src = ins[0]
        size = tensors[src].size if kind == "alias" else int(rng.integers(1, 300))
        out = len(tensors)
        tensors.append(_tensor(out, size))
        ops.append(Operator(i, "OP", 1, tuple(ins), (out,)))
        lowered.append((kind, src, out))
        available.append(out)
    consumed = {t for op in ops for t in op.inputs}
    outputs = tuple(sorted({t for t in available if t not in consumed and t not in inputs} | {available[-1]}))
    graph = Graph("random", "0" * 64, tuple(tensors), tuple(ops), inputs, outputs)
    first, last = lifetimes(graph)
    result = []
    for pos, (kind, src, out) in enumerate(lowered):
        scratch = int(rng.integers(1, 100)) if kind == "scratch" or rng.random() < 0.2 else 0
        if kind == "alias":
            result.append(Lowered(scratch_bytes=scratch, alias_input=src))
        elif kind == "inplace":
            result.append(Lowered(scratch_bytes=scratch, inplace_input=src))
        elif kind == "overlap" and _dies(graph, lowered, src, pos, last):
            delta = int(rng.integers(-tensors[src].size, tensors[out].size + 1))
            result.append(Lowered(scratch_bytes=scratch, overlap_input=src, overlap_delta=delta))
        else:
            result.append(Lowered(scratch_bytes=scratch))
    return graph, result


def _dies(graph: Graph, kinds, src: int, pos: int, last: dict[int, int]) -> bool:
    """`src` and everything aliasing it are read for the last time at `pos` (conservative)."""
    if src in graph.outputs or last[src] != pos or src in graph.inputs and len(graph.inputs) > 1:
        return False
    for kind, s, o in kinds:  # no alias relations at all involving src
        if kind == "alias" and src in (s, o):
            return False
    return sum(src in op.inputs for op in graph.operators) == 1 and graph.operators[pos].inputs.count(src) == 1 \
        and len([t for t in graph.operators[pos].inputs if not graph.tensors[t].is_constant]) == 1


def check_bytes(graph: Graph, lowered: list[Lowered], plan) -> None:
    """Independent check, byte by byte and step by step: who owns each arena byte at each time."""
    first, last = lifetimes(graph)
    legal = set(plan.inplace_pairs)
    alias = {}
    for op, low in zip(graph.operators, lowered, strict=True):
        if low.alias_input is not None:
            alias[op.outputs[0]] = low.alias_input
        if low.overlap_input is not None:
            assert (low.overlap_input, op.outputs[0]) in legal
            assert plan.tensor_offsets[low.overlap_input] - plan.tensor_offsets[op.outputs[0]] == low.overlap_delta

    def alias_root(t: int) -> int:
        while t in alias:
            t = alias[t]
        return t

    for src, out in legal:
        assert last[src] == first[out]
    steps = range(-1, len(graph.operators) + 1)
    for time in steps:
        owner: dict[int, object] = {}
        live = [(("t", t), plan.tensor_offsets[t], graph.tensors[t].nbytes) for t in first
                if first[t] <= time <= last[t]]
        if 0 <= time < len(graph.operators) and lowered[time].scratch_bytes:
            live.append((("s", time), plan.scratch_offsets[graph.operators[time].index], lowered[time].scratch_bytes))
        for key, off, size in live:
            assert 0 <= off and off + size <= plan.arena_bytes
            for byte in range(off, off + size):
                other = owner.get(byte)
                if other is not None and other != key:
                    a, b = other, key
                    ok = a[0] == b[0] == "t" and (alias_root(a[1]) == alias_root(b[1])
                                                  or (a[1], b[1]) in legal or (b[1], a[1]) in legal)
                    assert ok, f"time {time}: byte {byte} of {a} and {b}"
                owner[byte] = key


@pytest.mark.parametrize("seed", range(300))
def test_random_graph_plans_never_overlap(seed: int) -> None:
    graph, lowered = random_graph(np.random.default_rng(seed))
    plan = plan_memory(buffer_requests(graph, lowered))
    check_bytes(graph, lowered, plan)
    assert plan.arena_bytes >= plan.lower_bound


def test_chain_reaches_lower_bound() -> None:
    sizes = [100, 400, 200, 800, 50, 300]
    tensors = tuple(_tensor(i, s) for i, s in enumerate(sizes))
    ops = tuple(Operator(i, "OP", 1, (i,), (i + 1,)) for i in range(len(sizes) - 1))
    graph = Graph("chain", "0" * 64, tensors, ops, (0,), (len(sizes) - 1,))
    plan = plan_memory(buffer_requests(graph, [Lowered() for _ in ops]))
    assert plan.arena_bytes == plan.lower_bound == 1000


def test_overlap_output_at_declared_offset() -> None:
    tensors = (_tensor(0, 80), _tensor(1, 160), _tensor(2, 40))
    ops = (Operator(0, "OP", 1, (0,), (1,)), Operator(1, "OP", 1, (1,), (2,)))
    graph = Graph("grow", "0" * 64, tensors, ops, (0,), (2,))
    lowered = [Lowered(scratch_bytes=8, overlap_input=0, overlap_delta=80), Lowered()]
    plan = plan_memory(buffer_requests(graph, lowered))
    assert plan.tensor_offsets[0] - plan.tensor_offsets[1] == 80
    assert plan.arena_bytes == 200  # operator 1: 160 + 40; operator 0: 160 + 8 in place (not 80 + 160 + 8)
    check_bytes(graph, lowered, plan)


def test_overlap_of_a_live_input_is_refused() -> None:
    tensors = (_tensor(0, 80), _tensor(1, 80), _tensor(2, 80))
    ops = (Operator(0, "OP", 1, (0,), (1,)), Operator(1, "OP", 1, (0, 1), (2,)))
    graph = Graph("live", "0" * 64, tensors, ops, (0,), (2,))
    with pytest.raises(TinymlBug, match="still needed"):
        plan_memory(buffer_requests(graph, [Lowered(overlap_input=0), Lowered()]))


def test_records_without_operators() -> None:
    """The planner's own records, as TFLite Micro's AddBuffer(size, first, last): a chain where b overlaps a (b's
    kernel writes over a, a 16 bytes after b's start), c aliases b, and step 1 has scratch."""
    requests = Requests(tensors={0: Buffer(64, -1, 0), 1: Buffer(80, 0, 1), 2: Buffer(80, 1, 2), 3: Buffer(8, 2, 3)},
                        scratch={7: Buffer(12, 1, 1)},
                        shares=(Share(OVERLAP, 0, 1, 0, delta=16), Share(ALIAS, 1, 2, 1)), steps=3, name="records")
    plan = plan_memory(requests)
    assert plan.tensor_offsets[0] - plan.tensor_offsets[1] == 16
    assert plan.tensor_offsets[1] == plan.tensor_offsets[2]
    assert plan.arena_bytes == plan.lower_bound == 92  # b (= c) and the scratch at step 1


def test_plan_check_failure_is_a_bug() -> None:
    """A plan that breaks its own rules is a bug in tinyml (TinymlBug), never reported as bad input."""
    requests = Requests(tensors={0: Buffer(16, 0, 1), 1: Buffer(16, 1, 2)}, scratch={}, shares=(), steps=2)
    with pytest.raises(TinymlBug, match="overlap"):
        verify_plan(requests, MemoryPlan(16, {0: 0, 1: 0}, {}))


@pytest.mark.parametrize("seed", range(40))
def test_ring_schedule_never_clobbers_input(seed: int) -> None:
    """Simulate tm_conv_inplace_s8 byte by byte: every input byte a row reads is still the input's."""
    rng = np.random.default_rng(seed)
    in_h, stride, kernel = int(rng.integers(1, 20)), int(rng.integers(1, 4)), int(rng.integers(1, 6))
    dilation, same = int(rng.integers(1, 3)), bool(rng.random() < 0.5)
    reach = (kernel - 1) * dilation
    out_h = -(-in_h // stride) if same else max(1, -(-(in_h - reach) // stride))
    if not same and in_h <= reach:
        in_h = reach + 1
        out_h = 1
    pad = max((out_h - 1) * stride + reach + 1 - in_h, 0) // 2 if same else 0
    in_row, out_row = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    _, ring, backward, delta = choose_geometry(out_h, in_h, stride, pad, reach, in_row, out_row)
    assert ring == simulate_ring(out_h, in_h, stride, pad, reach, in_row, out_row, delta, backward)
    # replay: memory holds ("in", byte) until overwritten by an output row
    mem: dict[int, tuple[str, int]] = {delta + i: ("in", i) for i in range(in_h * in_row)}
    pending: list[int] = []
    for k in range(out_h):
        oy = out_h - 1 - k if backward else k
        for ky in range(kernel):
            y = oy * stride - pad + ky * dilation
            if 0 <= y < in_h:
                for i in range(y * in_row, (y + 1) * in_row):
                    assert mem[delta + i] == ("in", i), f"row {oy} reads clobbered input byte {i}"
        pending.append(oy)
        assert len(pending) <= ring
        lo = hi = 0
        if k < out_h - 1:
            if not backward:
                lo, hi = min(max((oy + 1) * stride - pad, 0), in_h), in_h
            else:
                hi = min(max((oy - 1) * stride - pad + reach + 1, 0), in_h)
        while pending:
            row = pending[0]
            dst = row * out_row
            if lo < hi and dst < delta + hi * in_row and delta + lo * in_row < dst + out_row:
                break
            for b in range(dst, dst + out_row):
                mem[b] = ("out", row)
            pending.pop(0)
    assert not pending


# Issue 5: peak RAM for activations and scratch <= 0.6x TFLite Micro's arena on Cortex-M4.
MLPERF_BUDGET = {"kws": 22820 * 0.6, "vww": 100708 * 0.6, "ic": 54996 * 0.6, "ad": 3024 * 0.6}


@pytest.mark.parametrize("name, target", [(n, t) for n in sorted(MLPERF_BUDGET) for t in (None, "cortex-m4")])
def test_mlperf_arena_within_budget(name: str, target: str | None, mlperf_dir, tmp_path) -> None:
    result = compile_model(mlperf_dir / f"{name}.tflite", tmp_path, target=target)
    assert result.arena_bytes <= MLPERF_BUDGET[name], f"{name} ({target or 'host'}): arena {result.arena_bytes} B"
