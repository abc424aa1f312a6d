"""Full-integer int8 post-training quantization (`tinyml quantize`) and the three-way accuracy check.

The TFLite converter quantizes weights per channel (int8, int32 bias) and activations per tensor from a
representative data set; input and output are int8. The report gives the float model's accuracy, the int8
model's accuracy in the TFLite reference interpreter, and the accuracy of tinyml's compiled C run on the host;
the last two must be equal (tinyml is bit-exact with the interpreter), and `host_equals_tflite` says whether
every output byte agreed.
"""
from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.device.statistics import reference_statistics, stats_path
from tinyml.errors import MISMATCH, TinymlError
from tinyml.train.data import Dataset
from tinyml.train.metrics import accuracy_interval

CALIB_SAMPLES = 200


def _converter_int8(converter, calib: np.ndarray) -> bytes:
    import tensorflow as tf

    def representative_dataset() -> Iterator[list[np.ndarray]]:
        for sample in calib:
            yield [np.asarray(sample, np.float32)[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the exported SavedModel's signature
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and friends
        lines = [ln for ln in str(exc).splitlines() if "error" in ln.lower()] or str(exc).splitlines()[:1]
        raise TinymlError(f"the TFLite converter cannot quantize this model to int8: {lines[0].strip()}") from exc


def convert_int8(keras_model, calib_data: np.ndarray) -> bytes:
    """A Keras model -> full-integer .tflite bytes (batch 1, int8 I/O, per-channel int8 weights)."""
    import tensorflow as tf

    from tinyml.train.recipes import batch_one

    if keras_model.inputs and keras_model.inputs[0].shape[0] != 1:
        keras_model = batch_one(keras_model)
    return _converter_int8(tf.lite.TFLiteConverter.from_keras_model(keras_model), calib_data)


class FloatModel:
    """A float model to quantize and evaluate: Keras (.keras / model dir), TF SavedModel dir, or ONNX."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.meta: dict = {}
        self.keras = None
        self.saved = None
        self.onnx = None
        p = self.path
        if not p.exists():
            raise TinymlError(f"{p}: no such file or directory")
        if p.suffix == ".onnx":
            from tinyml.train.onnx_import import onnx_to_keras
            self.onnx = onnx_to_keras(p)
            self.keras = self.onnx.keras
        elif p.is_dir() and (p / "saved_model.pb").exists():
            import tensorflow as tf
            loaded = tf.saved_model.load(str(p))
            if "serving_default" not in loaded.signatures:
                raise TinymlError(f"{p}: the SavedModel has no 'serving_default' signature")
            self.saved = (loaded, loaded.signatures["serving_default"])
        elif p.suffix == ".keras" or (p.is_dir() and (p / "model.keras").exists()):
            from tinyml.train.trainer import load_trained
            self.keras, self.meta = load_trained(p)
        else:
            raise TinymlError(f"{p}: expected a .keras file, a directory with model.keras, a SavedModel directory "
                              "or an .onnx file")

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.keras is not None:
            return tuple(self.keras.input_shape[1:])
        spec = list(self.saved[1].structured_input_signature[1].values())
        if len(spec) != 1:
            raise TinymlError(f"{self.path}: only single-input SavedModels are supported (has {len(spec)})")
        return tuple(spec[0].shape[1:])

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.keras is not None:
            return np.asarray(self.keras.predict(x, batch_size=256, verbose=0))
        loaded, fn = self.saved
        name = next(iter(fn.structured_input_signature[1]))
        outs = [list(fn(**{name: x[i:i + 256]}).values())[0].numpy() for i in range(0, len(x), 256)]
        return np.concatenate(outs)

    def to_int8(self, calib: np.ndarray) -> bytes:
        if self.keras is not None:
            return convert_int8(self.keras, calib)
        import tensorflow as tf
        loaded, fn = self.saved
        name, spec = next(iter(fn.structured_input_signature[1].items()))
        sig = tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name=name)
        concrete = tf.function(lambda x: fn(**{name: x}), input_signature=[sig]).get_concrete_function()
        return _converter_int8(tf.lite.TFLiteConverter.from_concrete_functions([concrete], loaded), calib)


@dataclass
class Int8Eval:
    metric: str
    int8: float               # TFLite reference interpreter
    host_c: float             # tinyml's generated C, host build
    host_equals_tflite: bool  # every output byte equal
    samples: int
    input_scale: float
    input_zero_point: int


def quantize_inputs(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def tflite_run(tflite: bytes, xq: np.ndarray) -> tuple[np.ndarray, dict, dict]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=tflite, num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for i in range(len(xq)):
        it.set_tensor(inp["index"], xq[i:i + 1])
        it.invoke()
        outs.append(it.get_tensor(out["index"])[0].copy())
    return np.stack(outs), inp, out


def io_quant(tflite: bytes) -> tuple[tuple[float, int], tuple[float, int]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=tflite,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    (si, zi), (so, zo) = it.get_input_details()[0]["quantization"], it.get_output_details()[0]["quantization"]
    return (float(si), int(zi)), (float(so), int(zo))


def evaluate_int8(tflite_path: Path, x: np.ndarray, y: np.ndarray, task: str) -> Int8Eval:
    """The int8 model's metric in the TFLite interpreter and in our compiled C on the host (same int8 inputs)."""
    from tinyml.compiler.codegen import compile_model
    from tinyml.device.targets.host import run_host, sample_shape
    from tinyml.train.trainer import metric_name, score

    tflite = Path(tflite_path).read_bytes()
    (si, zi), (so, zo) = io_quant(tflite)
    xq = quantize_inputs(x, si, zi)
    ref, _, _ = tflite_run(tflite, xq)
    with tempfile.TemporaryDirectory(prefix="tinyml-q-") as tmp:
        compiled = compile_model(Path(tflite_path), Path(tmp) / "model")
        host = run_host(compiled, [xq.reshape((len(xq), *sample_shape(compiled.inputs[0])))])[0]
    host = host.reshape(ref.shape)

    def metric(out_q: np.ndarray) -> float:
        out = (out_q.astype(np.float32) - zo) * so
        return score(task, y, out, (xq.astype(np.float32) - zi) * si)

    return Int8Eval(metric_name(task), metric(ref), metric(host), bool(np.array_equal(ref, host)), len(y), si, zi)


@dataclass
class QuantizeReport:
    model: str
    output: str
    data: dict
    metric: str
    float_accuracy: float
    int8_accuracy: float
    host_c_accuracy: float
    host_equals_tflite: bool
    test_samples: int
    calib_samples: int
    tflite_bytes: int
    features: dict | None
    onnx: dict | None = None  # ONNX input: layouts, how the data was read, translation error vs ONNX reference
    reference_statistics: str | None = None  # drift reference: the device's statistics over the training split

    def to_json(self) -> dict[str, Any]:
        intervals = {f"{k}_interval": accuracy_interval(getattr(self, k), self.test_samples)
                     for k in ("float_accuracy", "int8_accuracy", "host_c_accuracy") if self.metric == "accuracy"}
        return {**asdict(self), **intervals}


def quantize(model_path: Path, out_path: Path, calib_spec: str | None = None, *, seed: int | None = None,
             calib_samples: int = CALIB_SAMPLES) -> QuantizeReport:
    """`tinyml quantize`: PTQ on the training split of the calibration data, evaluation on its test split."""
    from tinyml.train.trainer import data_for, score

    fm = FloatModel(model_path)
    data: Dataset = data_for(fm.meta, calib_spec, seed)
    onnx_info = None
    if fm.onnx is not None:               # ONNX is NCHW, the translated model NHWC: read the data accordingly
        layout = fm.onnx.adapt(data.x_train[:1])[1]
        for split in ("x_train", "x_val", "x_test"):
            setattr(data, split, fm.onnx.adapt(getattr(data, split))[0])
        onnx_info = {**fm.onnx.layout_info, "data_layout": layout,
                     "max_relative_error_vs_onnx": fm.onnx.verify(data.x_test)}
    if tuple(data.input_shape) != tuple(fm.input_shape):
        raise TinymlError(f"data {data.name} has samples shaped {data.input_shape}, the model expects "
                          f"{fm.input_shape}")
    calib = data.x_train[np.random.default_rng(0).permutation(len(data.x_train))[:calib_samples]]
    tflite = fm.to_int8(calib)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(tflite)
    tmp.replace(out_path)
    float_acc = score(data.task, data.y_test, fm.predict(data.x_test), data.x_test)
    ev = evaluate_int8(out_path, data.x_test, data.y_test, data.task)
    features = None
    src_dir = fm.path if fm.path.is_dir() else fm.path.parent
    if (src_dir / "features.json").exists():
        features = json.loads((src_dir / "features.json").read_text())
    elif data.features:
        features = data.features
    reference = stats_path(out_path)  # the field monitor's reference, binned exactly as the device bins
    reference_statistics(out_path, quantize_inputs(data.x_train, ev.input_scale, ev.input_zero_point), out=reference)
    report = QuantizeReport(str(model_path), str(out_path), data.info(), ev.metric, float_acc, ev.int8, ev.host_c,
                            ev.host_equals_tflite, ev.samples, len(calib), len(tflite), features, onnx_info,
                            str(reference))
    if features:
        (out_path.with_suffix(".features.json")).write_text(json.dumps(features, indent=2) + "\n")
    out_path.with_suffix(".json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if not ev.host_equals_tflite:
        raise TinymlError(f"the compiled C disagrees with the TFLite interpreter on {out_path} "
                          f"({ev.host_c:.4f} vs {ev.int8:.4f}): please report this model", MISMATCH)
    return report
