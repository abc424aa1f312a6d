"""Write a HIL suite directory for a model and a board.

    DIR/hil.robot              the Robot Framework suite (runs under `robot` on QEMU and under `renode-test`)
    DIR/hil.json               what the keyword library needs: board, model hash, vector count, tensor layouts
    DIR/<board>.toml           a copy of the board profile
    DIR/firmware.elf, build.json   the image and its sizes and budgets
    DIR/vectors/vNNN_inputK.npy, vNNN_expectedK.npy   test vectors: inputs and the host's outputs (`run_host`)
    DIR/tinyml-qemu.resource   Renode's keyword names on QEMU (`tinyml.hil.keywords.QemuKeywords`)
    DIR/renode/<board>.repl, <board>.resc   the Renode platform and script (`tinyml.hil.renode`)

Everything is written to a temporary sibling directory that then replaces DIR, so DIR is never half written.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
import numpy as np

from tinyml import __version__
from tinyml.compiler.codegen import compile_model
from tinyml.device.bench import firmware_for, take_samples
from tinyml.device.boards import Board
from tinyml.device.targets.host import run_host
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.hil.renode import UART_PORT, minimum_renode, uart_peripheral, write_renode_files
from tinyml.paths import TEMPLATES_DIR

SUITE_FILE = "hil.robot"
CONFIG_FILE = "hil.json"
QEMU_RESOURCE = "tinyml-qemu.resource"
VECTORS_DIR = "vectors"
DEFAULT_VECTORS = 3
MAX_VECTORS = 1000


@dataclass(frozen=True)
class SuiteConfig:
    """hil.json: read by the keyword library when the suite runs."""

    board: str
    model: str                 # the model file's name (for messages)
    model_hash: str
    vectors: int
    inputs: int
    outputs: int
    max_latency_ms: float | None
    renode_uart_port: int

    @staticmethod
    def load(suite_dir: Path) -> SuiteConfig:
        path = Path(suite_dir) / CONFIG_FILE
        try:
            return SuiteConfig(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise TinymlError(f"{path}: not a tinyml HIL suite configuration ({exc})", BAD_INPUT) from None


def vector_path(suite_dir: Path, index: int, kind: str, tensor: int) -> Path:
    """`kind` is "input" or "expected"."""
    return Path(suite_dir) / VECTORS_DIR / f"v{index:03d}_{kind}{tensor}.npy"


def _render(name: str, **context: object) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "hil"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(name).render(version=__version__, **context)


def write_suite(model_path: Path, board: Board, out_dir: Path, *, vectors: int | None = None,
                inputs: list[np.ndarray] | None = None, max_latency_ms: float | None = None,
                build_dir: Path | None = None, source: str = "inputs") -> SuiteConfig:
    """Build the firmware (or reuse `build_dir`), run the vectors through the host build for the expected outputs,
    and write the suite into `out_dir` (replaced). Without `inputs`, `vectors` deterministic random samples."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise TinymlError(f"{model_path}: no such model file", BAD_INPUT)
    if vectors is not None and not 1 <= vectors <= MAX_VECTORS:
        raise TinymlError(f"--vectors must be between 1 and {MAX_VECTORS}, got {vectors}", BAD_INPUT)
    if max_latency_ms is not None and max_latency_ms <= 0:
        raise TinymlError(f"--max-latency-ms must be positive, got {max_latency_ms:g}", BAD_INPUT)
    out_dir = Path(out_dir)
    _check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tinyml-hil-") as tmp:
        compiled = compile_model(model_path, Path(tmp) / "model")
        inputs = take_samples(compiled.inputs, inputs, vectors, DEFAULT_VECTORS, source, "--vectors")
        expected = run_host(compiled, inputs, source=source)
        build = firmware_for(model_path, board, compiled.model_hash, build_dir)
        config = SuiteConfig(board=board.name, model=model_path.name, model_hash=compiled.model_hash,
                             vectors=inputs[0].shape[0], inputs=len(inputs), outputs=len(expected),
                             max_latency_ms=max_latency_ms, renode_uart_port=UART_PORT)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            _fill(work, config, board, build.out_dir, inputs, expected)
            _replace_dir(work, out_dir)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return config


def _fill(work: Path, config: SuiteConfig, board: Board, build_dir: Path, inputs: list[np.ndarray],
          expected: list[np.ndarray]) -> None:
    (work / VECTORS_DIR).mkdir()
    for i in range(config.vectors):
        for k, x in enumerate(inputs):
            np.save(vector_path(work, i, "input", k), x[i])
        for k, y in enumerate(expected):
            np.save(vector_path(work, i, "expected", k), y[i])
    shutil.copyfile(build_dir / "firmware.elf", work / "firmware.elf")
    shutil.copyfile(build_dir / "build.json", work / "build.json")
    shutil.copyfile(board.path, work / f"{board.name}.toml")
    (work / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")
    write_renode_files(board, work / "renode")
    (work / QEMU_RESOURCE).write_text(_render("tinyml-qemu.resource.j2"))
    (work / SUITE_FILE).write_text(_render(
        "hil.robot.j2", config=config, board=board, uart=uart_peripheral(board),
        max_latency=config.max_latency_ms if config.max_latency_ms is not None else "none",
        renode_needs=minimum_renode(board)))


def _check_target(target: Path) -> None:
    """`-o` may be new, empty, or an earlier suite (replaced); anything else is refused before any work."""
    if target.exists() and (not target.is_dir() or not (target / CONFIG_FILE).is_file() and any(target.iterdir())):
        raise TinymlError(f"{target} exists and is not a tinyml HIL suite; choose another -o", BAD_INPUT)


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` in place of `target` (a directory that may exist), never leaving a half-written `target`."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / "suite")
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
