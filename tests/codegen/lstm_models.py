"""Int8 UNIDIRECTIONAL_SEQUENCE_LSTM models written with the flatbuffer object API, in the layout the TFLite
converter emits for a Keras LSTM under full-integer quantization (checked against a converted tf_keras LSTM in
tests/codegen/test_lstm_zoo.py): 24 inputs (input; input-to-gate and recurrent weights for the input, forget, cell
and output gates, int8 per-tensor symmetric; peephole absent; four int32 gate biases of scale input scale * weight
scale; projection absent; the int8 output state and the int16 cell state (scale 2^k) as variable tensors; layer norm
absent), cell activation TANH, five intermediate tensors of which the fifth carries the hidden state's quantization
(the converter gives it the output's). Random draws cover shapes, scales, zero points and named edge cases."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

INT8, INT16, INT32, FLOAT32 = (schema.TensorType.INT8, schema.TensorType.INT16, schema.TensorType.INT32,
                               schema.TensorType.FLOAT32)
EDGES = ("time_major", "small_cell_clip", "saturated_gates", "hidden_scale_differs", "one_unit", "zero_input_zp")


@dataclass(frozen=True)
class LstmSpec:
    batch: int
    time: int
    n_input: int
    units: int
    input_q: tuple[float, int]
    state_q: tuple[float, int]       # the output state's, the output's (and, unless hidden_q, the hidden state's)
    weight_scales: tuple[float, ...]  # 8: input-to-gate i, f, c, o, then recurrent i, f, c, o
    cell_log2: int                   # the cell state's scale is 2^cell_log2
    cell_clip: float
    time_major: bool = False
    hidden_q: tuple[float, int] | None = None
    edge: str = ""


class _Model:
    def __init__(self) -> None:
        self.tensors: list[schema.TensorT] = []
        self.buffers: list[schema.BufferT] = [schema.BufferT()]

    def tensor(self, shape, dtype: int, q: tuple[float, int] | None = None, data: np.ndarray | None = None,
               variable: bool = False) -> int:
        t = schema.TensorT()
        t.shape, t.type, t.name = np.array(shape, dtype=np.int32), dtype, f"t{len(self.tensors)}"
        t.isVariable, t.buffer = variable, self._buffer(data)
        if q is not None:
            t.quantization = schema.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = np.float32([q[0]]), np.int64([q[1]])
        self.tensors.append(t)
        return len(self.tensors) - 1

    def _buffer(self, data: np.ndarray | None) -> int:
        """The index of a new buffer holding `data`; 0 (the empty buffer) for a tensor without data."""
        if data is None:
            return 0
        self.buffers.append(schema.BufferT())
        self.buffers[-1].data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
        return len(self.buffers) - 1


def build(spec: LstmSpec, rng: np.random.Generator) -> bytes:
    """The model: one UNIDIRECTIONAL_SEQUENCE_LSTM, random weights and biases for `spec`."""
    m = _Model()
    lead = (spec.time, spec.batch) if spec.time_major else (spec.batch, spec.time)
    x = m.tensor((*lead, spec.n_input), INT8, spec.input_q)
    weights = []
    for g, scale in enumerate(spec.weight_scales):
        cols = spec.n_input if g < 4 else spec.units
        w = rng.integers(-127, 128, size=(spec.units, cols), dtype=np.int8)
        weights.append(m.tensor(w.shape, INT8, (scale, 0), w))
    biases = []
    for g in range(4):
        bias_scale = float(np.float32(spec.input_q[0]) * np.float32(spec.weight_scales[g]))
        b = np.round(rng.normal(0.0, 0.5, spec.units) / bias_scale).astype(np.int32)  # about N(0, 0.5) in reals
        biases.append(m.tensor(b.shape, INT32, (bias_scale, 0), b))
    h = m.tensor((spec.batch, spec.units), INT8, spec.state_q, variable=True)
    c = m.tensor((spec.batch, spec.units), INT16, (2.0 ** spec.cell_log2, 0), variable=True)
    intermediates = [m.tensor((0,), FLOAT32) for _ in range(4)]
    intermediates.append(m.tensor((0,), INT8, spec.hidden_q or spec.state_q))
    y = m.tensor((*lead, spec.units), INT8, spec.state_q)
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array([x, *weights, -1, -1, -1, *biases, -1, -1, h, c, -1, -1, -1, -1], dtype=np.int32)
    op.outputs = np.array([y], dtype=np.int32)
    op.intermediates = np.array(intermediates, dtype=np.int32)
    options = schema.UnidirectionalSequenceLSTMOptionsT()
    options.fusedActivationFunction = schema.ActivationFunctionType.TANH
    options.cellClip = spec.cell_clip
    options.timeMajor = spec.time_major
    op.builtinOptionsType = schema.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = options
    return _pack(m, op, x, y)


def _pack(m: _Model, op: schema.OperatorT, x: int, y: int) -> bytes:
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.name = m.tensors, [op], "main"
    sub.inputs, sub.outputs = np.array([x], dtype=np.int32), np.array([y], dtype=np.int32)
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.deprecatedBuiltinCode = code.builtinCode
    code.version = 1  # what the converter writes for the int8 LSTM
    model = schema.ModelT()
    model.version, model.description = 3, "tinyml LSTM test model"
    model.subgraphs, model.buffers, model.operatorCodes = [sub], m.buffers, [code]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def random_spec(rng: np.random.Generator, edge: str | None = None, max_units: int = 24) -> LstmSpec:
    """A random LSTM; `edge` (one of EDGES, or None for a plain draw) forces a named case."""
    units = 1 if edge == "one_unit" else int(rng.integers(1, max_units + 1))
    n_input = int(rng.integers(1, 17))
    input_q = (float(np.float32(rng.uniform(0.005, 0.1))),
               0 if edge == "zero_input_zp" else int(rng.integers(-128, 128)))
    state_q = (float(np.float32(rng.uniform(1 / 256, 1 / 64))), int(rng.integers(-20, 21)))
    high = 0.2 if edge == "saturated_gates" else 0.02  # large weights drive the Q3.12 gates into saturation
    return LstmSpec(
        batch=int(rng.integers(1, 4)), time=int(rng.integers(1, 9)), n_input=n_input, units=units,
        input_q=input_q, state_q=state_q,
        weight_scales=tuple(float(np.float32(rng.uniform(0.001, high))) for _ in range(8)),
        cell_log2=int(rng.integers(-15, -8)), cell_clip=0.25 if edge == "small_cell_clip" else
        float(rng.choice([0.0, 3.0, 10.0])),
        time_major=edge == "time_major",
        hidden_q=(float(np.float32(rng.uniform(1 / 256, 1 / 64))), int(rng.integers(-20, 21)))
        if edge == "hidden_scale_differs" else None,
        edge=edge or "")


def sequence_inputs(spec: LstmSpec, rng: np.random.Generator, samples: int) -> np.ndarray:
    """`samples` random int8 input tensors for the model (run one after the other: the state carries over)."""
    lead = (spec.time, spec.batch) if spec.time_major else (spec.batch, spec.time)
    return rng.integers(-128, 128, size=(samples, *lead, spec.n_input), dtype=np.int8)


def run_sequence(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """The TFLite interpreter's outputs for inputs[0], inputs[1], ... invoked one after the other on one
    interpreter (builtin kernels): the LSTM's variable tensors carry the state from one invoke to the next."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model, num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    x, y = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    outputs = []
    for sample in inputs:
        interpreter.set_tensor(x, sample)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(y).copy())
    return np.stack(outputs)


def describe(spec: LstmSpec) -> dict[str, Any]:
    return {k: v for k, v in vars(spec).items() if k != "weight_scales"}
