"""Package build: the Python toolkit plus the C runtime, firmware templates and board profiles.

`firmware/` and `boards/` live at the repository root (they are not Python code) and are mapped into the
wheel as the data packages `tinyml.firmware` and `tinyml.boards`, so an installed `tinyml` finds them.
"""
from setuptools import find_packages, setup

setup(packages=[*find_packages("toolkit"), "tinyml.firmware", "tinyml.boards"])
