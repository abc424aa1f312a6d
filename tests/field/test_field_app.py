"""The field firmware app (firmware/field, `tinyml build --app field`): the C statistics against
`statistics.accumulate` (host cc, many layouts, saturation), report frames decoded by `field/report.py`, and the
real firmware in QEMU on mps2-an386 (a stream of inputs, reports, two devices with their own ids, bad frames,
a shadow model with its arena shared or separate)."""
from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests import tflite_models as tm
from tinyml.cli import main
from tinyml.device.boards import get_board
from tinyml.device.field_app import FieldApp, render_field_config
from tinyml.device.field_device import FieldDevice
from tinyml.device.protocol import CMD_SAMPLES, FORMAT_SAMPLES, FORMAT_TENSOR, connect, encode_frame
from tinyml.device.statistics import (
    I64_MAX,
    I64_MIN,
    U32_MAX,
    U64_MAX,
    OutputLayout,
    OutputStats,
    StatsLayout,
    WindowStats,
    accumulate,
)
from tinyml.device.targets.qemu import QemuSession
from tinyml.errors import TinymlError
from tinyml.field.report import decode_payload
from tinyml.paths import FIRMWARE_DIR

HERE = Path(__file__).resolve().parent
FIELD_DIR = FIRMWARE_DIR / "field"
KWS = HERE.parents[1] / "models" / "mlperf-tiny" / "kws.tflite"
BOARD = "mps2-an386"
STRICT_C = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]

# name: (layout, input shape of one sample)
LAYOUTS = {
    "kws_10x16": (StatsLayout(10, (OutputLayout(12, 16, 0),), 16, 1), (49, 10, 1)),
    "group3_ragged_two_outputs": (StatsLayout(3, (OutputLayout(3, 7, -20), OutputLayout(1, 5, 127)), 5, 3),
                                  (4, 7)),
    "one_feature_256_bins": (StatsLayout(1, (OutputLayout(2, 256, -128),), 256, 1), (1,)),
    "one_bin_wide_group": (StatsLayout(1, (OutputLayout(640, 1, 10),), 1, 255), (1, 200)),
}


def host_stats_exe(tmp_path: Path, layout: StatsLayout, shape: tuple[int, ...]) -> Path:
    """tm_stats.c + tm_field_report.c + the harness, built with the host cc for `layout`."""
    dims = [d for d in shape]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    app = FieldApp(layout=layout, features=dims[-1], rows=int(np.prod(dims)) // dims[-1], report_every=100,
                   infer_every=1, features_on_chip=False, shadow_every=0, report_bytes=0)
    (tmp_path / "field_config.h").write_text(render_field_config(app, model_hash="0123456789abcdef",
                                                                 firmware_version="tinyml test"))
    exe = tmp_path / "field_stats_host"
    subprocess.run(["gcc", *STRICT_C, f"-I{tmp_path}", f"-I{FIELD_DIR}", str(FIELD_DIR / "tm_stats.c"),
                    str(FIELD_DIR / "tm_field_report.c"), str(HERE / "field_stats_host.c"), "-o", str(exe)],
                   check=True)
    return exe


def run_host(exe: Path, x: np.ndarray, ys: list[np.ndarray], shadow: np.ndarray, *args: str) -> bytes:
    records = [bytes([int(shadow[i])]) + x[i].tobytes() + b"".join(y[i].tobytes() for y in ys)
               for i in range(len(x))]
    return subprocess.run([str(exe), *args], input=struct.pack("<I", len(x)) + b"".join(records),
                          capture_output=True, check=True).stdout


def random_case(layout: StatsLayout, shape: tuple[int, ...], n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n, *shape), dtype=np.int8)
    ys = [rng.integers(-128, 128, (n, o.classes), dtype=np.int8) for o in layout.outputs]
    for y in ys:  # ties: the first maximum must win
        y[: n // 3, -1] = y[: n // 3, 0] = 127
    shadow = rng.integers(0, 3, n)  # 0: no shadow run, 1: agrees, 2: disagrees
    return x, ys, shadow


def tiny_classifier(seed: int, hidden: int = 0) -> bytes:
    """(1, 8, 4) int8 -> reshape -> [fully connected to `hidden` units: a larger arena ->] fully connected ->
    softmax over 6 classes; same input quantization per seed."""
    rng = np.random.default_rng(seed)
    b = tm.GraphBuilder()
    x = b.input((1, 8, 4), tm.QParams.per_tensor(0.05, 3))
    h = tm.reshape(b, x, (1, 32))
    if hidden:
        h = dense(b, h, rng, hidden, 32)
    b.output(tm.softmax(b, dense(b, h, rng, 6, hidden or 32)))
    return b.to_bytes()


def dense(b: tm.GraphBuilder, x: int, rng: np.random.Generator, units: int, width: int) -> int:
    return tm.fully_connected(b, x, rng.integers(-127, 128, (units, width)), [0.01],
                              rng.integers(-500, 500, units).astype(np.int32), tm.QParams.per_tensor(0.1, 0))


def expected(x, ys, shadow, layout: StatsLayout) -> WindowStats:
    ref = accumulate(x, ys, layout)
    return WindowStats(layout, ref.inferences, ref.hist, ref.count, ref.sum, ref.sumsq, ref.outputs,
                       int((shadow > 0).sum()), int((shadow == 1).sum()))


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_c_statistics_equal_accumulate(tmp_path: Path, name: str) -> None:
    layout, shape = LAYOUTS[name]
    exe = host_stats_exe(tmp_path, layout, shape)
    for seed, n in ((1, 1), (2, 37)):
        x, ys, shadow = random_case(layout, shape, n, seed)
        report = decode_payload(run_host(exe, x, ys, shadow))
        assert (report.device_id, report.boot, report.seq, report.window) == (b"host", 7, 3, 100)
        assert (report.firmware, report.model_hash) == ("tinyml test", "0123456789abcdef")
        assert report.stats.to_json() == expected(x, ys, shadow, layout).to_json()


def nearly_full(layout: StatsLayout, sign: int) -> WindowStats:
    """The harness's "full" start: counters at 2^32 - 6, sums 100 from the int64 limit, squares 1000 from 2^64."""
    near = U32_MAX - 5

    def counts(n: int) -> np.ndarray:
        return np.full(n, near, np.uint64)

    total = I64_MAX - 100 if sign > 0 else I64_MIN + 100
    return WindowStats(layout, near, np.full((layout.channels, layout.bins), near, np.uint64),
                       counts(layout.channels), np.full(layout.channels, total, np.int64),
                       np.full(layout.channels, U64_MAX - 1000, np.uint64),
                       tuple(OutputStats(counts(o.classes), counts(o.confidence_bins), near) for o in layout.outputs),
                       near, near)


@pytest.mark.parametrize("sign", [1, -1])
def test_c_statistics_saturate(tmp_path: Path, sign: int) -> None:
    """Every counter, sum and sum of squares stops at its limit; the C code equals the reference's merge. The
    inputs share the start's sign, so the sums only move towards their limit (as in any real window)."""
    layout, shape = LAYOUTS["group3_ragged_two_outputs"]
    exe = host_stats_exe(tmp_path, layout, shape)
    x, ys, _ = random_case(layout, shape, 20, 9)
    x = (np.abs(x.astype(np.int16)) // 2 + 1).astype(np.int8) * np.int8(sign)
    report = decode_payload(run_host(exe, x, ys, np.ones(20, np.int64), "full", "+" if sign > 0 else "-"))
    want = nearly_full(layout, sign).merge(expected(x, ys, np.ones(20, np.int64), layout))
    assert report.stats.to_json() == want.to_json()
    assert int(report.stats.hist.max()) == U32_MAX and report.stats.inferences == U32_MAX
    assert all(int(s) in (I64_MAX, I64_MIN) for s in report.stats.sum)
    assert all(int(q) == U64_MAX for q in report.stats.sumsq)


@pytest.mark.parametrize("args,message", [
    (["--report-every", "5"], "need --app field"),
    (["--app", "field", "--builder", "platformio"], "gcc builder only"),
    (["--app", "field", "--stats-group", "300"], "--stats-group must be between 1 and 255"),
])
def test_build_refuses_bad_field_options(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a.tflite").write_bytes(tiny_classifier(1))
    out = tmp_path / "fw"
    result = CliRunner().invoke(main, ["build", str(tmp_path / "a.tflite"), "--board", BOARD, "-o", str(out), *args,
                                       "--no-track"])
    assert result.exit_code == 2 and message in result.output and not out.exists()


# ---- the real firmware in QEMU ----

REPORT_EVERY = 5


@pytest.fixture(scope="module")
def kws_field(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tinyml.device.build import build_firmware
    from tinyml.device.field_app import FieldOptions

    out = tmp_path_factory.mktemp("field") / "kws-field"
    result = build_firmware(KWS, get_board(BOARD), out, app="field", field=FieldOptions(report_every=REPORT_EVERY))
    assert result.fits and result.app == "field"
    return out


@pytest.mark.qemu
def test_build_json_reports_statistics_ram(kws_field: Path) -> None:
    info = json.loads((kws_field / "build.json").read_text())["field"]
    assert info["layout"]["channels"] == 10 and info["layout"]["bins"] == 16
    assert 0 < info["stats_bytes"] <= 1024  # the acceptance bound for KWS (10 channels x 16 bins, 12 classes)
    assert info["identity_bytes"] == 44 and info["features_bytes"] == 0 and not info["features_on_chip"]


@pytest.mark.qemu
def test_reports_equal_accumulate_over_the_stream(kws_field: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (7, 49, 10, 1), dtype=np.int8)
    with FieldDevice(kws_field, BOARD, b"kws-0001", boot=4) as dev:
        assert dev.feed(x.reshape(-1)[:3000]) == 6  # a tensor split across feeds still counts once
        assert dev.feed(x.reshape(-1)[3000:]) == 7
        assert dev.report_now() == 2
        frames = dev.reports()
        info = dev.info()
        # the outputs the model produced on this device, through the bench commands (which the statistics skip)
        y = []
        for sample in x:
            dev.link.load_input(0, sample.tobytes())
            dev.link.invoke(1)
            y.append(np.frombuffer(dev.link.read_output(0), np.int8))
        assert dev.info().field.inferences == 7
    reports = [decode_payload(f.payload) for f in frames]
    assert [(r.device_id, r.boot, r.seq, r.window) for r in reports] == [(b"kws-0001", 4, s, REPORT_EVERY)
                                                                          for s in (1, 2)]
    assert [r.model_hash for r in reports] == [info.device.model_hash] * 2
    for k, r in enumerate(reports):
        window = slice(REPORT_EVERY * k, REPORT_EVERY * (k + 1))
        assert r.stats.to_json() == accumulate(x[window], np.stack(y)[window], r.stats.layout).to_json()
    assert [r.stats.inferences for r in reports] == [REPORT_EVERY, 2]  # the second one on request
    assert (info.field.inferences, info.field.reports, info.field.stats_bytes) == (7, 2, 968)
    assert info.field.model_ticks > 0 and 0 < info.field.stats_ticks < info.field.model_ticks // 50


@pytest.mark.qemu
def test_two_devices_have_their_own_ids(kws_field: Path) -> None:
    x = np.random.default_rng(4).integers(-128, 128, (REPORT_EVERY, 490), dtype=np.int8)
    seen = []
    for device_id, boot in ((b"alpha", 1), (b"bravo-device-with-a-32-byte-id!!", 2)):
        with FieldDevice(kws_field, BOARD, device_id, boot=boot) as dev:
            dev.feed(x)
            seen += [(r.device_id, r.boot, r.seq) for r in map(decode_payload, (f.payload for f in dev.reports()))]
    assert seen == [(b"alpha", 1, 1), (b"bravo-device-with-a-32-byte-id!!", 2, 1)]
    # unprovisioned (no loader): the MPS2 has no unique id, so the fallback id and boot 1
    with QemuSession(get_board(BOARD), kws_field / "firmware.elf") as qemu, connect(qemu.url) as link:
        info = link.field_info()
    assert (info.device_id, info.boot) == (b"tinyml", 1)


@pytest.mark.qemu
def test_malformed_sample_frames_are_naked_without_crash(kws_field: Path) -> None:
    with FieldDevice(kws_field, BOARD, "nak-test") as dev:
        link = dev.link
        with pytest.raises(TinymlError, match="bad argument"):
            link.send_samples(FORMAT_SAMPLES, b"\x01\x00")  # raw samples, but the model has no features.json
        with pytest.raises(TinymlError, match="bad argument"):
            link.send_samples(9, b"")                        # no such format
        with pytest.raises(TinymlError, match="wrong payload length"):
            link.request(CMD_SAMPLES, b"")                  # no format byte
        with pytest.raises(TinymlError, match="wrong payload length"):
            link.send_samples(2, b"x")                       # restart carries no data
        frame = bytearray(encode_frame(CMD_SAMPLES, 7, bytes([FORMAT_TENSOR]) + bytes(100)))
        frame[20] ^= 0x40                                    # a bit flipped: the CRC fails, the data is not taken
        link._port.write(bytes(frame))
        with pytest.raises(TinymlError, match="int16 samples or int8"):
            dev.feed(np.zeros(4, np.float32))
        assert dev.feed(np.zeros(490, np.int8)) == 1        # still serving, and the damaged bytes were not taken
        assert link.stats().link_errors >= 1


# ---- a shadow model ----

def build_shadow(tmp_path: Path, production: bytes, challenger: bytes, name: str, *args: str) -> dict:
    """`tinyml build --app field --shadow` of two models (every 2nd inference, reports every 4): build.json."""
    (tmp_path / "a.tflite").write_bytes(production)
    (tmp_path / "b.tflite").write_bytes(challenger)
    built = CliRunner().invoke(main, ["build", str(tmp_path / "a.tflite"), "--board", BOARD, "-o", str(tmp_path / name),
                                      "--app", "field", "--shadow", str(tmp_path / "b.tflite"), "--shadow-every", "2",
                                      "--report-every", "4", "--json", "--no-track", *args])
    assert built.exit_code == 0, built.output
    return json.loads(built.output)


def check_shadow_runs(firmware: Path, production: bytes, challenger: bytes) -> None:
    """Stream 8 inputs into the device: its confusion matrix and per-window agreement equal the host's (LiteRT)."""
    x = np.random.default_rng(5).integers(-128, 128, (8, 8, 4), dtype=np.int8)
    ya = np.stack([tm.run_reference(production, [s[None]])[0][0] for s in x])
    yb = np.stack([tm.run_reference(challenger, [s[None]])[0][0] for s in x])
    with FieldDevice(firmware, BOARD, b"shadow") as dev:
        assert dev.feed(x) == 8
        matrix = dev.shadow_matrix()
        reports = [decode_payload(f.payload) for f in dev.reports()]
    ran = np.arange(8) % 2 == 0  # the challenger runs on inferences 0, 2, 4, 6
    want = np.zeros((6, 6), int)
    np.add.at(want, (ya.argmax(1)[ran], yb.argmax(1)[ran]), 1)
    assert matrix == want.tolist()
    for k, r in enumerate(reports):
        window = slice(4 * k, 4 * k + 4)
        shadowed = ran[window]
        ref = accumulate(x[window], ya[window], r.stats.layout, shadow_outputs=None)
        assert r.stats.to_json() | {"shadow_runs": 0, "shadow_agree": 0} == ref.to_json()
        agree = accumulate(x[window][shadowed], ya[window][shadowed], r.stats.layout, yb[window][shadowed])
        assert (r.stats.shadow_runs, r.stats.shadow_agree) == (agree.shadow_runs, agree.shadow_agree) == (
            2, int((ya.argmax(1) == yb.argmax(1))[window][shadowed].sum()))
    assert len(reports) == 2


@pytest.mark.qemu
def test_shadow_model_counts_agreement_and_confusion(tmp_path: Path) -> None:
    """Same-sized arenas, shared (the default): the input kept for the challenger sticks out past the larger."""
    production, challenger = tiny_classifier(1), tiny_classifier(2)
    result = build_shadow(tmp_path, production, challenger, "fw")
    costs = result["field"]
    assert costs["shadow"]["classes"] == 6 and costs["confusion_bytes"] == 6 * 6 * 4
    assert costs["shadow"]["arena"] == "shared" and costs["production_arena_bytes"] == result["arena_bytes"]
    kept_at = -(-result["arena_bytes"] // 4) * 4  # the input (32 bytes) is kept past the production model's bytes
    assert costs["shared_arena_bytes"] == costs["arenas_bytes"] == max(costs["shadow_arena_bytes"], kept_at + 32)
    check_shadow_runs(tmp_path / "fw", production, challenger)


@pytest.mark.qemu
def test_shared_arena_saves_the_smaller_arena(tmp_path: Path) -> None:
    """A challenger whose arena is larger than the production model's plus the input: sharing saves the whole
    production arena, in the linked image's RAM too (up to the .bss alignment), with the same results."""
    production, challenger = tiny_classifier(1), tiny_classifier(2, hidden=64)
    shared = build_shadow(tmp_path, production, challenger, "shared")
    separate = build_shadow(tmp_path, production, challenger, "separate", "--shadow-arena", "separate")
    mine, theirs = separate["field"]["production_arena_bytes"], separate["field"]["shadow_arena_bytes"]
    assert theirs >= -(-mine // 4) * 4 + 32  # the case this test is for
    assert separate["field"]["arenas_bytes"] == mine + theirs and separate["field"]["arena_saving_bytes"] == 0
    assert shared["field"]["shared_arena_bytes"] == shared["field"]["arenas_bytes"] == theirs
    assert shared["field"]["arena_saving_bytes"] == mine
    assert abs(separate["ram_bytes"] - shared["ram_bytes"] - mine) < 16  # each arena starts on 16 bytes
    for name in ("shared", "separate"):
        check_shadow_runs(tmp_path / name, production, challenger)


def test_arena_symbol_must_be_a_c_identifier(tmp_path: Path) -> None:
    from tinyml.compiler.codegen import compile_model

    (tmp_path / "a.tflite").write_bytes(tiny_classifier(1))
    with pytest.raises(TinymlError, match="arena symbol 'shared-arena' must be a lower-case C identifier"):
        compile_model(tmp_path / "a.tflite", tmp_path / "out", arena_symbol="shared-arena")
    assert not (tmp_path / "out").exists()


# ---- features computed on the chip ----

@pytest.mark.qemu
def test_features_on_chip_cadence_and_statistics(tmp_path: Path) -> None:
    """A model with features.json takes raw samples: a clip after a restart is exactly one inference, then one
    every --infer-every new frames; the input statistics are those of the host's features (each value at most
    1 LSB apart, docs/FIELD.md)."""
    from tinyml.device.build import build_firmware
    from tinyml.device.field_app import FieldOptions
    from tinyml.features import FeatureParams, extract
    from tinyml.train.quantize import quantize_inputs

    params = FeatureParams(clip_samples=1600, mean=-1.2, std=10.0)  # 4 frames x 10 MFCC
    assert (params.frames, params.n_mfcc) == (4, 10)
    rng = np.random.default_rng(8)
    b = tm.GraphBuilder()
    x = b.input((1, 4, 10), tm.QParams.per_tensor(0.02, -3))
    h = tm.fully_connected(b, tm.reshape(b, x, (1, 40)), rng.integers(-127, 128, (5, 40)), [0.01],
                           rng.integers(-500, 500, 5).astype(np.int32), tm.QParams.per_tensor(0.1, 0))
    b.output(tm.softmax(b, h))
    (tmp_path / "m.tflite").write_bytes(b.to_bytes())
    params.save(tmp_path / "m.features.json")
    result = build_firmware(tmp_path / "m.tflite", get_board(BOARD), tmp_path / "fw", app="field",
                            field=FieldOptions(report_every=3, infer_every=2))
    assert result.field is not None and result.field["features_on_chip"] and result.field["features_bytes"] > 0
    clips = (rng.normal(size=(2, 1600)) * 4000).astype(np.int16)
    tail = (rng.normal(size=640) * 4000).astype(np.int16)
    with FieldDevice(tmp_path / "fw", BOARD, b"features") as dev:
        assert dev.info().field.features_on_chip and dev.info().field.infer_every == 2
        assert dev.feed(clips[0]) == 1                   # the window is whole at frame 4: one inference
        assert dev.feed(tail[:320]) == 1                  # one new frame: not yet
        assert dev.feed(tail[320:]) == 2                  # two new frames: the next inference
        dev.restart_stream()
        assert dev.feed(clips[1][:1000]) == 2 and dev.feed(clips[1][1000:]) == 3  # a clip split across feeds
        (report,) = [decode_payload(f.payload) for f in dev.reports()]
    stream = np.concatenate([clips[0], tail])
    host_windows = [stream[:1600], stream[640:2240], clips[1]]  # the samples each inference saw
    host = quantize_inputs(extract(np.stack(host_windows).astype(np.float32) / 32768.0, params), 0.02, -3)
    ref = accumulate(host, np.zeros((3, 5), np.int8), report.stats.layout)
    assert report.stats.inferences == 3 and report.stats.count.tolist() == ref.count.tolist() == [12] * 10
    assert np.all(np.abs(report.stats.sum - ref.sum) <= ref.count.astype(np.int64))  # at most 1 LSB per value
