"""A rollout's device I/O: where a fleet device is reached, flashing it, what it reports it runs, and the health
probe (identity, outputs on the reference vectors, latency) that gates every stage (tinyml.lifecycle.rollout)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.device.flash import flash
from tinyml.device.protocol import DeviceInfo, DeviceLink, connect
from tinyml.device.targets.qemu import ticks_to_instructions
from tinyml.errors import TinymlError
from tinyml.lifecycle import emulated_fleet
from tinyml.lifecycle.fleet import Device, Fleet
from tinyml.lifecycle.rollout_versions import Version, reference

PROBE_BOOT_S = 20.0      # a device just flashed boots (an emulator restarts) within this
BEFORE_PROBE_S = 5.0     # asking a device what it runs before the rollout
ExtraCheck = Callable[[Device, DeviceInfo], list[str]]


def device_url(fleet: Fleet, device: Device) -> str:
    return emulated_fleet.serial_url(fleet, device) if device.emulated else str(device.port)


def flash_device(fleet: Fleet, device: Device, firmware: Path) -> None:
    """Writes `firmware` (a build folder: firmware.elf, build.json) to the device."""
    if device.emulated:
        emulated_fleet.flash_emulated(fleet, device, firmware / "firmware.elf")
    else:
        flash(device.board, firmware, device.probe)


def reported_version(fleet: Fleet, device: Device, boot_s: float = BEFORE_PROBE_S) -> str | None:
    """NAME@VERSION the device itself reports over INFO; None when it runs none (blank, or a firmware built from a
    file) or does not answer."""
    if device.emulated and not emulated_fleet.state(fleet, device).image:
        return None
    try:
        with connect(device_url(fleet, device), timeout_s=1.0, retries=1, boot_timeout_s=boot_s,
                     baudrate=device.board.uart.baud) as link:
            return link.info().registry_id
    except TinymlError:
        return None


def runs_shadow(fleet: Fleet, device: Device) -> bool | None:
    """Whether the device's field app runs a shadow model (its FIELD_INFO); None when it does not answer."""
    try:
        with connect(device_url(fleet, device), timeout_s=1.0, retries=1, boot_timeout_s=PROBE_BOOT_S,
                     baudrate=device.board.uart.baud) as link:
            return link.field_info().shadow_every > 0
    except TinymlError:
        return None


@dataclass(frozen=True)
class Health:
    healthy: bool
    detail: dict[str, Any]


def probe(fleet: Fleet, device: Device, version: Version, vectors: int, budget: int | None,
          extra_checks: tuple[ExtraCheck, ...] = ()) -> Health:
    """Whether the device runs `version` well: identity over INFO, no errors, outputs equal to the host build on
    `vectors` inputs, latency within `budget` (None: not checked). The reasons are in `detail["problems"]`."""
    problems: list[str] = []
    detail: dict[str, Any] = {"expected": version.identity}
    try:
        with connect(device_url(fleet, device), timeout_s=2.0, retries=1, boot_timeout_s=PROBE_BOOT_S,
                     baudrate=device.board.uart.baud) as link:
            info = link.info()
            detail |= {"reported": info.registry_id, "lineage_hash": info.lineage_hash,
                       "firmware": info.firmware_version, "model_hash": info.model_hash}
            if info.board_name != device.board.name:
                problems.append(f"is a {info.board_name}, not a {device.board.name}")
            if (info.registry_id, info.lineage_hash) != (version.registry_id, version.lineage_hash):
                problems.append(f"reports {info.registry_id} lin:{info.lineage_hash}, not {version.identity}")
            else:
                problems += _run_vectors(link, device, version, vectors, budget, detail)
            problems += [p for check in extra_checks for p in check(device, info)]
    except TinymlError as exc:
        problems.append(exc.message)
    detail["problems"] = problems
    return Health(not problems, detail)


def _run_vectors(link: DeviceLink, device: Device, version: Version, vectors: int, budget: int | None,
                 detail: dict[str, Any]) -> list[str]:
    """The model hash, outputs and latency checks of `probe` (what it measured goes into `detail`)."""
    inputs, expected = reference(version, vectors)
    info = link.info()
    problems = []
    if info.model_hash != version.model_hash:
        problems.append(f"runs model {info.model_hash}, not the registered model {version.model_hash}")
    if [t.bytes for t in info.inputs] != [x[0].nbytes for x in inputs] or \
            [t.bytes for t in info.outputs] != [y[0].nbytes for y in expected]:
        return [*problems, "its model's tensors differ from the registered model's"]
    wrong, counts = 0, []
    for i in range(vectors):
        for index, x in enumerate(inputs):
            link.load_input(index, np.ascontiguousarray(x[i]).tobytes())
        ticks = link.invoke(1).last_ticks
        counts.append(ticks_to_instructions(device.board, ticks) if device.emulated else ticks)
        got = [np.frombuffer(link.read_output(j), dtype=y.dtype).reshape(y.shape[1:])
               for j, y in enumerate(expected)]
        wrong += any(not np.array_equal(g, y[i]) for g, y in zip(got, expected))
    per_inference = round(sum(counts) / len(counts))
    detail |= {"vectors": len(counts), "outputs_wrong": wrong, "counter": "instructions" if device.emulated
               else "cycles", "per_inference": per_inference, "budget": budget}
    if wrong:
        problems.append(f"outputs differ from the host build on {wrong} of {len(counts)} test vectors")
    if budget is not None and per_inference > budget:
        problems.append(f"{per_inference} {detail['counter']} per inference, over the budget of {budget}")
    return problems


# ---- the plan ----
