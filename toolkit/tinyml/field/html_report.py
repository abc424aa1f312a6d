"""One self-contained HTML report (PNG plots inlined as base64): PSI per channel over time for the fleet and for
the devices that drifted most, with the store's counters."""
from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from tinyml.device.statistics import WindowStats
from tinyml.field.drift import DriftConfig, psi
from tinyml.field.store import Store
from tinyml.npyio import write_atomically


def _plot(series: list[np.ndarray], title: str, threshold: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    values = np.stack(series)  # (windows, channels)
    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=90)
    for c in range(values.shape[1]):
        ax.plot(values[:, c], lw=1, label=f"ch {c}" if values.shape[1] <= 12 else None)
    ax.axhline(threshold, color="k", ls="--", lw=0.8)
    ax.set(title=title, xlabel="report window", ylabel="PSI")
    if values.shape[1] <= 12:
        ax.legend(fontsize=6, ncol=6, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_html_report(store: Store, reference: WindowStats, out: Path, *, config: DriftConfig | None = None,
                      devices_shown: int = 6) -> None:
    config = config or DriftConfig()
    per_device: dict[str, list[np.ndarray]] = defaultdict(list)
    fleet: dict[int, WindowStats] = {}
    for report in store.reports():
        if report.stats.layout != reference.layout:
            continue
        per_device[report.device].append(psi(report.stats.hist, reference.hist, config.psi_epsilon))
        fleet[report.seq] = fleet[report.seq].merge(report.stats) if report.seq in fleet else report.stats
    sections = []
    if fleet:
        series = [psi(fleet[s].hist, reference.hist, config.psi_epsilon) for s in sorted(fleet)]
        sections.append(("Fleet: all devices' reports of the same sequence number", _plot(series, "fleet", config.psi)))
    worst = sorted(per_device, key=lambda d: -max(float(p.max()) for p in per_device[d]))[:devices_shown]
    for device in worst:
        sections.append((f"Device {device}", _plot(per_device[device], f"device {device}", config.psi)))
    counters = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in store.counters().items())
    body = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='data:image/png;base64,{png}'>"
                   for t, png in sections) or "<p>No scored reports in the store.</p>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>tinyml field report</title></head><body>"
            f"<h1>tinyml field report</h1><p>Store {html.escape(store.where)}: {len(per_device)} devices; PSI per "
            f"channel against the reference (dashed: threshold {config.psi}). Devices shown: the {len(worst)} with "
            f"the largest PSI.</p><table>{counters}</table>{body}</body></html>")
    write_atomically(Path(out), page.encode())
