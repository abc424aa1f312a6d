"""A wheel built from the repository carries the C runtime, templates and boards: unpacked on its own, it
compiles a model and builds firmware from an unrelated directory."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_works_from_any_directory(tmp_path: Path, mlperf_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("tinyml-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    assert any(n.endswith("runtime/src/convolution/conv2d_s8.c") for n in names)
    assert any(n.endswith("templates/startup.c.j2") for n in names)
    assert any(n.endswith("boards/mps2-an386.toml") for n in names)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "TINYML_CACHE": str(tmp_path / "cache")}

    def tinyml(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())", *args],
                              cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    where = subprocess.run([sys.executable, "-c", "import tinyml; print(tinyml.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site))
    compiled = tinyml("compile", str(mlperf_dir / "kws.tflite"), "-o", "gen", "--json")
    assert compiled["arena_bytes"] > 0 and (work / "gen" / "model.c").exists()
    built = tinyml("build", str(mlperf_dir / "kws.tflite"), "--board", "mps2-an386", "-o", "fw", "--json")
    assert built["fits"] and (work / "fw" / "firmware.elf").exists()
