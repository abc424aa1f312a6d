"""Fold the converter's float detours through data movement back into the integer graph.

An int8 model the TFLite converter writes may still leave a tensor in float32 between two integer operators when
only copying happens there: an unrolled Keras GRU (reset_after, the default) splits its first step's gate
pre-activations as DEQUANTIZE -> SPLIT (float32) -> QUANTIZE, each QUANTIZE with the DEQUANTIZE input's own scale
and zero point. Such an island computes nothing: DEQUANTIZE gives float(scale * (q - zero_point)) and QUANTIZE
gives round(value / scale) + zero_point; for an integer k = q - zero_point (|k| < 2**16) the float32 product and
its quotient are k within a relative 2**-22, far from the half-way point, so each QUANTIZE gives back the very q
the DEQUANTIZE read (both the interpreter's reference and its optimized paths). The moves in between copy values,
so they give the same bytes on the integer tensor as on the float one.

`fold_requantized_moves` rewrites each such island to its integer form, once, in the IR: the DEQUANTIZE and the
QUANTIZEs are dropped, the moves' float tensors take the integer type and quantization of the DEQUANTIZE input
(as the converter writes an int8 move: one quantization in and out), and the later operators read them directly.
Operators keep their index in the file, so messages and the comments of model.c still name the file's operators.
An island whose QUANTIZE changes the quantization, or whose float value is a model output or reaches any other
operator, is left alone; the reader then refuses it as a float operator, naming it.
"""
from __future__ import annotations

import dataclasses

from tinyml.compiler.ir.graph import Graph, Operator, Tensor

# Operators that copy values of their one data input (the other inputs are constant shapes, axes or indices).
MOVES = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SPLIT", "SPLIT_V", "UNPACK", "TRANSPOSE", "SLICE",
                   "STRIDED_SLICE", "GATHER"})


def _data_input(op: Operator) -> int:
    """The position of a move's data input (SPLIT's inputs are (axis, input))."""
    return 1 if op.opcode == "SPLIT" else 0


def _island(graph: Graph, dequantize: Operator) -> tuple[list[Operator], list[int]] | None:
    """The QUANTIZEs and the float tensors that hang off `dequantize` through moves, if they form a foldable
    island."""
    if len(dequantize.inputs) != 1 or len(dequantize.outputs) != 1 or min(*dequantize.inputs, *dequantize.outputs) < 0:
        return None  # malformed: the reader's own checks name it
    source = graph.tensors[dequantize.inputs[0]]
    if source.is_constant or source.quant is None or source.quant.per_channel or source.dtype not in ("int8",
                                                                                                      "int16"):
        return None
    quantizes: list[Operator] = []
    floats: list[int] = []
    pending = [dequantize.outputs[0]]
    while pending:
        t = pending.pop()
        if t < 0 or t in graph.outputs or graph.tensors[t].dtype != "float32":
            return None
        floats.append(t)
        for op in graph.consumers(t):
            if op.opcode == "QUANTIZE" and len(op.outputs) == 1 and op.outputs[0] >= 0:
                out = graph.tensors[op.outputs[0]]
                if out.dtype != source.dtype or out.quant != source.quant:
                    return None
                quantizes.append(op)
            elif op.opcode in MOVES and op.inputs.index(t) == _data_input(op) and all(
                    graph.tensors[i].is_constant for k, i in enumerate(op.inputs) if k != _data_input(op) and i >= 0):
                pending.extend(op.outputs)
            else:
                return None
    return quantizes, floats


def fold_requantized_moves(graph: Graph) -> Graph:
    """`graph` with every DEQUANTIZE -> moves -> QUANTIZE island (same quantization in and out) in integer form."""
    tensors: list[Tensor] = list(graph.tensors)
    dropped: set[int] = set()
    rename: dict[int, int] = {}  # tensor -> the tensor that now carries its bytes
    for op in graph.operators:
        if op.opcode != "DEQUANTIZE":
            continue
        island = _island(graph, op)
        if island is None:
            continue
        quantizes, floats = island
        source = graph.tensors[op.inputs[0]]
        for t in floats:
            tensors[t] = dataclasses.replace(tensors[t], dtype=source.dtype, quant=source.quant)
        rename[op.outputs[0]] = source.index
        for q in quantizes:
            rename[q.outputs[0]] = q.inputs[0]
        dropped.add(op.index)
        dropped.update(q.index for q in quantizes)
    if not dropped:
        return graph

    def resolve(t: int) -> int:
        while t in rename:
            t = rename[t]
        return t

    operators = tuple(dataclasses.replace(op, inputs=tuple(resolve(t) if t >= 0 else t for t in op.inputs))
                      for op in graph.operators if op.index not in dropped)
    return dataclasses.replace(graph, tensors=tuple(tensors), operators=operators,
                               outputs=tuple(resolve(t) for t in graph.outputs))
