"""DSP/SIMD kernel variants (Cortex-M4/M7/M33/M55): the generator picks them per layer, statically, and stores the
weights pre-arranged for them (see firmware/runtime/include/tinyml/kernels_dsp.h).

Every variant computes the same bytes as the portable kernel:
- the input offset is folded into the bias (sum (x+off)*w = sum x*w + off*sum w); where padding is involved the
  padded taps read the input zero point (x + off = 0), so the fold holds there too;
- requantization takes the fast path (one SMLAL and one shift, the output zero point folded in where provable) only
  when the weights and bias prove, for every channel, that it is exact (`_fast_requant`); otherwise the variant uses
  TFLite's general 64-bit arithmetic (`tm_requantize_round_up`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml.compiler.codegen import scratch as kernel_scratch
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Cast, Decl, Derived, Lowered, Ref, Scratch, Sym, Variant
from tinyml.compiler.codegen.ops.common import dims_decls
from tinyml.compiler.ir.graph import Operator, Tensor

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
WIDE_FC_FLASH_FRACTION = 0.5  # int16 FC weights only while all weights stay within this share of the flash


def _wrap32(values: np.ndarray) -> np.ndarray:
    return ((values.astype(np.int64) - INT32_MIN) % (1 << 32) + INT32_MIN).astype(np.int32)


def folded_bias(w2d: np.ndarray, bias: Tensor | None, x_zero_point: int) -> np.ndarray:
    """bias + input_offset * sum_k w, wrapped to int32 like the kernel's accumulator (input_offset = -zp)."""
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else bias.data.reshape(-1).astype(np.int64)
    return _wrap32(b - x_zero_point * w2d.astype(np.int64).sum(axis=1))


def _acc_bound(w2d: np.ndarray, bias: Tensor | None, x_zero_point: int) -> np.ndarray:
    """Per output channel, the largest |accumulator| any int8 input can produce (exact arithmetic)."""
    off = -x_zero_point
    xmax = max(abs(-128 + off), abs(127 + off))
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else np.abs(bias.data.reshape(-1).astype(np.int64))
    return b + np.abs(w2d.astype(np.int64)).sum(axis=1) * xmax


@dataclass(frozen=True)
class FastRequant:
    """The per-channel rows of tm_requant_ch (multiplier, pre_shift, post_shift, k_lo, k_hi) and whether the output
    zero point is folded into K or added after the shift."""

    rows: list[tuple[int, int, int, int, int]]
    zp_folded: bool

    @property
    def lean(self) -> bool:
        """The zero point folded and no pre-shift anywhere: tm_dsp_requant.fast = 1 (mode TM_DSP_FAST_SAT)."""
        return self.zp_folded and all(row[1] == 0 for row in self.rows)


def _fast_requant(bounds: np.ndarray, mults: list[int], shifts: list[int], out_zp: int) -> FastRequant | None:
    """The fast requantization table if tm_dsp_apply's fast path (see tinyml/dsp.h) is exact for every channel:
    out = (hi32((x << pre) * M + K) >> post) [+ zp], the zero point folded into K where that provably stays in
    range. `bounds`: the largest |accumulator| of each channel (at most 2^31: the int32 accumulator)."""
    base = []
    for bound, m, s in zip(bounds.tolist(), mults, shifts, strict=True):
        left, right = max(s, 0), max(-s, 0)
        if m == 0 or right > 32:  # the output is always the zero point
            k, pre, post, m = 0, 0, 0, 0
        elif not (1 << 30) <= m < (1 << 31):
            return None
        elif right >= 1:
            k, pre, post = (1 << 30) + (1 << (30 + right)), 0, right - 1
        elif left <= 29 and bound << (left + 1) < (1 << 31):
            k, pre, post = 1 << 31, left + 1, 0
        else:
            return None
        base.append((min(bound, 1 << 31), m, pre, post, k))

    def folds(x_max: int, m: int, pre: int, post: int, k: int) -> bool:
        """hi32 of the sum with zp 2^(32+post) added stays an int32 for every |x| <= x_max."""
        high = -(-((x_max << pre) * m + abs(k)) >> 32)  # ceil(max |(x << pre) * M + K| / 2^32)
        return high + abs(out_zp) * (1 << post) < 1 << 31

    folded = all(folds(*row) for row in base)
    rows = []
    for _, m, pre, post, k in base:
        k += (out_zp << (32 + post)) if folded else 0
        k_lo = k & 0xFFFFFFFF
        rows.append((m, pre, post, k_lo - (1 << 32) if k_lo >= (1 << 31) else k_lo, k >> 32))
    return FastRequant(rows, folded)


def _output_variant(table: FastRequant | None, act_min: int, act_max: int) -> str:
    """The output stage mode tm_dsp_mode picks for these parameters, as its TM_V_* variant."""
    if table is None:
        return "TM_V_OUT_GENERAL"
    if (act_min, act_max) != (-128, 127):
        return "TM_V_OUT_FAST_CLAMP"
    return "TM_V_OUT_FAST_SAT" if table.lean else "TM_V_OUT_FAST_SAT_ANY"


def _requant_decls(p: str, mults: list[int], shifts: list[int], table: FastRequant | None, out_zp: int,
                   act_min: int, act_max: int, general_tail: bool = False) -> list[Decl]:
    """The tm_dsp_requant of a layer: the fast per-channel table when it is exact, TFLite's multipliers and shifts
    when the general path needs them (no fast table, or `general_tail`: channels the kernel always requantizes the
    general way)."""
    n = len(mults)
    decls = []
    general = table is None or general_tail
    if general:
        decls += [Decl("int32_t", f"{p}_mult", tuple(mults), n), Decl("int32_t", f"{p}_shift", tuple(shifts), n)]
    if table is not None:
        decls.append(Decl("tm_requant_ch", f"{p}_rq_ch", tuple(table.rows), n))
    ch = f"{p}_rq_ch" if table is not None else "NULL"
    mult, shift = (f"{p}_mult", f"{p}_shift") if general else ("NULL", "NULL")
    fast = 0 if table is None else 1 if table.lean else 2
    fast_zp = 0 if table is None or table.zp_folded else out_zp
    decls.append(Decl("tm_dsp_requant", f"{p}_rq", (fast, out_zp, act_min, act_max, ch, mult, shift, fast_zp)))
    return decls


def lower_fully_connected(op: Operator, ctx: LoweringContext, variant: Variant, x: Tensor, w: Tensor,
                          bias: Tensor | None, y: Tensor, multipliers: list[tuple[int, int]], act_min: int,
                          act_max: int) -> Lowered:
    out_f, in_f = w.shape
    k4 = kernel_scratch.round4(in_f)
    w2d = w.data.reshape(out_f, in_f).astype(np.int8)
    mults = [m for m, _ in multipliers] * (out_f if len(multipliers) == 1 else 1)
    shifts = [s for _, s in multipliers] * (out_f if len(multipliers) == 1 else 1)
    table = _fast_requant(_acc_bound(w2d, bias, x.zero_point), mults, shifts, y.zero_point)
    per_channel = len(set(zip(mults, shifts, strict=True))) > 1
    if not per_channel:  # one entry serves every row (the table's rows are then identical)
        mults, shifts = mults[:1], shifts[:1]
        table = FastRequant(table.rows[:1], table.zp_folded) if table is not None else None
    padded = np.zeros((out_f, k4), np.int8)
    padded[:, :in_f] = w2d
    rows4, groups = out_f // 4 * 4, k4 // 4
    wide = _widening_affordable(ctx, ("FULLY_CONNECTED",))
    if wide:
        halves = padded.astype(np.int16).reshape(out_f, groups, 4)[:, :, [0, 2, 1, 3]].reshape(out_f, groups, 2, 2)
        block = halves[:rows4].reshape(rows4 // 4, 4, groups, 2, 2).transpose(0, 2, 3, 1, 4)
        arranged = np.concatenate([block.reshape(-1), halves[rows4:].reshape(-1)])
        weights = ctx.derived_const(f"op{op.index}_w16", "int16_t", arranged)
    else:
        block = padded[:rows4].reshape(rows4 // 4, 4, groups, 4).transpose(0, 2, 1, 3)
        arranged = np.concatenate([block.reshape(-1), padded[rows4:].reshape(-1)])
        weights = ctx.derived_const(f"op{op.index}_w8", "int8_t", arranged)
    folded = ctx.derived_const(f"op{op.index}_bias", "int32_t", folded_bias(w2d, bias, x.zero_point))
    p = f"op{op.index}"
    batches = x.size // in_f
    direct = variant.mode == "direct"
    decls = (*_requant_decls(p, mults, shifts, table, y.zero_point, act_min, act_max),
             Decl("tm_fc_dsp_params", f"{p}_params", (batches, in_f, out_f, k4, int(wide), int(direct),
                                                      int(per_channel))))
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_rq"), ctx.data(x), Sym(weights.name), Sym(folded.name),
                                 ctx.activation(y), NULL if direct else Scratch("int32_t")))
    bits = frozenset({_output_variant(table, act_min, act_max), "TM_V_FC_WIDE" if wide else "TM_V_FC_NARROW",
                      "TM_V_FC_DIRECT" if direct else "TM_V_FC_SCRATCH",
                      "TM_V_FC_PER_CHANNEL" if per_channel else "TM_V_FC_PER_TENSOR"})
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,),
                   scratch_bytes=kernel_scratch.fully_connected_s8_dsp_scratch_bytes(in_f, direct),
                   variant_bits=bits, variant=variant, derived=(weights, folded))


def _widening_affordable(ctx: LoweringContext, opcodes: tuple[str, ...]) -> bool:
    """int16 weights (no unpacking: 2 MACs per SMLAD per loaded word) when the flash budget allows doubling the
    weights of every operator in `opcodes`; `Target.wide_fc` forces either. Without a known budget (host builds)
    the compact int8 layout is used."""
    if ctx.target.wide_fc is not None:
        return ctx.target.wide_fc
    budget = ctx.target.flash_bytes
    if budget is None:
        return False
    total = sum(t.nbytes for t in ctx.graph.tensors if t.is_constant)
    doubled = sum(ctx.graph.tensors[o.inputs[1]].nbytes for o in ctx.graph.operators
                  if o.opcode in opcodes and len(o.inputs) > 1 and ctx.graph.tensors[o.inputs[1]].is_constant)
    return total + doubled <= budget * WIDE_FC_FLASH_FRACTION


@dataclass(frozen=True)
class ConvDsp:
    """What the plain and the fused DSP convolution share: declarations, weights, folded bias, scratch, bits."""

    decls: tuple[Decl, ...]
    weights: Cast | Sym
    bias: Sym
    scratch_bytes: int
    bits: frozenset[str]
    derived: tuple[Derived, ...]


def conv2d_weights(op: Operator, ctx: LoweringContext, variant: Variant, x: Tensor, w: Tensor, bias: Tensor | None,
                   y: Tensor, mults: list[int], shifts: list[int], geometry: tuple[int, ...], act_min: int,
                   act_max: int) -> ConvDsp:
    """The DSP convolution's parameters and arrays (plain or fused with an ADD), in `variant`'s mode."""
    stride_h, stride_w, dil_h, dil_w, pad_h, pad_w = geometry
    out_c, kh, kw, in_c = w.shape
    direct = variant.mode == "direct"
    k = kh * kw * in_c
    k4 = kernel_scratch.conv2d_s8_dsp_k4(kh, kw, in_c, direct)  # im2col: an even number of groups (zero weights)
    w2d = w.data.reshape(out_c, k).astype(np.int8)
    table = _fast_requant(_acc_bound(w2d, bias, x.zero_point), mults, shifts, y.zero_point)
    padded = np.zeros((out_c, k4), np.int8)
    padded[:, :k] = w2d
    pairs, groups = out_c // 2 * 2, k4 // 4
    wide = _widening_affordable(ctx, ("FULLY_CONNECTED", "CONV_2D"))
    if wide:  # int16 pairs (k0,k2),(k1,k3) per group: channel o's 2 words then o+1's (no SXTB16 of the weights)
        halves = padded.astype(np.int16).reshape(out_c, groups, 4)[:, :, [0, 2, 1, 3]]
        block = halves[:pairs].reshape(pairs // 2, 2, groups, 4).transpose(0, 2, 1, 3)
        weights = ctx.derived_const(f"op{op.index}_w16", "int16_t", np.concatenate([block.reshape(-1),
                                                                                    halves[pairs:].reshape(-1)]))
        weights_arg: Cast | Sym = Cast("const int8_t *", Sym(weights.name))
    else:
        block = padded[:pairs].reshape(pairs // 2, 2, groups, 4).transpose(0, 2, 1, 3)
        weights = ctx.derived_const(f"op{op.index}_w8", "int8_t", np.concatenate([block.reshape(-1),
                                                                                  padded[pairs:].reshape(-1)]))
        weights_arg = Sym(weights.name)
    folded = ctx.derived_const(f"op{op.index}_bias", "int32_t", folded_bias(w2d, bias, x.zero_point))
    p = f"op{op.index}"
    decls = (*_requant_decls(p, mults, shifts, table, y.zero_point, act_min, act_max),
             Decl("tm_conv_dsp_params", f"{p}_params", (stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, k4,
                                                        x.zero_point, int(direct), int(wide))),
             *dims_decls(p, x, w, y))
    bits = frozenset({_output_variant(table, act_min, act_max), "TM_V_CONV_WIDE" if wide else "TM_V_CONV_NARROW",
                      "TM_V_CONV_DIRECT" if direct else "TM_V_CONV_IM2COL", *(["TM_V_CONV_ODD"] if out_c % 2 else [])})
    return ConvDsp(decls, weights_arg, Sym(folded.name),
                   kernel_scratch.conv2d_s8_dsp_scratch_bytes(kh, kw, in_c, direct), bits, (weights, folded))


def lower_conv2d(op: Operator, ctx: LoweringContext, variant: Variant, x: Tensor, w: Tensor, bias: Tensor | None,
                 y: Tensor, mults: list[int], shifts: list[int], geometry: tuple[int, ...], act_min: int,
                 act_max: int) -> Lowered:
    conv = conv2d_weights(op, ctx, variant, x, w, bias, y, mults, shifts, geometry, act_min, act_max)
    p = f"op{op.index}"
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_rq"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_filter"),
                                 conv.weights, conv.bias, Ref(f"{p}_out"), ctx.activation(y), Scratch()))
    return Lowered(kernels=(variant.source,), decls=conv.decls, calls=(call,), scratch_bytes=conv.scratch_bytes,
                   variant_bits=conv.bits, variant=variant, derived=conv.derived)


def lower_depthwise_conv2d(op: Operator, ctx: LoweringContext, variant: Variant, x: Tensor, w: Tensor,
                           bias: Tensor | None, y: Tensor, mults: list[int], shifts: list[int],
                           geometry: tuple[int, ...], vector_channels: int, act_min: int, act_max: int) -> Lowered:
    stride_h, stride_w, dil_h, dil_w, pad_h, pad_w = geometry
    _, kh, kw, c = w.shape
    taps = w.data.reshape(kh * kw, c).astype(np.int8)
    per_channel = taps.T  # [c, taps]
    table = _fast_requant(_acc_bound(per_channel, bias, x.zero_point), mults, shifts, y.zero_point)
    # per group of 4 channels, per tap (a group's weights contiguous): words (c0,c2),(c1,c3) as int16 pairs, or the
    # 4 int8 in one word (widened by 2 SXTB16 in the kernel)
    wide = _widening_affordable(ctx, ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"))
    if wide:
        arranged = taps.astype(np.int16).reshape(kh * kw, c // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2)
        weights = ctx.derived_const(f"op{op.index}_w16", "int16_t", arranged)
    else:
        weights = ctx.derived_const(f"op{op.index}_w8", "int8_t", taps.reshape(kh * kw, c // 4, 4).transpose(1, 0, 2))
    folded = ctx.derived_const(f"op{op.index}_bias", "int32_t", folded_bias(per_channel, bias, x.zero_point))
    p = f"op{op.index}"
    decls = (*_requant_decls(p, mults, shifts, table, y.zero_point, act_min, act_max,
                             general_tail=vector_channels < c),
             Decl("tm_dw_dsp_params", f"{p}_params", (stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, x.zero_point,
                                                      vector_channels, int(wide))),
             *dims_decls(p, x, w, y))
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_rq"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_filter"),
                                 Cast("const int32_t *", Sym(weights.name)), Sym(folded.name), Ref(f"{p}_out"),
                                 ctx.activation(y), Scratch("int8_t")))
    bits = frozenset({_output_variant(table, act_min, act_max), "TM_V_DW_3X3" if kh * kw == 9 else "TM_V_DW_ANY",
                      "TM_V_DW_WIDE" if wide else "TM_V_DW_NARROW"})
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,),
                   scratch_bytes=kernel_scratch.depthwise_conv2d_s8_dsp_scratch_bytes(c), variant_bits=bits,
                   variant=variant, derived=(weights, folded))
