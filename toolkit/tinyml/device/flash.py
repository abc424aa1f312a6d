"""Flash a built image with the board profile's flasher (openocd, pyocd, st-flash or picotool)."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

from tinyml.device.boards import Board
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError


def flash_command(board: Board, build_dir: Path, probe: str | None = None) -> list[str]:
    """The flasher command line for `build_dir`'s image; `probe` picks one debug probe by serial number."""
    build_dir = Path(build_dir)
    _check_build(board, build_dir)
    elf, binary = build_dir / "firmware.elf", build_dir / "firmware.bin"
    tool, config = board.flasher.tool, board.flasher.config
    if tool == "none":
        raise TinymlError(f"board {board.name} is emulated only (flasher = none); run it with the emulator",
                          BAD_INPUT)
    if tool == "openocd":
        select = ["-c", f"adapter serial {probe}"] if probe else []
        return ["openocd", "-f", str(config), *select, "-c", f"program {elf} verify reset exit"]
    if tool == "pyocd":
        return ["pyocd", "flash", "--target", str(config), *(["--uid", probe] if probe else []), str(elf)]
    if tool == "st-flash":
        return ["st-flash", *(["--serial", probe] if probe else []), "--reset", "write", str(binary),
                f"{board.flash_base:#x}"]
    if tool == "picotool":
        if probe:
            raise TinymlError("picotool selects the board in BOOTSEL mode by USB, not by probe serial", BAD_INPUT)
        return ["picotool", "load", "-x", str(elf)]
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


def flash(board: Board, build_dir: Path, probe: str | None = None, dry_run: bool = False) -> str:
    """Run the flasher (or with `dry_run` only return its command line, shell-quoted)."""
    cmd = flash_command(board, build_dir, probe)
    line = shlex.join(cmd)
    if dry_run:
        return line
    if shutil.which(cmd[0]) is None:
        raise TinymlError(f"{cmd[0]} not found; install it or run with --dry-run and flash by hand: {line}",
                          BAD_INPUT)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TinymlError(f"{cmd[0]} failed (exit {proc.returncode}): {tail[0]}", DEVICE_FAILURE)
    return line
