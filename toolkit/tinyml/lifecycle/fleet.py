"""The fleet file (`fleet.toml`): the devices a rollout reaches, its cohorts, the stage plan and the health rules.

```toml
[rollout]
stages = [0.5]              # shares of the fleet updated after the canary cohort; a last stage "all" is implied
abort_failure_share = 0.0   # abort (and roll back) when failed / finished devices exceeds this share ...
abort_min_devices = 1       # ... once at least this many devices have finished (AWS IoT Jobs' abort criteria)
vectors = 3                 # test vectors whose device outputs must equal the host build's
max_instructions = 400000   # latency budget per inference (instructions in an emulator, cycles on a board);
                            # or a table per board: [rollout.max_instructions] mps2-an386 = 400000
shadow_first = false        # true: a shadow stage first (the canaries run the new version as a shadow model
                            # beside production; promoted when they agree); needs [telemetry]

[telemetry]                 # optional: the field telemetry gate (the devices run the field app and report)
store = "field.sqlite"      # the monitor's report store (SQLite file relative to this file, or postgresql://...)
report_every = 100          # inferences per report window of the field firmware the rollout builds
min_inferences = 200        # per canary (and per control device) before the canary cohort is judged
wait_s = 120                # at most this long for those reports (real devices report on their own)
psi = 0.2                   # input drift canary vs control: PSI at least this ...
alpha = 0.05                # ... and KS p below alpha / channels (label shift: chi-square p below alpha)
label_shift = 0.2           # total variation distance between the class distributions
confidence_drop = 0.1       # mean top-1 confidence of the canary below the control group's by this much
agreement_drop = 0.1        # shadow agreement below the control group's by this much (when both run shadows)
min_agreement = 0.9         # shadow stage: agreements / shadow runs at least this ...
min_shadow_runs = 200       # ... over at least this many shadow runs on each canary

[emulator]
state_dir = ".tinyml/emulated"   # the emulated devices' folders (their "flash"), relative to this file
sensor = "random"           # what the emulated devices' sensors see: uniform random input tensors, or an .npy
                            # of int8 input tensors (relative to this file), one row per inference

[cohorts]
canary = ["em-1"]

[[devices]]
id = "em-1"
board = "mps2-an386"
emulated = true             # a QEMU instance run by `tinyml fleet emulate start`

[[devices]]
id = "lab-1"
board = "nucleo-f446re"
port = "/dev/ttyACM0"       # the board's serial port; flashed with its profile's flasher
probe = "0671FF3..."        # optional: the debug probe's serial number
field_id = "0671ff3..."     # optional: the device id its field reports carry (hex; default: the id's bytes;
                            # emulated devices are provisioned with their id)
```

Without `max_instructions` the budget is the model's: its registered bench report for the board
(`instructions_per_inference` or `cycles_per_inference`) times `latency_tolerance` (default 1.1); a board with
neither has no latency check, and the rollout says so. Every mistake is one line naming the file and the entry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tinyml.device.boards import Board, get_board
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.tomlfile import read_toml

DEFAULT_STATE_DIR = ".tinyml/emulated"
DEFAULT_VECTORS = 3
DEFAULT_LATENCY_TOLERANCE = 1.1
_ROLLOUT_KEYS = {"stages", "abort_failure_share", "abort_min_devices", "vectors", "max_instructions",
                 "latency_tolerance", "shadow_first"}
_DEVICE_KEYS = {"id", "board", "emulated", "port", "probe", "field_id"}
DEFAULT_MONITOR_STORE = "field.sqlite"   # `tinyml monitor`'s default store


@dataclass(frozen=True)
class Device:
    id: str
    board: Board
    emulated: bool
    port: str | None = None   # a real board's serial port
    probe: str | None = None  # its debug probe's serial number
    field_id: str | None = None  # the device id its field reports carry (hex)

    @property
    def report_id(self) -> str:
        """The device's key in the monitor's store: the hex id its reports carry."""
        return self.field_id or self.id.encode().hex()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "board": self.board.name, "emulated": self.emulated, "port": self.port,
                "probe": self.probe, "field_id": self.field_id}


@dataclass(frozen=True)
class Telemetry:
    """The field telemetry gate and the shadow stage's rule (the `[telemetry]` table; see the module doc)."""

    store: str = DEFAULT_MONITOR_STORE
    report_every: int = 100
    min_inferences: int = 200
    wait_s: float = 120.0
    psi: float = 0.2
    alpha: float = 0.05
    label_shift: float = 0.2
    confidence_drop: float = 0.1
    agreement_drop: float = 0.1
    min_agreement: float = 0.9
    min_shadow_runs: int = 200

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Rules:
    """When a stage may advance and when the rollout aborts."""

    stages: tuple[float, ...] = (0.5,)
    abort_failure_share: float = 0.0
    abort_min_devices: int = 1
    vectors: int = DEFAULT_VECTORS
    max_instructions: dict[str, int] = field(default_factory=dict)  # board -> budget; "*" for every board
    latency_tolerance: float = DEFAULT_LATENCY_TOLERANCE
    shadow_first: bool = False
    telemetry: Telemetry | None = None   # None: no telemetry gate (the devices may run the bench app)

    def budget_for(self, board: str) -> int | None:
        return self.max_instructions.get(board, self.max_instructions.get("*"))

    def should_abort(self, failed: int, finished: int) -> bool:
        """AWS IoT Jobs' abort criteria: the failure share over the finished devices, after a minimum number."""
        return finished >= self.abort_min_devices and failed / max(finished, 1) > self.abort_failure_share

    @staticmethod
    def from_json(data: dict[str, Any]) -> Rules:
        """The rules as a rollout stored them (`to_json`)."""
        telemetry = data.get("telemetry")
        return Rules(tuple(data["stages"]), data["abort_failure_share"], data["abort_min_devices"], data["vectors"],
                     dict(data["max_instructions"]), data["latency_tolerance"], bool(data.get("shadow_first")),
                     Telemetry(**telemetry) if telemetry else None)

    def to_json(self) -> dict[str, Any]:
        return {"stages": list(self.stages), "abort_failure_share": self.abort_failure_share,
                "abort_min_devices": self.abort_min_devices, "vectors": self.vectors,
                "max_instructions": self.max_instructions, "latency_tolerance": self.latency_tolerance,
                "shadow_first": self.shadow_first,
                "telemetry": self.telemetry.to_json() if self.telemetry else None}


@dataclass(frozen=True)
class Fleet:
    path: Path
    devices: tuple[Device, ...]
    cohorts: dict[str, tuple[str, ...]]
    rules: Rules
    state_dir: Path
    sensor: Path | None = None   # the emulated sensors' input tensors (.npy); None: uniform random

    def device(self, device_id: str) -> Device:
        for device in self.devices:
            if device.id == device_id:
                return device
        raise TinymlError(f"{self.path}: no device '{device_id}' in the fleet", BAD_INPUT)

    def stage_plan(self, shares: tuple[float, ...] | None = None) -> list[tuple[str, list[str]]]:
        """(stage name, device ids) in order: the canary cohort, then each share of the whole fleet (counting the
        devices already updated), then all the rest. Empty stages are dropped."""
        order = [d.id for d in self.devices]
        canary = [d for d in order if d in self.cohorts.get("canary", ())]
        done = set(canary)
        plan = [("shadow", canary)] if self.rules.shadow_first else []
        plan.append(("canary", canary))
        for share in (self.rules.stages if shares is None else shares):
            want = math.ceil(share * len(order))
            extra = [d for d in order if d not in done][:max(0, want - len(done))]
            done.update(extra)
            plan.append((f"{round(100 * share)}%", extra))
        plan.append(("all", [d for d in order if d not in done]))
        return [(name, ids) for name, ids in plan if ids]


def _fail(path: Path, where: str, why: str) -> TinymlError:
    return TinymlError(f"{path}: {where}: {why}", BAD_INPUT)


def _typed(path: Path, where: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise _fail(path, where, f"must be {what}, not {value!r}")
    return value


def _share(path: Path, where: str, value: Any) -> float:
    share = float(_typed(path, where, value, (int, float), "a share between 0 and 1"))
    if not 0 < share <= 1:
        raise _fail(path, where, f"must be a share between 0 and 1 (e.g. 0.5), not {value!r}")
    return share


def _unknown(path: Path, where: str, table: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise _fail(path, where, f"unknown key '{extra[0]}' (known: {', '.join(sorted(known))})")


def _budgets(path: Path, value: Any) -> dict[str, int]:
    where = "rollout.max_instructions"
    if isinstance(value, dict):
        out = {}
        for board, n in value.items():
            get_board(board)  # an unknown board name is an error here, not a silently unused budget
            out[board] = _typed(path, f"{where}.{board}", n, int, "a positive number of instructions")
        return out
    return {"*": _typed(path, where, value, int, "a positive number of instructions (or a table per board)")}


def _rules(path: Path, table: Any) -> Rules:
    table = _typed(path, "[rollout]", table, dict, "a table")
    _unknown(path, "[rollout]", table, _ROLLOUT_KEYS)
    stages = tuple(_share(path, f"rollout.stages[{i}]", s)
                   for i, s in enumerate(_typed(path, "rollout.stages", table.get("stages", [0.5]), list,
                                                "a list of shares, e.g. [0.5]")))
    if list(stages) != sorted(stages):
        raise _fail(path, "rollout.stages", f"shares must grow stage by stage, not {list(stages)}")
    failure = table.get("abort_failure_share", 0.0)
    if not isinstance(failure, (int, float)) or isinstance(failure, bool) or not 0 <= failure < 1:
        raise _fail(path, "rollout.abort_failure_share", f"must be a share in [0, 1), not {failure!r}")
    minimum = _typed(path, "rollout.abort_min_devices", table.get("abort_min_devices", 1), int, "a whole number")
    vectors = _typed(path, "rollout.vectors", table.get("vectors", DEFAULT_VECTORS), int, "a whole number")
    tolerance = _typed(path, "rollout.latency_tolerance", table.get("latency_tolerance", DEFAULT_LATENCY_TOLERANCE),
                       (int, float), "a factor of at least 1")
    if minimum < 1 or vectors < 1 or tolerance < 1:
        bad = "abort_min_devices" if minimum < 1 else "vectors" if vectors < 1 else "latency_tolerance"
        raise _fail(path, f"rollout.{bad}", "must be at least 1")
    budgets = _budgets(path, table["max_instructions"]) if "max_instructions" in table else {}
    if any(n <= 0 for n in budgets.values()):
        raise _fail(path, "rollout.max_instructions", "must be positive")
    shadow_first = _typed(path, "rollout.shadow_first", table.get("shadow_first", False), bool, "true or false")
    return Rules(stages, float(failure), minimum, vectors, budgets, float(tolerance), shadow_first)


_COUNTS = ("report_every", "min_inferences", "min_shadow_runs")
_SHARES = ("alpha", "label_shift", "confidence_drop", "agreement_drop", "min_agreement")


def _telemetry(path: Path, table: Any) -> Telemetry:
    """The `[telemetry]` table: every threshold checked; a relative SQLite store is relative to the fleet file."""
    table = _typed(path, "[telemetry]", table, dict, "a table")
    _unknown(path, "[telemetry]", table, set(Telemetry.__dataclass_fields__))
    values: dict[str, Any] = {"store": str((path.parent / DEFAULT_MONITOR_STORE).resolve())}
    for key, value in table.items():
        where = f"telemetry.{key}"
        if key == "store":
            value = _typed(path, where, value, str, "a SQLite file or a postgresql:// URL")
            values[key] = value if "://" in value else str((path.parent / value).resolve())
        elif key in _COUNTS:
            values[key] = _typed(path, where, value, int, "a whole number")
            if values[key] < 1:
                raise _fail(path, where, "must be at least 1")
        else:
            number = float(_typed(path, where, value, (int, float), "a number"))
            if number < 0 or key in _SHARES and number > 1:
                raise _fail(path, where, f"must be {'in [0, 1]' if key in _SHARES else 'at least 0'}, not {value!r}")
            values[key] = number
    return Telemetry(**values)


def _device(path: Path, index: int, entry: Any) -> Device:
    where = f"devices[{index}]"
    entry = _typed(path, where, entry, dict, "a table ([[devices]])")
    device_id = entry.get("id")
    if not isinstance(device_id, str) or not device_id or not device_id.replace("-", "").replace("_", "").isalnum():
        raise _fail(path, where, f"needs an id of letters, digits, '-' or '_', not {device_id!r}")
    where = f"device '{device_id}'"
    _unknown(path, where, entry, _DEVICE_KEYS)
    if not isinstance(entry.get("board"), str):
        raise _fail(path, where, "needs a board (e.g. board = \"mps2-an386\"; see `tinyml boards`)")
    try:
        board = get_board(entry["board"])
    except TinymlError as exc:
        raise _fail(path, where, exc.message) from None
    emulated = _typed(path, f"{where}.emulated", entry.get("emulated", False), bool, "true or false")
    port = entry.get("port")
    if emulated == (port is not None):
        raise _fail(path, where, "needs either emulated = true or a serial port (port = \"/dev/ttyACM0\")")
    if emulated and board.emulator is None:
        raise _fail(path, where, f"board {board.name} has no emulator; give its serial port instead")
    if not emulated and board.flasher.tool == "none":
        raise _fail(path, where, f"board {board.name} has no flasher; it can only be emulated")
    probe = entry.get("probe")
    field_id = entry.get("field_id")
    for key, value in (("port", port), ("probe", probe), ("field_id", field_id)):
        if value is not None:
            _typed(path, f"{where}.{key}", value, str, "a string")
    if field_id is not None and (not field_id or any(c not in "0123456789abcdef" for c in field_id)):
        raise _fail(path, f"{where}.field_id", f"must be the id its reports carry, in lower-case hex, not {field_id!r}")
    return Device(device_id, board, emulated, port, probe, field_id)


def load_fleet(path: Path) -> Fleet:
    """Reads and checks a fleet file; every mistake is one line naming the file and the entry."""
    path = Path(path)
    table = read_toml(path, "fleet file")
    _unknown(path, "top level", table, {"rollout", "telemetry", "emulator", "cohorts", "devices"})
    entries = _typed(path, "[[devices]]", table.get("devices", []), list, "a list of [[devices]] tables")
    if not entries:
        raise _fail(path, "[[devices]]", "the fleet has no devices")
    devices = tuple(_device(path, i, e) for i, e in enumerate(entries))
    ids = [d.id for d in devices]
    if len(set(ids)) != len(ids):
        raise _fail(path, f"device '{next(i for i in ids if ids.count(i) > 1)}'", "appears twice")
    cohorts: dict[str, tuple[str, ...]] = {}
    for name, members in _typed(path, "[cohorts]", table.get("cohorts", {}), dict, "a table").items():
        members = _typed(path, f"cohorts.{name}", members, list, "a list of device ids")
        for member in members:
            if member not in ids:
                raise _fail(path, f"cohorts.{name}", f"names device {member!r}, which is not in [[devices]]")
        cohorts[name] = tuple(members)
    if not cohorts.get("canary"):
        raise _fail(path, "cohorts.canary", "is missing or empty; name the devices that get a new version first")
    emulator = _typed(path, "[emulator]", table.get("emulator", {}), dict, "a table")
    _unknown(path, "[emulator]", emulator, {"state_dir", "sensor"})
    state_dir = _typed(path, "emulator.state_dir", emulator.get("state_dir", DEFAULT_STATE_DIR), str, "a folder")
    sensor = _typed(path, "emulator.sensor", emulator.get("sensor", "random"), str, '"random" or an .npy file')
    rules = _rules(path, table.get("rollout", {}))
    if "telemetry" in table:
        rules = replace(rules, telemetry=_telemetry(path, table["telemetry"]))
    if rules.shadow_first and rules.telemetry is None:
        raise _fail(path, "rollout.shadow_first", "needs a [telemetry] table (the shadow agreement comes from the "
                                                  "devices' reports in the monitor's store)")
    return Fleet(path, devices, cohorts, rules, (path.parent / state_dir).resolve(),
                 None if sensor == "random" else (path.parent / sensor).resolve())
