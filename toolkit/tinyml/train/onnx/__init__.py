"""ONNX -> Keras for `tinyml quantize model.onnx`: a small translator for the CNNs PyTorch exports.

Why our own: onnx2tf pulls in onnxruntime, onnx-graphsurgeon and more, and converts far more than our int8
kernels can run; the ops here are the ones small PyTorch CNNs and MLPs export to (with today's default exporter,
`torch.onnx.export(..., dynamo=True)`, at opset 18+, and with the older TorchScript one), and each maps onto the
Keras layer whose TFLite lowering is the builtin operator tinyml compiles. Only the `onnx` package is needed (to
parse, to fold the exporter's shape arithmetic, and to check the translation against ONNX's reference evaluator).

Layout (`layout`): ONNX activations are NCHW, the Keras model (and the int8 .tflite) NHWC; a 1-D signal (N, C, L)
becomes (N, 1, L, C). A flatten keeps the NHWC order and the next Gemm/MatMul gets its weight rows permuted, so no
TRANSPOSE operator appears; a Transpose right after the input is folded into the data's layout.

Modules: `load` (file, external data, op check with hints), `translate` (the walk; `OnnxModel`), one module per
op family (`activations`, `arithmetic`, `convolution`, `shapes`) and `layers` (the few Keras layers of our own).
"""
from tinyml.train.onnx.translate import LAYER_OPS, OnnxModel, onnx_to_keras

__all__ = ["LAYER_OPS", "OnnxModel", "onnx_to_keras"]
