"""Keras definitions of the four MLPerf Tiny reference architectures and their int8 conversion.

The weights are random (seeded): these models exist to test and benchmark the compiler, not to classify anything.
"""
from models.convert import convert_int8
from models.mlperf_tiny import (
    ARCHITECTURES,
    Architecture,
    ds_cnn_kws,
    fc_autoencoder_ad,
    fit_batch_norm,
    mobilenet_v1_vww,
    resnet8_ic,
)

__all__ = ["ARCHITECTURES", "Architecture", "convert_int8", "ds_cnn_kws", "fc_autoencoder_ad", "fit_batch_norm",
           "mobilenet_v1_vww", "resnet8_ic"]
