"""Force the generator's memory choices in tests, so that the kernels they select are exercised whatever they cost
(the compiler otherwise runs a layer in place or in its low-scratch mode only where that lowers the arena)."""
from __future__ import annotations

import pytest

import tinyml.compiler.codegen.compiler as compiler
from tinyml.compiler.codegen import inplace
from tinyml.compiler.codegen.ops import dsp


def force_inplace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every convolution whose input dies there runs in place, whatever the ring costs and whatever the arena."""
    monkeypatch.setattr(inplace, "worth_it", lambda *args: True)
    monkeypatch.setattr(compiler, "_inplace_only_where_it_pays", lambda graph, lowered: lowered)


def force_low_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DSP layer that has one runs in its smallest-scratch mode (direct convolution, FC without the widened
    input)."""
    shrink = compiler._shrink_peak_scratch

    def everything(graph, ctx, lowered):
        ctx.low_scratch.update(op.index for op in graph.operators)
        return shrink(graph, ctx, [compiler.make_inplace(op, ctx, compiler.lower(op, ctx)) for op in graph.operators])

    monkeypatch.setattr(compiler, "_shrink_peak_scratch", everything)


def force_zero_point_after_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every exact fast requantization table of the DSP kernels adds the output zero point after the shift (mode
    TM_DSP_FAST_SAT_ANY, what a layer gets when the zero point cannot be folded into its 64-bit constant) instead of
    folding it in: the same bytes out, through the kernels' other output stage."""
    fast_requant = dsp._fast_requant

    def zero_point_after(bounds, mults, shifts, out_zp):
        table = fast_requant(bounds, mults, shifts, 0)  # K without the zero point
        return None if table is None else dsp.FastRequant(table.rows, zp_folded=False)

    monkeypatch.setattr(dsp, "_fast_requant", zero_point_after)
