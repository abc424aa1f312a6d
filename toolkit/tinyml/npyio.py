"""Loading and saving sample arrays (.npy / .npz) with clear errors and atomic writes."""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tinyml.errors import TinymlError


def load_inputs(path: Path) -> list[np.ndarray]:
    """One array per model input: a .npy holds the only input; a .npz holds them in its stored order."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TinymlError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise TinymlError(f"{path}: not a readable .npy/.npz file ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            return [loaded[k] for k in loaded.files]
    return [loaded]


def save_outputs(path: Path, outputs: list[np.ndarray]) -> None:
    """Write .npy (one output) or .npz (several) through a temporary file, then rename."""
    buf = io.BytesIO()
    if len(outputs) == 1 and path.suffix != ".npz":
        np.save(buf, outputs[0])
    else:
        np.savez(buf, *outputs)
    write_atomically(path, buf.getvalue())


def write_atomically(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
