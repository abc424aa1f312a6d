"""Exit codes tell the truth: bad input is 2, a bug in tinyml is INTERNAL_ERROR with one line naming the model."""
from __future__ import annotations

from click.testing import CliRunner

import tinyml.compiler.codegen as codegen
from tinyml import errors
from tinyml.cli import main


def test_every_exit_code_is_a_distinct_named_constant():
    codes = {name: value for name, value in vars(errors).items() if name.isupper() and isinstance(value, int)}
    assert len(set(codes.values())) == len(codes), codes
    assert codes["INTERNAL_ERROR"] not in (codes["BAD_INPUT"], codes["OVER_BUDGET"], codes["DEVICE_FAILURE"],
                                           codes["MISMATCH"])


def test_a_bug_is_reported_in_one_line_with_the_model_hash_and_a_crash_file(monkeypatch, mlperf_dir, tmp_path):
    def broken(*args, **kwargs):
        raise errors.TinymlBug("plan check failed: tensors 3 and 7 overlap")

    monkeypatch.setattr(codegen, "compile_model", broken)
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYML_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["compile", str(mlperf_dir / "kws.tflite"), "-o", str(tmp_path / "gen")])
    assert result.exit_code == errors.INTERNAL_ERROR, result.output
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("tinyml bug: plan check failed: tensors 3 and 7 overlap (model sha256 aeea436800704fce)")
    crash = line.rsplit("please report it with ", 1)[1]
    assert "TinymlBug" in open(crash).read()


def test_an_unexpected_exception_is_a_bug_not_bad_input(monkeypatch, mlperf_dir, tmp_path):
    monkeypatch.setattr(codegen, "compile_model", lambda *a, **k: {}["missing"])
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYML_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["compile", str(mlperf_dir / "ad.tflite"), "-o", str(tmp_path / "gen")])
    assert result.exit_code == errors.INTERNAL_ERROR
    assert result.output.startswith("tinyml bug: KeyError: 'missing' (model sha256 87cf24194ef93d1d)")


def test_bad_input_keeps_its_code(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    result = CliRunner().invoke(main, ["compile", str(bad), "-o", str(tmp_path / "gen")])
    assert result.exit_code == errors.BAD_INPUT
    assert result.output.startswith("error: ")
