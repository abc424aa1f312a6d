"""DSP/SIMD kernel variants (Cortex-M4/M7/M33/M55): the generator picks them per layer, statically, and stores the
weights pre-arranged for them (see firmware/runtime/include/tinyml/kernels_dsp.h).

Every variant computes the same bytes as the portable kernel:
- the input offset is folded into the bias (sum (x+off)*w = sum x*w + off*sum w); where padding is involved the
  padded taps read the input zero point (x + off = 0), so the fold holds there too;
- requantization takes the fast path (SMMULR, one add, one shift) only when the weights and bias prove, for every
  channel, that the accumulator cannot overflow it (`_fast_requant`); otherwise the variant uses TFLite's general
  64-bit arithmetic (`tm_requantize_round_up`).
"""
from __future__ import annotations

import numpy as np

from tinyml.codegen.context import Lowered, LoweringContext, c_array, dims4
from tinyml.ir.graph import Operator, Tensor

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
WIDE_FC_FLASH_FRACTION = 0.5  # int16 FC weights only while all weights stay within this share of the flash


def _wrap32(values: np.ndarray) -> np.ndarray:
    return ((values.astype(np.int64) - INT32_MIN) % (1 << 32) + INT32_MIN).astype(np.int32)


def _round4(n: int) -> int:
    return (n + 3) // 4 * 4


def _folded_bias(w2d: np.ndarray, bias: Tensor | None, x_zero_point: int) -> np.ndarray:
    """bias + input_offset * sum_k w, wrapped to int32 like the kernel's accumulator (input_offset = -zp)."""
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else bias.data.reshape(-1).astype(np.int64)
    return _wrap32(b - x_zero_point * w2d.astype(np.int64).sum(axis=1))


def _acc_bound(w2d: np.ndarray, bias: Tensor | None, x_zero_point: int) -> np.ndarray:
    """Per output channel, the largest |accumulator| any int8 input can produce (exact arithmetic)."""
    off = -x_zero_point
    xmax = max(abs(-128 + off), abs(127 + off))
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else np.abs(bias.data.reshape(-1).astype(np.int64))
    return b + np.abs(w2d.astype(np.int64)).sum(axis=1) * xmax


def _fast_requant(bounds: np.ndarray, mults: list[int], shifts: list[int], out_zp: int) -> list[tuple] | None:
    """(multiplier, pre_shift, post_shift, add) per channel if tm_requant_fast is exact for all of them."""
    table = []
    for bound, m, s in zip(bounds.tolist(), mults, shifts):
        left, right = max(s, 0), max(-s, 0)
        if m < (1 << 30) or right > 30 or left > 29 or bound << (left + 1) >= (1 << 31):
            return None
        add = (1 << (right - 1) if right > 0 else 0) + out_zp * (1 << right)
        high = (bound << left) + 1
        if abs(add) + high >= (1 << 31):
            return None
        table.append((m, left + 1, right, add))
    return table


def _requant_decls(p: str, mults: list[int], shifts: list[int], table: list[tuple] | None, out_zp: int,
                   act_min: int, act_max: int) -> list[str]:
    n = len(mults)
    lines = [f"static const int32_t {p}_mult[{n}] = {c_array(mults)};",
             f"static const int32_t {p}_shift[{n}] = {c_array(shifts)};"]
    if table is not None:
        rows = ", ".join(f"{{{m}, {pre}, {post}, {add}}}" for m, pre, post, add in table)
        lines.append(f"static const tm_requant_ch {p}_rq_ch[{n}] = {{{rows}}};")
    ch = f"{p}_rq_ch" if table is not None else "NULL"
    lines.append(f"static const tm_dsp_requant {p}_rq = {{{int(table is not None)}, {out_zp}, {act_min}, {act_max}, "
                 f"{ch}, {p}_mult, {p}_shift}};")
    return lines


def lower_fully_connected(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor, bias: Tensor | None,
                          y: Tensor, multipliers: list[tuple[int, int]], act_min: int, act_max: int) -> Lowered:
    out_f, in_f = w.shape
    k4 = _round4(in_f)
    w2d = w.data.reshape(out_f, in_f).astype(np.int8)
    mults = [m for m, _ in multipliers] * (out_f if len(multipliers) == 1 else 1)
    shifts = [s for _, s in multipliers] * (out_f if len(multipliers) == 1 else 1)
    table = _fast_requant(_acc_bound(w2d, bias, x.zero_point), mults, shifts, y.zero_point)
    padded = np.zeros((out_f, k4), np.int8)
    padded[:, :in_f] = w2d
    rows4, groups = out_f // 4 * 4, k4 // 4
    wide = _wide_fc_affordable(ctx, w)
    if wide:
        halves = padded.astype(np.int16).reshape(out_f, groups, 4)[:, :, [0, 2, 1, 3]].reshape(out_f, groups, 2, 2)
        block = halves[:rows4].reshape(rows4 // 4, 4, groups, 2, 2).transpose(0, 2, 3, 1, 4)
        arranged = np.concatenate([block.reshape(-1), halves[rows4:].reshape(-1)])
        wsym = ctx.derived_const(f"op{op.index}_w16", "int16_t", arranged)
    else:
        block = padded[:rows4].reshape(rows4 // 4, 4, groups, 4).transpose(0, 2, 1, 3)
        arranged = np.concatenate([block.reshape(-1), padded[rows4:].reshape(-1)])
        wsym = ctx.derived_const(f"op{op.index}_w8", "int8_t", arranged)
    bsym = ctx.derived_const(f"op{op.index}_bias", "int32_t", _folded_bias(w2d, bias, x.zero_point))
    p = f"op{op.index}"
    batches = x.size // in_f
    decls = "\n".join(_requant_decls(p, mults, shifts, table, y.zero_point, act_min, act_max) + [
        f"static const tm_fc_dsp_params {p}_params = {{{batches}, {in_f}, {out_f}, {k4}, {int(wide)}}};"])
    call = (f"tm_fully_connected_s8_dsp(&{p}_params, &{p}_rq, {ctx.data(x)}, {wsym}, {bsym}, {ctx.activation(y)}, "
            f"(int32_t *)(arena + OP{op.index}_SCRATCH_OFFSET));")
    return Lowered(kernels=("fully_connected/fully_connected_s8_dsp.c",), decls=decls, call=call,
                   scratch_bytes=k4 * 2)


def _wide_fc_affordable(ctx: LoweringContext, w: Tensor) -> bool:
    """int16 FC weights (no unpacking: 2 MACs per SMLAD per loaded word) when the flash budget allows doubling them.
    Without a known budget (host builds) the compact int8 layout is used."""
    if ctx.target.wide_fc is not None:
        return ctx.target.wide_fc
    budget = ctx.target.flash_bytes
    if budget is None:
        return False
    total = sum(t.nbytes for t in ctx.graph.tensors if t.is_constant)
    fc = sum(ctx.graph.tensors[o.inputs[1]].nbytes for o in ctx.graph.operators
             if o.opcode == "FULLY_CONNECTED" and len(o.inputs) > 1 and ctx.graph.tensors[o.inputs[1]].is_constant)
    return total + fc <= budget * WIDE_FC_FLASH_FRACTION


def lower_conv2d(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor, bias: Tensor | None, y: Tensor,
                 mults: list[int], shifts: list[int], geometry: tuple[int, ...], act_min: int,
                 act_max: int) -> Lowered:
    stride_h, stride_w, dil_h, dil_w, pad_h, pad_w = geometry
    out_c, kh, kw, in_c = w.shape
    k = kh * kw * in_c
    k4 = _round4(k)
    w2d = w.data.reshape(out_c, k).astype(np.int8)
    table = _fast_requant(_acc_bound(w2d, bias, x.zero_point), mults, shifts, y.zero_point)
    padded = np.zeros((out_c, k4), np.int8)
    padded[:, :k] = w2d
    pairs, groups = out_c // 2 * 2, k4 // 4
    block = padded[:pairs].reshape(pairs // 2, 2, groups, 4).transpose(0, 2, 1, 3)
    wsym = ctx.derived_const(f"op{op.index}_w8", "int8_t", np.concatenate([block.reshape(-1),
                                                                           padded[pairs:].reshape(-1)]))
    bsym = ctx.derived_const(f"op{op.index}_bias", "int32_t", _folded_bias(w2d, bias, x.zero_point))
    p = f"op{op.index}"
    decls = "\n".join(_requant_decls(p, mults, shifts, table, y.zero_point, act_min, act_max) + [
        f"static const tm_conv_dsp_params {p}_params = {{{stride_h}, {stride_w}, {dil_h}, {dil_w}, {pad_h}, "
        f"{pad_w}, {k4}, {x.zero_point}}};",
        f"static const tm_dims {p}_in = {{{', '.join(map(str, dims4(x.shape)))}}};",
        f"static const tm_dims {p}_filter = {{{', '.join(map(str, dims4(w.shape)))}}};",
        f"static const tm_dims {p}_out = {{{', '.join(map(str, dims4(y.shape)))}}};",
    ])
    call = (f"tm_conv2d_s8_dsp(&{p}_params, &{p}_rq, &{p}_in, {ctx.data(x)}, &{p}_filter, {wsym}, {bsym}, "
            f"&{p}_out, {ctx.activation(y)}, arena + OP{op.index}_SCRATCH_OFFSET);")
    scratch = 4 * k4 + (k4 if in_c % 4 else 0)
    return Lowered(kernels=("convolution/conv2d_s8_dsp.c",), decls=decls, call=call, scratch_bytes=scratch)


def depthwise_supported(x: Tensor, w: Tensor, y: Tensor) -> bool:
    return w.shape[3] == x.shape[3] and x.shape[3] % 4 == 0 and w.shape[1] * w.shape[2] <= 64  # TM_DW_MAX_TAPS


def lower_depthwise_conv2d(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor, bias: Tensor | None,
                           y: Tensor, mults: list[int], shifts: list[int], geometry: tuple[int, ...],
                           vector_channels: int, act_min: int, act_max: int) -> Lowered:
    stride_h, stride_w, dil_h, dil_w, pad_h, pad_w = geometry
    _, kh, kw, c = w.shape
    taps = w.data.reshape(kh * kw, c).astype(np.int8)
    per_channel = taps.T  # [c, taps]
    table = _fast_requant(_acc_bound(per_channel, bias, x.zero_point), mults, shifts, y.zero_point)
    arranged = taps.astype(np.int16).reshape(kh * kw, c // 4, 4)[:, :, [0, 2, 1, 3]]
    wsym = ctx.derived_const(f"op{op.index}_w16", "int16_t", arranged)
    bsym = ctx.derived_const(f"op{op.index}_bias", "int32_t", _folded_bias(per_channel, bias, x.zero_point))
    p = f"op{op.index}"
    decls = "\n".join(_requant_decls(p, mults, shifts, table, y.zero_point, act_min, act_max) + [
        f"static const tm_dw_dsp_params {p}_params = {{{stride_h}, {stride_w}, {dil_h}, {dil_w}, {pad_h}, "
        f"{pad_w}, {x.zero_point}, {vector_channels}}};",
        f"static const tm_dims {p}_in = {{{', '.join(map(str, dims4(x.shape)))}}};",
        f"static const tm_dims {p}_filter = {{{', '.join(map(str, dims4(w.shape)))}}};",
        f"static const tm_dims {p}_out = {{{', '.join(map(str, dims4(y.shape)))}}};",
    ])
    call = (f"tm_depthwise_conv2d_s8_dsp(&{p}_params, &{p}_rq, &{p}_in, {ctx.data(x)}, &{p}_filter, "
            f"(const int32_t *){wsym}, {bsym}, &{p}_out, {ctx.activation(y)}, "
            f"(int8_t *)(arena + OP{op.index}_SCRATCH_OFFSET));")
    return Lowered(kernels=("convolution/depthwise_conv2d_s8_dsp.c",), decls=decls, call=call,
                   scratch_bytes=_round4(c))
