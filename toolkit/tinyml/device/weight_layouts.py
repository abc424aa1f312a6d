"""The conv/FC weight layouts a firmware build can ask the DSP kernels (M4/M7/M33/M55) for: `tinyml build
--weights`, `tinyml bench --weights`, platformio.ini's `custom_tinyml_weights`. Portable kernels ignore them.

int8 stores the weights once, at their .tflite size (re-ordered for the kernels); int16 stores widened copies, which
run in fewer instructions and take twice the flash; "auto" takes int16 when the doubled weights fit in half the
board's flash. int8 is the default (flash is what small boards lack); int16 is for the user who asks for speed."""
from __future__ import annotations

# The layout name -> `Target.wide_fc` (None: the code generator decides from the flash budget).
WEIGHT_LAYOUTS: dict[str, bool | None] = {"auto": None, "int8": False, "int16": True}
DEFAULT_WEIGHTS = "int8"
