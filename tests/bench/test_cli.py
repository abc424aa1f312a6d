"""`tinyml bench` end to end: the JSON report and --output, and every failure as one line with its exit code
(2 bad input, 4 emulator crash or hang, 5 outputs differ), never a traceback or a partial output file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests import tflite_models as tm
from tests.firmware.fwtools import DummyModel
from tinyml.cli import main
from tinyml.compiler.codegen import compile_model
from tinyml.device import bench as bench_module
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled
from tinyml.errors import TinymlError

REPORT_KEYS = {"board", "runs", "outputs_match", "outputs_total", "instructions_per_inference", "latency_ms_estimate",
               "flash_bytes", "ram_bytes", "arena_bytes", "stack_peak_bytes", "energy_uj_estimate"}

# A model.h/model.c with the real model's hash and tensor sizes whose invoke misbehaves, to crash or hang QEMU.
BROKEN_MODEL_H = """\
#ifndef TM_MODEL_H
#define TM_MODEL_H
#include <stdint.h>
#define TM_MODEL_HASH "{hash}"
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
BROKEN_MODEL_C = """\
#include "model.h"
static int8_t arena[TM_MODEL_ARENA_BYTES];
static const tm_io input = {{ arena, {in_bytes}u, 0.5f, 0, 9u }};
static const tm_io output = {{ arena + {in_bytes}, {out_bytes}u, 0.5f, 0, 9u }};
void tm_model_init(void) {{}}
void tm_model_invoke(void) {{ {body} }}
const tm_io *tm_model_input(uint32_t index) {{ return index == 0u ? &input : 0; }}
const tm_io *tm_model_output(uint32_t index) {{ return index == 0u ? &output : 0; }}
"""
# A fault with FAULTMASK set (execution priority -1) cannot escalate to HardFault: the core locks up.
CRASH = '__asm volatile("cpsid f\\n\\tudf #0");'
HANG = 'for (;;) { __asm volatile("nop"); }'


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "net.tflite"
    path.write_bytes(tm.random_network(np.random.default_rng(11)).model)
    return path


def _tinyml(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TINYML_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "tinyml.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and text in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def _broken_build(model: Path, body: str, directory: Path) -> Path:
    """A fitting mps2-an385 build whose build.json names `model`, so `--build-dir` reuses it."""
    compiled = compile_model(model, directory / "gen")
    source = directory / "broken"
    source.mkdir()
    in_bytes = int(np.prod(compiled.inputs[0].shape)) * np.dtype(compiled.inputs[0].dtype).itemsize
    out_bytes = int(np.prod(compiled.outputs[0].shape)) * np.dtype(compiled.outputs[0].dtype).itemsize
    (source / "model.h").write_text(BROKEN_MODEL_H.format(hash=compiled.model_hash, arena=in_bytes + out_bytes))
    (source / "model.c").write_text(BROKEN_MODEL_C.format(in_bytes=in_bytes, out_bytes=out_bytes, body=body))
    work = directory / "build"
    work.mkdir()
    broken = DummyModel((source / "model.c",), (source,), in_bytes + out_bytes, compiled.model_hash)
    assert build_compiled(broken, get_board("mps2-an385"), work).fits
    return work


@pytest.mark.qemu
def test_bench_json_and_output(network: Path, tmp_path: Path) -> None:
    out = tmp_path / "device.npy"
    proc = _tinyml("bench", str(network), "--board", "mps2-an386", "--emulator", "qemu", "--runs", "4",
                   "--output", str(out), "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""                                   # no progress bar with --json
    report = json.loads(proc.stdout)
    assert REPORT_KEYS <= report.keys() and "cycles_per_inference" not in report
    assert report["board"] == "mps2-an386" and report["runs"] == 4
    assert report["outputs_match"] == report["outputs_total"] == 4 and report["mismatched_samples"] == []
    assert report["instructions_min"] % 40 == 0 and report["instructions_max"] % 40 == 0  # whole 40-instr. ticks
    assert report["latency_ms_estimate"] == pytest.approx(report["instructions_per_inference"] / 25e3)
    inputs = bench_module.random_inputs(compile_model(network, tmp_path / "gen").inputs, 4)
    want = np.stack([tm.run_reference(network.read_bytes(), [x[i:i + 1] for x in inputs])[0][0] for i in range(4)])
    assert np.array_equal(np.load(out), want)
    assert list((tmp_path / "cache" / "firmware").iterdir()), "the build was not cached"


@pytest.mark.qemu
def test_bench_cycle_estimate(network: Path, tmp_path: Path) -> None:
    """--cycles adds the traced estimate (Cortex-M4 timings) and MAC/cycle; MACs come from the graph."""
    from tinyml.compiler.stats import model_stats

    proc = _tinyml("bench", str(network), "--board", "mps2-an386", "--runs", "2", "--cycles", "--json",
                   cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    macs = model_stats(network).macs
    assert report["macs"] == macs > 0
    assert report["mac_per_instruction"] == pytest.approx(macs / report["instructions_per_inference"], abs=1e-6)
    cycles, traced = report["cycles_estimate_per_inference"], report["cycles_estimate_instructions"]
    # The trace covers the invoke only; the SysTick count adds the counter reads around it (a few ticks).
    assert abs(traced - report["instructions_min"]) <= 0.01 * report["instructions_min"]
    assert traced < cycles < 4 * traced                # every instruction costs >= 1 cycle; loads and branches more
    assert report["mac_per_cycle_estimate"] == pytest.approx(macs / cycles, abs=1e-6)
    assert "Cortex-M4" in report["cycles_estimate_basis"]

    plain = _tinyml("bench", str(network), "--board", "mps2-an386", "--runs", "1", cache=tmp_path / "cache")
    assert plain.returncode == 0 and "cycle estimate" not in plain.stdout and "MACs per inference" in plain.stdout
    _one_line_error(_tinyml("bench", str(network), "--board", "mps2-an385", "--cycles", cache=tmp_path / "cache"),
                    2, "--cycles needs an emulated cortex-m4 or cortex-m7")


def test_bad_input_is_one_line_exit_2(network: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_text("not a model")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 1000), compile_model(network, tmp_path / "gen").inputs[0].dtype))
    cache = tmp_path / "cache"
    _one_line_error(_tinyml("bench", str(junk), "--board", "mps2-an386", cache=cache), 2, str(junk))
    _one_line_error(_tinyml("bench", str(network), "--board", "no-such-board", cache=cache), 2, "unknown board")
    _one_line_error(_tinyml("bench", str(network), "--board", "mps2-an386", "--inputs", str(wrong), cache=cache),
                    2, "must have shape")
    _one_line_error(_tinyml("bench", str(network), "--board", "nucleo-l4r5zi", cache=cache), 2, "no emulator")
    _one_line_error(_tinyml("bench", str(network), "--board", "mps2-an386", "--runs", "0", cache=cache),
                    2, "at least 1")
    assert not cache.exists() or not (cache / "firmware").exists()   # nothing was built


@pytest.mark.qemu
def test_mismatch_names_the_samples_and_exits_5(network: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench_module.reference_outputs

    def off_by_one_in_sample_2(*args: object) -> dict[str, list[np.ndarray]]:
        refs = real(*args)
        refs["tflite"][0][2].view(np.uint8).flat[0] ^= 1
        return refs

    monkeypatch.setattr(bench_module, "reference_outputs", off_by_one_in_sample_2)
    out = tmp_path / "device.npy"
    result = CliRunner().invoke(main, ["bench", str(network), "--board", "mps2-an386", "--runs", "4", "--output",
                                       str(out), "--build-dir", str(tmp_path / "build")])
    assert result.exit_code == 5, result.output
    assert "3/4 outputs match" in result.output
    assert result.output.strip().splitlines()[-1] == "error: outputs differ from the reference for samples 2"
    assert np.load(out).shape[0] == 4                          # the device's outputs are kept for inspection


@pytest.mark.qemu
def test_emulator_crash_is_one_line_exit_4(network: Path, tmp_path: Path) -> None:
    build = _broken_build(network, CRASH, tmp_path)
    out = tmp_path / "device.npy"
    proc = _tinyml("bench", str(network), "--board", "mps2-an385", "--build-dir", str(build), "--output", str(out),
                   cache=tmp_path / "cache")
    _one_line_error(proc, 4, "QEMU (mps2-an385) exited")
    assert "the firmware crashed (qemu: fatal: Lockup" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".device.npy*"))


@pytest.mark.qemu
def test_emulator_hang_is_a_clear_error(network: Path, tmp_path: Path) -> None:
    build = _broken_build(network, HANG, tmp_path)
    with pytest.raises(TinymlError) as err:
        bench(network, get_board("mps2-an385"), runs=2, build_dir=build, invoke_timeout_s=1.0)
    assert err.value.exit_code == 4
    assert err.value.message.startswith("QEMU (mps2-an385): device at socket://127.0.0.1:")
    assert "did not answer INVOKE" in err.value.message and "\n" not in err.value.message
