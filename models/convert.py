"""Full-integer int8 post-training quantization of a Keras model: re-exported from the package
(`tinyml.quantize.convert_int8`), which the wheel carries."""
from tinyml.quantize import convert_int8

__all__ = ["convert_int8"]
