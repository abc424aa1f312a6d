"""Operator-level in-place execution: a convolution whose input dies with it writes its output over that input.

`make_inplace(op, ctx, low)` takes the ordinary lowering of a CONV_2D or DEPTHWISE_CONV_2D and, when it pays,
returns one that runs the same row kernel through `tm_conv_inplace_s8` (firmware/runtime/src/convolution/
conv_inplace_s8.c): output rows are computed one at a time into a small ring (the operator's scratch) and copied
to their place once no later row reads the input bytes there. Pointwise (1x1, stride 1) layers are passed as one
column of pixels, so the ring holds a few pixels. The generator chooses the direction (first row to last or last
to first) and where the input sits in the output (`overlap_delta`: 0, or at the end of a larger output), simulates
the kernel's schedule to size the ring, and keeps the smallest footprint; the planner then places the output and
its input exactly that far apart.
"""
from __future__ import annotations

import re

from tinyml.compiler.codegen.context import Lowered, LoweringContext
from tinyml.compiler.ir.graph import Graph, Operator

# Row kernels that compute any valid shape (batch 1, any input height, top padding, one output row).
ROW_SAFE_KERNELS = ("tm_conv2d_s8", "tm_depthwise_conv2d_s8")
# DSP variants (their own signature, a scratch argument last) -> their row-range kernel, run through
# tm_conv_inplace_dsp_s8; the ring and then the kernel's own scratch form the operator's scratch.
DSP_ROW_KERNELS = {"tm_conv2d_s8_dsp": "tm_conv2d_s8_dsp_rows",
                   "tm_depthwise_conv2d_s8_dsp": "tm_depthwise_conv2d_s8_dsp_rows"}
ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
POINTWISE_ROW_BYTES = 512  # pixels per ring row of a pointwise layer: as many as fit (fewer kernel calls)
MAX_RING_FRACTION = 0.25  # in place only when the ring is at most this fraction of the smaller of input/output
_CALL = re.compile(r"^(tm_\w+)\((.*)\);$", re.S)


def dies_with(graph: Graph, op: Operator, t: int) -> bool:
    """True if `op` is the only reader of tensor `t` and of every tensor sharing its bytes through reshapes."""
    if t < 0 or graph.tensors[t].is_constant or t in graph.outputs:
        return False
    if [o.index for o in graph.operators if t in o.inputs] != [op.index]:
        return False
    producer = next((o for o in graph.operators if t in o.outputs), None)
    if producer is not None and producer.opcode in ALIAS_OPS and not graph.tensors[producer.inputs[0]].is_constant:
        return dies_with(graph, producer, producer.inputs[0])
    return True


def simulate_ring(rows: int, in_h: int, stride: int, pad: int, reach: int, in_row: int, out_row: int, delta: int,
                  backward: bool) -> int:
    """Largest number of pending rows in tm_conv_inplace_s8's schedule with the input `delta` bytes after the
    output; the same rule as the C kernel."""
    pending = most = 0
    for k in range(rows):
        oy = rows - 1 - k if backward else k
        pending += 1
        most = max(most, pending)
        lo = hi = 0
        if k < rows - 1:
            if not backward:
                lo, hi = min(max((oy + 1) * stride - pad, 0), in_h), in_h
            else:
                hi = min(max((oy - 1) * stride - pad + reach + 1, 0), in_h)
        need_lo, need_hi = delta + lo * in_row, delta + hi * in_row
        while pending:
            row = oy + pending - 1 if backward else oy - pending + 1
            dst = row * out_row
            if lo < hi and dst < need_hi and need_lo < dst + out_row:
                break
            pending -= 1
    return most


def choose_geometry(rows: int, in_h: int, stride: int, pad: int, reach: int, in_row: int, out_row: int):
    """(cost, ring_rows, backward, delta) of the cheapest in-place schedule; cost = footprint + ring bytes."""
    in_bytes, out_bytes = in_h * in_row, rows * out_row
    deltas = {0, out_bytes - in_bytes}
    best = None
    for delta in sorted(deltas, key=abs):
        for backward in (False, True):
            ring = simulate_ring(rows, in_h, stride, pad, reach, in_row, out_row, delta, backward)
            footprint = max(out_bytes, delta + in_bytes) - min(0, delta)
            cand = (footprint + ring * out_row, abs(delta), backward, ring, delta)
            if best is None or cand < best:
                best = cand
    cost, _, backward, ring, delta = best
    return cost, ring, backward, delta


def make_inplace(op: Operator, ctx: LoweringContext, low: Lowered) -> Lowered:
    if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D") or low.inplace_input is not None \
            or low.overlap_input is not None or low.alias_input is not None:
        return low
    m = _CALL.match(low.call.strip())
    if not m:
        return low
    dsp = m.group(1) in DSP_ROW_KERNELS
    args = m.group(2).split(", ")
    if dsp:
        if len(args) != 10:
            return low
        args = args[:9]  # the last one is the kernel's scratch, placed after the ring
    elif m.group(1) not in ROW_SAFE_KERNELS or len(args) != 9 or low.scratch_bytes:
        return low
    x, w, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    if not dies_with(ctx.graph, op, x.index):
        return low
    n, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    k_h = w.shape[1]
    stride_h, stride_w = op.options.get("strideH", 1), op.options.get("strideW", 1)
    dil_h = op.options.get("dilationHFactor", 1)
    pointwise = w.shape[1] == w.shape[2] == 1 and stride_h == stride_w == 1
    p = f"op{op.index}"
    extra = []
    if pointwise:  # the pixels as rows of `chunk` pixels: a ring row is a few pixels
        pixels = n * in_h * in_w
        chunk = max(d for d in range(1, pixels + 1) if pixels % d == 0 and d * max(in_c, out_c) <= POINTWISE_ROW_BYTES
                    or d == 1)
        rows = pixels // chunk
        geometry = (rows, rows, 1, 0, 0, chunk * in_c, chunk * out_c)
        decls = low.decls
        for name, channels in ((args[2], in_c), (args[7], out_c)):  # re-declare the dims as a column of chunks
            pattern = re.compile(rf"^static const tm_dims {re.escape(name.lstrip('&'))} = \{{[^}}]*\}};$", re.M)
            decls, found = pattern.subn(f"static const tm_dims {name.lstrip('&')} = {{1, {rows}, {chunk}, "
                                        f"{channels}}};", decls)
            if found != 1 or not name.startswith("&"):
                return low
    else:
        decls = low.decls
        if n != 1:
            return low
        pad_h = _pad_before(in_h, out_h, stride_h, dil_h, k_h, op.options.get("padding") == 0)
        geometry = (out_h, in_h, stride_h, pad_h, (k_h - 1) * dil_h, in_w * in_c, out_w * out_c)
    rows, height, stride, pad, reach, in_row, out_row = geometry
    cost, ring, backward, delta = choose_geometry(rows, height, stride, pad, reach, in_row, out_row)
    in_bytes, out_bytes = x.nbytes, y.nbytes
    if not worth_it(ring * out_row, cost, in_bytes, out_bytes):
        return low
    if dsp:
        ring_bytes = (ring * out_row + 3) // 4 * 4
        extra.append(f"static const tm_inplace_dsp_params {p}_ip = {{{ring}, {int(backward)}, {stride}, {pad}, "
                     f"{reach}}};")
        call = (f"tm_conv_inplace_dsp_s8({DSP_ROW_KERNELS[m.group(1)]}, &{p}_ip, {', '.join(args)}, "
                f"(int8_t *)(arena + OP{op.index}_SCRATCH_OFFSET), arena + OP{op.index}_SCRATCH_OFFSET + "
                f"{ring_bytes}u);")
        return Lowered(kernels=low.kernels + ("convolution/conv_inplace_dsp_s8.c",),
                       decls=decls + "\n" + "\n".join(extra), call=call,
                       scratch_bytes=ring_bytes + low.scratch_bytes, overlap_input=x.index, overlap_delta=delta,
                       variants=low.variants)
    extra.append(f"static const tm_inplace_params {p}_ip = {{{ring}, {int(backward)}}};")
    call = (f"tm_conv_inplace_s8({m.group(1)}, &{p}_ip, {', '.join(args)}, "
            f"(int8_t *)(arena + OP{op.index}_SCRATCH_OFFSET));")
    return Lowered(kernels=low.kernels + ("convolution/conv_inplace_s8.c",), decls=decls + "\n" + "\n".join(extra),
                   call=call, scratch_bytes=ring * out_row, overlap_input=x.index, overlap_delta=delta)


def worth_it(ring_bytes: int, cost: int, in_bytes: int, out_bytes: int) -> bool:
    """In place when the ring is small next to the tensors and the footprint beats two separate buffers."""
    return ring_bytes <= MAX_RING_FRACTION * min(in_bytes, out_bytes) and cost < in_bytes + out_bytes


def _pad_before(in_size: int, out_size: int, stride: int, dilation: int, kernel: int, same: bool) -> int:
    from tinyml.compiler.codegen.ops.common import padding_before
    return padding_before(in_size, out_size, stride, dilation, kernel, same)
