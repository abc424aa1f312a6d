"""What the generator knows about each layer that a profile needs: the operator, the kernel and variant it runs,
its multiply-accumulates, and which lines of model.c hold its statements in the invoke function.

The lines are counted from the printed text itself (`emit.invoke_block`), relative to the line that opens the
invoke function (`void <prefix>_invoke(void) {`, line 0), so a debugger's line table (DWARF) maps every address
of the compiled invoke function back to a layer (`tinyml.device.profile`).

MACs (multiply-accumulates per inference) are computed from the shapes: CONV_2D and the fused CONV_2D_ADD
(outputs × kernel height × width × input channels), DEPTHWISE_CONV_2D (outputs × kernel height × width),
FULLY_CONNECTED (outputs × input features), and AVERAGE_POOL_2D (outputs × window: one accumulate per tap). Every
other operator counts 0. Except for the pool, these are `tinyml.compiler.stats`' MACs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tinyml.compiler.codegen.emit import invoke_block
from tinyml.compiler.codegen.fuse import FUSED_CONV_ADD
from tinyml.compiler.codegen.lowered import Call, Loop, Lowered
from tinyml.compiler.ir.graph import Graph, Operator


@dataclass(frozen=True)
class Layer:
    index: int                 # the TFLite operator index (a fused CONV_2D_ADD keeps the convolution's)
    op: str                    # the operator, e.g. CONV_2D, DEPTHWISE_CONV_2D, CONV_2D_ADD
    output: str                # its (first) output tensor's name: the layer's name in the training framework
    kernel: str                # the kernel chosen (its C function), "" for an operator that runs no code
    mode: str                  # the kernel's mode (im2col / direct, scratch / direct), "" if it has one only
    in_place: bool             # run row by row in place by an in-place driver (tinyml.compiler.codegen.inplace)
    calls: tuple[str, ...]     # the functions its statements call, in order
    macs: int
    first_line: int            # its lines in the invoke function of model.c, from the function's opening line
    last_line: int

    def to_json(self) -> dict:
        return asdict(self) | {"calls": list(self.calls)}


def _functions(low: Lowered) -> tuple[str, ...]:
    calls = [c for stmt in low.calls for c in (stmt.body if isinstance(stmt, Loop) else (stmt,))]
    return tuple(c.function for c in calls if isinstance(c, Call))


def _macs(op: Operator, graph: Graph) -> int:
    if not op.outputs or op.outputs[0] < 0:
        return 0
    out = graph.tensors[op.outputs[0]].size
    if op.opcode in ("CONV_2D", FUSED_CONV_ADD):
        w = graph.tensors[op.inputs[1]].shape
        return out * w[1] * w[2] * w[3]
    if op.opcode == "DEPTHWISE_CONV_2D":
        w = graph.tensors[op.inputs[1]].shape
        return out * w[1] * w[2]
    if op.opcode == "FULLY_CONNECTED":
        return out * graph.tensors[op.inputs[1]].shape[-1]
    if op.opcode == "AVERAGE_POOL_2D":
        return out * int(op.options.get("filterHeight", 1)) * int(op.options.get("filterWidth", 1))
    return 0


def describe_layers(graph: Graph, lowered: Sequence[Lowered], prefix: str) -> tuple[Layer, ...]:
    """One `Layer` per operator of the (fused) graph, for the lowerings finally emitted."""
    layers, line = [], 1
    for op, low in zip(graph.operators, lowered, strict=True):
        count = invoke_block(op, low, graph, prefix).count("\n") + 1
        calls = _functions(low)
        variant = low.variant
        in_place = variant is not None and variant.inplace_driver is not None and calls[:1] == (
            variant.inplace_driver,)
        kernel = variant.kernel if variant is not None else (calls[0] if calls else "")
        if in_place and variant.row_kernel is not None:
            kernel = variant.row_kernel
        output = graph.tensors[op.outputs[0]].name if op.outputs and op.outputs[0] >= 0 else ""
        layers.append(Layer(op.index, op.opcode, output, kernel, variant.mode if variant else "", in_place, calls,
                            _macs(op, graph), line, line + count - 1))
        line += count
    return tuple(layers)
