"""tinyml's PlatformIO development platform: all the work is in builder/main.py (tinyml.device.platformio)."""
from platformio.public import PlatformBase


class TinymlPlatform(PlatformBase):
    pass
