"""The runtime kernels' scratch sizes and limits, as the generator uses them. Each function mirrors the
`tm_<kernel>_scratch_bytes` function declared beside its kernel (firmware/runtime/include/tinyml/kernels.h,
kernels_dsp.h), each constant the limit of the same name there; tests/codegen/test_scratch.py compiles the C side
on the host and holds the two to the same numbers for every variant."""
from __future__ import annotations

TM_CONV_DIRECT_MAX_TAPS = 16     # taps of the im2col-free DSP convolution (its tap pointers live on the stack)
TM_DW_MAX_TAPS = 64              # taps of the DSP depthwise convolution (its tap offsets live on the stack)
TM_AVG_POOL_DSP_MAX_WINDOW = 255  # elements of a DSP average pooling window (sums exact in 16-bit lanes)
TM_DSP_CHANNEL_GROUP = 4         # the DSP depthwise, direct convolution and average pooling read channels by words
TM_INPLACE_MAX_RING_ROWS = 65535  # ring rows of an in-place convolution (a uint16_t in tm_inplace_params)
TM_INPLACE_MAX_GEOMETRY = 255    # its stride_h, pad_h and reach (uint8_t fields of tm_inplace_params)


def round4(n: int) -> int:
    return (n + 3) // 4 * 4


def conv2d_s8_dsp_k4(kh: int, kw: int, in_c: int, direct: bool) -> int:
    """The padded depth of the DSP convolution's GEMM (tm_conv_dsp_params.k4): a multiple of 4 (direct) or 8."""
    k = kh * kw * in_c
    return round4(k) if direct else (k + 7) // 8 * 8


def conv2d_s8_dsp_scratch_bytes(kh: int, kw: int, in_c: int, direct: bool) -> int:
    """direct: a row of in_c zero points (padded taps); im2col: two widened rows, and a gather row when in_c % 4."""
    if direct:
        return round4(in_c)
    k4 = conv2d_s8_dsp_k4(kh, kw, in_c, direct)
    return 4 * k4 + (k4 if in_c % 4 else 0)


def conv2d_add_s8_dsp_scratch_bytes(kh: int, kw: int, in_c: int, out_c: int, direct: bool) -> int:
    """The convolution's scratch, then a pixel pair's convolution output."""
    return conv2d_s8_dsp_scratch_bytes(kh, kw, in_c, direct) + round4(2 * out_c)


def depthwise_conv2d_s8_dsp_scratch_bytes(in_c: int) -> int:
    return round4(in_c)


def fully_connected_s8_dsp_scratch_bytes(in_features: int, direct: bool) -> int:
    """The input widened to int16 pairs (none when `direct`: widened on the fly)."""
    return 0 if direct else 2 * round4(in_features)


def conv_inplace_s8_scratch_bytes(ring_rows: int, out_w: int, out_c: int) -> int:
    return ring_rows * out_w * out_c


def conv_inplace_dsp_s8_ring_bytes(ring_rows: int, out_w: int, out_c: int) -> int:
    """The ring, word-aligned: the row kernel's own scratch follows it."""
    return round4(ring_rows * out_w * out_c)


def conv_inplace_dsp_s8_scratch_bytes(ring_rows: int, out_w: int, out_c: int, kernel_scratch: int) -> int:
    return conv_inplace_dsp_s8_ring_bytes(ring_rows, out_w, out_c) + kernel_scratch


def lstm_s8_scratch_bytes(n_cell: int) -> int:
    """The four int16 gates of one batch row."""
    return 4 * n_cell * 2


def conv2d_s4_scratch_bytes(kh: int, kw: int, in_c: int) -> int:
    """One output channel's filter row, unpacked from int4 to int8."""
    return kh * kw * in_c


def fully_connected_s4_scratch_bytes(in_features: int) -> int:
    """One output feature's weight row, unpacked from int4 to int8."""
    return in_features


def depthwise_conv2d_s4_scratch_bytes(kh: int, kw: int, out_c: int) -> int:
    """The whole depthwise filter, unpacked from int4 to int8 (a channel's taps lie out_c apart)."""
    return kh * kw * out_c
