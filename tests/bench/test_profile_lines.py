"""The two halves of a profile's address-to-layer map without an emulator: the generator's line ranges match the
model.c it prints (every layer's first line is its operator comment, the next line another's or the closing
brace), the line table's rows map to layers the way docs/PROFILE.md says, inlined code included, and
scripts/profile_mlperf.py converts the published latencies as issue 13 does."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests import tflite_models as tm
from tests.conftest import REPO
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.layers import Layer
from tinyml.device.profile import map_rows


def _invoke_lines(out_dir: Path) -> list[str]:
    lines = (out_dir / "model.c").read_text().splitlines()
    opening = next(i for i, line in enumerate(lines) if line.startswith("void tm_model_invoke(void)"))
    return lines[opening:]


@pytest.mark.parametrize("target", [None, "cortex-m4"])
def test_layer_lines_match_the_printed_invoke(target: str | None, mlperf_dir: Path, tmp_path: Path) -> None:
    for model in (mlperf_dir / "kws.tflite", mlperf_dir / "ic.tflite"):
        compiled = compile_model(model, tmp_path / model.stem / str(target), target=target)
        invoke = _invoke_lines(compiled.out_dir)
        assert compiled.layers[0].first_line == 1
        for layer, after in zip(compiled.layers, [*compiled.layers[1:], None]):
            assert invoke[layer.first_line].startswith(f"  /* operator {layer.index}: {layer.op} ")
            if after is None:
                assert invoke[layer.last_line + 1] == "}"
            else:
                assert after.first_line == layer.last_line + 1
            assert all(f"{call}(" in "\n".join(invoke[layer.first_line:layer.last_line + 1])
                       for call in layer.calls)


def test_random_networks_ranges_tile_the_invoke(tmp_path: Path) -> None:
    """Random CNNs, MLPs and Conv1D-like networks: the ranges tile the invoke function exactly."""
    for seed in range(4):
        case = tm.random_network(np.random.default_rng(seed))
        path = tmp_path / f"n{seed}.tflite"
        path.write_bytes(case.model)
        compiled = compile_model(path, tmp_path / f"n{seed}")
        invoke = _invoke_lines(compiled.out_dir)
        assert compiled.layers[-1].last_line == len(invoke) - 2   # the closing brace follows
        assert [layer.first_line for layer in compiled.layers[1:]] == \
               [layer.last_line + 1 for layer in compiled.layers[:-1]]


def _layer(index: int, first: int, last: int, calls: tuple[str, ...] = ("tm_k",)) -> Layer:
    return Layer(index, "CONV_2D", f"t{index}", "tm_k", "", False, calls, 0, first, last)


def test_rows_map_to_layers_inlined_code_stays_in_its_layer() -> None:
    layers = (_layer(0, 1, 2), _layer(1, 3, 4, ()), _layer(2, 5, 6))   # layer 1: an alias, no code
    invoke_line = 100
    rows = [(0x100, "model.c", 100),        # prologue: the opening line
            (0x104, "model.c", 102),        # layer 0's call
            (0x110, "model.c", 106),        # layer 2's argument set-up
            (0x118, "conv.h", 40),          # a kernel inlined into the invoke: layer 2's range
            (0x118, "conv.h", 41),          # another view at the same address
            (0x130, "model.c", 105),        # layer 2 again
            (0x140, "model.c", 100),        # epilogue
            (0x150, "model.c", None)]       # end of sequence
    where = map_rows(rows, 0x100, 0x150, invoke_line, layers)
    assert [where(a) for a in (0x100, 0x102, 0x104, 0x10e)] == [0, 0, 0, 0]
    assert [where(a) for a in (0x110, 0x118, 0x12e, 0x130, 0x140, 0x14e)] == [2] * 6


def _script() -> ModuleType:
    sys.path.insert(0, str(REPO / "scripts"))   # the script imports its sibling doc_sections, as when run
    try:
        spec = importlib.util.spec_from_file_location("profile_mlperf", REPO / "scripts" / "profile_mlperf.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module   # dataclasses look their module up while the script loads
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "scripts"))


def test_published_figures_convert_to_the_issues_cycles() -> None:
    """Issue 13: 43.4, 89.4, 165.7 and 4.79 ms at 120 MHz are about 5.21 M, 10.73 M, 19.88 M and 0.575 M cycles, and
    0.9x of those are its targets (4.69 M, 9.66 M, 17.9 M, 0.52 M)."""
    script = _script()
    cycles = {name: ref.cycles for name, ref in script.XCUBE.items()}
    assert cycles == {"kws": 5_208_000, "vww": 10_728_000, "ic": 19_884_000, "ad": 574_800}
    targets = {name: round(c * script.TARGET_RATIO / 1e6, 2) for name, c in cycles.items()}
    assert targets == {"kws": 4.69, "vww": 9.66, "ic": 17.9, "ad": 0.52}
