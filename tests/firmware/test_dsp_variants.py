"""DSP kernel variants: every combination still compiles for every DSP core when a kernel is built on its own (no
generated tinyml_variants.h: all variants), and a model's header really leaves its unused variants out."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyml.cli import main
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.compiler import RUNTIME_DIR, RUNTIME_INCLUDE_DIR, VARIANTS_H
from tinyml.compiler.codegen.target import Target
from tinyml.device.boards import get_board
from tinyml.device.build import GCC, gcc_flags

DSP_BOARDS = ("mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547")
DSP_SOURCES = sorted((RUNTIME_DIR / "src").rglob("*_dsp*.c"))
MLPERF_KWS = Path(__file__).resolve().parents[2] / "models" / "mlperf-tiny" / "kws.tflite"


def _text_bytes(board: str, source: Path, include_dirs: list[Path], out: Path) -> int:
    obj = out / f"{source.stem}.o"
    cmd = [GCC, *gcc_flags(get_board(board)), *(f"-I{d}" for d in include_dirs), "-c", str(source), "-o", str(obj)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{source.name} for {board}: {result.stderr[:2000]}"
    size = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    return sum(int(line.split()[1]) for line in size.splitlines() if line.startswith(".text"))


def test_there_are_dsp_kernels() -> None:
    assert {p.name for p in DSP_SOURCES} >= {"conv2d_s8_dsp.c", "depthwise_conv2d_s8_dsp.c",
                                             "fully_connected_s8_dsp.c", "conv_inplace_dsp_s8.c"}


@pytest.mark.parametrize("board", DSP_BOARDS)
def test_all_variants_compile(board: str, tmp_path: Path) -> None:
    for source in DSP_SOURCES:
        assert _text_bytes(board, source, [RUNTIME_INCLUDE_DIR], tmp_path) > 0


def test_model_header_leaves_unused_variants_out(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    compile_model(MLPERF_KWS, gen, target=Target("cortex-m4", dsp=True, wide_fc=False))
    header = (gen / VARIANTS_H).read_text()
    assert "TM_V_CONV_NARROW" in header and "TM_V_CONV_WIDE" not in header
    for name in ("conv2d_s8_dsp.c", "fully_connected_s8_dsp.c", "depthwise_conv2d_s8_dsp.c"):
        source = next(p for p in DSP_SOURCES if p.name == name)
        every = _text_bytes("mps2-an386", source, [RUNTIME_INCLUDE_DIR], tmp_path)
        narrowed = _text_bytes("mps2-an386", source, [gen, RUNTIME_INCLUDE_DIR], tmp_path)
        assert narrowed < every * 0.7, f"{name}: {narrowed} B with the model's variants vs {every} B with all"


def test_portable_build_writes_no_variants_header(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    compile_model(MLPERF_KWS, gen, target=Target("cortex-m4", dsp=True))
    assert (gen / VARIANTS_H).exists()
    compile_model(MLPERF_KWS, gen)  # portable kernels, same directory: the stale header goes
    assert not (gen / VARIANTS_H).exists()


def test_weight_layout_option_trades_flash(tmp_path: Path) -> None:
    from tinyml.device.bench import _reusable
    from tinyml.device.build import build_firmware

    board = get_board("mps2-an386")
    small = build_firmware(MLPERF_KWS, board, tmp_path / "int8")   # the default layout
    wide = build_firmware(MLPERF_KWS, board, tmp_path / "int16", weights="int16")
    # KWS's conv and FC weights are ~23 KB as int8: the int16 build stores them twice as large
    assert wide.flash_bytes - small.flash_bytes > 15_000
    assert (small.weights, wide.weights) == ("int8", "int16")
    # a build directory made with one layout is not reused for another
    assert _reusable(tmp_path / "int8", board, small.model_hash, "int8") is not None
    assert _reusable(tmp_path / "int8", board, small.model_hash, "int16") is None
    # a build.json from before the option (no "weights") was an "auto" build: reused as that, and only as that
    info = json.loads((tmp_path / "int16" / "build.json").read_text())
    del info["weights"]
    (tmp_path / "int16" / "build.json").write_text(json.dumps(info))
    assert _reusable(tmp_path / "int16", board, wide.model_hash, "int8") is None
    assert _reusable(tmp_path / "int16", board, wide.model_hash, "auto").weights == "auto"


def test_default_build_has_no_int16_weight_copies(tmp_path: Path) -> None:
    """`tinyml build` without --weights on a DSP core: int8 weights, so the narrow kernel variants and no int16
    arrays (issue 13: flash excluding weights is bounded in the default build); build.json says so."""
    out = tmp_path / "build"
    built = CliRunner().invoke(main, ["build", str(MLPERF_KWS), "--board", "mps2-an386", "-o", str(out), "--json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["weights"] == json.loads((out / "build.json").read_text())["weights"] == "int8"
    header = (out / "model" / VARIANTS_H).read_text()
    assert "TM_V_CONV_NARROW" in header and "TM_V_FC_NARROW" in header and "_WIDE" not in header
    assert "int16_t" not in (out / "model" / "model_weights.c").read_text()
