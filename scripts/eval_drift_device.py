"""Drift evaluation on emulated devices running the real field firmware (QEMU, mps2-an386) on scenario streams.

Usage: python scripts/eval_drift_device.py [--raw] [--model M.tflite] [--window 100] [--stationary 100]
                                           [--psi 0.2] [--device-stationary 100] [--jobs 4] [--windows-only]
                                           [--write-docs]

The model: the KWS recipe (`tinyml train kws --epochs 15`, `tinyml quantize`) into out/eval_drift_device/ unless
--model names a quantized .tflite with its .features.json and .stats.json. The firmware, with `--raw`: `tinyml
build --app field --sensor file --report-every WINDOW` of that model, so each device reads the stream's raw 16 kHz
clips from a recorded sensor (a file through semihosting) and computes their MFCCs on the chip, every clip going
all the way through the firmware. Without `--raw`: the same build of the model without its features.json, so the
device takes input tensors: the host computes each clip's MFCCs with the model's extractor (`tinyml.features`,
quantized as the model input) and the device runs the model, accumulates its statistics and sends its reports
(over the emulated UART, about 0.1 to 0.5 s a tensor).

Streams (tinyml.field.streams, the kws test split): each scenario is `--before` stationary report windows, then
`--after` windows of the change, run on its own emulated device. The stationary false alarms need >= 100 reports
of WINDOW clips; `--device-stationary N` of them run on emulated devices, the rest are counted on the host
equivalent (the host's features through the compiled model on the host, `accumulate` on its int8 features and
outputs). Every report the devices sent is compared, field by field, with the host equivalent's report of the same
window; the table says how many are identical and how the others differ (with `--raw`, the chip's float32
extractor may put a feature 1 LSB from the host's float64 one).

Scores: `DriftTracker` (tinyml.field.drift) with the default thresholds except `--psi`; a report raises an alarm
when any drift alert (input drift, label shift, confidence drop) fires on its own window or its device's sliding
window. The host KS reference scores the same windows with scipy's `ks_2samp` per MFCC channel on the float
features (every frame's value) against the training split's, Bonferroni across the 10 channels at p = 0.05.
`--write-docs` writes the table into docs/FIELD.md between `<!-- drift-device:begin -->` and
`<!-- drift-device:end -->`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from doc_sections import replace_section
from scipy.stats import ks_2samp

from tinyml.device.statistics import WindowStats, accumulate, load_statistics
from tinyml.field.drift import DriftConfig, DriftTracker, psi
from tinyml.field.replay import HostFeatures, run_device
from tinyml.field.report import Report, decode_payload
from tinyml.field.streams import Stream, make_stream, sensor_split

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "out" / "eval_drift_device"
TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]
BOARD = "mps2-an386"
DRIFT = ("input_drift", "label_shift", "confidence_drop", "agreement_drop")
ALPHA = 0.05
# (row name, scenario, parameters)
SCENARIOS = [
    ("gain x2 (+6 dB)", "gain", {"gain": 2.0}),
    ("gain x0.5 (-6 dB)", "gain", {"gain": 0.5}),
    ("gain x1.25 (+2 dB)", "gain", {"gain": 1.25}),
    ("white noise, RMS 1% of full scale", "noise", {"rms": 0.01}),
    ("DC offset 25% of full scale", "offset", {"dc": 0.25}),
    ("unseen voices (8 other-language espeak-ng voices)", "unseen", {}),
    ("label shift: 'yes' 60% of clips", "label_shift", {"target": "yes", "share": 0.6}),
    ("stuck sensor (last sample held)", "stuck", {}),
    ("concept drift: 'yes' relabelled 'no'", "concept", {"source": "yes", "target": "no"}),
]


def tinyml(*args: str | Path) -> dict:
    proc = subprocess.run([*TINYML, *map(str, args), "--json"], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"tinyml {' '.join(map(str, args))} failed ({proc.returncode})")
    return json.loads(proc.stdout)


def prepare(model: Path | None, window: int, epochs: int, raw: bool) -> tuple[Path, Path]:
    """(the quantized model, the field firmware: with `raw`, of the model itself reading its clips from a recorded
    sensor; else of its tensor-input copy)."""
    if model is None:
        model = OUT / "kws.tflite"
        if not model.exists():
            tinyml("train", "kws", "--epochs", str(epochs), "--no-track", "-o", OUT / "train")
            tinyml("quantize", OUT / "train" / "model.keras", "-o", model)
    if raw:
        firmware = OUT / f"field-raw-w{window}"
        tinyml("build", model, "--board", BOARD, "--app", "field", "--report-every", str(window), "--sensor", "file",
               "-o", firmware)
        return model, firmware
    tensor_model = OUT / "tensor-input" / model.name
    tensor_model.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".tflite", ".stats.json"):
        shutil.copyfile(model.with_suffix(suffix), tensor_model.with_suffix(suffix))
    firmware = OUT / f"field-w{window}"
    tinyml("build", tensor_model, "--board", BOARD, "--app", "field", "--report-every", str(window), "-o", firmware)
    return model, firmware


@dataclass
class Scored:
    alarms: list[list[str]]        # per report: the drift alerts (kind/window) it raised
    ks_alarms: list[bool]          # per report: the host KS reference fires
    reports: list[Report]


class Evaluation:
    def __init__(self, model: Path, firmware: Path, window: int, config: DriftConfig, raw: bool) -> None:
        from tinyml.compiler.codegen import compile_model
        from tinyml.train.data import load_dataset

        self.firmware, self.window, self.config, self.raw = firmware, window, config, raw
        self.host = HostFeatures.of(model)
        self.reference = load_statistics(model.with_suffix(".stats.json"))
        self.compiled = compile_model(model, OUT / "host-model")
        train = load_dataset("kws").x_train
        self.train_values = train.reshape(-1, train.shape[-2] if train.shape[-1] == 1 else train.shape[-1])
        self.device_reports = self.identical = 0
        self.differing: list[str] = []   # reports unlike the host equivalent's: which, and by how much
        self._features: dict[bytes, np.ndarray] = {}

    def host_reports(self, stream: Stream, ident: bytes) -> tuple[np.ndarray, np.ndarray, list[Report]]:
        """(float features, int8 tensors, the host equivalent's reports) of the stream's whole windows."""
        from tinyml.device.targets.host import run_host

        n = len(stream) // self.window * self.window
        feats = self.features(stream.samples[:n])
        x = self.host.quantize(feats)
        distinct, back = np.unique(x.reshape(n, -1), axis=0, return_inverse=True)  # each tensor run once
        y = [o[back.reshape(-1)] for o in run_host(self.compiled, [distinct.reshape(-1, *x.shape[1:])])]
        reports = [Report(ident, 1, k + 1, "host-equivalent", "", self.window,
                          accumulate(x[k * self.window:(k + 1) * self.window],
                                     [o[k * self.window:(k + 1) * self.window] for o in y], self.reference.layout))
                   for k in range(n // self.window)]
        return feats, x, reports

    def features(self, clips: np.ndarray) -> np.ndarray:
        """The host's float features of each clip, each distinct clip computed once (streams replay clips)."""
        keys = [hashlib.sha1(c.tobytes()).digest() for c in clips]
        fresh = {k: i for i, k in enumerate(keys) if k not in self._features}
        for start in range(0, len(fresh), 500):
            chunk = list(fresh.items())[start:start + 500]
            for (k, _), f in zip(chunk, self.host.features(clips[[i for _, i in chunk]]), strict=True):
                self._features[k] = f
        return np.stack([self._features[k] for k in keys])

    def on_device(self, x: np.ndarray, clips: np.ndarray, host: list[Report], ident: bytes,
                  shift: int | None) -> list[Report]:
        """The device's reports for tensors `x` (or, with a `--sensor file` build, the raw `clips` it reads from its
        recorded sensor and computes the features of), each checked against the host equivalent's. Tensors go
        window by window, stopping after the first window from report `shift` on that raises an alarm (None: runs
        every window); clips all go, the sensor reading them at memory speed."""
        from tinyml.device.field_device import FieldDevice

        if self.raw:
            frames = run_device(self.firmware, clips, ident, flush=False, board=BOARD)
            reports = [decode_payload(f.payload) for f in frames]
            if len(reports) != len(host):
                raise SystemExit(f"device {ident.decode()}: {len(reports)} reports for {len(host)} windows")
            self.device_reports += len(reports)
            for k, (r, e) in enumerate(zip(reports, host, strict=True)):
                same = r.stats.to_json() == e.stats.to_json()
                self.identical += same
                if not same:
                    self.differing.append(f"{ident.decode()} report {k + 1}: {stats_difference(r.stats, e.stats)}")
            return reports
        tracker, reports = DriftTracker(self.reference, self.config), []
        with FieldDevice(self.firmware, BOARD, ident, 1, max_seconds=60.0 + 120.0 * len(x)) as dev:
            for k, expected in enumerate(host):
                for tensor in x[k * self.window:(k + 1) * self.window]:
                    dev.feed(tensor)
                frames = dev.reports() or (dev.info() and dev.reports())  # a round trip drains a late frame
                if len(frames) != 1:
                    raise SystemExit(f"device {ident.decode()}: {len(frames)} reports after window {k + 1}")
                report = decode_payload(frames[0].payload)
                self.device_reports += 1
                self.identical += report.stats.to_json() == expected.stats.to_json()
                reports.append(report)
                if any(a["alert"] in DRIFT for a in tracker.update(report)) and shift is not None and k >= shift:
                    break
        return reports

    def score(self, reports: list[Report], feats: np.ndarray) -> Scored:
        tracker = DriftTracker(self.reference, self.config)
        alarms = [[f"{a['alert']} ({a['window']})" for a in tracker.update(r) if a["alert"] in DRIFT]
                  for r in reports]
        channels = self.train_values.shape[1]
        ks = []
        for k in range(len(reports)):
            values = feats[k * self.window:(k + 1) * self.window].reshape(-1, channels)
            p = [ks_2samp(values[:, c], self.train_values[:, c]).pvalue for c in range(channels)]
            ks.append(bool(min(p) < ALPHA / channels))
        return Scored(alarms, ks, reports)

    def shift_psi(self, reports: list[Report]) -> float:
        merged: WindowStats = reports[0].stats
        for r in reports[1:]:
            merged = merged.merge(r.stats)
        return float(psi(merged.hist, self.reference.hist, self.config.psi_epsilon).max())


def window_study(ev: Evaluation, split, windows: int = 200, seed: int = 0) -> str:
    """How noisy a stationary window's PSI is by window size (host equivalent: the test split's clips through the
    compiled model, `accumulate`), and what every default threshold does with windows of 25 clips."""
    from tinyml.device.targets.host import run_host

    x = ev.host.quantize(ev.features(split.samples))
    y = run_host(ev.compiled, [x])
    rng = np.random.default_rng(seed)
    rows = []
    for size in (25, 50, 100, 200):
        worst = []
        for _ in range(windows):
            pick = rng.integers(0, len(x), size)
            stats = accumulate(x[pick], [o[pick] for o in y], ev.reference.layout)
            worst.append(float(psi(stats.hist, ev.reference.hist, ev.config.psi_epsilon).max()))
        rows.append(f"| {size} | " + " | ".join(f"{q:.3f}" for q in np.quantile(worst, [0.5, 0.9, 0.99, 1.0])) + " |")
    small = make_stream("stationary", split, before=25 * 100, after=0, seed=seed)
    saved, ev.window, ev.config = (ev.window, ev.config), 25, DriftConfig()
    feats, _, reports = ev.host_reports(small, b"window-study")
    defaults = sum(bool(a) for a in ev.score(reports, feats).alarms)
    (ev.window, ev.config) = saved
    return "\n".join(["| clips per window | median | 90 % | 99 % | max |", "|---|---|---|---|---|", *rows]) + (
        f"\n\nLargest channel PSI of {windows} stationary windows drawn at random from the {len(x)} test clips "
        f"(host equivalent). With every `DriftConfig` default and windows of 25 clips, {defaults} of 100 "
        f"stationary reports raise an alarm. (`python scripts/eval_drift_device.py --windows-only`)")


def stats_difference(device: WindowStats, host: WindowStats) -> str:
    """How two reports' statistics differ: input values in another histogram bin, the input sums' difference in
    LSB (at least that many input values differ), and any other field that differs."""
    a, b = device.to_json(), host.to_json()
    moved = int(np.abs(np.asarray(a["hist"]) - np.asarray(b["hist"])).sum()) // 2
    lsb = int(np.abs(np.asarray(a["sum"]) - np.asarray(b["sum"])).sum())
    others = sorted(k for k in a if k not in ("hist", "sum", "sumsq") and a[k] != b[k])
    return (f"input sums {lsb} LSB apart, {moved} values in another bin" +
            (f", also {', '.join(others)}" if others else ""))


def first(flags: list, start: int) -> int | None:
    """Reports after the shift until the first flagged one (1 = the first shifted report), None: never."""
    return next((k - start + 1 for k in range(start, len(flags)) if flags[k]), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--window", type=int, default=100, help="clips (inferences) per report")
    parser.add_argument("--stationary", type=int, default=100, help="stationary reports (host equivalent)")
    parser.add_argument("--device-stationary", type=int, default=100,
                        help="how many of the stationary reports run on emulated devices (the rest: host equivalent)")
    parser.add_argument("--before", type=int, default=1, help="stationary reports before each shift")
    parser.add_argument("--after", type=int, default=2, help="reports after each shift")
    parser.add_argument("--psi", type=float, default=0.2, help="PSI threshold (DriftConfig.psi)")
    parser.add_argument("--jobs", type=int, default=4, help="emulated devices at a time")
    parser.add_argument("--windows-only", action="store_true",
                        help="only the window-size study (host equivalent), into <!-- drift-windows -->")
    parser.add_argument("--raw", action="store_true",
                        help="devices read raw clips from a recorded sensor (--sensor file) and compute the features")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    model, firmware = prepare(args.model, args.window, args.epochs, args.raw)
    config = DriftConfig(psi=args.psi)
    ev = Evaluation(model, firmware, args.window, config, args.raw)
    split = sensor_split("kws")
    w = args.window
    if args.windows_only:
        study = window_study(ev, split)
        print(study)
        if args.write_docs:
            replace_section(REPO / "docs" / "FIELD.md", "drift-windows", study)
        return 0

    stationary = make_stream("stationary", split, before=args.stationary * w, after=0, seed=1000)
    st_feats, st_x, st_host = ev.host_reports(stream=stationary, ident=b"stationary-host")
    streams = [(name, make_stream(kind, split, before=args.before * w, after=args.after * w, seed=i, **params))
               for i, (name, kind, params) in enumerate(SCENARIOS)]
    prepared = [(name, s, *ev.host_reports(s, f"eval-{i:02d}-{SCENARIOS[i][1]}".encode()))
                for i, (name, s) in enumerate(streams)]

    on_device = min(args.device_stationary, len(st_host))
    cuts = np.linspace(0, on_device, min(args.jobs, on_device) + 1).astype(int) if on_device else np.zeros(1, int)
    chunks = list(zip(cuts[:-1], cuts[1:], strict=True))   # stationary windows [a, b) per device

    def device_run(i: int) -> list[Report]:
        if i >= len(prepared):
            a, b = chunks[i - len(prepared)]
            return ev.on_device(st_x[a * w:b * w], stationary.samples[a * w:b * w], st_host[a:b],
                                f"eval-stationary-{i - len(prepared)}".encode(), None)
        _, s, _, x, host = prepared[i]
        return ev.on_device(x, s.samples[:len(x)], host, f"eval-{i:02d}-{SCENARIOS[i][1]}".encode(), args.before)

    device_started = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        device = list(pool.map(device_run, range(len(prepared) + len(chunks))))
    device_seconds = time.monotonic() - device_started

    # stationary: the windows run on devices scored per device, the rest on the host equivalent as one device
    st_scored = [ev.score(device[len(prepared) + j], st_feats[a * w:b * w]) for j, (a, b) in enumerate(chunks)]
    st_scored.append(ev.score(st_host[on_device:], st_feats[on_device * w:]))
    false_alarms = sum(bool(a) for sc in st_scored for a in sc.alarms)
    ks_false = sum(ev.score(st_host, st_feats).ks_alarms)
    pre_alarms = pre_reports = pre_ks = 0
    rows, accepted = [], True
    for (name, _, feats, _, host), reports in zip(prepared, device, strict=False):
        scored, reference_ks = ev.score(reports, feats), ev.score(host, feats).ks_alarms
        pre_reports += args.before
        pre_alarms += sum(bool(a) for a in scored.alarms[:args.before])
        pre_ks += sum(reference_ks[:args.before])
        shift = ev.shift_psi(host[args.before:])
        delay = first(scored.alarms, args.before)
        ks_delay = first(reference_ks, args.before)
        kinds = sorted({a.split(" (")[0] for a in scored.alarms[args.before + delay - 1]}) if delay else []
        if shift >= 0.25 and (delay is None or delay > 2):
            accepted = False
        rows.append(f"| {name} | {shift:.3f} | {delay if delay else f'none in {args.after}'}"
                    f"{' (' + ', '.join(kinds) + ')' if kinds else ''} | "
                    f"{ks_delay if ks_delay else f'none in {args.after}'} |")
    total_stationary = len(st_host) + pre_reports
    total_false = false_alarms + pre_alarms
    rate = total_false / total_stationary
    # the same tensors must give the same reports; raw clips may not (the chip's float32 extractor, see above)
    accepted = (accepted and total_stationary >= 100 and total_false == 0 and rate <= 0.01
                and (args.raw or ev.identical == ev.device_reports))
    seconds = time.monotonic() - started
    head = (f"| stream (report windows of {w} clips) | PSI of the shift (its windows merged, largest channel) | "
            "device: alarm after (reports) | host KS reference: alarm after (reports) |")
    pre = f" + {pre_reports} pre-shift reports of the scenarios' devices" if pre_reports else ""
    where = (f"{on_device} on {len(chunks)} emulated devices" if on_device == len(st_host) else
             f"{on_device} on {len(chunks)} emulated devices, {len(st_host) - on_device} on the host equivalent")
    st_row = (f"| stationary: the test split replayed, {len(st_host)} reports ({where}){pre} | "
              f"{ev.shift_psi(st_host):.3f} | **{total_false} reports with an alarm** "
              f"(false-alarm rate {100 * rate:.1f} %) | {ks_false + pre_ks} of {total_stationary} "
              f"({100 * (ks_false + pre_ks) / total_stationary:.0f} %) |")
    table = "\n".join([head, "|---|---|---|---|", st_row, *rows])
    fed = ("reading the raw 16 kHz clips from a recorded sensor (`--sensor file`) and computing their MFCCs on the "
           "chip" if args.raw else "fed the MFCC tensors the host's extractor computes")
    stop = "" if args.raw else ", stopped at the first alarm after the shift"
    differing = f" (the others: {'; '.join(ev.differing)})" if ev.differing else ""
    table += (
        f"\n\nDevices: the field firmware on {BOARD} in QEMU, {fed}, {ev.device_reports} reports from "
        f"{len(device)} emulated devices ({len(prepared)} scenarios, each {args.before} stationary then up to "
        f"{args.after} shifted windows{stop}; {on_device} stationary windows "
        f"on {len(chunks)} devices); **{ev.identical} of {ev.device_reports} identical** to the host equivalent's "
        f"report of the same window{differing}. Thresholds: `DriftConfig(psi={args.psi})`, the rest default "
        f"(KS p < {ALPHA} / 10 channels and PSI >= {args.psi} for input drift; chi-square p < {ALPHA} and TVD >= "
        f"0.2 for label shift; confidence drop >= 0.1; sliding window of 5 reports). Acceptance (PSI >= 0.25 "
        f"alarms within 2 windows; no alarm in >= 100 stationary reports; false-alarm rate <= 1 %): "
        f"**{'met' if accepted else 'NOT met'}**. Runtime {seconds / 60:.1f} min, of which the emulated devices "
        f"{device_seconds / 60:.1f} min ({args.jobs} at a time; x86_64, 2 cores shared with other work). "
        f"(`python scripts/eval_drift_device.py{' --raw' if args.raw else ''} --window {w} "
        f"--stationary {args.stationary} "
        f"--device-stationary {args.device_stationary} --psi {args.psi} --jobs {args.jobs}`)")
    print(table)
    if args.write_docs:
        replace_section(REPO / "docs" / "FIELD.md", "drift-device", table)
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
