"""Where the packaged C runtime, firmware templates and board profiles are, installed or in a checkout."""
from __future__ import annotations

from pathlib import Path

import tinyml.boards
import tinyml.firmware

FIRMWARE_DIR = Path(list(tinyml.firmware.__path__)[0])
BOARDS_DIR = Path(list(tinyml.boards.__path__)[0])
RUNTIME_DIR = FIRMWARE_DIR / "runtime"
RUNTIME_INCLUDE_DIR = RUNTIME_DIR / "include"
TEMPLATES_DIR = FIRMWARE_DIR / "templates"
HAL_DIR = FIRMWARE_DIR / "hal"


def cache_dir() -> Path:
    """Per-user cache for host builds, keyed by content hash (TINYML_CACHE overrides)."""
    import os

    root = os.environ.get("TINYML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tinyml")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
