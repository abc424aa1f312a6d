"""Helpers for firmware tests: a dummy model implementing the model.h API, and HAL self-test images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyml.device.boards import Board
from tinyml.device.build import FirmwareSources, hal_sources, link, render_board_sources
from tinyml.paths import HAL_DIR

HERE = Path(__file__).resolve().parent
SELFTEST_MAIN = HERE / "selftest.c"

DUMMY_MODEL_H = """\
#ifndef TM_MODEL_H
#define TM_MODEL_H
#include <stdint.h>
#define TM_MODEL_HASH "00dummy000000000"
#define TM_MODEL_ARENA_BYTES {arena}u
#define TM_MODEL_NUM_INPUTS 1u
#define TM_MODEL_NUM_OUTPUTS 1u
typedef struct {{ void *data; uint32_t bytes; float scale; int32_t zero_point; uint8_t type; }} tm_io;
void tm_model_init(void);
void tm_model_invoke(void);
const tm_io *tm_model_input(uint32_t index);
const tm_io *tm_model_output(uint32_t index);
#endif
"""
DUMMY_MODEL_C = """\
#include "model.h"
static int8_t arena[TM_MODEL_ARENA_BYTES];
static const tm_io input = {{ arena, 16u, 0.5f, -1, 9u }};
static const tm_io output = {{ arena + 16, 16u, 0.5f, -1, 9u }};
void tm_model_init(void) {{}}
void tm_model_invoke(void) {{  /* output = input + 1, touching the whole arena so none of it is dropped */
  for (uint32_t i = 32; i < TM_MODEL_ARENA_BYTES; i++) arena[i] = (int8_t)(arena[i - 32] ^ (int8_t)i);
  for (uint32_t i = 0; i < 16u; i++) arena[16 + i] = (int8_t)(arena[i] + 1);
}}
const tm_io *tm_model_input(uint32_t index) {{ return index == 0u ? &input : 0; }}
const tm_io *tm_model_output(uint32_t index) {{ return index == 0u ? &output : 0; }}
"""


@dataclass(frozen=True)
class DummyModel:
    """Satisfies tinyml.device.build.CompiledModel."""

    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    arena_bytes: int
    model_hash: str = "00dummy000000000"


def write_dummy_model(directory: Path, arena_bytes: int = 64) -> DummyModel:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.h").write_text(DUMMY_MODEL_H.format(arena=arena_bytes))
    (directory / "model.c").write_text(DUMMY_MODEL_C.format())
    return DummyModel((directory / "model.c",), (directory,), arena_bytes)


def build_selftest(board: Board, work: Path) -> Path:
    """Link the HAL self-test for `board` into `work`; return the ELF."""
    work.mkdir(parents=True, exist_ok=True)
    board_c = render_board_sources(board, work, harness=False)
    link(board, FirmwareSources([*board_c, *hal_sources(board), SELFTEST_MAIN], [work, HAL_DIR], work / "linker.ld"),
         work)
    return work / "firmware.elf"
