"""Run a compiled model on the host: build the generated C with the host compiler (cached by content hash)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyml.compiler.codegen import CompileResult, TensorInfo, compile_model
from tinyml.errors import DEVICE_FAILURE, TinymlError
from tinyml.paths import FIRMWARE_DIR, cache_dir

HOST_CFLAGS = ("-std=c99", "-O2", "-ffp-contract=off", "-fno-strict-aliasing", "-Wall", "-Wextra",
               "-Wno-unused-parameter")
# TINYML_HOST_SANITIZE=1 (CI's second run of the kernel tests): AddressSanitizer and UndefinedBehaviorSanitizer in
# every host build, the first finding aborting the run, so a bounds error or UB in a kernel fails a test.
SANITIZE_ENV = "TINYML_HOST_SANITIZE"
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")


def host_cflags() -> tuple[str, ...]:
    """The host compiler flags (compile and link): HOST_CFLAGS, plus SANITIZE_FLAGS when TINYML_HOST_SANITIZE is set
    to anything but "" or "0"."""
    return HOST_CFLAGS + (SANITIZE_FLAGS if os.environ.get(SANITIZE_ENV, "") not in ("", "0") else ())


RUNNER = FIRMWARE_DIR / "host" / "runner.c"


def build_host_runner(result: CompileResult, cc: str | None = None) -> Path:
    """Compile the model and its kernels with the host compiler; reuse an earlier build of identical sources."""
    cc = cc or os.environ.get("CC", "cc")
    sources = [*result.sources, RUNNER]
    flags = host_cflags()
    beside = {s.parent for s in sources}  # the kernels' private headers live beside them
    headers = sorted({*(p for d in result.include_dirs for p in d.rglob("*.h")),
                      *(p for d in beside for p in d.glob("*.h"))})
    key = hashlib.sha256()
    for part in (cc, *flags):
        key.update(part.encode() + b"\0")
    for path in [*sources, *headers]:
        key.update(path.name.encode() + b"\0" + path.read_bytes())
    exe = cache_dir() / "host" / key.hexdigest()[:24] / "runner"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(f".runner-{os.getpid()}")
    cmd = [cc, *flags, *(f"-I{d}" for d in result.include_dirs), *map(str, sources), "-o", str(tmp), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TinymlError(f"host compiler failed on the generated code ({cc}): {proc.stderr.strip().splitlines()[-1:]}")
    os.replace(tmp, exe)
    return exe


def sample_shape(info: TensorInfo) -> tuple[int, ...]:
    """One sample of a model input or output, i.e. what one inference consumes or produces: the tensor without its
    first dimension when that is 1 (the batch of one), else the whole tensor. N samples are (N, *sample_shape)."""
    return info.shape[1:] if info.shape[:1] == (1,) else info.shape


def run_host(result: CompileResult, inputs: list[np.ndarray], cc: str | None = None,
             source: str = "inputs") -> list[np.ndarray]:
    """Run N samples: inputs[i] has shape (N, *sample_shape(input i)); returns outputs likewise."""
    n = check_inputs(result.inputs, inputs, source)
    exe = build_host_runner(result, cc)
    proc = subprocess.run([str(exe)], input=encode_samples(inputs), capture_output=True)
    if proc.returncode != 0:
        report = proc.stderr.decode(errors="replace").strip()[-2000:]  # e.g. a sanitizer's finding
        raise TinymlError(f"the host build of the model failed while running (exit {proc.returncode})"
                          + (f":\n{report}" if report else ""), DEVICE_FAILURE)
    return decode_samples(proc.stdout, result.outputs, n)


def encode_samples(arrays: list[np.ndarray]) -> bytes:
    """Sample after sample, each array's bytes for that sample in order (the runner's stdin format)."""
    n = arrays[0].shape[0]
    return b"".join(b"".join(np.ascontiguousarray(x[i]).tobytes() for x in arrays) for i in range(n))


def decode_samples(raw: bytes, infos: tuple[TensorInfo, ...], n: int) -> list[np.ndarray]:
    """The inverse of encode_samples for the tensors `infos`: arrays shaped (n, *sample_shape(t))."""
    sizes = [int(np.prod(sample_shape(t), dtype=np.int64)) * np.dtype(t.dtype).itemsize for t in infos]
    if len(raw) != n * sum(sizes):
        raise TinymlError(f"the model returned {len(raw)} bytes for {n} samples, expected {n * sum(sizes)}",
                          DEVICE_FAILURE)
    table = np.frombuffer(raw, dtype=np.uint8).reshape(n, sum(sizes))
    arrays, at = [], 0
    for t, size in zip(infos, sizes):
        arrays.append(table[:, at:at + size].copy().view(t.dtype).reshape((n, *sample_shape(t))))
        at += size
    return arrays


def check_inputs(infos: tuple[TensorInfo, ...], arrays: list[np.ndarray], source: str = "inputs") -> int:
    """Validate dtype and per-sample shape; returns the number of samples."""
    if len(arrays) != len(infos):
        raise TinymlError(f"{source}: the model has {len(infos)} inputs, {len(arrays)} arrays were given")
    counts = set()
    for t, x in zip(infos, arrays):
        expected = sample_shape(t)
        if x.dtype != np.dtype(t.dtype):
            raise TinymlError(f"{source}: input '{t.name}' must be {t.dtype}, got {x.dtype}")
        if x.ndim != len(expected) + 1 or x.shape[1:] != expected:
            whole = f" (a sample is the whole {list(t.shape)} tensor)" if expected == t.shape else ""
            raise TinymlError(f"{source}: input '{t.name}' must have shape ({', '.join(['N', *map(str, expected)])})"
                              f"{whole}, got {tuple(x.shape)}")
        counts.add(x.shape[0])
    if len(counts) != 1:
        raise TinymlError(f"{source}: inputs have different sample counts {sorted(counts)}")
    return counts.pop()


def infer(model_path: str | Path, inputs: list[np.ndarray], source: str = "inputs") -> list[np.ndarray]:
    """Compile `model_path` into a temporary directory and run `inputs` through it on the host."""
    with tempfile.TemporaryDirectory(prefix="tinyml-infer-") as tmp:
        result = compile_model(model_path, Path(tmp) / "model")
        return run_host(result, inputs, source=source)


def clear_cache() -> None:
    shutil.rmtree(cache_dir() / "host", ignore_errors=True)
