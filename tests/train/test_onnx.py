"""ONNX -> int8: a PyTorch-style NCHW CNN built with onnx.helper goes through `tinyml quantize` like a Keras model.

The model covers Conv (+ BatchNormalization folded), Relu, MaxPool, a residual Add, AveragePool, Flatten of a
4x4 feature map into Gemm (weight rows permuted for NHWC), GlobalAveragePool -> Reshape(N, -1) -> MatMul + Add.
Labels are the float model's own argmax on slightly perturbed inputs, so the accuracies mean something.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tests.train.conftest import run_cli, run_json

C, H, W, CLASSES = 3, 16, 16, 6


def _cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def init(name, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        v = rng.normal(0, scale if scale is not None else np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        return numpy_helper.from_array(v, name)

    inits = [init("w1", 8, C, 3, 3), init("b1", 8, scale=0.1),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "g1"),
             init("be1", 8, scale=0.1), init("m1", 8, scale=0.1),
             numpy_helper.from_array(rng.uniform(0.5, 2.0, 8).astype(np.float32), "v1"),
             init("w2", 8, 8, 3, 3), init("b2", 8, scale=0.1),
             init("wg", CLASSES, 8 * 4 * 4), init("bg", CLASSES, scale=0.1),
             init("wm", 8, CLASSES), init("bm", CLASSES, scale=0.1),
             numpy_helper.from_array(np.array([0, -1], np.int64), "shape")]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g1", "be1", "m1", "v1"], ["n1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Add", ["r2", "p1"], ["s2"], name="residual"),
        helper.make_node("AveragePool", ["s2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["logits_a"], name="fc_a", transB=1),
        helper.make_node("GlobalAveragePool", ["s2"], ["gap"], name="gap"),
        helper.make_node("Reshape", ["gap", "shape"], ["gf"], name="view"),
        helper.make_node("MatMul", ["gf", "wm"], ["mm"], name="fc_b"),
        helper.make_node("Add", ["mm", "bm"], ["logits_b"], name="fc_b_bias"),
        helper.make_node("Add", ["logits_a", "logits_b"], ["logits"], name="sum"),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, H, W])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="test")
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx")
    model = _cnn()
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (240, C, H, W)).astype(np.float32)
    # centre the logits with the MatMul branch's bias, so that every class occurs
    bm = next(i for i in model.graph.initializer if i.name == "bm")
    shift = ReferenceEvaluator(model).run(None, {"x": x})[0].mean(axis=0)
    bm.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bm) - shift.astype(np.float32), "bm"))
    onnx.save(model, str(tmp / "cnn.onnx"))
    logits = ReferenceEvaluator(model).run(None, {"x": x + rng.normal(0, 0.1, x.shape).astype(np.float32)})[0]
    y = logits.argmax(axis=1)
    assert len(set(y.tolist())) >= 3, np.bincount(y)        # labels are not one constant class
    np.savez(tmp / "data.npz", x=x, y=y)
    np.savez(tmp / "data_nhwc.npz", x=x.transpose(0, 2, 3, 1), y=y)
    return tmp


def test_onnx_quantize_host_equals_tflite(cnn, tmp_path, train_cache):
    from tinyml.train.quantize import io_quant, quantize_inputs, tflite_run

    out = tmp_path / "cnn.tflite"
    r = run_json("quantize", cnn / "cnn.onnx", "--calib", cnn / "data.npz", "-o", out)
    assert r["host_equals_tflite"] is True and r["int8_accuracy"] == r["host_c_accuracy"]
    assert r["float_accuracy"] > 0.7 and r["int8_accuracy"] > 0.6, r
    assert r["onnx"]["data_layout"].startswith("NCHW") and r["onnx"]["tflite_input_shape"] == [H, W, C]
    assert r["onnx"]["max_relative_error_vs_onnx"] < 1e-4

    # the .tflite compiles and the C on the host gives the interpreter's bytes
    x = np.load(cnn / "data.npz")["x"][:5].transpose(0, 2, 3, 1)
    (si, zi), _ = io_quant(out.read_bytes())
    xq = quantize_inputs(x, si, zi)
    np.save(tmp_path / "xq.npy", xq)
    run_cli("infer", out, "--inputs", tmp_path / "xq.npy", "--output", tmp_path / "yq.npy")
    ref, _, _ = tflite_run(out.read_bytes(), xq)
    assert np.array_equal(np.load(tmp_path / "yq.npy").reshape(ref.shape), ref)

    # NHWC data is taken as it is
    r2 = run_json("quantize", cnn / "cnn.onnx", "--calib", cnn / "data_nhwc.npz", "-o", tmp_path / "b.tflite")
    assert r2["onnx"]["data_layout"] == "NHWC" and r2["int8_accuracy"] == r["int8_accuracy"]


def test_onnx_refusals(cnn, tmp_path):
    extra = [helper.make_node("Einsum", ["logits"], ["e"], name="my_einsum", equation="ij->ij"),
             helper.make_node("Gelu", ["e"], ["g"], name="my_gelu"),
             helper.make_node("LSTM", ["g", "w1", "w1"], ["l"], name="my_lstm", hidden_size=2)]
    model = _cnn()
    model.graph.node.extend(extra)
    onnx.save(model, str(tmp_path / "bad.onnx"))
    r = run_cli("quantize", tmp_path / "bad.onnx", "--calib", cnn / "data.npz", "-o", tmp_path / "x.tflite", code=2)
    line = r.stderr.strip()
    assert "\n" not in line and "Einsum (node 'my_einsum': use nn.Linear" in line
    assert "Gelu (node 'my_gelu': use nn.ReLU, nn.Hardswish" in line and "LSTM (node 'my_lstm': recurrent" in line

    (tmp_path / "broken.onnx").write_bytes((cnn / "cnn.onnx").read_bytes()[:200] + b"\xff" * 50)
    r = run_cli("quantize", tmp_path / "broken.onnx", "--calib", cnn / "data.npz", "-o", tmp_path / "x.tflite",
                code=2)
    assert "\n" not in r.stderr.strip() and "not a readable ONNX model" in r.stderr

    np.savez(tmp_path / "wrong.npz", x=np.zeros((20, 5, 5), np.float32), y=np.zeros(20, np.int64))
    r = run_cli("quantize", cnn / "cnn.onnx", "--calib", tmp_path / "wrong.npz", "-o", tmp_path / "x.tflite", code=2)
    assert "(3, 16, 16) (NCHW) or (16, 16, 3) (NHWC)" in r.stderr


def test_onnx_translation_variants(tmp_path):
    """More of what exporters emit, checked against ONNX's reference evaluator (no quantization: fast):
    stride-2 and depthwise convs with PyTorch padding, MaxPool padded after a ReLU, AveragePool counting its
    padding, Clip(0, 6), Mul by a per-channel constant, channel Concat, the Shape/Gather/Unsqueeze/Concat
    arithmetic of `x.view(x.size(0), -1)`, BatchNorm1d after Gemm, Softmax; opset 11 (BatchNormalization
    with the old attributes)."""
    from tinyml.train.onnx import onnx_to_keras

    rng = np.random.default_rng(2)

    def t(name, *shape):
        return numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)

    inits = [t("w1", 6, 3, 3, 3), t("b1", 6), t("wd", 6, 1, 3, 3), t("bd", 6), t("k", 1, 6, 1, 1),
             t("wg", 5, 12 * 2 * 2), t("bg", 5), t("g", 5), t("be", 5), t("m", 5),
             numpy_helper.from_array(rng.uniform(0.5, 2, 5).astype(np.float32), "v"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
             numpy_helper.from_array(np.array(0, np.float32), "lo"),
             numpy_helper.from_array(np.array(6, np.float32), "hi")]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="c1", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Clip", ["c1", "lo", "hi"], ["r1"], name="relu6"),
        n("MaxPool", ["r1"], ["p1"], name="mp", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Conv", ["p1", "wd", "bd"], ["d1"], name="dw", kernel_shape=[3, 3], group=6, pads=[1, 1, 1, 1]),
        n("Relu", ["d1"], ["r2"], name="r2"),
        n("Mul", ["r2", "k"], ["s2"], name="scale"),
        n("Concat", ["s2", "p1"], ["cat"], name="cat", axis=1),
        n("AveragePool", ["cat"], ["ap"], name="ap", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
          count_include_pad=1),
        n("Shape", ["ap"], ["shp"], name="shape"),
        n("Gather", ["shp", "zero"], ["n0"], name="gather", axis=0),
        n("Unsqueeze", ["n0"], ["n1"], name="unsq", axes=[0]),
        n("Concat", ["n1", "minus1"], ["newshape"], name="shape_cat", axis=0),
        n("Reshape", ["ap", "newshape"], ["flat"], name="view"),
        n("Gemm", ["flat", "wg", "bg"], ["fc"], name="fc", transB=1),
        n("BatchNormalization", ["fc", "g", "be", "m", "v"], ["bn"], name="bn1d", epsilon=1e-5, momentum=0.9),
        n("Softmax", ["bn"], ["y"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(nodes, "variants", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                [1, 3, 15, 15])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp_path / "v.onnx"))
    om = onnx_to_keras(tmp_path / "v.onnx")
    assert om.keras_input_shape == (15, 15, 3) and om.onnx_input_shape == (3, 15, 15)
    x = rng.normal(0, 1, (3, 15, 15, 3)).astype(np.float32)
    assert om.verify(x, samples=3) < 1e-4
    assert not any(type(layer).__name__ == "Permute" for layer in om.keras.layers)


def test_onnx_node_refusal_names_op_node_and_hint(tmp_path):
    """A translatable op used in a way the translation does not cover: one line with op, node and what to do."""
    from tinyml.errors import TinymlError
    from tinyml.train.onnx import onnx_to_keras

    axes = numpy_helper.from_array(np.array([2], np.int64), "axes")
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean_over_h", keepdims=0)]
    graph = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8])], [axes])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(tmp_path / "r.onnx"))
    with pytest.raises(TinymlError) as err:
        onnx_to_keras(tmp_path / "r.onnx")
    assert "\n" not in str(err.value) and "ReduceMean node 'mean_over_h'" in str(err.value)
    assert "reduce over the spatial axes (global pooling)" in str(err.value)
