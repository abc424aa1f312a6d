"""The device side builds warning-free for Cortex-M (C99, -Wall -Wextra -pedantic) and stays small."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from proto_support import FAKE_MODEL_DIR, PROTOCOL_DIR, STRICT_C

CORES = ["cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"]


@pytest.mark.parametrize("core", CORES)
def test_builds_warning_free_for_cortex_m(core: str, tmp_path: Path) -> None:
    text_bytes = 0
    for source in ("tm_proto.c", "tm_crc32.c"):
        obj = tmp_path / (source + ".o")
        subprocess.run(["arm-none-eabi-gcc", *STRICT_C, "-Os", f"-mcpu={core}", "-mthumb", f"-I{PROTOCOL_DIR}",
                        f"-I{FAKE_MODEL_DIR}", "-c", str(PROTOCOL_DIR / source), "-o", str(obj)], check=True)
        size = subprocess.run(["arm-none-eabi-size", str(obj)], check=True, capture_output=True, text=True)
        text_bytes += int(size.stdout.splitlines()[1].split()[0])
    assert text_bytes < 2048, f"the protocol takes {text_bytes} bytes of flash"
