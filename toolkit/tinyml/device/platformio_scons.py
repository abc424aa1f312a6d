"""The SCons side of tinyml's PlatformIO platform: `firmware/platformio/builder/main.py` hands PlatformIO's
environment to `configure`. tinyml generates the model and the board's sources, SCons compiles each file with the
same flags as `tinyml build`, and the link, the budget check, `firmware.bin/.hex` and `build.json` are
`tinyml.device.build`'s, so the image is the gcc builder's, byte for byte."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tinyml.device.boards import get_board
from tinyml.device.build import (
    GCC,
    app_settings,
    check_app,
    compile_for_board,
    finish_image,
    firmware_sources,
    link,
    toolchain_version,
)
from tinyml.device.flash import flash
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS
from tinyml.errors import TinymlError


def configure(env: Any) -> None:
    """Called by the platform's SCons script with PlatformIO's environment: set up the firmware's build."""
    board = get_board(env.GetProjectOption("custom_tinyml_board", env.subst("$BOARD")))
    model = Path(env.subst("$PROJECT_DIR")) / env.GetProjectOption("custom_tinyml_model")
    weights = env.GetProjectOption("custom_tinyml_weights", DEFAULT_WEIGHTS)
    app = env.GetProjectOption("custom_tinyml_app", "bench")
    mlperf_model = env.GetProjectOption("custom_tinyml_mlperf_model", None)
    build_dir = Path(env.subst("$BUILD_DIR"))
    generated = build_dir / "tinyml"
    generated.mkdir(parents=True, exist_ok=True)
    try:
        check_app(app, mlperf_model=mlperf_model)
        compiled = compile_for_board(model, board, generated / "model", weights)
        mlperf = app_settings(model, compiled, app, mlperf_model)
        image = firmware_sources(compiled, board, generated, mlperf)
        toolchain = toolchain_version()
    except TinymlError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        env.Exit(exc.exit_code)
    flags = image.compile_flags(board)  # C and preprocessed assembly (.S) alike, as in the gcc builder's one call
    env.Replace(CC=GCC, AS=GCC, LINK=GCC, OBJSUFFIX=".o", CCFLAGS=flags, CFLAGS=[], ASFLAGS=flags, ASPPFLAGS=flags,
                CPPPATH=[], CPPDEFINES=[])
    objects = [env.Object(str(build_dir / "obj" / f"{i:03d}-{src.stem}.o"), str(src))[0]
               for i, src in enumerate(image.sources)]

    def link_firmware(target, source, env) -> int:
        try:
            sizes = link(board, image, build_dir, inputs=[Path(str(s)) for s in source])
            result = finish_image(compiled, board, build_dir, sizes, toolchain, weights=weights,
                                  builder="platformio", mlperf=mlperf)
        except TinymlError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            return exc.exit_code
        print(f"{board.name}: flash {result.flash_bytes}/{result.flash_budget} B, RAM {result.ram_bytes}/"
              f"{result.ram_budget} B (arena {result.arena_bytes} B)")
        for violation in result.violations:
            sys.stderr.write(f"error: model does not fit {board.name}: {violation}\n")
        return 0 if result.fits else 1

    def upload(target, source, env) -> int:
        try:
            print(f"flashed with: {flash(board, build_dir)}")
        except TinymlError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            return exc.exit_code
        return 0

    elf = env.Command(str(build_dir / "firmware.elf"), objects,
                      env.Action(link_firmware, "Linking firmware.elf with tinyml's budgets"))
    env.Default(elf)
    env.AddPlatformTarget("upload", elf, env.Action(upload, "Flashing with the board profile's flasher"),
                          "Upload")


