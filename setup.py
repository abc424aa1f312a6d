"""Package build: the Python toolkit plus the C runtime, firmware templates and board profiles.

`firmware/` and `boards/` live at the repository root (they are not Python code) and are mapped into the
wheel as the data packages `tinyml.firmware` and `tinyml.boards`, so an installed `tinyml` finds them.
"""
from setuptools import setup

setup(packages=["tinyml", "tinyml.ir", "tinyml.codegen", "tinyml.codegen.ops", "tinyml.targets",
                "tinyml.firmware", "tinyml.boards"])
