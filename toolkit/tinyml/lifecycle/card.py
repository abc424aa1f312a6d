"""The model card of a registered version (JSON and Markdown), from the reports registered with it.

Every accuracy carries its 95 % Wilson interval and sample count; where a report has only an accuracy and a test
sample count, the interval is computed from the count of correct samples that implies (round(accuracy * n)).
Per class (`class_metrics`): precision and recall of the int8 model on the test split, each with its counts and
Wilson interval. They are measured at registration: the test split is made again from the model's tinyml.json (data
set, seed, split) and held to the version the quantize report names, then the registered .tflite runs on it in the
TFLite interpreter (tinyml's compiled C is bit-exact with it: the quantize report's `host_equals_tflite`). A model
without those reports, or an autoencoder, gets no per-class rows, and the card says why.
On device: per board, how many of a registered bench report's samples gave outputs equal, byte for byte, to the
TFLite reference (where all do, the device's accuracy is the int8 accuracy).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import TinymlError
from tinyml.lifecycle.lineage import identity, lineage_hash
from tinyml.train.metrics import accuracy_interval, per_class

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


def class_metrics(tflite: Path | None, reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-class precision and recall of the int8 model on its test split: {"model", "split", "samples", "rows"}, or
    {"rows": [], "why": ...} when they cannot be measured."""
    from tinyml.train.quantize import io_quant, quantize_inputs, tflite_run
    from tinyml.train.trainer import data_for

    meta, q = reports.get("meta"), reports.get("quantize") or {}
    if tflite is None or not meta or not isinstance(q.get("data"), dict):
        return {"rows": [], "why": "no tinyml.json and quantize report beside the model to make the test split again"}
    if meta.get("task", "classification") != "classification":
        return {"rows": [], "why": f"a {meta.get('task')} model has no classes"}
    try:
        data = data_for(meta, None, q["data"].get("seed"))
    except TinymlError as exc:          # the data is gone or unreadable: the card says so, registration goes on
        return {"rows": [], "why": f"the test split cannot be made again ({exc.message})"}
    if data.content_hash != q["data"].get("content_hash"):
        return {"rows": [], "why": f"the data is now {data.name}@{data.content_hash}, not the version the model was "
                                   f"scored on ({q['data'].get('name')}@{q['data'].get('content_hash')})"}
    model = Path(tflite).read_bytes()
    (si, zi), _ = io_quant(model)
    out, _, _ = tflite_run(model, quantize_inputs(data.x_test, si, zi))
    predicted = np.argmax(out.reshape(len(data.y_test), -1), axis=1)
    return {"model": "int8 (TFLite interpreter; the compiled C is bit-exact with it)", "split": "test",
            "samples": len(data.y_test), "rows": per_class(data.y_test, predicted, list(data.classes))}


def _on_device(benches: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"board": board, "outputs_match": r.get("outputs_match"), "outputs_total": r.get("outputs_total"),
             "equal_to_int8": r.get("outputs_match") == r.get("outputs_total")}
            for board, r in sorted(benches.items()) if r.get("outputs_total")]


def model_card(name: str, version: int, lineage: dict[str, Any], reports: dict[str, dict[str, Any]],
               builds: dict[str, dict[str, Any]], benches: dict[str, dict[str, Any]],
               intended_use: str | None, tflite: Path | None = None) -> dict[str, Any]:
    """The card's JSON; `tflite` (the registered model) lets it measure the per-class figures."""
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
                    "on_device": _on_device(benches), "per_class": class_metrics(tflite, reports)},
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


def _share(value: float | None, interval: list[float] | None, k: int, n: int) -> str:
    if value is None:
        return f"- (0 of {n})"
    return f"{100 * value:.2f}% [{100 * interval[0]:.2f}, {100 * interval[1]:.2f}] ({k}/{n})"


def _per_class_markdown(pc: dict[str, Any]) -> list[str]:
    if not pc.get("rows"):
        return [f"Per class: not measured ({pc.get('why', 'no per-class figures')}).", ""]
    return [f"Per class, {pc['model']}, {pc['split']} split of {pc['samples']} samples (95% Wilson interval, "
            "counts):", "", "| class | support | precision | recall |", "|---|---|---|---|",
            *(f"| {r['class']} | {r['support']} | "
              f"{_share(r['precision'], r['precision_interval'], r['correct'], r['predicted'])} | "
              f"{_share(r['recall'], r['recall_interval'], r['correct'], r['support'])} |" for r in pc["rows"]), ""]


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
    for dev in m.get("on_device", []):
        lines.append(f"On {dev['board']}: outputs equal to the TFLite reference on {dev['outputs_match']} of "
                     f"{dev['outputs_total']} bench samples"
                     + (" (the device's accuracy is the int8 accuracy)." if dev["equal_to_int8"] else "."))
    lines += [""] if m.get("on_device") else []
    lines += _per_class_markdown(m["per_class"])
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
