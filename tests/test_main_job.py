"""The README's main job runs end to end (short training) and reports outputs identical in QEMU."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_main_job(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "main.py"), "--epochs", "1", "--runs", "3",
                           "-o", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "QEMU outputs   3/3 byte-identical" in proc.stdout
    assert (tmp_path / "model.tflite").exists() and (tmp_path / "firmware" / "firmware.elf").exists()
