"""Graph rewrites before lowering that save memory without changing a single output byte.

`fuse_conv_add(graph)`: a CONV_2D whose only reader is an ADD of two same-shape tensors (a ResNet residual) becomes
one operator, `CONV_2D_ADD` (inputs: the convolution's input, filter, bias and the skip tensor; output: the ADD's),
placed where the convolution was. Its kernel computes the convolution's int8 output (the convolution's own
requantization and fused activation) and adds it to the skip tensor with the ADD's arithmetic, so the values are
those of the two TFLite operators; the convolution's output tensor is never stored and the sum is written over the
skip tensor when it dies there. The convolution must run after the skip tensor exists (of two candidate
convolutions, the later one is fused). Operator indices are kept (the fused operator has the convolution's).
"""
from __future__ import annotations

import dataclasses

from tinyml.compiler.ir.graph import Graph, Operator

FUSED_CONV_ADD = "CONV_2D_ADD"


def fuse_conv_add(graph: Graph) -> Graph:
    ops = list(graph.operators)
    position = {op.index: i for i, op in enumerate(ops)}
    producer = {t: op for op in ops for t in op.outputs}
    replaced: dict[int, Operator] = {}
    removed: set[int] = set()
    for add in ops:
        if add.opcode != "ADD" or len(add.inputs) != 2 or len(add.outputs) != 1:
            continue
        a, b = add.inputs
        y = add.outputs[0]
        tensors = graph.tensors
        if a < 0 or b < 0 or a == b or any(tensors[t].is_constant for t in (a, b)):
            continue
        if not (tensors[a].shape == tensors[b].shape == tensors[y].shape) or len(tensors[y].shape) != 4:
            continue
        if any(tensors[t].dtype != "int8" for t in (a, b, y)):
            continue
        # the operand computed last, if a convolution read by this ADD only
        later = max((a, b), key=lambda t: position[producer[t].index] if t in producer else -1)
        skip = b if later == a else a
        conv = producer.get(later)
        if conv is None or conv.opcode != "CONV_2D" or conv.index in replaced or conv.index in removed:
            continue
        if later in graph.outputs or [o.index for o in ops if later in o.inputs] != [add.index]:
            continue
        if len(conv.inputs) < 2 or skip in conv.inputs or tensors[conv.inputs[1]].dtype != "int8":
            continue  # the fused kernels take int8 filters (int4 ones run tm_conv2d_s4 alone)
        bias = conv.inputs[2] if len(conv.inputs) > 2 else -1
        replaced[conv.index] = Operator(
            index=conv.index, opcode=FUSED_CONV_ADD, version=conv.version,
            inputs=(conv.inputs[0], conv.inputs[1], bias, skip), outputs=(y,),
            options={**conv.options, "convOutput": later, "convIsFirst": later == a, "addIndex": add.index,
                     "addFusedActivationFunction": add.options.get("fusedActivationFunction", 0)})
        removed.add(add.index)
    if not replaced:
        return graph
    new_ops = tuple(replaced.get(op.index, op) for op in ops if op.index not in removed)
    return dataclasses.replace(graph, operators=new_ops)
