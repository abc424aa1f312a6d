"""The field wing: report frames from devices, the store they go into, drift scores, the monitor and the gateway.

See docs/FIELD.md. The statistics layout itself lives in `tinyml.device.statistics` (the firmware computes it,
and the quantize step computes the reference with the same code).
"""
