"""Generation-time quantization arithmetic, replicating TFLite's float/double steps exactly.

TFLite computes multipliers in double from float32 scales, lookup tables in float32 with libm's expf/tanhf.
numpy float32 scalars give IEEE single-precision arithmetic; transcendental functions come from the C library
through ctypes, because numpy's vectorized exp may differ from libm's in the last bit.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
for _fn in ("expf", "tanhf"):
    getattr(_LIBM, _fn).restype = ctypes.c_float
    getattr(_LIBM, _fn).argtypes = [ctypes.c_float]

F32 = np.float32
INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767


def expf(x: np.float32) -> np.float32:
    return F32(_LIBM.expf(float(x)))


def tanhf(x: np.float32) -> np.float32:
    return F32(_LIBM.tanhf(float(x)))


def round_half_away(x: float) -> int:
    """C's round()/roundf(): halves go away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = q * 2^(shift-31) with q in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = round_half_away(mantissa * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return q, shift


# --- integer arithmetic mirrored from the C runtime, for building lookup tables ---

def _srdhm(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def _rdpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _wrap32(x: int) -> int:
    return ((x + (1 << 31)) % (1 << 32)) - (1 << 31)


def requantize(x: int, multiplier: int, shift: int) -> int:
    left = max(shift, 0)
    right = max(-shift, 0)
    return _rdpot(_srdhm(_wrap32(x << left), multiplier), right)


def requantize_round_up(x: int, multiplier: int, shift: int) -> int:
    """tm_requantize_round_up: the final shift rounds ties toward +infinity (TFLite's SIMD blocks)."""
    left = max(shift, 0)
    right = max(-shift, 0)
    high = _srdhm(_wrap32(x << left), multiplier)
    return (high + (1 << (right - 1))) >> right if right else high


def activation_range(fused: int, scale: float, zero_point: int, qmin: int = INT8_MIN,
                     qmax: int = INT8_MAX) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for fused activations NONE(0), RELU(1), RELU_N1_TO_1(2), RELU6(3)."""
    def q(v: float) -> int:
        return zero_point + round_half_away(float(F32(v) / F32(scale)))

    if fused == 0:
        return qmin, qmax
    if fused == 1:
        return max(qmin, q(0.0)), qmax
    if fused == 2:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    if fused == 3:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    raise ValueError(f"fused activation {fused}")
