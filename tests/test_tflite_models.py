"""The programmatic model builders produce models the TFLite interpreter loads and runs."""
from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tests import tflite_models as tm

CASES_PER_OP = 50


def _parse(model: bytes) -> schema.ModelT:
    assert schema.Model.ModelBufferHasIdentifier(model, 0)
    return schema.ModelT.InitFromPackedBuf(model, 0)


@pytest.mark.parametrize("op", tm.OPS)
def test_random_cases_run_in_reference(op: str) -> None:
    rng = np.random.default_rng(sum(map(ord, op)))
    for _ in range(CASES_PER_OP):
        case = tm.random_case(op, rng)
        model = _parse(case.model)
        codes = [c.builtinCode for c in model.operatorCodes]
        assert getattr(schema.BuiltinOperator, op) in codes, case.params
        outputs = tm.run_reference(case.model, case.inputs)
        expected_shape = model.subgraphs[0].tensors[model.subgraphs[0].outputs[0]].shape
        assert outputs[0].shape == tuple(expected_shape), case.params


def test_random_networks_run_in_reference() -> None:
    rng = np.random.default_rng(2)
    kinds = set()
    for _ in range(20):
        case = tm.random_network(rng)
        kinds.add(case.op)
        assert len(_parse(case.model).subgraphs[0].operators) >= 3
        (output,) = tm.run_reference(case.model, case.inputs)
        assert output.dtype in (np.int8, np.float32)
    assert kinds == {"network:cnn", "network:mlp", "network:conv1d"}


def test_conv_2d_builder_writes_exact_quantization() -> None:
    b = tm.GraphBuilder()
    x = b.input((1, 5, 5, 2), tm.QParams.per_tensor(0.5, -3))
    filters = np.arange(3 * 3 * 3 * 2, dtype=np.int8).reshape(3, 3, 3, 2)
    y = tm.conv_2d(b, x, filters, [1e-4, 1e-2, 1e-1], np.array([1, -2, 3], np.int32),
                   tm.QParams.per_tensor(0.25, 7), stride=(2, 1), padding="VALID", activation="RELU6")
    b.output(y)
    model = _parse(b.to_bytes())
    graph = model.subgraphs[0]
    conv = graph.operators[0]
    weights, bias, out = (graph.tensors[i] for i in (conv.inputs[1], conv.inputs[2], conv.outputs[0]))
    assert list(weights.quantization.scale) == pytest.approx([1e-4, 1e-2, 1e-1])
    assert list(weights.quantization.zeroPoint) == [0, 0, 0]
    assert list(bias.quantization.scale) == pytest.approx([0.5e-4, 0.5e-2, 0.5e-1])
    assert list(out.shape) == [1, 2, 3, 3] and list(out.quantization.zeroPoint) == [7]
    assert conv.builtinOptions.fusedActivationFunction == schema.ActivationFunctionType.RELU6
    assert model.operatorCodes[0].version == 3
    (result,) = tm.run_reference(b.to_bytes(), [np.zeros((1, 5, 5, 2), np.int8)])
    assert result.shape == (1, 2, 3, 3)


def test_fixed_output_quantization_of_activations() -> None:
    b = tm.GraphBuilder()
    x = b.input((1, 8), tm.QParams.per_tensor(0.1, 0))
    for build, expected in ((tm.logistic, tm.LOGISTIC_OUTPUT), (tm.tanh, tm.TANH_OUTPUT),
                            (tm.softmax, tm.SOFTMAX_OUTPUT)):
        qp = b.tensors[build(b, x)].qp
        assert qp.scale[0] == pytest.approx(expected[0]) and qp.zero_point[0] == expected[1]


def test_dequantize_of_quantize_round_trips() -> None:
    b = tm.GraphBuilder()
    x = b.input((1, 4), None, tm.FLOAT32)
    b.output(tm.dequantize(b, tm.quantize(b, x, tm.QParams.per_tensor(0.5, 10))))
    values = np.array([[-1.0, 0.0, 0.5, 100.0]], np.float32)
    (result,) = tm.run_reference(b.to_bytes(), [values])
    np.testing.assert_array_equal(result, [[-1.0, 0.0, 0.5, 58.5]])
