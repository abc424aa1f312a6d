"""Flash a built image with the board profile's flasher, verify it, and say in one line when no probe is there.

- OpenOCD (Debian's package): `openocd -f <scripts> -c "program firmware.elf verify reset exit"`; `verify`
  reads the flash back and OpenOCD exits non-zero on a mismatch.
- pyOCD (PyPI): `pyocd load` writes the ELF, then `pyocd commander -c "compare <flash_base> firmware.bin"` reads
  the image back. `compare` reports a mismatch without failing (pyOCD 0.46), so its "All N bytes match." line is
  required. `-W` makes both steps fail at once instead of waiting for a probe to be plugged in.
- st-flash verifies after writing; picotool with `-v`.

A missing probe (pyOCD "No connected debug probes", OpenOCD "unable to find a matching CMSIS-DAP device" or the
ST-LINK driver's "open failed", ...) is one line naming the board and what to do, exit 4 (DEVICE_FAILURE).
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinyml.device.boards import Board
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

TIMEOUT_S = 600     # a whole 2 MB image over a slow probe takes about a minute; a hang ends here
NO_PROBE = re.compile(r"No connected debug probe|unable to find a matching CMSIS-DAP device|Error: open failed|"
                      r"No J-Link device found|unable to open ftdi device|Couldn't find any ST-Link|"
                      r"Found 0 stlink programmers|No accessible RP2040 devices", re.IGNORECASE)
PROBES = {"openocd": "its ST-LINK or CMSIS-DAP probe", "pyocd": "its CMSIS-DAP or J-Link probe",
          "st-flash": "its ST-LINK", "picotool": "it by USB in BOOTSEL mode"}


@dataclass(frozen=True)
class FlashStep:
    argv: list[str]
    proof: re.Pattern[str] | None = None   # output that must appear for the step to count (pyOCD's compare)


def flash_steps(board: Board, build_dir: Path, probe: str | None = None) -> list[FlashStep]:
    """The flasher's command lines for `build_dir`'s image, verification included; `probe` picks one debug
    probe by serial number."""
    build_dir = Path(build_dir)
    _check_build(board, build_dir)
    elf, binary = build_dir / "firmware.elf", build_dir / "firmware.bin"
    tool, config = board.flasher.tool, board.flasher.config
    if tool == "none":
        raise TinymlError(f"board {board.name} is emulated only (flasher = none); run it with the emulator",
                          BAD_INPUT)
    if tool == "openocd":
        scripts = [arg for script in config for arg in ("-f", script)]
        select = ["-c", f"adapter serial {probe}"] if probe else []
        return [FlashStep(["openocd", *scripts, *select, "-c", f"program {elf} verify reset exit"])]
    if tool == "pyocd":
        common = ["-W", "--target", config[0], *(["--uid", probe] if probe else [])]
        return [FlashStep(["pyocd", "load", *common, str(elf)]),
                FlashStep(["pyocd", "commander", *common, "-c", f"compare {board.flash_base:#x} {binary}",
                           "-c", "reset"], proof=re.compile(r"All \d+ bytes match"))]
    if tool == "st-flash":
        return [FlashStep(["st-flash", *(["--serial", probe] if probe else []), "--reset", "write", str(binary),
                           f"{board.flash_base:#x}"])]
    if tool == "picotool":
        if probe:
            raise TinymlError("picotool selects the board in BOOTSEL mode by USB, not by probe serial", BAD_INPUT)
        return [FlashStep(["picotool", "load", "-v", "-x", str(elf)])]
    raise AssertionError(f"flasher {tool} passed validation but has no command")


def _check_build(board: Board, build_dir: Path) -> None:
    info_path = build_dir / "build.json"
    if not info_path.is_file():
        raise TinymlError(f"{build_dir} has no build.json; run `tinyml build MODEL --board {board.name} "
                          f"-o {build_dir}` first", BAD_INPUT)
    info = json.loads(info_path.read_text())
    if info.get("board") != board.name:
        raise TinymlError(f"{build_dir} was built for {info.get('board')}, not {board.name}", BAD_INPUT)
    if not info.get("fits") or not (build_dir / "firmware.elf").is_file():
        raise TinymlError(f"{build_dir} holds no flashable image (the model did not fit {board.name})", BAD_INPUT)


def _run(board: Board, step: FlashStep, probe: str | None) -> None:
    tool = step.argv[0]
    try:
        proc = subprocess.run(step.argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise TinymlError(f"{tool} gave no result for {board.name} within {TIMEOUT_S} s", DEVICE_FAILURE) from exc
    output = proc.stdout + proc.stderr
    missing = NO_PROBE.search(output)
    if missing:
        which = f"with serial {probe} " if probe else ""
        raise TinymlError(f"{board.name}: no debug probe {which}found ({tool}: {missing.group(0)}); connect "
                          f"{PROBES[board.flasher.tool]} by USB (and check its udev permissions), then retry",
                          DEVICE_FAILURE)
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if proc.returncode != 0:
        error = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "no output")
        raise TinymlError(f"{tool} failed for {board.name} (exit {proc.returncode}): {error}", DEVICE_FAILURE)
    if step.proof is not None and not step.proof.search(output):
        mismatch = next((ln for ln in lines if "mismatch" in ln.lower()), lines[-1] if lines else "no output")
        raise TinymlError(f"{board.name}: the flash does not hold the image after writing it ({tool}: {mismatch})",
                          DEVICE_FAILURE)


def flash(board: Board, build_dir: Path, probe: str | None = None, dry_run: bool = False) -> str:
    """Write and verify the image (or with `dry_run` only return the steps as one shell line)."""
    steps = flash_steps(board, build_dir, probe)
    line = " && ".join(shlex.join(step.argv) for step in steps)
    if dry_run:
        return line
    for step in steps:
        if shutil.which(step.argv[0]) is None:
            raise TinymlError(f"{step.argv[0]} not found; install it (openocd: apt-get install openocd; pyocd: "
                              f"pip install pyocd) or run with --dry-run and flash by hand: {line}", BAD_INPUT)
    for step in steps:
        _run(board, step, probe)
    return line
