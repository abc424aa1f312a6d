"""Kernels state their scratch: the `tm_<kernel>_scratch_bytes` functions and the limits in the runtime headers,
compiled on the host with `cc`, against the generator's numbers for every variant over a set of shapes (named
edge cases: channels not a multiple of 4, tap counts at and past each limit, 1x1 and wide kernels, int8 and int16
weights). The generator's side is what it really emits: each case is a one-operator graph lowered by the code
generator, its scratch read from the lowering and its layout parameters from the declarations it prints. The C
program answers on stdout; nothing parses C."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
import pytest

from tinyml.compiler.codegen import inplace, scratch
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.inplace import make_inplace
from tinyml.compiler.codegen.lowered import Call, Lowered, Scratch
from tinyml.compiler.codegen.ops import lower
from tinyml.compiler.codegen.target import Target
from tinyml.compiler.ir.graph import Graph, Operator, Quantization, Tensor
from tinyml.paths import RUNTIME_INCLUDE_DIR

LIMITS = ("TM_DSP_CHANNEL_GROUP", "TM_CONV_DIRECT_MAX_TAPS", "TM_DW_MAX_TAPS", "TM_AVG_POOL_DSP_MAX_WINDOW",
          "TM_INPLACE_MAX_RING_ROWS", "TM_INPLACE_MAX_GEOMETRY")

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "tinyml/kernels_dsp.h"

/* Limits, then one answer line per request line "<kernel> a b c d" read from stdin. */
int main(void) {
  char kind[32];
  int a, b, c, d, e;
  printf("TM_DSP_CHANNEL_GROUP %d\nTM_CONV_DIRECT_MAX_TAPS %d\nTM_DW_MAX_TAPS %d\nTM_AVG_POOL_DSP_MAX_WINDOW %d\n",
         TM_DSP_CHANNEL_GROUP, TM_CONV_DIRECT_MAX_TAPS, TM_DW_MAX_TAPS, TM_AVG_POOL_DSP_MAX_WINDOW);
  printf("TM_INPLACE_MAX_RING_ROWS %d\nTM_INPLACE_MAX_GEOMETRY %d\n", TM_INPLACE_MAX_RING_ROWS,
         TM_INPLACE_MAX_GEOMETRY);
  while (scanf("%31s %d %d %d %d %d", kind, &a, &b, &c, &d, &e) == 6) {
    const tm_dims in = {1, 1, 1, a}, filter = {b, c, d, a}, out = {1, 1, b, c};
    if (!strcmp(kind, "conv2d_s8_dsp")) {           /* in_c out_c kh kw direct */
      printf("%d %d\n", tm_conv2d_s8_dsp_scratch_bytes(&in, &filter, e), tm_conv2d_s8_dsp_k4(&filter, e));
    } else if (!strcmp(kind, "conv2d_add_s8_dsp")) {
      printf("%d %d\n", tm_conv2d_add_s8_dsp_scratch_bytes(&in, &filter, e), tm_conv2d_s8_dsp_k4(&filter, e));
    } else if (!strcmp(kind, "depthwise_conv2d_s8_dsp")) {  /* c */
      printf("%d\n", tm_depthwise_conv2d_s8_dsp_scratch_bytes(&in));
    } else if (!strcmp(kind, "fully_connected_s8_dsp")) {   /* in_features direct */
      printf("%d\n", tm_fully_connected_s8_dsp_scratch_bytes(a, b));
    } else if (!strcmp(kind, "conv_inplace_s8")) {          /* 0 out_w out_c ring_rows */
      const tm_inplace_params ip = {d, 0, 1, 0, 0};
      printf("%d\n", tm_conv_inplace_s8_scratch_bytes(&ip, &out));
    } else if (!strcmp(kind, "conv_inplace_dsp_s8")) {      /* kernel_scratch out_w out_c ring_rows */
      const tm_inplace_params ip = {d, 0, 1, 0, 0};
      printf("%d %d\n", tm_conv_inplace_dsp_s8_scratch_bytes(&ip, &out, a),
             tm_conv_inplace_dsp_s8_ring_bytes(&ip, &out));
    } else {
      printf("unknown\n");
    }
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def c_side(tmp_path_factory: pytest.TempPathFactory):
    """Ask the C headers: returns (limits, answer(requests))."""
    root = tmp_path_factory.mktemp("scratch")
    (root / "scratch.c").write_text(PROGRAM)
    exe = root / "scratch"
    proc = subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", f"-I{RUNTIME_INCLUDE_DIR}", str(root / "scratch.c"),
                           "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def answer(requests: list[tuple]) -> tuple[dict[str, int], list[list[int]]]:
        stdin = "".join(" ".join(map(str, (*r, 0, 0, 0, 0, 0)[:6])) + "\n" for r in requests)
        lines = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout.splitlines()
        limits = {name: int(value) for name, value in (line.split() for line in lines[:len(LIMITS)])}
        return limits, [[int(v) for v in line.split()] for line in lines[len(LIMITS):]]

    return answer


_QUANT = Quantization((0.05,), (3,))


def _graph(opcode: str, in_shape: tuple, w_shape: tuple, out_shape: tuple, options: dict,
           skip: bool = False) -> Graph:
    """One operator reading graph input 0 (constant weights 1 and bias 2 when `w_shape`) writing tensor 3; for the
    fused CONV_2D_ADD also the skip input 4 and the never stored convolution output 5."""
    rng = np.random.default_rng(sum(in_shape) + sum(w_shape))
    tensors = [Tensor(0, "x", "int8", in_shape, _QUANT)]
    if w_shape:
        channels = w_shape[3] if opcode == "DEPTHWISE_CONV_2D" else w_shape[0]
        tensors += [Tensor(1, "w", "int8", w_shape, Quantization((0.01,) * channels, (0,) * channels),
                           rng.integers(-127, 128, w_shape).astype(np.int8)),
                    Tensor(2, "b", "int32", (channels,), Quantization((0.0005,), (0,)),
                           rng.integers(-999, 999, channels).astype(np.int32))]
    else:
        tensors += [Tensor(1, "unused1", "int8", (1,), _QUANT), Tensor(2, "unused2", "int8", (1,), _QUANT)]
    tensors.append(Tensor(3, "y", "int8", out_shape, _QUANT))
    inputs: tuple[int, ...] = (0,)
    op_inputs: tuple[int, ...] = (0, 1, 2) if w_shape else (0,)
    if skip:
        tensors += [Tensor(4, "skip", "int8", out_shape, _QUANT), Tensor(5, "conv", "int8", out_shape, _QUANT)]
        inputs, op_inputs = (0, 4), (0, 1, 2, 4)
        options = {**options, "convOutput": 5, "convIsFirst": True, "addIndex": 1, "addFusedActivationFunction": 0}
    op = Operator(0, opcode, 1, op_inputs, (3,), options)
    return Graph("scratch-case", "0" * 64, tuple(tensors), (op,), inputs, (3,))


CONV_OPTIONS = {"strideH": 1, "strideW": 1, "dilationHFactor": 1, "dilationWFactor": 1, "padding": 0,
                "fusedActivationFunction": 0}


def _lower(graph: Graph, target: Target, low_scratch: bool = False) -> Lowered:
    ctx = LoweringContext(graph, "t", target=target, low_scratch={0} if low_scratch else set())
    return lower(graph.operators[0], ctx)


def _decl(low: Lowered, name: str):
    return next(d.value for d in low.decls if d.name == name)


# (in_c, out_c, kh, kw): channels a multiple of 4 or not, taps below, at and past TM_CONV_DIRECT_MAX_TAPS
CONV_SHAPES = [(1, 1, 1, 1), (3, 8, 3, 3), (4, 8, 3, 3), (8, 3, 1, 1), (12, 5, 5, 3), (16, 16, 4, 4), (8, 4, 5, 4),
               (6, 2, 1, 7), (32, 9, 1, 10), (4, 1, 3, 1)]
WIDE = [False, True]  # int8 and int16 weights


@dataclass(frozen=True)
class Case:
    request: tuple
    ours: list[int]
    label: str
    low_scratch: bool = False


def _conv_cases(fused: bool) -> list[Case]:
    cases = []
    for in_c, out_c, kh, kw in CONV_SHAPES:
        for wide in WIDE:
            for low_scratch in (False, True):
                graph = _graph("CONV_2D_ADD" if fused else "CONV_2D", (1, 6, 7, in_c), (out_c, kh, kw, in_c),
                               (1, 6, 7, out_c), CONV_OPTIONS, skip=fused)
                low = _lower(graph, Target("host", dsp=True, wide_fc=wide), low_scratch)
                kernel = "conv2d_add_s8_dsp" if fused else "conv2d_s8_dsp"
                assert low.variant.kernel == f"tm_{kernel}"
                direct = low.variant.mode == "direct"
                cases.append(Case((kernel, in_c, out_c, kh, kw, int(direct)),
                                  [low.scratch_bytes, _decl(low, "op0_params")[6]],
                                  f"{kernel} in_c={in_c} out_c={out_c} {kh}x{kw} wide={wide} {low.variant.mode}",
                                  low_scratch))
    return cases


def test_conv_scratch_and_limits_match_the_kernels(c_side) -> None:
    cases = _conv_cases(fused=False) + _conv_cases(fused=True)
    limits, answers = c_side([c.request for c in cases])
    for case, theirs in zip(cases, answers, strict=True):
        assert case.ours == theirs, case.label
        in_c, _, kh, kw, direct = case.request[1:]
        possible = in_c % limits["TM_DSP_CHANNEL_GROUP"] == 0 and kh * kw <= limits["TM_CONV_DIRECT_MAX_TAPS"]
        assert direct == (case.low_scratch and possible), case.label  # direct exactly where the kernel allows it
    assert {c.request[-1] for c in cases} == {0, 1}


def test_depthwise_scratch_and_tap_limit(c_side) -> None:
    cases, expect_dsp = [], []
    for c, kh, kw in [(4, 3, 3), (8, 5, 5), (12, 8, 8), (4, 9, 8), (6, 3, 3), (16, 1, 1), (20, 7, 9)]:
        for wide in WIDE:
            low = _lower(_graph("DEPTHWISE_CONV_2D", (1, 9, 9, c), (1, kh, kw, c), (1, 9, 9, c), CONV_OPTIONS),
                         Target("host", dsp=True, wide_fc=wide))
            cases.append(Case(("depthwise_conv2d_s8_dsp", c), [low.scratch_bytes], f"dw c={c} {kh}x{kw} wide={wide}"))
            expect_dsp.append((low.variant.kernel == "tm_depthwise_conv2d_s8_dsp", c, kh * kw))
    limits, answers = c_side([c.request for c in cases])
    for case, theirs, (dsp, c, taps) in zip(cases, answers, expect_dsp, strict=True):
        assert dsp == (c % limits["TM_DSP_CHANNEL_GROUP"] == 0 and taps <= limits["TM_DW_MAX_TAPS"]), case.label
        if dsp:
            assert case.ours == theirs, case.label
        else:
            assert case.ours == [0], case.label  # the portable kernel needs none


def test_fully_connected_scratch(c_side) -> None:
    cases = []
    for in_f in (1, 3, 4, 10, 64, 250):
        for wide in WIDE:
            for low_scratch in (False, True):
                graph = _graph("FULLY_CONNECTED", (1, in_f), (7, in_f), (1, 7), {"fusedActivationFunction": 0})
                low = _lower(graph, Target("host", dsp=True, wide_fc=wide), low_scratch)
                assert low.variant.mode == ("direct" if low_scratch else "scratch")
                assert low.variant.smaller_scratch == (not low_scratch)
                cases.append(Case(("fully_connected_s8_dsp", in_f, int(low_scratch)), [low.scratch_bytes],
                                  f"fc in={in_f} wide={wide} {low.variant.mode}"))
    _, answers = c_side([c.request for c in cases])
    for case, theirs in zip(cases, answers, strict=True):
        assert case.ours == theirs, case.label


def test_inplace_ring_scratch(c_side, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ring kernels (portable and DSP, spatial and pointwise), in place whatever the ring costs."""
    monkeypatch.setattr(inplace, "worth_it", lambda *args: True)
    cases = []
    for in_c, out_c, k, stride, size in [(4, 8, 3, 1, 8), (8, 4, 3, 2, 9), (3, 3, 5, 1, 7), (16, 32, 1, 1, 6),
                                         (4, 4, 1, 1, 13)]:
        for dsp in (False, True):
            out_size = -(-size // stride)
            graph = _graph("CONV_2D", (1, size, size, in_c), (out_c, k, k, in_c), (1, out_size, out_size, out_c),
                           {**CONV_OPTIONS, "strideH": stride, "strideW": stride})
            ctx = LoweringContext(graph, "t", target=Target("host", dsp=dsp))
            low = make_inplace(graph.operators[0], ctx, lower(graph.operators[0], ctx))
            assert low.overlap_input == 0 and low.out_of_place is not None
            ring = _decl(low, "op0_ip")[0]
            _, _, out_w, channels = _decl(low, "op0_out")  # the dims the driver is given (pointwise: a column)
            label = f"in place {'dsp' if dsp else 'portable'} {in_c}->{out_c} {k}x{k}/{stride} on {size}"
            call = low.calls[0]
            assert isinstance(call, Call)
            if dsp:
                ring_arg = call.args[-1]
                assert isinstance(ring_arg, Scratch)
                cases.append(Case(("conv_inplace_dsp_s8", low.out_of_place.scratch_bytes, out_w, channels, ring),
                                  [low.scratch_bytes, ring_arg.offset], label))
            else:
                cases.append(Case(("conv_inplace_s8", 0, out_w, channels, ring), [low.scratch_bytes], label))
    _, answers = c_side([c.request for c in cases])
    for case, theirs in zip(cases, answers, strict=True):
        assert case.ours == theirs, case.label



def test_inplace_geometry_within_the_param_fields(c_side, monkeypatch: pytest.MonkeyPatch) -> None:
    """tm_inplace_params holds reach ((kernel_h - 1) * dilation_h) in a byte: at the header's limit a convolution
    runs in place, one past it stays out of place (portable and DSP)."""
    limits, _ = c_side([])
    monkeypatch.setattr(inplace, "worth_it", lambda *args: True)
    at_limit = limits["TM_INPLACE_MAX_GEOMETRY"]
    for dilation, in_place in ((at_limit, True), (at_limit + 1, False)):
        graph = _graph("CONV_2D", (1, 8, 8, 4), (4, 2, 1, 4), (1, 8, 8, 4),
                       {**CONV_OPTIONS, "dilationHFactor": dilation})
        for dsp in (False, True):
            ctx = LoweringContext(graph, "t", target=Target("host", dsp=dsp))
            low = make_inplace(graph.operators[0], ctx, lower(graph.operators[0], ctx))
            assert (low.overlap_input is not None) == in_place, (dilation, dsp)

def test_average_pool_dsp_window_limit(c_side) -> None:
    limits, _ = c_side([])
    for c, fh, fw in [(4, 15, 17), (4, 16, 16), (8, 1, 255), (8, 2, 128), (6, 3, 3), (4, 3, 3)]:
        graph = _graph("AVERAGE_POOL_2D", (1, 20, 260, c), (), (1, 20, 260, c),
                       {"strideH": 1, "strideW": 1, "padding": 0, "filterHeight": fh, "filterWidth": fw,
                        "fusedActivationFunction": 0})
        low = _lower(graph, Target("host", dsp=True))
        dsp = c % limits["TM_DSP_CHANNEL_GROUP"] == 0 and fh * fw <= limits["TM_AVG_POOL_DSP_MAX_WINDOW"]
        assert low.variant.kernel == ("tm_avg_pool2d_s8_dsp" if dsp else "tm_avg_pool2d_s8"), (c, fh, fw)


def test_generator_limits_are_the_headers(c_side) -> None:
    limits, _ = c_side([])
    assert limits == {name: getattr(scratch, name) for name in LIMITS}
