"""Full-integer int8 post-training quantization of a Keras model: re-exported from the package
(`tinyml.train.quantize.convert_int8`), which the wheel carries."""
from tinyml.train.quantize import convert_int8

__all__ = ["convert_int8"]
