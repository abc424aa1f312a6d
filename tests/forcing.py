"""Force the generator's memory choices in tests, so that the kernels they select are exercised whatever they cost
(the compiler otherwise runs a layer in place or in its low-scratch mode only where that lowers the arena)."""
from __future__ import annotations

import pytest

import tinyml.compiler.codegen.compiler as compiler
from tinyml.compiler.codegen import inplace


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
