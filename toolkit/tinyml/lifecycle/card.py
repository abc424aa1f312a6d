"""The model card of a registered version (JSON and Markdown), from the reports registered with it.

Every accuracy carries its 95 % Wilson interval and sample count; where a report has only an accuracy and a test
sample count, the interval is computed from the count of correct samples that implies (round(accuracy * n)).
Per-class figures appear only where a report has per-class counts; the card says so when none has.
"""
from __future__ import annotations

from typing import Any

from tinyml.lifecycle.lineage import identity, lineage_hash
from tinyml.train.metrics import accuracy_interval

KNOWN_LIMITS = {
    "kws": "Keywords synthesised with espeak-ng voices, not recorded speech: accuracy on real microphones and "
           "speakers is not measured here.",
    "digits": "8x8 scikit-learn digits upscaled: not camera images.",
    "vibration": "Synthetic vibration clips: real machines, mountings and noise are not covered.",
    "gesture": "Synthetic accelerometer gestures: real subjects and sensor placement are not covered.",
}


def _figure(metric: str, value: float | None, n: int | None) -> dict[str, Any] | None:
    if value is None:
        return None
    figure: dict[str, Any] = {"metric": metric, "value": round(float(value), 6), "samples": n}
    if metric == "accuracy" and n:
        figure["interval95"] = accuracy_interval(float(value), int(n))
    return figure


def _per_class(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows from a report's `per_class` ({class: {"correct": k, "samples": n}}), with Wilson intervals."""
    rows = []
    for name, counts in (report.get("per_class") or {}).items():
        if isinstance(counts, dict) and counts.get("samples"):
            acc = counts["correct"] / counts["samples"]
            rows.append({"class": name, **_figure("accuracy", acc, counts["samples"])})
    return rows


def model_card(name: str, version: int, lineage: dict[str, Any], reports: dict[str, dict[str, Any]],
               builds: dict[str, dict[str, Any]], benches: dict[str, dict[str, Any]],
               intended_use: str | None) -> dict[str, Any]:
    q, t, meta = reports.get("quantize", {}), reports.get("train", {}), reports.get("meta", {})
    data = (q.get("data") if isinstance(q.get("data"), dict) else None) or t.get("dataset") or {}
    metric = q.get("metric") or t.get("metric") or "accuracy"
    n_test = q.get("test_samples") or t.get("test_samples") or (data.get("sizes") or {}).get("test")
    recipe = meta.get("recipe") or t.get("recipe")
    classes = data.get("classes") or []
    boards = sorted(set(builds) | set(benches))
    use = intended_use or (f"{data.get('task', 'inference')} on {data.get('name', 'its data')}"
                           + (f" ({len(classes)} classes: {', '.join(map(str, classes[:12]))})" if classes else "")
                           + (f" with the {recipe} recipe" if recipe else "")
                           + (f", int8 on {', '.join(boards)}" if boards else ", int8 on Cortex-M"))
    devices = {}
    for board in boards:
        b, r = builds.get(board, {}), benches.get(board, {})
        devices[board] = {"flash_bytes": b.get("flash_bytes", r.get("flash_bytes")),
                          "ram_bytes": b.get("ram_bytes", r.get("ram_bytes")),
                          "arena_bytes": b.get("arena_bytes", r.get("arena_bytes")),
                          "latency_ms": r.get("latency_ms_estimate"), "latency_basis": r.get("latency_basis"),
                          "energy_uj": r.get("energy_uj_estimate"),
                          "outputs_match": f"{r['outputs_match']}/{r['outputs_total']}" if r else None}
    stats = reports.get("stats")
    return {
        "model": f"{name}@{version}", "identity": identity(name, version, lineage),
        "intended_use": use,
        "data": {"ref": (lineage.get("data") or {}).get("ref"), "split": data.get("split_scheme"),
                 "groups": data.get("groups"), "n_groups": data.get("n_groups"), "sizes": data.get("sizes"),
                 "classes": classes},
        "metrics": {"float": _figure(metric, q.get("float_accuracy", t.get("float_test")), n_test),
                    "int8": _figure(metric, q.get("int8_accuracy"), n_test),
                    "compiled_c_host": _figure(metric, q.get("host_c_accuracy"), n_test),
                    "per_class": _per_class(q) or _per_class(t)},
        "devices": devices,
        "known_limits": [KNOWN_LIMITS[k] for k in KNOWN_LIMITS if data.get("name", "").startswith(k)]
                        + ([] if n_test is None else [f"Test set of {n_test} samples: see the intervals."]),
        "drift_reference": ({"file": "stats.json", "inferences": stats.get("inferences"),
                             "format": stats.get("format")} if stats else None),
        "lineage_hash": lineage_hash(lineage),
    }


def _fmt(figure: dict[str, Any] | None) -> str:
    if figure is None:
        return "-"
    text = f"{100 * figure['value']:.2f}%" if figure["metric"] == "accuracy" else f"{figure['value']:.4f}"
    if figure.get("interval95"):
        low, high = figure["interval95"]
        text += f" [{100 * low:.2f}, {100 * high:.2f}]"
    return text + (f" of {figure['samples']}" if figure.get("samples") else "")


def render_markdown(card: dict[str, Any]) -> str:
    d, m = card["data"], card["metrics"]
    lines = [f"# Model card: {card['model']}", "", f"Firmware identity: `{card['identity']}`", "",
             "## Intended use", "", card["intended_use"], "",
             "## Data", "", f"- version: {d['ref'] or 'unknown'}", f"- split: {d['split'] or 'unknown'}"
             + (f", by {d['groups']} ({d['n_groups']} groups)" if d.get("groups") else ""),
             "- sizes: " + (", ".join(f"{k} {v}" for k, v in d["sizes"].items()) if d["sizes"] else "unknown"), "",
             "## Metrics (test split; 95% Wilson interval, samples)", "",
             "| model | value |", "|---|---|",
             f"| float | {_fmt(m['float'])} |", f"| int8 (TFLite) | {_fmt(m['int8'])} |",
             f"| int8 compiled C (host, the device's code) | {_fmt(m['compiled_c_host'])} |", ""]
    if m["per_class"]:
        lines += ["| class | accuracy |", "|---|---|", *(f"| {r['class']} | {_fmt(r)} |" for r in m["per_class"]), ""]
    else:
        lines += ["Per class: the registered reports hold no per-class counts.", ""]
    lines += ["## On device", ""]
    if card["devices"]:
        lines += ["| board | flash B | RAM B | arena B | latency ms | energy uJ | outputs match |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {b} | {v['flash_bytes']} | {v['ram_bytes']} | {v['arena_bytes']} | "
                  f"{v['latency_ms'] if v['latency_ms'] is not None else '-'} | "
                  f"{v['energy_uj'] if v['energy_uj'] is not None else '-'} | {v['outputs_match'] or '-'} |"
                  for b, v in card["devices"].items()]
        lines += ["", "Latency and energy come from `tinyml bench` reports registered with the version (see their "
                  "latency basis); boards without one show '-'.", ""]
    else:
        lines += ["No firmware registered with this version.", ""]
    lines += ["## Known limits", "", *(f"- {k}" for k in card["known_limits"] or ["none recorded"]), "",
              "## Drift reference", "",
              (f"`stats.json` (reference statistics over {card['drift_reference']['inferences']} inferences)"
               if card["drift_reference"]
               else "none registered (tinyml.device.statistics.reference_statistics writes <model>.stats.json)"), ""]
    return "\n".join(lines)
