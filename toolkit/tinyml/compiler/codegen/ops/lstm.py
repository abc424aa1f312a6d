"""UNIDIRECTIONAL_SEQUENCE_LSTM, int8 (TFLite's integer 8x8_16 LSTM), in the form the TFLite converter emits for a
Keras LSTM layer under full-integer quantization: int8 input and output, four gates with int8 per-tensor weights
and int32 biases, no peephole, projection or layer normalization, an int8 output state and an int16 cell state as
variable tensors (kept between invokes, see `tinyml.compiler.codegen.emit.variables`), and five intermediate tensors
of which only the fifth (the hidden state's scale and zero point) matters without layer normalization.

What TFLite's Prepare computes (the effective scales in float32 and their multipliers, the gate biases with the
zero points folded in, the cell clip in cell units) is computed here, at generation time, exactly as it does."""
from __future__ import annotations

import math

import numpy as np

from tinyml.compiler.codegen import scratch
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref, Scratch, Sym
from tinyml.compiler.codegen.ops.common import require_const, require_version
from tinyml.compiler.codegen.quant import quantize_multiplier
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32
TANH = 4  # the fused activation (of the cell gate and the output) a Keras LSTM's converter writes
# Positions of the operator's inputs (tensorflow/lite/kernels/lstm_shared.h).
INPUT_WEIGHTS = (1, 2, 3, 4)       # input to input, forget, cell, output gate: [n_cell, n_input]
RECURRENT_WEIGHTS = (5, 6, 7, 8)   # output state to each gate: [n_cell, n_output]
PEEPHOLE = (9, 10, 11)
BIASES = (12, 13, 14, 15)
PROJECTION = (16, 17)
OUTPUT_STATE, CELL_STATE = 18, 19
LAYER_NORM = (20, 21, 22, 23)
GATE_SCALE = 2.0 ** -12            # the gates' matrix products are Q3.12 when there is no layer normalization


def lower_unidirectional_sequence_lstm(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_version(ctx, op, (1,), y)
    if len(op.inputs) != 24:
        raise ctx.fail(op, f"has {len(op.inputs)} inputs; tinyml compiles the 24-input form the converter writes")
    _refuse_absent_features(op, ctx)
    for t, what in ((x, "input"), (y, "output")):
        if t.dtype != "int8" or t.quant is None or len(t.shape) != 3:
            raise ctx.fail(op, f"{what} '{t.name}' must be a quantized rank-3 int8 tensor, not {t.dtype} "
                               f"{list(t.shape)}; tinyml compiles the full-integer (int8) LSTM")
    time_major = bool(ctx.option(op, "timeMajor", False))
    n_time, n_batch, n_input = x.shape if time_major else (x.shape[1], x.shape[0], x.shape[2])
    input_weights = [_weights(ctx, op, i) for i in INPUT_WEIGHTS]
    recurrent_weights = [_weights(ctx, op, i) for i in RECURRENT_WEIGHTS]
    n_cell = input_weights[0].shape[0]
    for w, cols in [(w, n_input) for w in input_weights] + [(w, n_cell) for w in recurrent_weights]:
        if w.shape != (n_cell, cols):
            raise ctx.fail(op, f"weights '{w.name}' are {list(w.shape)}, expected {[n_cell, cols]}")
    biases = [ctx.tensor(op, i) for i in BIASES]
    for b in biases:
        require_const(ctx, op, b, "gate bias")
        if b.dtype != "int32" or b.shape != (n_cell,):
            raise ctx.fail(op, f"gate bias '{b.name}' must be int32 [{n_cell}], not {b.dtype} {list(b.shape)}")
    output_state, cell_state = _state(ctx, op, OUTPUT_STATE, "int8", n_batch * n_cell), \
        _state(ctx, op, CELL_STATE, "int16", n_batch * n_cell)
    if y.shape != (*x.shape[:2], n_cell):
        raise ctx.fail(op, f"output shape {list(y.shape)} does not follow from input {list(x.shape)} and "
                           f"{n_cell} cells")
    hidden = _hidden(ctx, op)
    cell_scale = _cell_scale_log2(ctx, op, cell_state)

    input_mults = [quantize_multiplier(float(F32(w.scale) * F32(x.scale) / F32(GATE_SCALE))) for w in input_weights]
    recurrent_mults = [quantize_multiplier(float(F32(w.scale) * F32(output_state.scale) / F32(GATE_SCALE)))
                       for w in recurrent_weights]
    hidden_mult = quantize_multiplier(float(F32(2.0 ** -15 / float(F32(hidden.scale)) * 2.0 ** -15)))
    cell_clip = F32(ctx.option(op, "cellClip", 0.0))
    quantized_clip = int(np.clip(cell_clip / F32(cell_state.scale), F32(-32768.0), F32(32767.0))) if cell_clip > 0 \
        else 0

    folded = [_fold(b.data, -x.zero_point, w.data) for b, w in zip(biases, input_weights, strict=True)]
    folded += [_fold(None, -output_state.zero_point, w.data) for w in recurrent_weights]
    p = f"op{op.index}"
    derived = (
        ctx.derived_const(f"{p}_lstm_input_weights", "int8_t", np.stack([w.data for w in input_weights])),
        ctx.derived_const(f"{p}_lstm_recurrent_weights", "int8_t", np.stack([w.data for w in recurrent_weights])),
        ctx.derived_const(f"{p}_lstm_biases", "int32_t", np.stack(folded)),
    )
    decls = (Decl("tm_lstm_params", f"{p}_params", (
        n_batch, n_time, n_input, n_cell, int(time_major),
        tuple(m for m, _ in input_mults), tuple(s for _, s in input_mults),
        tuple(m for m, _ in recurrent_mults), tuple(s for _, s in recurrent_mults),
        hidden_mult[0], hidden_mult[1], hidden.zero_point, cell_scale, quantized_clip)),)
    call = Call("tm_lstm_s8", (Ref(f"{p}_params"), *(Sym(d.name) for d in derived), ctx.activation(x),
                               ctx.activation(output_state), ctx.activation(cell_state), ctx.activation(y),
                               Scratch("int16_t")))
    return Lowered(kernels=("recurrent/lstm_s8.c",), decls=decls, calls=(call,), derived=derived,
                   scratch_bytes=scratch.lstm_s8_scratch_bytes(n_cell))


def _refuse_absent_features(op: Operator, ctx: LoweringContext) -> None:
    """The converter writes none of these for a Keras LSTM; TFLite would take other arithmetic paths for them."""
    present = lambda positions: any(op.inputs[i] >= 0 for i in positions)  # noqa: E731
    for positions, what in ((PEEPHOLE, "peephole weights"), (PROJECTION, "a projection"),
                            (LAYER_NORM, "layer normalization")):
        if present(positions):
            raise ctx.fail(op, f"has {what}; tinyml compiles the LSTM a Keras LSTM layer converts to (four gates, "
                               "no peephole, projection or layer normalization)")
    if op.inputs[INPUT_WEIGHTS[0]] < 0:
        raise ctx.fail(op, "has no input gate (CIFG); tinyml compiles the four-gate LSTM a Keras LSTM converts to")
    if ctx.option(op, "fusedActivationFunction", TANH) != TANH:
        raise ctx.fail(op, "uses a cell activation other than tanh; the integer LSTM computes tanh only")
    if ctx.option(op, "diagonalRecurrentTensors", False):
        raise ctx.fail(op, "has diagonal recurrent weights, which tinyml does not compile")


def _weights(ctx: LoweringContext, op: Operator, position: int) -> Tensor:
    w = ctx.tensor(op, position)
    require_const(ctx, op, w, "weights")
    if w.dtype != "int8" or w.quant is None or w.quant.per_channel or w.zero_point != 0 or len(w.shape) != 2:
        raise ctx.fail(op, f"weights '{w.name}' must be 2-D int8, per-tensor symmetric (zero point 0)")
    return w


def _state(ctx: LoweringContext, op: Operator, position: int, dtype: str, size: int) -> Tensor:
    t = ctx.tensor(op, position)
    if not t.is_variable or t.is_constant or t.dtype != dtype or t.quant is None or t.size != size:
        raise ctx.fail(op, f"state '{t.name}' must be a quantized {dtype} variable tensor of {size} values, not "
                           f"{'a variable ' if t.is_variable else ''}{t.dtype} {list(t.shape)}")
    return t


def _hidden(ctx: LoweringContext, op: Operator) -> Tensor:
    """The fifth intermediate tensor: the hidden state's (output gate * tanh(cell)) scale and zero point."""
    if len(op.intermediates) != 5 or op.intermediates[4] < 0:
        raise ctx.fail(op, f"has {len(op.intermediates)} intermediate tensors; the integer LSTM needs the five the "
                           "converter writes (re-convert the model with a representative dataset)")
    hidden = ctx.graph.tensors[op.intermediates[4]]
    if hidden.quant is None or hidden.scale <= 0 or not -128 <= hidden.zero_point <= 127:
        raise ctx.fail(op, f"intermediate '{hidden.name}' carries no int8 quantization")
    return hidden


def _cell_scale_log2(ctx: LoweringContext, op: Operator, cell_state: Tensor) -> int:
    """TFLite requires a power-of-two cell state scale of at most 2^-9 (CheckedLog2); its tanh takes 2^-15 and up."""
    log2 = math.log2(cell_state.scale) if cell_state.scale > 0 else math.inf
    exponent = round(log2) if math.isfinite(log2) else 0
    if not math.isfinite(log2) or abs(log2 - exponent) >= 1e-3 or not -15 <= exponent <= -9 \
            or cell_state.zero_point != 0:
        raise ctx.fail(op, f"cell state '{cell_state.name}' has scale {cell_state.scale} and zero point "
                           f"{cell_state.zero_point}; the integer LSTM needs 2^k, -15 <= k <= -9, and zero point 0")
    return exponent


def _fold(bias: np.ndarray | None, zero_point: int, weights: np.ndarray) -> np.ndarray:
    """bias + zero_point * row sums of weights in int32 (TFLite's PrecomputeZeroPointTimesWeightWithBias)."""
    value = (np.zeros(weights.shape[0], np.int64) if bias is None else bias.astype(np.int64)) \
        + zero_point * weights.astype(np.int64).sum(axis=1)
    return (((value + 2**31) % 2**32) - 2**31).astype(np.int32)
