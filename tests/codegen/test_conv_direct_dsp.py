"""The DSP convolution's direct mode (no im2col: each tile reads the input words of runs of taps, a kernel row inside
the input being one run) and its fused residual ADD, on the host against the TFLite reference, byte for byte: random
convolutions whose input channels are a multiple of 4 (the direct mode's condition), every geometry (kernel sizes,
strides, dilations, SAME and VALID padding), odd and even groups of 4 channels per tap, odd output channels, int8
and int16 weights, and residual blocks on such inputs. The real instructions: tests/bench/test_conv_direct_qemu.py."""
from __future__ import annotations

import numpy as np
import pytest

from tests.codegen.test_inplace import _check
from tests.forcing import force_low_scratch
from tests.tflite_models import GraphBuilder, _add_conv, random_qp, residual_blocks
from tinyml.compiler.codegen import variants
from tinyml.compiler.codegen.target import Target

TARGETS = {"narrow": Target("host", dsp=True, wide_fc=False), "wide": Target("host", dsp=True, wide_fc=True)}


def direct_conv(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    """One convolution on an input of 4, 8, 12 or 16 channels (1 to 4 groups per tap), random geometry."""
    b = GraphBuilder()
    shape = (1, int(rng.integers(1, 11)), int(rng.integers(1, 11)), 4 * int(rng.integers(1, 5)))
    x = b.input(shape, random_qp(rng, 1e-2, 1e-1))
    b.output(_add_conv(rng, b, x, int(rng.integers(1, 17))))
    return b.to_bytes(), [rng.integers(-128, 128, size=shape, dtype=np.int8)]


def direct_residual(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    """Residual blocks (the fused CONV_2D + ADD) whose input has a multiple of 4 channels."""
    while True:
        b = GraphBuilder()
        residual_blocks(rng, b)
        if b.tensors[b.inputs[0]].shape[3] % 4 == 0:
            return b.to_bytes(), [rng.integers(-128, 128, size=b.tensors[i].shape, dtype=np.int8) for i in b.inputs]


def count_direct(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every DSP convolution mode the generator chooses from now on, in a list."""
    chosen, choose = [], variants._conv_dsp_mode

    def counting(*args):
        mode = choose(*args)
        chosen.append(mode[0])
        return mode
    monkeypatch.setattr(variants, "_conv_dsp_mode", counting)
    return chosen


# per kind of case: how it is drawn, how many, how many convolutions at least take the direct mode (a few single
# convolutions have more taps than it takes; a residual block has 2 to 5 convolutions)
KINDS = {"convolutions": (direct_conv, 80, 60), "residual-blocks": (direct_residual, 30, 30)}


@pytest.mark.parametrize("kind, weights", [(k, w) for k in KINDS for w in sorted(TARGETS)])
def test_direct_mode_matches_tflite(kind: str, weights: str, monkeypatch: pytest.MonkeyPatch) -> None:
    draw, count, direct = KINDS[kind]
    force_low_scratch(monkeypatch)
    chosen = count_direct(monkeypatch)
    rng = np.random.default_rng(70 + len(kind) + len(weights))
    _check([draw(rng) for _ in range(count)], rng, TARGETS[weights])
    assert chosen.count("direct") >= direct, chosen
