"""Full-integer int8 post-training quantization (`tinyml quantize`) and the three-way accuracy check.

The TFLite converter quantizes weights per channel (int8, int32 bias) and activations per tensor from a
representative data set; input and output are int8. The report gives the float model's accuracy, the int8
model's accuracy in the TFLite reference interpreter, and the accuracy of tinyml's compiled C run on the host;
the last two must be equal (tinyml is bit-exact with the interpreter), and `host_equals_tflite` says whether
every output byte agreed.

`--activations int16` quantizes 16x8 instead (TFLite's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8):
int16 activations (symmetric), int8 weights, int64 bias, int16 input and output; the rest is the same. The field
statistics (the drift reference) are int8 only, so a 16x8 model gets none.

PTQ needs no labels: calibration data with inputs only (a .npz with just `x`, or a folder of .npy inputs) is
calibrated on, and the report then compares the int8 model with the float one on those inputs (`CalibrationReport`)
instead of scoring both against labels.

Quiet: TensorFlow, the converter and the interpreter write log lines and warnings from Python and from C++
(absl, TF_CPP_*); `converter_log` sends both file descriptors to `quantize.log` in the output folder while a
quantization runs, so the command prints nothing but its summary (`--verbose` leaves them on the terminal).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.device.statistics import reference_statistics, stats_path
from tinyml.errors import BAD_INPUT, MISMATCH, TinymlError
from tinyml.train.data import Dataset
from tinyml.train.metrics import accuracy_interval

CALIB_SAMPLES = 200
CHECK_SAMPLES = 64     # label-free: inputs on which the int8 model is compared with the float one and the C run
LOG_NAME = "quantize.log"
ACTIVATIONS = ("int8", "int16")  # int8: full-integer int8; int16: 16x8 (int16 activations, int8 weights)


@contextlib.contextmanager
def converter_log(log_path: Path, verbose: bool = False) -> Iterator[None]:
    """While it runs, everything written to stdout and stderr (Python prints and warnings, and the C++ side's
    absl / TensorFlow logging, which writes to the file descriptors directly) goes to `log_path`; `verbose`: left
    on the terminal."""
    if verbose:
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log_path, "wb") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])


def unlabelled_inputs(spec: str | None, sample_rank: int) -> np.ndarray | None:
    """Calibration inputs without labels: a .npz holding `x` and no labels, or a folder of .npy files (each one
    sample of rank `sample_rank`, or a batch of them). None: `spec` is labelled data (or a built-in data set)."""
    if not spec:
        return None
    path = Path(spec)
    if path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z.files or {"y", "y_train"} & set(z.files):
                    return None
                return np.asarray(z["x"], np.float32)
        except (OSError, ValueError) as exc:
            raise TinymlError(f"{path}: not a readable .npz file ({exc})") from None
    files = sorted(path.glob("*.npy")) if path.is_dir() else []
    if not files:
        return None
    try:
        arrays = [np.load(f, allow_pickle=False).astype(np.float32) for f in files]
    except (OSError, ValueError) as exc:
        raise TinymlError(f"{path}: a .npy file there is not readable ({exc})") from None
    odd = [f.name for f, a in zip(files, arrays, strict=True) if a.ndim not in (sample_rank, sample_rank + 1)]
    if odd:
        raise TinymlError(f"{path}: {odd[0]} is not one input (rank {sample_rank}) nor a batch of them")
    batches = [a if a.ndim > sample_rank else a[None] for a in arrays]
    if len({b.shape[1:] for b in batches}) != 1:
        raise TinymlError(f"{path}: the .npy inputs have different shapes "
                          f"({sorted({str(b.shape[1:]) for b in batches})}); give one shape per sample")
    return np.concatenate(batches)


def _converter_int8(converter, calib: np.ndarray, activations: str = "int8") -> bytes:
    import tensorflow as tf

    def representative_dataset() -> Iterator[list[np.ndarray]]:
        for sample in calib:
            yield [np.asarray(sample, np.float32)[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    ops = tf.lite.OpsSet
    if activations == "int16":
        converter.target_spec.supported_ops = [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int16
    else:
        converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the exported SavedModel's signature
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and friends
        lines = [ln for ln in str(exc).splitlines() if "error" in ln.lower()] or str(exc).splitlines()[:1]
        raise TinymlError(f"the TFLite converter cannot quantize this model to {activations}: "
                          f"{lines[0].strip()}") from exc


def convert_int8(keras_model, calib_data: np.ndarray, activations: str = "int8") -> bytes:
    """A Keras model -> full-integer .tflite bytes (batch 1, per-channel int8 weights; int8 activations and I/O, or
    int16 ones with `activations="int16"`)."""
    import tensorflow as tf

    from tinyml.train.recipes import batch_one

    _refuse_rolled_recurrent_layers(keras_model)
    if keras_model.inputs and keras_model.inputs[0].shape[0] != 1:
        keras_model = batch_one(keras_model)
    return _converter_int8(tf.lite.TFLiteConverter.from_keras_model(keras_model), calib_data, activations)


def _refuse_rolled_recurrent_layers(keras_model) -> None:
    """Keras 3's LSTM, GRU and SimpleRNN convert to a TFLite WHILE loop whose int8 calibration crashes the converter
    process (a segfault, tensorflow issues 75140 and 101050): refused with the two ways that work. A tf_keras GRU
    does too (tf_keras fuses only its LSTM): refused, naming unroll=True, whose form tinyml compiles."""
    import keras

    tf_keras = sys.modules.get("tf_keras")  # imported already if the model is a tf_keras one
    for layer in keras_model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.RNN) and not getattr(layer, "unroll", False):
            raise TinymlError(f"layer '{layer.name}' ({type(layer).__name__}): Keras 3's recurrent layers convert to "
                              "a WHILE loop whose int8 calibration crashes the TFLite converter; build it with "
                              "unroll=True (fixed sequence length), or an LSTM with tf_keras (one fused "
                              "UNIDIRECTIONAL_SEQUENCE_LSTM)", BAD_INPUT)
        if tf_keras is not None and isinstance(layer, tf_keras.layers.GRU) and not layer.unroll:
            raise TinymlError(f"layer '{layer.name}' (tf_keras GRU): converts to a WHILE loop whose int8 calibration "
                              "crashes the TFLite converter; build it with unroll=True (fixed sequence length)",
                              BAD_INPUT)


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
            from tinyml.train.onnx import onnx_to_keras
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

    def to_int8(self, calib: np.ndarray, activations: str = "int8") -> bytes:
        if self.keras is not None:
            return convert_int8(self.keras, calib, activations)
        import tensorflow as tf
        loaded, fn = self.saved
        name, spec = next(iter(fn.structured_input_signature[1].items()))
        sig = tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name=name)
        concrete = tf.function(lambda x: fn(**{name: x}), input_signature=[sig]).get_concrete_function()
        return _converter_int8(tf.lite.TFLiteConverter.from_concrete_functions([concrete], loaded), calib,
                               activations)


@dataclass
class Int8Eval:
    metric: str
    int8: float               # TFLite reference interpreter
    host_c: float             # tinyml's generated C, host build
    host_equals_tflite: bool  # every output byte equal
    samples: int
    input_scale: float
    input_zero_point: int


def quantize_inputs(x: np.ndarray, scale: float, zero_point: int, dtype: type = np.int8) -> np.ndarray:
    """Float inputs as the model's integer input (`dtype`: np.int8, or np.int16 for a 16x8 model), saturated."""
    bounds = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, bounds.min, bounds.max).astype(dtype)


def input_dtype(tflite: bytes) -> type:
    """The numpy type of the model's (first) input: np.int8, or np.int16 for a 16x8 model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=tflite,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return it.get_input_details()[0]["dtype"]


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
    xq = quantize_inputs(x, si, zi, input_dtype(tflite))
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


@dataclass
class CalibrationReport:
    """`tinyml quantize` with inputs only: no accuracy, but how far the int8 model is from the float one on the
    inputs (top-1 agreement for a vector output, the largest error relative to the float output's range) and
    whether tinyml's C run equals the interpreter's bytes."""
    model: str
    output: str
    calib_samples: int
    check_samples: int
    top1_agreement: float | None  # float vs int8 (TFLite) argmax; None for a one-value or a feature-map output
    max_error_vs_float: float     # max |dequantized int8 - float| / (float max - float min)
    host_equals_tflite: bool
    tflite_bytes: int
    onnx: dict | None = None
    reference_statistics: str | None = None
    log: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _write_tflite(out_path: Path, tflite: bytes) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(tflite)
    tmp.replace(out_path)


def _onnx_layout(fm: FloatModel, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict | None]:
    """ONNX data is NCHW / NCL, the translated model NHWC / N1LC: bring each array to the model's layout."""
    if fm.onnx is None:
        return arrays, None
    layout = fm.onnx.adapt(next(iter(arrays.values()))[:1])[1]
    arrays = {k: fm.onnx.adapt(v)[0] for k, v in arrays.items()}
    return arrays, {**fm.onnx.layout_info, "data_layout": layout}


def quantize(model_path: Path, out_path: Path, calib_spec: str | None = None, *, seed: int | None = None,
             calib_samples: int = CALIB_SAMPLES, verbose: bool = False, activations: str = "int8"
             ) -> QuantizeReport | CalibrationReport:
    """`tinyml quantize`: PTQ on the training split of the calibration data, evaluation on its test split (or, with
    inputs only, calibration on them and a float-vs-int8 comparison); TensorFlow's output goes to quantize.log.
    `activations`: "int8" (full-integer int8) or "int16" (16x8: int16 activations, int8 weights)."""
    if activations not in ACTIVATIONS:
        raise TinymlError(f"--activations {activations}: choose one of {', '.join(ACTIVATIONS)}")
    out_path = Path(out_path)
    log = out_path.parent / LOG_NAME
    with converter_log(log, verbose):
        fm = FloatModel(model_path)
        rank = len(fm.onnx.onnx_input_shape) if fm.onnx is not None else len(fm.input_shape)
        inputs = unlabelled_inputs(calib_spec, rank)
        if inputs is not None:
            report = _quantize_unlabelled(fm, inputs, out_path, calib_samples, activations)
            report.log = None if verbose else str(log)
        else:
            report = _quantize_labelled(fm, out_path, calib_spec, seed, calib_samples, activations)
    if not report.host_equals_tflite:
        raise TinymlError(f"the compiled C disagrees with the TFLite interpreter on {out_path}: please report this "
                          "model", MISMATCH)
    return report


def _check_shape(fm: FloatModel, shape: tuple[int, ...], what: str) -> None:
    if tuple(shape) != tuple(fm.input_shape):
        raise TinymlError(f"{what} has samples shaped {tuple(shape)}, the model expects {fm.input_shape}")


def _quantize_unlabelled(fm: FloatModel, x: np.ndarray, out_path: Path, calib_samples: int, activations: str
                         ) -> CalibrationReport:
    from tinyml.compiler.codegen import compile_model
    from tinyml.device.targets.host import run_host, sample_shape

    arrays, onnx_info = _onnx_layout(fm, {"x": x})
    x = arrays["x"]
    _check_shape(fm, x.shape[1:], "the calibration data")
    order = np.random.default_rng(0).permutation(len(x))
    calib = x[order[:calib_samples]]
    if onnx_info is not None:
        onnx_info["max_relative_error_vs_onnx"] = fm.onnx.verify(calib)
    tflite = fm.to_int8(calib, activations)
    _write_tflite(out_path, tflite)
    check = x[order[:CHECK_SAMPLES]]
    (si, zi), (so, zo) = io_quant(tflite)
    dtype = input_dtype(tflite)
    xq = quantize_inputs(check, si, zi, dtype)
    ref, _, _ = tflite_run(tflite, xq)
    with tempfile.TemporaryDirectory(prefix="tinyml-q-") as tmp:
        compiled = compile_model(out_path, Path(tmp) / "model")
        host = run_host(compiled, [xq.reshape((len(xq), *sample_shape(compiled.inputs[0])))])[0].reshape(ref.shape)
    want = fm.predict(check).reshape(ref.shape)
    got = (ref.astype(np.float32) - zo) * so
    span = max(float(want.max() - want.min()), 1e-12)
    vector = want.ndim == 2 and want.shape[1] > 1
    top1 = float(np.mean(want.argmax(1) == got.argmax(1))) if vector else None
    reference = _drift_reference(out_path, x, si, zi, activations)
    report = CalibrationReport(str(fm.path), str(out_path), len(calib), len(check), top1,
                               float(np.max(np.abs(got - want)) / span), bool(np.array_equal(ref, host)),
                               len(tflite), onnx_info, reference)
    out_path.with_suffix(".json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _drift_reference(out_path: Path, x: np.ndarray, scale: float, zero_point: int, activations: str) -> str | None:
    """The field monitor's reference statistics over `x`, binned exactly as the device bins (int8 models only: the
    on-device statistics are int8), written beside the model; their path."""
    if activations != "int8":
        return None
    reference = stats_path(out_path)
    reference_statistics(out_path, quantize_inputs(x, scale, zero_point), out=reference)
    return str(reference)


def _quantize_labelled(fm: FloatModel, out_path: Path, calib_spec: str | None, seed: int | None,
                       calib_samples: int, activations: str) -> QuantizeReport:
    from tinyml.train.trainer import data_for, score

    data: Dataset = data_for(fm.meta, calib_spec, seed)
    splits, onnx_info = _onnx_layout(fm, {k: getattr(data, k) for k in ("x_train", "x_val", "x_test")})
    for split, value in splits.items():
        setattr(data, split, value)
    if onnx_info is not None:
        onnx_info["max_relative_error_vs_onnx"] = fm.onnx.verify(data.x_test)
    _check_shape(fm, data.input_shape, f"data {data.name}")
    calib = data.x_train[np.random.default_rng(0).permutation(len(data.x_train))[:calib_samples]]
    tflite = fm.to_int8(calib, activations)
    _write_tflite(out_path, tflite)
    float_acc = score(data.task, data.y_test, fm.predict(data.x_test), data.x_test)
    ev = evaluate_int8(out_path, data.x_test, data.y_test, data.task)
    features = None
    src_dir = fm.path if fm.path.is_dir() else fm.path.parent
    if (src_dir / "features.json").exists():
        features = json.loads((src_dir / "features.json").read_text())
    elif data.features:
        features = data.features
    reference = _drift_reference(out_path, data.x_train, ev.input_scale, ev.input_zero_point, activations)
    report = QuantizeReport(str(fm.path), str(out_path), data.info(), ev.metric, float_acc, ev.int8, ev.host_c,
                            ev.host_equals_tflite, ev.samples, len(calib), len(tflite), features, onnx_info,
                            reference)
    if features:
        (out_path.with_suffix(".features.json")).write_text(json.dumps(features, indent=2) + "\n")
    out_path.with_suffix(".json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report
