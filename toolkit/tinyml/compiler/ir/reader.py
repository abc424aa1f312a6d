"""Read a full-integer .tflite flatbuffer into the IR, refusing what tinyml cannot compile with one clear line."""
from __future__ import annotations

import hashlib
from pathlib import Path
from types import MappingProxyType

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tinyml.compiler.ir.fold import fold_requantized_moves
from tinyml.compiler.ir.graph import DTYPES, Graph, Operator, Quantization, Tensor
from tinyml.errors import TinymlError

OPCODE_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
# Operators that may carry float tensors: they convert at the model's edges.
EDGE_CONVERSION_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
# INT4 (TensorType 17): two values per byte, the first in the low nibble, over the whole flattened tensor. tinyml
# reads such a tensor into int8 values (dtype "int4") and accepts it only as these operators' constant filter.
INT4 = int(schema.TensorType.INT4)
INT4_FILTER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def read_tflite(path: str | Path) -> Graph:
    """Parse `path` into a Graph; every problem with the file is a TinymlError naming the file."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise TinymlError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    return parse_tflite(buf, str(path))


def parse_tflite(buf: bytes, name: str) -> Graph:
    if len(buf) < 16 or buf[4:8] != b"TFL3":
        raise TinymlError(f"{name}: not a TFLite flatbuffer (no 'TFL3' identifier); pass a .tflite model")
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    except Exception as exc:  # the flatbuffers runtime raises anything from struct.error to IndexError
        raise TinymlError(f"{name}: corrupted or truncated TFLite file ({type(exc).__module__}."
                          f"{type(exc).__name__}); re-export the model") from None
    try:
        return _build_graph(model, buf, name)
    except TinymlError:
        raise
    except Exception as exc:
        raise TinymlError(f"{name}: inconsistent TFLite file ({type(exc).__name__}: {exc}); "
                          "re-export the model") from None


def _build_graph(model: schema.ModelT, buf: bytes, name: str) -> Graph:
    subgraphs = model.subgraphs or []
    if len(subgraphs) != 1:
        raise TinymlError(f"{name}: has {len(subgraphs)} subgraphs; tinyml compiles single-subgraph models "
                          "(no control flow ops such as WHILE/IF)")
    sub = subgraphs[0]
    buffers = model.buffers or []
    tensors = tuple(_tensor(i, t, buffers, buf, name) for i, t in enumerate(sub.tensors or []))
    codes = model.operatorCodes or []
    operators = []
    for i, op in enumerate(sub.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise TinymlError(f"{name}: operator {i} refers to operator code {op.opcodeIndex}, which does not exist")
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        opcode = OPCODE_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if opcode == "CUSTOM":
            custom = code.customCode.decode(errors="replace") if code.customCode else "?"
            opcode = f"CUSTOM({custom})"
        inputs = tuple(int(x) for x in _seq(op.inputs))
        outputs = tuple(int(x) for x in _seq(op.outputs))
        intermediates = tuple(int(x) for x in _seq(op.intermediates))
        for t in inputs + outputs + intermediates:
            if t >= len(tensors) or t < -1:
                raise TinymlError(f"{name}: operator {i} ({opcode}) refers to tensor {t}, which does not exist")
        options = MappingProxyType(dict(vars(op.builtinOptions)) if op.builtinOptions is not None else {})
        operators.append(Operator(i, opcode, int(code.version), inputs, outputs, options, intermediates))
    for role, indices in (("input", _seq(sub.inputs)), ("output", _seq(sub.outputs))):
        if not indices:
            raise TinymlError(f"{name}: the model declares no {role}s")
        for t in indices:
            if not 0 <= t < len(tensors):
                raise TinymlError(f"{name}: model {role} refers to tensor {t}, which does not exist")
    graph = Graph(name=name, sha256=hashlib.sha256(buf).hexdigest(), tensors=tensors, operators=tuple(operators),
                  inputs=tuple(int(x) for x in _seq(sub.inputs)), outputs=tuple(int(x) for x in _seq(sub.outputs)))
    graph = fold_requantized_moves(graph)
    _check_int4_filters(graph)
    _check_static_integer(graph)
    return graph


def _seq(values) -> list:
    return [] if values is None else list(values)


def _tensor(index: int, t: schema.TensorT, buffers: list, buf: bytes, name: str) -> Tensor:
    tname = t.name.decode(errors="replace") if isinstance(t.name, bytes) else str(t.name or f"tensor{index}")
    dtype = "int4" if int(t.type) == INT4 else DTYPES.get(int(t.type))
    if dtype is None:
        raise TinymlError(f"{name}: tensor {index} '{tname}' has unsupported type code {t.type}")
    shape = tuple(int(d) for d in _seq(t.shape))
    if any(d < 0 for d in shape):
        raise TinymlError(f"{name}: tensor {index} '{tname}' has a dynamic shape {list(shape)}; "
                          "export with fixed shapes")
    signature = [int(d) for d in _seq(t.shapeSignature)]
    if any(d < 0 for d in signature[1:]):
        raise TinymlError(f"{name}: tensor {index} '{tname}' has a dynamic shape {signature}; "
                          "export with fixed shapes (batch size 1)")
    quant = None
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        zps = [int(z) for z in _seq(q.zeroPoint)] or [0]
        if len(zps) == 1 and len(q.scale) > 1:
            zps = zps * len(q.scale)
        quant = Quantization(tuple(float(s) for s in q.scale), tuple(zps), int(q.quantizedDimension))
        _check_quantization(quant, index, tname, dtype, shape, t.buffer > 0, name)
    data = None
    if 0 < t.buffer < len(buffers):
        b = buffers[t.buffer]
        raw = None
        if b.data is not None and len(b.data) > 0:
            raw = np.asarray(b.data, dtype=np.uint8).tobytes()
        elif b.offset > 1:
            if b.offset + b.size > len(buf):
                raise TinymlError(f"{name}: tensor {index} '{tname}' data lies past the end of the file (truncated?)")
            raw = buf[b.offset:b.offset + b.size]
        if raw is not None:
            count = int(np.prod(shape, dtype=np.int64))  # () -> 1 element
            expected = (count + 1) // 2 if dtype == "int4" else count * np.dtype(dtype).itemsize
            if len(raw) != expected:
                raise TinymlError(f"{name}: tensor {index} '{tname}' holds {len(raw)} bytes, its shape {list(shape)} "
                                  f"of {dtype} needs {expected}; the file is corrupted")
            data = (unpack_int4(raw, count) if dtype == "int4" else np.frombuffer(raw, dtype=dtype)).reshape(shape)
            data.flags.writeable = False
    return Tensor(index, tname, dtype, shape, quant, data, bool(t.isVariable))


def unpack_int4(raw: bytes, count: int) -> np.ndarray:
    """The `count` signed 4-bit values packed two to a byte in `raw` (low nibble first), as int8."""
    packed = np.frombuffer(raw, dtype=np.uint8)
    nibbles = np.stack([packed & 0x0F, packed >> 4], axis=1).reshape(-1)[:count].astype(np.int8)
    return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)


QUANT_RANGES = {"int4": (-8, 7), "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
                "int32": (-2**31, 2**31 - 1)}


def _check_quantization(q: Quantization, index: int, tname: str, dtype: str, shape: tuple[int, ...],
                        has_buffer: bool, name: str) -> None:
    where = f"{name}: tensor {index} '{tname}'"
    scales = np.asarray(q.scale)
    if not np.all(np.isfinite(scales)) or np.any(scales < 0) or (not has_buffer and np.any(scales == 0)):
        raise TinymlError(f"{where} has an invalid quantization scale {q.scale[:4]}; re-export the model")
    if len(q.zero_point) != len(q.scale):
        raise TinymlError(f"{where} has {len(q.scale)} scales but {len(q.zero_point)} zero points")
    low, high = QUANT_RANGES.get(dtype, (-2**63, 2**63 - 1))
    if any(not low <= z <= high for z in q.zero_point):
        raise TinymlError(f"{where} has a zero point outside the {dtype} range")
    if q.per_channel and not (0 <= q.axis < len(shape) and shape[q.axis] == len(q.scale)):
        raise TinymlError(f"{where} has {len(q.scale)} per-channel scales that do not match its shape "
                          f"{list(shape)} on axis {q.axis}")


def _check_int4_filters(graph: Graph) -> None:
    """Refuse int4 anywhere but as the constant filter (input 1) of a convolution or fully connected layer."""
    for t in graph.inputs + graph.outputs:
        if graph.tensors[t].dtype == "int4":
            raise TinymlError(f"{graph.name}: model input/output tensor {t} '{graph.tensors[t].name}' is int4; tinyml "
                              "takes int4 only as constant weights: give the model int8 inputs and outputs")
    for op in graph.operators:
        for position, t in enumerate(op.inputs + op.outputs + op.intermediates):
            if t < 0 or graph.tensors[t].dtype != "int4":
                continue
            tensor = graph.tensors[t]
            if position == 1 < len(op.inputs) and op.opcode in INT4_FILTER_OPS and tensor.is_constant:
                continue
            raise TinymlError(f"{graph.name}: {op.describe()} uses int4 tensor {t} '{tensor.name}'"
                              f"{'' if tensor.is_constant else ' (an activation)'}; tinyml accepts int4 only as the "
                              f"constant filter of {', '.join(INT4_FILTER_OPS)}: quantize activations to int8")


def _check_static_integer(graph: Graph) -> None:
    """Refuse float and hybrid models: every computing operator must see integer activations."""
    for op in graph.operators:
        if op.opcode in EDGE_CONVERSION_OPS:
            continue
        for t in op.inputs + op.outputs:
            if t < 0:
                continue
            tensor = graph.tensors[t]
            computes_in_float = not (tensor.is_constant and op.opcode != "DEQUANTIZE")
            if tensor.dtype in ("float32", "float16", "float64") and computes_in_float:
                raise TinymlError(
                    f"{graph.name}: {op.describe()} computes in {tensor.dtype} (tensor {t} '{tensor.name}'); tinyml "
                    "compiles full-integer models (int8, or 16x8: int16 activations with int8 weights): quantize "
                    "with `tinyml quantize` or the TFLite converter (representative dataset, integer inputs and "
                    "outputs)")
            if tensor.is_constant and tensor.dtype.startswith("float"):
                raise TinymlError(f"{graph.name}: {op.describe()} has float weights '{tensor.name}'; "
                                  "quantize the model to full int8")
