"""TINYML_HOST_SANITIZE=1 really builds with AddressSanitizer and UndefinedBehaviorSanitizer, so CI's sanitized run of
the kernel tests (scripts/test.sh) cannot silently be an ordinary one: a bounds error or signed overflow built through
the same flags aborts, and the host runner and the kernel tests' batch driver link both runtimes."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import random_case
from tinyml.compiler.codegen import compile_graph
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.device.targets.host import SANITIZE_ENV, SANITIZE_FLAGS, build_host_runner, host_cflags

# A kernel's kind of bug, out of the optimizer's sight (noinline, indices from argc): a read one byte past a global
# buffer through a pointer (as a kernel reads a weights array) and a signed int32 overflow.
BAD_PROGRAMS = {
    "out of bounds": ("#include <stdint.h>\nint8_t weights[16];\n"
                      "__attribute__((noinline)) int at(const int8_t *p, int i) { return p[i]; }\n"
                      "int main(int argc, char **argv) { (void)argv; return at(weights, 15 + argc); }\n",
                      "global-buffer-overflow"),
    "signed overflow": ("#include <limits.h>\n__attribute__((noinline)) int inc(int x) { return x + 1; }\n"
                        "int main(int argc, char **argv) { (void)argv; return inc(INT_MAX - 1 + argc) < 0; }\n",
                        "signed integer overflow"),
}


@pytest.fixture
def sanitize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SANITIZE_ENV, "1")


def _links_sanitizers(exe: Path) -> bool:
    dynamic = subprocess.run(["readelf", "-d", str(exe)], capture_output=True, text=True, check=True).stdout
    return "libasan" in dynamic and "libubsan" in dynamic


def test_flags_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, on in (("1", True), ("0", False), ("", False)):
        monkeypatch.setenv(SANITIZE_ENV, value)
        assert (set(SANITIZE_FLAGS) <= set(host_cflags())) is on
    monkeypatch.delenv(SANITIZE_ENV)
    assert not set(SANITIZE_FLAGS) & set(host_cflags())


@pytest.mark.parametrize("kind", sorted(BAD_PROGRAMS))
def test_bad_program_aborts(kind: str, sanitize: None, tmp_path: Path) -> None:
    source, report = BAD_PROGRAMS[kind]
    (tmp_path / "bad.c").write_text(source)
    subprocess.run(["cc", *host_cflags(), str(tmp_path / "bad.c"), "-o", str(tmp_path / "bad")], check=True)
    proc = subprocess.run([str(tmp_path / "bad")], capture_output=True, text=True)
    assert proc.returncode != 0 and report in proc.stderr, (kind, proc.returncode, proc.stderr[-2000:])


def test_host_runner_and_batch_driver_link_the_sanitizers(sanitize: None, tmp_path: Path) -> None:
    case = random_case("CONV_2D", np.random.default_rng(0))
    result = compile_graph(parse_tflite(case.model, "case.tflite"), tmp_path / "gen", "tm_model")
    assert _links_sanitizers(build_host_runner(result))
    inputs = [x[np.newaxis] for x in case.inputs]
    run_batch([BatchCase(case.model, inputs)], workdir=tmp_path / "batch")
    assert _links_sanitizers(tmp_path / "batch" / "driver")
