"""What a rollout deploys: a registered version (`Version`), its firmware per board (the registered bench build,
one built here with the version's identity, or the field app when a telemetry gate needs reports), kept in
`.tinyml/rollouts/firmware/NAME@VERSION/`, and its reference outputs on the probe's vectors
(tinyml.lifecycle.rollout)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml.device.boards import get_board
from tinyml.device.build import build_firmware, require_fit
from tinyml.device.field_app import FieldOptions
from tinyml.device.targets.host import run_host
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.lifecycle import registry
from tinyml.lifecycle.fleet import Rules

VECTOR_SEED = 0
Say = Callable[[str], None]


@dataclass
class Version:
    """A registered version as the rollout needs it: identity, firmware per board, host reference outputs."""

    name: str
    number: int
    identity: str            # "kws@3 lin:ab12cd34"
    folder: Path             # .tinyml/rollouts/firmware/NAME@VERSION
    budgets: dict[str, int] = field(default_factory=dict)   # board -> the model's own budget (bench report)
    model_hash: str = ""     # the compiled registered model's hash, as INFO reports it (set by `reference`)
    registered: frozenset[str] = frozenset()   # the boards the registry holds firmware for
    _references: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = field(default_factory=dict)

    @property
    def registry_id(self) -> str:
        return self.identity.split(" ")[0]

    @property
    def lineage_hash(self) -> str:
        return self.identity.split("lin:")[-1]


def firmware_root() -> Path:
    from tinyml.lifecycle.tracking import STORE_DIR

    return (STORE_DIR / "rollouts" / "firmware").resolve()


def _fetch_atomically(target: Path, fill: Callable[[Path], None]) -> Path:
    """`target`, filled by `fill(tmp)` in a temporary sibling then renamed (never a half-written folder)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_version(ref_text: str, boards: set[str], say: Say) -> Version:
    """The version's identity, model, and the firmware the registry holds for `boards` (downloaded)."""
    shown = registry.show(ref_text)
    name, number, identity = shown["name"], shown["version"], shown["identity"]
    if not identity:
        raise TinymlError(f"{name}@{number} has no registry identity (tinyml.identity tag); register it with "
                          "`tinyml registry register`", BAD_INPUT)
    folder = firmware_root() / f"{name}@{number}"
    _fetch_atomically(folder / "model", lambda tmp: registry.fetch(f"{name}@{number}", "model.tflite", tmp))
    version = Version(name, number, identity, folder,
                      registered=frozenset(shown["lineage"].get("firmware", {})) & frozenset(boards))
    for board_name in sorted(version.registered):
        built = bench_firmware(version, board_name, say)
        bench = json.loads((built / "bench.json").read_text()) if (built / "bench.json").is_file() else {}
        count = bench.get("instructions_per_inference") or bench.get("cycles_per_inference")
        if count:
            version.budgets[board_name] = int(count)
    return version


def bench_firmware(version: Version, board_name: str, say: Say) -> Path:
    """The version's bench firmware for a board: the registered build, else one built now with its identity."""
    return _fetch_atomically(version.folder / board_name, lambda tmp: _firmware(version, board_name, tmp, say))


def rollout_firmware(version: Version, board_name: str, rules: Rules, say: Say) -> Path:
    """What a rollout flashes for a version: the field app with a telemetry gate, else the bench app."""
    if rules.telemetry is None:
        return bench_firmware(version, board_name, say)
    return field_firmware(version, board_name, rules.telemetry.report_every, say)


def _firmware(version: Version, board_name: str, dest: Path, say: Say) -> None:
    """The version's firmware for a board into `dest`: the registered build, else one built now with its identity."""
    if board_name in version.registered:
        got = registry.fetch(version.registry_id, f"firmware/{board_name}", dest)
        for item in got.iterdir():
            shutil.move(str(item), dest / item.name)
        got.rmdir()
        return
    say(f"building {version.identity} for {board_name} (not registered for it)")
    require_fit(build_firmware(version.folder / "model" / "model.tflite", get_board(board_name), dest,
                               identity=version.identity))


def field_firmware(version: Version, board_name: str, report_every: int, say: Say,
                   shadow: Version | None = None) -> Path:
    """The version's field app for a board (with `shadow`'s model as the shadow model), built once with the
    version's identity into `.tinyml/rollouts/firmware/NAME@N/field-<report_every>[-shadow-NAME@M]/<board>`."""
    name = f"field-{report_every}" + (f"-shadow-{shadow.registry_id}" if shadow else "")

    def build(dest: Path) -> None:
        say(f"building the field app of {version.identity} for {board_name}"
            + (f" with {shadow.registry_id} as its shadow model" if shadow else ""))
        options = FieldOptions(report_every=report_every,
                               shadow=shadow.folder / "model" / "model.tflite" if shadow else None)
        require_fit(build_firmware(version.folder / "model" / "model.tflite", get_board(board_name), dest,
                                   app="field", identity=version.identity, field=options))

    return _fetch_atomically(version.folder / name / board_name, build)


def reference(version: Version, vectors: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(`vectors` test inputs, the host build's outputs on them) for the version's registered model."""
    if vectors not in version._references:
        from tinyml.compiler.codegen import compile_model
        from tinyml.device.bench import random_inputs

        with tempfile.TemporaryDirectory(prefix="tinyml-rollout-") as tmp:
            compiled = compile_model(version.folder / "model" / "model.tflite", Path(tmp) / "model")
            version.model_hash = compiled.model_hash
            inputs = random_inputs(compiled.inputs, vectors, VECTOR_SEED)
            version._references[vectors] = (inputs, run_host(compiled, inputs))
    return version._references[vectors]


# ---- devices ----
