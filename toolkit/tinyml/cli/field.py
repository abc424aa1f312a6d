"""The field wing's commands: `monitor`, `gateway` and `field run` (emulated devices on a stream)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from tinyml.cli.output import emit
from tinyml.errors import BAD_INPUT, DRIFT, TinymlError
from tinyml.field.streams import SCENARIOS

DRIFT_ALERTS = ("input_drift", "label_shift", "confidence_drop", "agreement_drop")


@click.command()
@click.option("--port", help="Serial port or pyserial URL (an emulator's socket://127.0.0.1:PORT) the device "
                             "reports on.")
@click.option("--mqtt", "mqtt_url", help="Broker and topic: mqtt://HOST:PORT/TOPIC (subscribes to TOPIC/#, QoS 1).")
@click.option("--file", "frames_file", type=click.Path(path_type=Path), help="A file of recorded report frames.")
@click.option("--store", default="field.sqlite", show_default=True,
              help="SQLite file, or postgresql://USER@HOST:PORT/DB.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="Reference statistics (JSON, beside the model) to score drift against.")
@click.option("--client-id", default="tinyml-monitor", show_default=True,
              help="MQTT client id of the persistent session (the broker queues reports for it while away).")
@click.option("--max-reports", type=click.IntRange(min=1), help="Stop after storing this many new reports.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--fail-on-drift", is_flag=True, help=f"Exit with code {DRIFT} if any drift alert was raised.")
@click.option("--webhook", help="POST each batch's alerts (a JSON list) to this URL.")
@click.option("--report", "html_out", type=click.Path(path_type=Path),
              help="Write an HTML report with PSI plots per channel over time (needs --reference).")
@click.option("--sliding", type=click.IntRange(min=1), default=5, show_default=True,
              help="Reports per device in the sliding window.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True), default=0.05, show_default=True,
              help="Significance of the KS and chi-square tests (Bonferroni-corrected across channels).")
@click.option("--psi", "psi_threshold", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="PSI a channel must also reach to drift.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (alerts stay JSON lines).")
def monitor(port: str | None, mqtt_url: str | None, frames_file: Path | None, store: str,
            reference: Path | None, client_id: str, max_reports: int | None, duration: float | None,
            fail_on_drift: bool, webhook: str | None, html_out: Path | None, sliding: int, alpha: float,
            psi_threshold: float, as_json: bool) -> None:
    """Ingest field reports into a store and score drift: alerts as JSON lines on stdout, a summary last."""
    from tinyml.device.statistics import load_statistics
    from tinyml.field.drift import DriftConfig, DriftTracker
    from tinyml.field.monitor import FileSource, MqttSource, PortSource, post_webhook, run_monitor
    from tinyml.field.store import open_store

    chosen = [name for name, value in (("--port", port), ("--mqtt", mqtt_url), ("--file", frames_file)) if value]
    if len(chosen) != 1:
        raise TinymlError("give exactly one of --port, --mqtt, --file (got "
                          f"{', '.join(chosen) or 'none'})", BAD_INPUT)
    if html_out and not reference:
        raise TinymlError("--report needs --reference (the plots show drift against it)", BAD_INPUT)
    if (port or mqtt_url) and max_reports is None and duration is None:
        click.echo("monitor: no --max-reports or --duration: runs until interrupted (Ctrl-C)", err=True)
    config = DriftConfig(alpha=alpha, psi=psi_threshold, sliding=sliding)  # other thresholds: DriftConfig
    ref = load_statistics(reference) if reference else None
    tracker = DriftTracker(ref, config) if ref is not None else None
    drifted = []

    def on_alert(alert: dict) -> None:
        click.echo(json.dumps(alert))
        if alert["alert"] in DRIFT_ALERTS:
            drifted.append(alert)
        if webhook:
            problem = post_webhook(webhook, [alert])
            if problem:
                click.echo(f"warning: {problem}", err=True)

    source = FileSource(frames_file) if frames_file else PortSource(port) if port else MqttSource(mqtt_url, client_id)
    try:
        with open_store(store) as db:
            summary = run_monitor(source, db, tracker, max_reports=max_reports, duration=duration,
                                  on_alert=on_alert)
            if html_out and ref is not None:
                from tinyml.field.html_report import write_html_report

                write_html_report(db, ref, html_out, config=config)
    finally:
        source.close()
    data = summary.to_json() | {"store": db.where, "drift_alerts": len(drifted)}
    emit(data, as_json, f"monitor: {summary.stored} stored, {summary.duplicates} duplicates, {summary.malformed} "
                        f"malformed, {summary.damaged} damaged frames, {len(drifted)} drift alerts from "
                        f"{len(summary.devices)} devices in {summary.seconds:.1f} s -> {db.where}")
    if fail_on_drift and drifted:
        raise TinymlError(f"{len(drifted)} drift alert(s) (first: {drifted[0]['alert']} on {drifted[0]['scope']} "
                          f"{drifted[0].get('device', '')})", DRIFT)


@click.command()
@click.option("--port", required=True, help="Serial port or pyserial URL of the device.")
@click.option("--mqtt", "mqtt_url", required=True, help="Broker and topic: mqtt://HOST:PORT/TOPIC.")
@click.option("--spool", type=click.Path(path_type=Path), default=Path("gateway-spool.sqlite"), show_default=True,
              help="On-disk queue of reports not yet acknowledged by the broker.")
@click.option("--client-id", default="tinyml-gateway", show_default=True, help="MQTT client id.")
@click.option("--max-reports", type=click.IntRange(min=1), help="Stop after reading this many reports.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def gateway(port: str, mqtt_url: str, spool: Path, client_id: str, max_reports: int | None,
            duration: float | None, as_json: bool) -> None:
    """Bridge a device's reports from its serial link to an MQTT broker, spooled on disk while the broker is down."""
    from tinyml.field.gateway import run_gateway

    summary = run_gateway(port, mqtt_url, spool, client_id=client_id, max_reports=max_reports, duration=duration)
    emit(summary.to_json(), as_json,
         f"gateway: {summary.read} reports read, {summary.spooled} spooled, {summary.published} published, "
         f"{summary.pending} pending in {spool}")
    if summary.pending:
        click.echo(f"warning: {summary.pending} report(s) wait in {spool}; rerun the gateway to send them", err=True)


@click.group()
def field() -> None:
    """Field devices in the emulator: run the field firmware on a stream."""


@field.command("run")
@click.argument("firmware", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--scenario", type=click.Choice(SCENARIOS),
              help="A scenario stream made from --data's test split (docs/FIELD.md, \"Scenario streams\").")
@click.option("--data", default="kws", show_default=True, help="Built-in data set of the scenario (kws, vibration).")
@click.option("--small-data", is_flag=True, help="The reduced built-in data set.")
@click.option("--stream", "stream_file", type=click.Path(path_type=Path),
              help="A recorded stream instead: .npz (array 'samples': int16 clips or int8 input tensors) or .wav "
                   "(a .wav or a 1-D recording is cut into clips of 16,000 samples at 16 kHz, or of the "
                   "--host-features model's clip).")
@click.option("--clips", type=click.IntRange(min=1), default=40, show_default=True,
              help="Clips in a scenario stream (one inference each).")
@click.option("--shift-at", type=click.IntRange(min=0), help="Clip where the scenario's change starts "
                                                               "(default: half way).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A scenario parameter, e.g. gain=2, rms=0.01, dc=0.1, speed=1.25, target=yes, share=0.6, "
                   "source=yes, value=0 (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the stream (device i: seed + i).")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="Emulated devices, each with its own id and stream.")
@click.option("--device-prefix", default="field", show_default=True, help="Device ids are PREFIX-0000, ...")
@click.option("--boot", type=click.IntRange(min=0), default=1, show_default=True, help="Boot counter.")
@click.option("--host-features", "host_model", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="For firmware whose model takes input tensors: compute the tensors on the host from this "
                   "model's features.json (faster in the emulator; docs/FIELD.md).")
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Write the report frames to this file (for tinyml monitor --file).")
@click.option("--store", help="Ingest the reports into this store (SQLite file or postgresql://...).")
@click.option("--mqtt", "mqtt_url", help="Publish the reports to mqtt://HOST:PORT/TOPIC (QoS 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def field_run(firmware: Path, scenario: str | None, data: str, small_data: bool, stream_file: Path | None,
              clips: int, shift_at: int | None, params: tuple[str, ...], seed: int, devices: int,
              device_prefix: str, boot: int, host_model: Path | None, out_file: Path | None, store: str | None,
              mqtt_url: str | None, as_json: bool) -> None:
    """Run emulated field devices (FIRMWARE: a `tinyml build --app field` folder) on a scenario or a recorded
    stream; their report frames go to --out, --store or --mqtt."""
    from tinyml.field import replay, streams

    sinks = [s for s in (out_file, store, mqtt_url) if s]
    if len(sinks) != 1:
        raise TinymlError("give exactly one of --out, --store, --mqtt", BAD_INPUT)
    if (scenario is None) == (stream_file is None):
        raise TinymlError("give exactly one of --scenario (with --data) and --stream", BAD_INPUT)
    replay.firmware_board(firmware)  # a folder that is no field build fails now, not after the stream is made
    sink = (replay.FileSink(out_file) if out_file else replay.StoreSink(store) if store
            else replay.MqttSink(mqtt_url))
    host = replay.HostFeatures.of(host_model) if host_model else None
    if stream_file is not None:
        if params or shift_at is not None:
            raise TinymlError("--param and --shift-at shape scenario streams; a recorded --stream is replayed as is",
                              BAD_INPUT)
        rate = host.params.sample_rate if host else 16000
        recorded = streams.load_stream(stream_file, clip_samples=host.params.clip_samples if host else 16000,
                                       sample_rate=rate)
        made = [recorded] * devices
        first_shift = recorded.shift_at
    else:
        split = streams.sensor_split(data, small=small_data, seed=0)
        at = clips // 2 if shift_at is None else shift_at
        if at > clips:
            raise TinymlError(f"--shift-at {at} is past the stream's {clips} clips", BAD_INPUT)
        extra = _scenario_params(params)
        made = [streams.make_stream(scenario, split, before=at, after=clips - at, seed=seed + i, **extra)
                for i in range(devices)]
        first_shift = made[0].shift_at

    def inputs_for(i: int):
        samples = made[i].samples
        return host.tensors(samples) if host is not None and samples.dtype == "int16" else samples

    summary = replay.run_devices(firmware, inputs_for, devices, sink, prefix=device_prefix, boot=boot,
                                 shift_at=first_shift, progress=lambda line: click.echo(line, err=True))
    emit(summary.to_json(), as_json, f"field run: {summary.reports} reports from {len(summary.devices)} device(s), "
                                     f"{summary.clips} clips in {summary.seconds:.0f} s -> {summary.to}")


def _scenario_params(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs: numbers as numbers, anything else as text."""
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TinymlError(f"--param takes KEY=VALUE, got '{pair}'", BAD_INPUT)
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


COMMANDS = (monitor, gateway, field)
