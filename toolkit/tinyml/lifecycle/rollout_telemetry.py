"""The field telemetry of a rollout, read from the monitor's report store (tinyml.field.store): the canary cohort
against a control group (the telemetry gate of the canary stage), and the challenger's agreement with production
(the shadow stage).

Which reports count: those a device sent after a mark (its latest (boot, seq) in the store when the gate began,
kept in the rollout store so that `resume` judges the same window) and carrying the model hash of the firmware it
should run. Real devices report on their own (their sensors, `tinyml gateway` / `tinyml monitor` into the store);
the gate waits up to `wait_s` for `min_inferences` (shadow stage: `min_shadow_runs`) per device. Emulated devices
have no sensor: the rollout plays it (`emulated_fleet.feed_sensor`) and forwards their report frames to the store,
as a gateway would.

The comparison is the monitor's drift scoring (tinyml.field.drift) with the control group's merged statistics as
the reference: input drift (PSI and KS per channel), label shift (chi-square and total variation distance of the
class histograms), a drop in mean top-1 confidence, a drop in shadow agreement (when both cohorts run a shadow).
"""
from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tinyml.device.protocol import Frame
from tinyml.device.statistics import WindowStats
from tinyml.errors import TinymlError
from tinyml.field.drift import DriftConfig, alerts, score
from tinyml.field.report import decode_payload
from tinyml.field.store import Store, open_store
from tinyml.lifecycle import emulated_fleet
from tinyml.lifecycle.fleet import Device, Fleet, Telemetry

POLL_S = 1.0
Mark = list[int]            # [boot, seq]: reports after it count
Enough = Callable[[WindowStats | None], bool]


def open_monitor(spec: str) -> Store:
    """The monitor's report store: a SQLite file (also as sqlite:///PATH) or a postgresql:// URL."""
    return open_store(spec.removeprefix("sqlite://") if spec.startswith("sqlite:///") else spec)


def mark(monitor: Store, device: Device) -> Mark:
    """The device's latest (boot, seq) in the store, [0, 0] when it has reported nothing yet."""
    keys = [(boot, seq) for d, boot, seq in monitor.keys() if d == device.report_id]
    return list(max(keys)) if keys else [0, 0]


def recent(monitor: Store, device: Device, since: Mark, model_hash: str) -> WindowStats | None:
    """The merged statistics of the device's reports after `since` from a firmware running `model_hash`."""
    merged = None
    for report in monitor.reports(device.report_id):
        if [report.boot, report.seq] > since and report.model_hash == model_hash:
            merged = report.stats if merged is None else merged.merge(report.stats)
    return merged


def gather(fleet: Fleet, monitor: Store, watched: dict[str, tuple[Mark, str]], inferences: int, enough: Enough,
           telemetry: Telemetry, seed: str, say: Callable[[str], None]) -> dict[str, WindowStats | None]:
    """Each watched device's recent statistics ({device id: (mark, model hash)}): emulated devices are fed
    `inferences` sensor inputs (the same for every device) and their reports stored first (one that cannot be fed
    is named and sends nothing); then the store is read until every device has `enough` or `wait_s` has passed."""
    devices = [fleet.device(device_id) for device_id in watched]
    emulated = [d for d in devices if d.emulated]
    if emulated:   # one QEMU each, whose UART is the bottleneck: fed side by side
        def feed(device: Device) -> list[Frame]:
            try:
                return emulated_fleet.feed_sensor(fleet, device, inferences, zlib.crc32(seed.encode()))
            except TinymlError as exc:
                say(f"  {device.id}: its sensor could not be played: {exc.message}")
                return []

        with ThreadPoolExecutor(len(emulated)) as pool:
            sent = list(pool.map(feed, emulated))
        monitor.ingest([decode_payload(frame.payload) for frames in sent for frame in frames])
    deadline = time.monotonic() + telemetry.wait_s
    said: list[str] = []
    while True:
        stats = {d.id: recent(monitor, d, *watched[d.id]) for d in devices}
        waiting = [device_id for device_id, s in stats.items() if not enough(s)]
        if not waiting or time.monotonic() > deadline:
            return stats
        if waiting != said:
            say(f"  waiting up to {telemetry.wait_s:g} s for reports of {', '.join(waiting)} in {monitor.where}")
            said = waiting
        time.sleep(POLL_S)


def merge(stats: list[WindowStats | None]) -> WindowStats | None:
    present = [s for s in stats if s is not None]
    if not present:
        return None
    merged = present[0]
    for s in present[1:]:
        merged = merged.merge(s)
    return merged


def compare(canary: WindowStats | None, control: WindowStats, telemetry: Telemetry) -> tuple[list[str], dict]:
    """(problems, figures) of a canary's statistics against the control group's."""
    if canary is None or canary.inferences < telemetry.min_inferences:
        got = canary.inferences if canary else 0
        return [f"reported {got} inferences within {telemetry.wait_s:g} s, {telemetry.min_inferences} needed"], {}
    if canary.layout != control.layout:
        return [f"its statistics layout ({canary.layout.channels} channels, {len(canary.layout.outputs)} outputs) "
                "differs from the control group's: the telemetry cannot be compared (deploy without [telemetry])"], {}
    config = DriftConfig(alpha=telemetry.alpha, psi=telemetry.psi, label_shift=telemetry.label_shift,
                         confidence_drop=telemetry.confidence_drop, agreement_drop=telemetry.agreement_drop)
    scores = score(canary, control, config)
    figures: dict[str, Any] = {
        "inferences": canary.inferences, "control_inferences": control.inferences,
        "max_psi": round(float(scores.psi.max()), 4), "label_tvd": [round(v, 4) for v in scores.label_tvd],
        "confidence": [round(v, 4) for v in scores.confidence],
        "control_confidence": [round(v, 4) for v in score(control, control, config).confidence],
        "agreement": scores.agreement}
    return [_problem(alert) for alert in alerts(scores, control, config, {})], figures


def _problem(alert: dict) -> str:
    kind = alert["alert"]
    if kind == "input_drift":
        return (f"input drift against the control group on channels {alert['channels']} (PSI "
                f"{max(alert['psi'].values()):.3f} >= {alert['thresholds']['psi']})")
    if kind == "label_shift":
        return (f"output {alert['output']}'s class distribution differs from the control group's (total variation "
                f"{alert['tvd']:.3f} >= {alert['thresholds']['tvd']}, chi-square p {alert['chi2_p']:.3g})")
    if kind == "confidence_drop":
        return (f"mean confidence of output {alert['output']} is {alert['drop']:.3f} below the control group's "
                f"(threshold {alert['threshold']})")
    return f"shadow agreement is {alert['drop']:.3f} below the control group's (threshold {alert['threshold']})"


def shadow_verdict(stats: WindowStats | None, telemetry: Telemetry) -> tuple[list[str], dict]:
    """(problems, figures) of a device's shadow runs: at least `min_shadow_runs`, agreeing at least
    `min_agreement` of the time."""
    runs, agree = (stats.shadow_runs, stats.shadow_agree) if stats else (0, 0)
    figures = {"shadow_runs": runs, "shadow_agree": agree, "agreement": round(agree / runs, 4) if runs else None}
    if runs < telemetry.min_shadow_runs:
        return [f"reported {runs} shadow runs within {telemetry.wait_s:g} s, {telemetry.min_shadow_runs} needed"], \
            figures
    if agree / runs < telemetry.min_agreement:
        return [f"the challenger agrees with production on {agree} of {runs} inferences ({agree / runs:.1%}), "
                f"below {telemetry.min_agreement:.0%}"], figures
    return [], figures


def enough_inferences(minimum: int) -> Enough:
    return lambda stats: stats is not None and stats.inferences >= minimum


def enough_shadow_runs(minimum: int) -> Enough:
    return lambda stats: stats is not None and stats.shadow_runs >= minimum

