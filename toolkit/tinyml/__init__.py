"""tinyml: compile int8 TFLite models ahead of time into plain C for Cortex-M microcontrollers."""
import os

__version__ = "0.1.0"

# TensorFlow's oneDNN custom CPU kernels corrupt the heap now and then while training (TF 2.21 here: "double free or
# corruption" or a segfault in 3 of 8 `tinyml train resnet8` runs under load, none in 8 without them). The default
# Eigen kernels are used instead; this must be set before TensorFlow is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
