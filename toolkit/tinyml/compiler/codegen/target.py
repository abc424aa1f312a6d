"""What the generated code will run on: the code generator picks each layer's kernel variant from this statically.

- `Target.HOST` (the default, `target=None`): the portable C kernels, the reference for every other variant.
- a Cortex-M core with the DSP extension (M4, M7, M33 with DSP, M55): the SIMD variants (`*_dsp.c`, ACLE
  intrinsics such as `__smlad`/`__sxtb16`; see `tinyml/dsp.h`). On a host build those intrinsics are emulated in
  plain C, bit for bit, so the same variants can be tested on the host (`Target("host", dsp=True)`).
- a core with Helium (MVE: the M55 with `fpu = "mve-fp"`): the `*_mve.c` variants where one exists (fully
  connected: VMLADAV over 16 int8 products, four outputs per input vector, requantized four lanes at once; the
  pointwise convolution, that kernel over the pixels), the DSP ones elsewhere. MVE intrinsics have no host
  emulation: these run only on the core (tests/bench/test_mve_qemu.py, tests/bench/test_conv_mve_qemu.py).
- M0/M0+/M3, or a core built without DSP: portable.
"""
from __future__ import annotations

from dataclasses import dataclass

from tinyml.errors import TinymlError

DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
CORES = ("host", "cortex-m0", "cortex-m0plus", "cortex-m3", *DSP_CORES)


@dataclass(frozen=True)
class Target:
    core: str = "host"
    dsp: bool = False           # DSP/SIMD extension: select the *_dsp kernel variants
    mve: bool = False           # Helium (M55): the *_mve kernel variants where one exists (FC, 1x1 conv), else DSP
    flash_bytes: int | None = None  # flash budget, when known: bounds size-for-speed trades (widened weights)
    wide_fc: bool | None = None     # int16 FC and conv weights: None = when the flash budget allows (never without one)

    @staticmethod
    def of(value: Target | str | None) -> Target:
        """`None` (host, portable), a core name (`cortex-m4`: DSP where the core has it), or a Target."""
        if value is None:
            return HOST
        if isinstance(value, Target):
            return value
        if value not in CORES:
            raise TinymlError(f"unknown target '{value}'; expected one of {', '.join(CORES)}")
        return Target(core=value, dsp=value in DSP_CORES, mve=value == "cortex-m55")

    @staticmethod
    def for_board(board) -> Target:
        """The board's core, DSP and MVE flags (the ones the firmware build passes to gcc)."""
        dsp = bool(getattr(board, "dsp", False)) and board.core in DSP_CORES
        return Target(core=board.core, dsp=dsp, mve=board.core == "cortex-m55" and board.fpu == "mve-fp",
                      flash_bytes=board.flash_bytes)

    def describe(self) -> str:
        return f"{self.core}{' +dsp' if self.dsp else ''}{' +mve' if self.mve else ''}"


HOST = Target()
