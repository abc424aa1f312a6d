"""The reader on good, bad and broken files: a clear TinymlError, never a crash, a hang or a traceback."""
from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tinyml.compiler.codegen import compile_graph
from tinyml.compiler.ir.reader import parse_tflite, read_tflite
from tinyml.errors import TinymlError

MUTATIONS = 400
SECONDS_PER_CASE = 10


def test_reads_mlperf_kws(mlperf_dir: Path) -> None:
    g = read_tflite(mlperf_dir / "kws.tflite")
    assert [g.tensors[i].shape for i in g.inputs] == [(1, 49, 10, 1)]
    assert [op.opcode for op in g.operators].count("DEPTHWISE_CONV_2D") == 4
    conv = next(op for op in g.operators if op.opcode == "CONV_2D")
    assert g.tensors[conv.inputs[1]].quant.per_channel


def _small_model() -> bytes:
    b = tm.GraphBuilder()
    x = b.input((1, 6, 6, 3), tm.QParams.per_tensor(0.05, -3))
    rng = np.random.default_rng(0)
    y = tm.conv_2d(b, x, rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), [0.01, 0.02, 0.005, 0.03],
                   rng.integers(-500, 500, 4, dtype=np.int32), tm.QParams.per_tensor(0.1, 5), stride=(1, 1),
                   padding="SAME", dilation=(1, 1), activation="RELU")
    b.output(tm.softmax(b, tm.reshape(b, y, (1, 144))))
    return b.to_bytes()


def _compile_or_refuse(data: bytes, tmp_path: Path) -> None:
    def timeout(*_):
        raise TimeoutError("reader or compiler hung")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(SECONDS_PER_CASE)
    try:
        compile_graph(parse_tflite(data, "fuzzed.tflite"), tmp_path)
    except TinymlError as exc:
        assert "\n" not in exc.message and exc.message.startswith("fuzzed.tflite")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("kind", ["truncate", "bitflip", "offset"])
def test_fuzzed_files_fail_clearly(kind: str, tmp_path: Path) -> None:
    good = _small_model()
    rng = np.random.default_rng(sum(map(ord, kind)))
    for _ in range(MUTATIONS):
        data = bytearray(good)
        if kind == "truncate":
            data = data[:int(rng.integers(0, len(good)))]
        elif kind == "bitflip":
            for _ in range(int(rng.integers(1, 4))):
                pos = int(rng.integers(0, len(data)))
                data[pos] ^= 1 << int(rng.integers(0, 8))
        else:  # overwrite a 32-bit word with a wild offset or length
            pos = int(rng.integers(0, len(data) - 4)) & ~3
            data[pos:pos + 4] = int(rng.integers(0, 2**32, dtype=np.uint64)).to_bytes(4, "little")
        _compile_or_refuse(bytes(data), tmp_path)


@pytest.mark.parametrize("data, message", [
    (b"", "not a TFLite flatbuffer"),
    (b"\x00" * 64, "not a TFLite flatbuffer"),
])
def test_not_a_model(data: bytes, message: str) -> None:
    with pytest.raises(TinymlError, match=message):
        parse_tflite(data, "x.tflite")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TinymlError, match="cannot read"):
        read_tflite(tmp_path / "nope.tflite")
