"""The training wing: data sets and features, recipes, the trainer, int8 quantization, pruning, distillation,
the budget search (`fit`) and ONNX import. It builds on `compiler` and `device`, never on `cli`."""
