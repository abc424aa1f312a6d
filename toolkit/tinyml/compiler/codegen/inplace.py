"""Operator-level in-place execution: a convolution whose input dies with it writes its output over that input.

`make_inplace(op, ctx, low)` takes the ordinary lowering of a convolution whose variant names a row kernel
(`Variant.row_kernel`) and, when it pays, returns a copy of that value whose call runs the row kernel through the
variant's in-place driver (`tm_conv_inplace_s8` or `tm_conv_inplace_dsp_s8`, firmware/runtime/src/convolution/)
with the same arguments, the ring as scratch, and the ordinary lowering kept in `out_of_place`. Output rows are
computed one at a time into the small ring and copied to their place once no later row reads the input bytes
there. Pointwise (1x1, stride 1) layers are passed as one column of pixels, so the ring holds a few pixels. The
generator chooses the direction (first row to last or last to first) and where the input sits in the output
(`overlap_delta`: 0, or at the end of a larger output), simulates the kernel's schedule to size the ring, and keeps
the smallest footprint; the planner then places the output and its input exactly that far apart.

One case needs no ring: a DSP pointwise convolution in im2col mode that does not grow the channels. Its kernel
copies (widened) the inputs of a pixel pair into its scratch before it writes their outputs, which land on bytes of
pixels already read; the driver then runs it once over every pixel, straight into the output (`ring_rows` 0): no
copies, and pixel pairs across what would have been ring rows.
"""
from __future__ import annotations

import dataclasses

from tinyml.compiler.codegen import scratch
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref, Scratch, Sym
from tinyml.compiler.codegen.ops.common import padding_before
from tinyml.compiler.codegen.variants import DSP_INPLACE, PORTABLE_INPLACE
from tinyml.compiler.ir.graph import Graph, Operator

# The in-place drivers: the portable one runs a kernel of tm_conv2d_s8's signature row by row; the DSP one runs a
# row-range kernel (its own signature, a scratch argument last), the ring and then the kernel's own scratch forming
# the operator's scratch.
DRIVER_SOURCES = {PORTABLE_INPLACE: "convolution/conv_inplace_s8.c", DSP_INPLACE: "convolution/conv_inplace_dsp_s8.c"}
ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
POINTWISE_ROW_BYTES = 512  # pixels per ring row of a pointwise layer: as many as fit (fewer kernel calls)
MAX_RING_FRACTION = 0.25  # in place only when the ring is at most this fraction of the smaller of input/output


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
    """`low` run in place over its input when its variant has a row kernel and it pays; else `low` itself."""
    variant = low.variant
    if variant is None or variant.row_kernel is None or len(low.calls) != 1 or low.inplace_input is not None \
            or low.overlap_input is not None or low.alias_input is not None:
        return low
    dsp = variant.inplace_driver == DSP_INPLACE
    if not dsp and low.scratch_bytes:
        return low
    # the row kernels' arguments: params, requantization, in_dims, input, filter_dims, filter, bias, out_dims,
    # output (the DSP ones then their scratch, placed after the ring)
    args = low.calls[0].args[:9]
    x, w, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    if not dies_with(ctx.graph, op, x.index):
        return low
    n, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    k_h = w.shape[1]
    stride_h, stride_w = op.options.get("strideH", 1), op.options.get("strideW", 1)
    dil_h = op.options.get("dilationHFactor", 1)
    pointwise = w.shape[1] == w.shape[2] == 1 and stride_h == stride_w == 1
    decls = low.decls
    if pointwise:  # the pixels as rows of `chunk` pixels: a ring row is a few pixels
        pixels = n * in_h * in_w
        chunk = max(d for d in range(1, pixels + 1) if pixels % d == 0 and d * max(in_c, out_c) <= POINTWISE_ROW_BYTES
                    or d == 1)
        rows = pixels // chunk
        geometry = (rows, rows, 1, 0, 0, chunk * in_c, chunk * out_c)
        for dims, channels in ((args[2], in_c), (args[7], out_c)):  # re-declare the dims as a column of chunks
            if not isinstance(dims, Ref) or [d.name for d in decls].count(dims.name) != 1:
                return low
            decls = tuple(dataclasses.replace(d, value=(1, rows, chunk, channels)) if d.name == dims.name else d
                          for d in decls)
    else:
        if n != 1:
            return low
        pad_h = padding_before(in_h, out_h, stride_h, dil_h, k_h, op.options.get("padding") == 0)
        geometry = (out_h, in_h, stride_h, pad_h, (k_h - 1) * dil_h, in_w * in_c, out_w * out_c)
    rows, height, stride, pad, reach, in_row, out_row = geometry
    if max(stride, pad, reach) > scratch.TM_INPLACE_MAX_GEOMETRY:   # beyond tm_inplace_params' fields
        return low
    if dsp and pointwise and out_c <= in_c and variant.mode == "im2col":
        cost, ring, backward, delta = max(x.nbytes, y.nbytes), 0, False, 0
    else:
        cost, ring, backward, delta = choose_geometry(rows, height, stride, pad, reach, in_row, out_row)
    if ring > scratch.TM_INPLACE_MAX_RING_ROWS or not worth_it(ring * out_row, cost, x.nbytes, y.nbytes):
        return low
    p = f"op{op.index}"
    row_width = out_row // out_c  # output pixels per ring row
    params = Decl("tm_inplace_params", f"{p}_ip", (ring, int(backward), stride, pad, reach))
    if dsp:
        ring_bytes = scratch.conv_inplace_dsp_s8_ring_bytes(ring, row_width, out_c)
        call_args = (*args, Scratch("int8_t"), Scratch(offset=ring_bytes))
        scratch_bytes = scratch.conv_inplace_dsp_s8_scratch_bytes(ring, row_width, out_c, low.scratch_bytes)
    else:
        call_args = (*args, Scratch("int8_t"))
        scratch_bytes = scratch.conv_inplace_s8_scratch_bytes(ring, row_width, out_c)
    call = Call(variant.inplace_driver, (Sym(variant.row_kernel), Ref(params.name), *call_args))
    return dataclasses.replace(low, kernels=low.kernels + (DRIVER_SOURCES[variant.inplace_driver],),
                               decls=(*decls, params), calls=(call,), scratch_bytes=scratch_bytes,
                               overlap_input=x.index, overlap_delta=delta, out_of_place=low)


def worth_it(ring_bytes: int, cost: int, in_bytes: int, out_bytes: int) -> bool:
    """In place when the ring is small next to the tensors and the footprint beats two separate buffers."""
    return ring_bytes <= MAX_RING_FRACTION * min(in_bytes, out_bytes) and cost < in_bytes + out_bytes

