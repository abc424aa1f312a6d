"""`tinyml field run` end to end, with the README's three commands (build the field firmware, run a device on a
stream, monitor) on one emulated device: a small model that computes its features on the chip, a stream of short
kws clips with a gain step, detection in the first report window after the step and none before it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tinyml.device.statistics import reference_statistics
from tinyml.errors import BAD_INPUT, DRIFT
from tinyml.features import FeatureParams, extract
from tinyml.field.report import ReportReader
from tinyml.field.store import open_store
from tinyml.field.streams import SensorSplit, make_stream, sensor_split

TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]
BOARD = "mps2-an386"
CLIP = 800                      # 2 frames of 10 MFCC: short clips keep the emulator's UART time small
WINDOW, BEFORE, AFTER = 3, 1, 1  # clips per report, stationary reports, reports after the gain step
SCALE, ZERO = 0.04, 40


def tinyml(*args: str | Path, code: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run([*TINYML, *map(str, args)], capture_output=True, text=True, env=os.environ.copy(),
                            timeout=600)
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result


@pytest.fixture(scope="module")
def short_kws() -> SensorSplit:
    """The small kws test split cut to CLIP samples around each clip's loudest part."""
    split = sensor_split("kws", small=True)
    centre = np.abs(split.samples.astype(np.int32)).argmax(axis=1).clip(CLIP // 2, split.samples.shape[1] - CLIP // 2)
    clips = np.stack([s[c - CLIP // 2:c + CLIP // 2] for s, c in zip(split.samples, centre, strict=True)])
    return SensorSplit("kws", clips, split.labels, split.classes, split.sample_rate)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, short_kws: SensorSplit) -> Path:
    """A tiny classifier on 2 x 10 MFCC with its features.json and reference statistics over the clips."""
    folder = tmp_path_factory.mktemp("kws-tiny")
    params = FeatureParams(clip_samples=CLIP, mean=-1.2, std=10.0)
    rng = np.random.default_rng(0)
    b = tm.GraphBuilder()
    x = b.input((1, params.frames, 10, 1), tm.QParams.per_tensor(SCALE, ZERO))
    h = tm.fully_connected(b, tm.reshape(b, x, (1, 20)), rng.integers(-127, 128, (4, 20)), [0.01],
                           rng.integers(-500, 500, 4).astype(np.int32), tm.QParams.per_tensor(0.1, 0))
    b.output(tm.softmax(b, h))
    path = folder / "kws.tflite"
    path.write_bytes(b.to_bytes())
    params.save(folder / "kws.features.json")
    features = extract(short_kws.samples / 32768.0, params)
    inputs = np.clip(np.round(features / SCALE) + ZERO, -128, 127).astype(np.int8)
    reference_statistics(path, inputs)  # kws.stats.json, as tinyml quantize writes it
    return path


@pytest.fixture(scope="module")
def firmware(model: Path) -> Path:
    """The README's first command: the field firmware, features and statistics on the chip."""
    out = model.parent / "kws-field"
    tinyml("build", model, "--board", BOARD, "--app", "field", "--report-every", WINDOW, "-o", out)
    return out


def in_process(*args: str | Path, code: int = 0) -> str:
    """`tinyml ARGS` through click's runner (no new interpreter): stdout, or stderr when it failed."""
    from click.testing import CliRunner

    from tinyml.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.output[-2000:])
    return result.stdout if code == 0 else result.stderr


@pytest.mark.qemu
def test_readme_commands_detect_a_gain_step(model: Path, firmware: Path, short_kws: SensorSplit,
                                            tmp_path: Path) -> None:
    stream = make_stream("gain", short_kws, before=BEFORE * WINDOW, after=AFTER * WINDOW, seed=0, gain=8.0)
    stream.save(tmp_path / "stream.npz")
    run = json.loads(tinyml("field", "run", firmware, "--stream", tmp_path / "stream.npz", "--devices", 2,
                            "--out", tmp_path / "frames.bin", "--json").stdout)
    assert run["reports"] == 2 * (BEFORE + AFTER) and run["clips"] == 2 * len(stream) and len(run["devices"]) == 2
    reports = ReportReader().feed((tmp_path / "frames.bin").read_bytes())
    assert {r.device_id for r in reports} == {b"field-0000", b"field-0001"}
    assert all(r.stats.inferences == WINDOW and r.model_hash for r in reports)
    monitor = tinyml("monitor", "--file", tmp_path / "frames.bin", "--store", tmp_path / "field.sqlite",
                     "--reference", model.with_suffix(".stats.json"), "--fail-on-drift", code=DRIFT)
    alerts = [json.loads(line) for line in monitor.stdout.splitlines() if line.startswith("{")]
    drift = [a for a in alerts if a["alert"] == "input_drift" and a["scope"] == "device"]
    assert drift and min(a["seq"] for a in drift) == BEFORE + 1     # the first window after the step, none before
    assert f"{2 * (BEFORE + AFTER)} stored" in monitor.stdout


@pytest.mark.qemu
def test_a_recorded_sensor_reports_what_the_serial_stream_reports(model: Path, firmware: Path,
                                                                 short_kws: SensorSplit) -> None:
    """`--sensor file`: the firmware reads the clips from a file through semihosting, back to back as one sensor
    stream (`sensor_stream`), and reports, window by window, exactly what the build fed clip by clip over the
    serial link reports."""
    from tinyml.field.replay import run_device, sensor_settings
    from tinyml.field.report import decode_payload

    recorded = model.parent / "kws-field-file"
    tinyml("build", model, "--board", BOARD, "--app", "field", "--report-every", WINDOW, "--sensor", "file", "-o",
           recorded)
    params, infer_every = sensor_settings(recorded)
    assert (params.frames, infer_every) == (2, 3) and sensor_settings(firmware) is None
    clips = short_kws.samples[:4 * WINDOW + 1]       # four whole windows and a last, partial one
    serial = [decode_payload(f.payload) for f in run_device(firmware, clips, b"dev")]
    sensor = [decode_payload(f.payload) for f in run_device(recorded, clips, b"dev")]
    assert len(sensor) == len(serial) == 5
    assert [r.stats.to_json() for r in sensor] == [r.stats.to_json() for r in serial]


def test_a_recorded_sensor_needs_features_and_an_emulator(model: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(model.read_bytes())
    err = tinyml("build", bare, "--board", BOARD, "--app", "field", "--sensor", "file", "-o", tmp_path / "a",
                 code=BAD_INPUT).stderr
    assert "--sensor file reads raw samples, but the model has no features.json" in err
    err = tinyml("build", model, "--board", "nucleo-l4r5zi", "--app", "field", "--sensor", "file", "-o",
                 tmp_path / "b", code=BAD_INPUT).stderr
    assert "--sensor file is for emulated boards" in err and "nucleo-l4r5zi" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.qemu
def test_field_run_into_a_store_and_its_errors(firmware: Path, short_kws: SensorSplit, tmp_path: Path) -> None:
    make_stream("stationary", short_kws, before=4, after=0, seed=1).save(tmp_path / "s.npz")
    run = json.loads(in_process("field", "run", firmware, "--stream", tmp_path / "s.npz", "--store",
                                tmp_path / "f.sqlite", "--json"))
    assert run["reports"] == 2 and run["clips"] == 4                 # a whole window and the flushed partial one
    with open_store(str(tmp_path / "f.sqlite")) as db:
        assert db.keys() == [("6669656c642d30303030", 1, 1), ("6669656c642d30303030", 1, 2)]  # field-0000
    for args, message in (
            (["--stream", tmp_path / "s.npz"], "exactly one of --out, --store, --mqtt"),
            (["--out", tmp_path / "o.bin"], "exactly one of --scenario"),
            (["--stream", tmp_path / "s.npz", "--param", "gain=2", "--out", tmp_path / "o.bin"], "replayed as is"),
            (["--scenario", "gain", "--param", "gain", "--out", tmp_path / "o.bin"], "KEY=VALUE")):
        assert message in in_process("field", "run", firmware, *args, code=BAD_INPUT)
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "build.json").write_text(json.dumps({"app": "bench", "board": BOARD}))
    assert "build it with --app field" in in_process("field", "run", bench, "--stream", tmp_path / "s.npz", "--out",
                                                     tmp_path / "o.bin", code=BAD_INPUT)
    assert not (tmp_path / "o.bin").exists()


@pytest.mark.qemu
def test_a_scenario_through_host_features(tmp_path: Path) -> None:
    """`--scenario` on the kws set, the features computed on the host (--host-features) for a build whose model
    takes input tensors (the route scripts/eval_drift_device.py takes: 490 bytes a clip through the UART)."""
    params = FeatureParams(mean=-1.2, std=10.0)                      # the kws extractor: 49 x 10 MFCC
    rng = np.random.default_rng(1)
    b = tm.GraphBuilder()
    x = b.input((1, 49, 10, 1), tm.QParams.per_tensor(SCALE, ZERO))
    h = tm.fully_connected(b, tm.reshape(b, x, (1, 490)), rng.integers(-127, 128, (12, 490)), [0.002],
                           rng.integers(-500, 500, 12).astype(np.int32), tm.QParams.per_tensor(0.1, 0))
    b.output(tm.softmax(b, h))
    with_features, tensors_only = tmp_path / "kws.tflite", tmp_path / "tensors" / "kws.tflite"
    tensors_only.parent.mkdir()
    np.savez(tmp_path / "s.npz", samples=np.zeros((1, 16000), np.int16))
    for path in (with_features, tensors_only):
        path.write_bytes(b.to_bytes())
    params.save(tmp_path / "kws.features.json")
    in_process("build", tensors_only, "--board", BOARD, "--app", "field", "--report-every", 2, "-o", tmp_path / "fw")
    run = json.loads(in_process("field", "run", tmp_path / "fw", "--scenario", "gain", "--param", "gain=2", "--data",
                                "kws", "--small-data", "--clips", 4, "--shift-at", 2, "--host-features",
                                with_features, "--out", tmp_path / "frames.bin", "--json"))
    assert run["reports"] == 2 and run["clips"] == 4 and run["shift_at"] == 2
    assert [r.seq for r in ReportReader().feed((tmp_path / "frames.bin").read_bytes())] == [1, 2]
    raw = in_process("field", "run", tmp_path / "fw", "--stream", tmp_path / "s.npz", "--out", tmp_path / "raw.bin",
                     code=BAD_INPUT)
    assert "computes no features on the chip" in raw


def test_sinks_deliver_every_frame_as_it_came(mosquitto, tmp_path: Path) -> None:
    """The three places `field run` sends frames to: a file (the bytes as received), a store, an MQTT broker."""
    from tests.field.conftest import make_reports
    from tinyml.device.protocol import FrameDecoder
    from tinyml.field.mqtt import MqttUrl, Subscription
    from tinyml.field.replay import FileSink, MqttSink, StoreSink
    from tinyml.field.report import encode_report

    wire = b"".join(encode_report(r) for r in make_reports(3, 2))
    frames = FrameDecoder().feed(wire)
    file_sink = FileSink(tmp_path / "frames.bin")
    file_sink.add(frames[:4])
    file_sink.add(frames[4:])
    assert file_sink.close() == str(tmp_path / "frames.bin") and (tmp_path / "frames.bin").read_bytes() == wire
    store_sink = StoreSink(str(tmp_path / "f.sqlite"))
    store_sink.add(frames)
    store_sink.add(frames)                                               # a rerun stores nothing twice
    store_sink.close()
    with open_store(str(tmp_path / "f.sqlite")) as db:
        assert db.count() == 6
    url = f"{mosquitto.url}/field-run"
    Subscription(MqttUrl.parse(url), "field-run-monitor").close()       # the broker queues for this session
    mqtt_sink = MqttSink(url)
    mqtt_sink.add(frames)
    assert mqtt_sink.close() == url
    monitor = in_process("monitor", "--mqtt", url, "--client-id", "field-run-monitor", "--store",
                         tmp_path / "m.sqlite", "--max-reports", 6, "--duration", 30, "--json")
    assert json.loads(monitor)["stored"] == 6
