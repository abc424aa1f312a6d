"""The SCons build script PlatformIO runs for tinyml's platform: tinyml generates the model and the board's
sources, SCons compiles and links them with arm-none-eabi-gcc (tinyml.device.platformio_scons.configure)."""
from SCons.Script import DefaultEnvironment

from tinyml.device.platformio_scons import configure

configure(DefaultEnvironment())
