"""On-device benchmark (`tinyml bench`): run a model's firmware in QEMU or on a flashed board over serial, check
every output against the host reference, and report time, memory and energy per inference.

Counts and estimates:
- Emulator (QEMU `-icount shift=0`): the device's SysTick ticks around each `tm_model_invoke()` convert exactly to
  guest instructions (`tinyml.device.targets.qemu.ticks_to_instructions`, resolution one tick: 40 instructions on MPS2).
  The latency estimate is instructions / `clock_hz`, i.e. one cycle per instruction. Real Cortex-M cores need more
  (multi-cycle loads, multiplies and taken branches, flash wait states), so it is a lower bound.
- Board (`port`): the ticks are CPU cycles (DWT CYCCNT, or SysTick on M0/M0+) at the firmware's clock, and the
  latency estimate is cycles / `clock_hz`. The real-board images set the core clock to `clock_hz` before they
  start (`boot_clock_hz` = `clock_hz`, with the flash wait states that clock needs), so this is wall time.
- Energy per inference: the board's power model at `clock_hz` over the same cycle (or instruction) count
  (`Board.power.energy_uj`).
- Flash, RAM and arena come from the build; peak stack from the device's stack meter (painted at boot).
- MACs per inference: the conv, depthwise and fully connected layers of the graph (`tinyml.compiler.stats`).
- Cycle estimate (`cycles=True`, emulated Cortex-M4/M7 only): one more inference (the first sample) traced in QEMU
  and costed with the Cortex-M4 instruction timings (`tinyml.device.targets.cycle_estimate`): zero wait states, and
  on the dual-issue M7 the single-issue M4 table, so there it leans pessimistic.
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tinyml import __version__
from tinyml.compiler.codegen import CompileResult, TensorInfo, compile_model
from tinyml.compiler.stats import model_stats
from tinyml.device.boards import Board
from tinyml.device.build import BuildResult, build_firmware, require_fit
from tinyml.device.protocol import DeviceLink, connect, parse_firmware_version
from tinyml.device.targets.host import check_inputs, run_host, sample_shape
from tinyml.device.targets.qemu import QemuSession, ticks_to_instructions
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError
from tinyml.npyio import write_atomically
from tinyml.paths import FIRMWARE_DIR, cache_dir

DEFAULT_RUNS = 10
RANDOM_SEED = 0
# Per inference before a device counts as hung. VWW (~100 M instructions) takes 0.1 s in QEMU, but about 25 s
# on an M4 at a 4 MHz reset clock and longer on an M0+.
QEMU_INVOKE_TIMEOUT_S = 60.0
BOARD_INVOKE_TIMEOUT_S = 600.0
# Cores whose timings the cycle estimate models (M4 TRM table; the M7 is costed with it too, see the module doc).
CYCLE_ESTIMATE_CORES = ("cortex-m4", "cortex-m7")
CYCLE_ESTIMATE_BASIS = ("Cortex-M4 instruction timings (TRM DDI 0439) over the QEMU trace of sample 0, zero wait "
                        "states, not cycle-accurate")
QEMU_BOOT_TIMEOUT_S = 20.0
QEMU_EXIT_GRACE_S = 2.0      # after the link drops, how long to wait for QEMU's own exit message


@dataclass(frozen=True)
class DeviceRun:
    """What the device returned: outputs shaped like the host's (runs, *sample_shape(output)), ticks per
    inference."""

    outputs: list[np.ndarray]
    ticks: list[int]
    stack_peak_bytes: int
    firmware_version: str = ""  # as INFO reported it (with the registry identity when built from a version)


@dataclass(frozen=True)
class BenchReport:
    board: str
    target: str                   # "qemu" or the serial port / URL
    model_hash: str
    runs: int
    outputs_match: int            # output tensors equal to every reference, over all runs
    outputs_total: int
    mismatched_samples: list[int]
    references: list[str]         # what the outputs were compared with: "host" (our C build), "tflite"
    counter: str                  # "instructions" (emulator) or "cycles" (board)
    per_inference: list[int]      # instructions or cycles of each run
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    arena_bytes: int
    weights_bytes: int
    stack_peak_bytes: int
    energy_uj_estimate: float
    outputs: list[np.ndarray] = field(repr=False, compare=False)
    macs: int = 0                          # multiply-accumulates per inference (conv, depthwise, FC)
    cycles_estimate: int | None = None     # `bench(cycles=True)`: estimated cycles of one inference (sample 0)
    cycles_estimate_instructions: int | None = None   # the instructions of that trace (cross-checks the count)
    firmware_version: str = ""             # INFO's firmware string (tinyml.device.protocol.parse_firmware_version)

    @property
    def count_per_inference(self) -> int:
        """The mean over runs, rounded (runs differ only where a kernel's work depends on the data)."""
        return round(sum(self.per_inference) / len(self.per_inference))

    @property
    def mac_per_cycle_estimate(self) -> float | None:
        return self.macs / self.cycles_estimate if self.cycles_estimate else None

    @property
    def latency_ms_estimate(self) -> float:
        return self.count_per_inference / self.clock_hz * 1e3

    @property
    def latency_basis(self) -> str:
        if self.counter == "instructions":
            return f"instructions / {self.clock_hz} Hz (1 cycle per instruction: a lower bound)"
        return f"cycles / {self.clock_hz} Hz"

    def to_json(self) -> dict[str, Any]:
        return {"board": self.board, "target": self.target, "model_hash": self.model_hash, "runs": self.runs,
                "outputs_match": self.outputs_match, "outputs_total": self.outputs_total,
                "mismatched_samples": self.mismatched_samples, "references": self.references,
                f"{self.counter}_per_inference": self.count_per_inference,
                f"{self.counter}_min": min(self.per_inference), f"{self.counter}_max": max(self.per_inference),
                "latency_ms_estimate": round(self.latency_ms_estimate, 6), "latency_basis": self.latency_basis,
                "clock_hz": self.clock_hz, "flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes,
                "arena_bytes": self.arena_bytes, "weights_bytes": self.weights_bytes,
                "stack_peak_bytes": self.stack_peak_bytes, "energy_uj_estimate": round(self.energy_uj_estimate, 6),
                "macs": self.macs, "firmware": parse_firmware_version(self.firmware_version)} | self._derived_json()

    def _derived_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.counter == "instructions":
            out["mac_per_instruction"] = round(self.macs / max(self.count_per_inference, 1), 6)
        if self.cycles_estimate is not None:
            out |= {"cycles_estimate_per_inference": self.cycles_estimate,
                    "cycles_estimate_instructions": self.cycles_estimate_instructions,
                    "mac_per_cycle_estimate": round(self.mac_per_cycle_estimate, 6),
                    "cycles_estimate_basis": CYCLE_ESTIMATE_BASIS}
        return out


def take_samples(infos: tuple[TensorInfo, ...], inputs: list[np.ndarray] | None, count: int | None, default: int,
                 source: str, option: str) -> list[np.ndarray]:
    """The first `count` samples of `inputs` (all of them when `count` is None), or `count or default` random ones
    when no inputs were given; `option` names the count in the error when there are too few."""
    if inputs is None:
        inputs = random_inputs(infos, count or default)
    available = check_inputs(infos, inputs, source)
    if count is not None and count > available:
        raise TinymlError(f"{source}: {option} {count} but only {available} samples were given", BAD_INPUT)
    return [x[:count or available] for x in inputs]


def random_inputs(infos: tuple[TensorInfo, ...], n: int, seed: int = RANDOM_SEED) -> list[np.ndarray]:
    """`n` deterministic samples per input: the full integer range, or standard normal values for floats."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in infos:
        shape, dtype = (n, *sample_shape(t)), np.dtype(t.dtype)
        if dtype.kind in "iu":
            bounds = np.iinfo(dtype)
            arrays.append(rng.integers(bounds.min, bounds.max, size=shape, dtype=dtype, endpoint=True))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _build_key(model_path: Path, board: Board, weights: str, app: str = "bench",
               mlperf_model: str | None = None) -> str:
    """Everything a firmware build depends on: the model, the profile, the weight layout, the application and
    tinyml's sources."""
    key = hashlib.sha256(f"{__version__}\0{board.name}\0{weights}\0{app}\0{mlperf_model or ''}\0".encode())
    key.update(model_path.read_bytes())
    key.update(board.path.read_bytes())
    package = Path(__file__).resolve().parent
    for path in sorted([*package.rglob("*.py"), *FIRMWARE_DIR.rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            key.update(str(path.relative_to(path.anchor)).encode() + b"\0" + path.read_bytes())
    return key.hexdigest()[:20]


def _reusable(build_dir: Path, board: Board, model_hash: str, weights: str, app: str = "bench",
              mlperf_model: str | None = None) -> BuildResult | None:
    """The build in `build_dir` if it is a complete, fitting build of this model for this board, layout and app."""
    try:
        info = json.loads((build_dir / "build.json").read_text())
    except (OSError, ValueError):
        return None
    profile = hashlib.sha256(board.path.read_bytes()).hexdigest()[:16]
    # build.json without "weights" comes from before the option, when every build was an "auto" one
    if (info.get("board"), info.get("model_hash"), info.get("profile_sha256"), info.get("weights", "auto")) != \
            (board.name, model_hash, profile, weights):
        return None
    if info.get("app", "bench") != app or mlperf_model not in (None, info.get("mlperf_model")):
        return None
    if not (build_dir / "firmware.elf").is_file():
        return None
    known = {f.name for f in fields(BuildResult)}
    return BuildResult(**{k: v for k, v in info.items() if k in known} | {"out_dir": build_dir, "weights": weights})


def firmware_for(model_path: Path, board: Board, model_hash: str, build_dir: Path | None = None,
                 weights: str = DEFAULT_WEIGHTS, app: str = "bench", mlperf_model: str | None = None) -> BuildResult:
    """A fitting firmware build of `app` (tinyml.device.build.APPS; `mlperf_model`: its model id, see
    tinyml.device.mlperf_app): `build_dir` (reused if it already holds this model for this board) or the per-user
    cache, keyed by the model, the profile, the app and tinyml's sources. Over budget: exit code 3."""
    if build_dir is None:
        key = _build_key(model_path, board, weights, app, mlperf_model)
        build_dir = cache_dir() / "firmware" / f"{board.name}-{key}"
    found = _reusable(build_dir, board, model_hash, weights, app, mlperf_model)
    if found is not None:
        return found
    result = build_firmware(model_path, board, build_dir, weights, app=app, mlperf_model=mlperf_model)
    require_fit(result)
    return result


def _sample_bytes(x: np.ndarray, i: int) -> bytes:
    return np.ascontiguousarray(x[i]).tobytes()


def _advanced(ticks: int, board_name: str, url: str) -> int:
    """The ticks of an inference that ran; a counter that did not move (0: the same value before and after, as
    when an emulator leaves the DWT unmapped) would report 0 ms, so it fails instead."""
    if ticks == 0:
        raise TinymlError(f"{board_name} at {url}: the cycle counter did not advance during an inference (0 ticks), "
                          "so no time can be measured; on Renode map a DWT at 0xE0001000 (the platform `tinyml hil` "
                          "writes has one), on a board check the counter set-up", DEVICE_FAILURE)
    return ticks


def run_on_device(link: DeviceLink, compiled: CompileResult, inputs: list[np.ndarray], progress: bool) -> DeviceRun:
    """For each sample: LOAD_INPUT every input (the arena may have overwritten them), INVOKE 1, READ_OUTPUT."""
    info = link.info()
    if info.model_hash != compiled.model_hash:
        raise TinymlError(f"the device at {link.url} runs model {info.model_hash}, not {compiled.model_hash}; "
                          "build and flash this model first", DEVICE_FAILURE)
    n = inputs[0].shape[0]
    raw: list[list[bytes]] = [[] for _ in compiled.outputs]
    ticks = []
    for i in tqdm(range(n), desc="bench", unit="inference", file=sys.stderr, disable=not progress):
        for index, x in enumerate(inputs):
            link.load_input(index, _sample_bytes(x, i))
        ticks.append(_advanced(link.invoke(1).last_ticks, info.board_name, link.url))
        for index, out in enumerate(raw):
            out.append(link.read_output(index))
    outputs = [np.frombuffer(b"".join(chunks), dtype=t.dtype).reshape((n, *sample_shape(t)))
               for t, chunks in zip(compiled.outputs, raw)]
    return DeviceRun(outputs, ticks, link.stats().stack_peak_bytes, info.firmware_version)


def _run_in_qemu(board: Board, elf: Path, compiled: CompileResult, inputs: list[np.ndarray], progress: bool,
                 invoke_timeout_s: float) -> DeviceRun:
    n = inputs[0].shape[0]
    with QemuSession(board, elf, max_seconds=QEMU_BOOT_TIMEOUT_S + n * invoke_timeout_s) as qemu:
        try:
            # Loopback TCP neither drops nor damages bytes, so a resend could only wait again for a hung device.
            with connect(qemu.url, timeout_s=2.0, retries=0, boot_timeout_s=QEMU_BOOT_TIMEOUT_S,
                         invoke_timeout_s=invoke_timeout_s) as link:
                return run_on_device(link, compiled, inputs, progress)
        except TinymlError as exc:
            if exc.exit_code != DEVICE_FAILURE:
                raise
            deadline = time.monotonic() + QEMU_EXIT_GRACE_S
            while time.monotonic() < deadline:  # a crashed emulator closes the socket just before it exits
                qemu.check()
                time.sleep(0.05)
            raise TinymlError(f"QEMU ({board.emulator}): {exc.message}", DEVICE_FAILURE) from exc


def _run_on_board(port: str, board: Board, compiled: CompileResult, inputs: list[np.ndarray], progress: bool,
                  invoke_timeout_s: float) -> DeviceRun:
    with connect(port, baudrate=board.uart.baud, invoke_timeout_s=invoke_timeout_s) as link:
        if link.info().board_name != board.name:
            raise TinymlError(f"the device at {port} is a {link.info().board_name}, not a {board.name}", BAD_INPUT)
        return run_on_device(link, compiled, inputs, progress)


def reference_outputs(model_path: Path, compiled: CompileResult,
                      inputs: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Expected outputs: our host build (`run_host`) and, when installed, the TFLite interpreter's builtin kernels."""
    refs = {"host": run_host(compiled, inputs)}
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return refs
    interpreter = Interpreter(model_content=model_path.read_bytes(), num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    per_sample = []
    for i in range(inputs[0].shape[0]):
        for detail, x in zip(interpreter.get_input_details(), inputs):
            interpreter.set_tensor(detail["index"], x[i].reshape(detail["shape"]))
        interpreter.invoke()
        per_sample.append([interpreter.get_tensor(d["index"]).reshape(sample_shape(t)).copy()
                           for d, t in zip(interpreter.get_output_details(), compiled.outputs)])
    refs["tflite"] = [np.stack(column) for column in zip(*per_sample)]
    return refs


def _compare(device: list[np.ndarray], refs: dict[str, list[np.ndarray]]) -> tuple[int, list[int]]:
    """Output tensors equal (byte for byte) to every reference, and the samples where any differs."""
    n = device[0].shape[0]
    matching, bad = 0, []
    for i in range(n):
        ok = [all(np.array_equal(d[i].reshape(-1).view(np.uint8), r[i].reshape(-1).view(np.uint8))  # 0-d too
                  for r in ref_outputs)
              for d, ref_outputs in zip(device, zip(*refs.values()))]
        matching += sum(ok)
        if not all(ok):
            bad.append(i)
    return matching, bad


def bench(model_path: Path, board: Board, *, port: str | None = None, inputs: list[np.ndarray] | None = None,
          runs: int | None = None, build_dir: Path | None = None, progress: bool = False,
          invoke_timeout_s: float | None = None, source: str = "inputs", cycles: bool = False,
          weights: str = DEFAULT_WEIGHTS) -> BenchReport:
    """Benchmark `model_path` on `board`: in its emulator (`port` None) or on a flashed board at `port`.

    `inputs`: one array per model input, (N, *sample_shape(input)); `runs` then takes the first N (default all).
    Without `inputs`, `runs` deterministic random samples (default DEFAULT_RUNS). Outputs that differ from the
    reference are reported in `mismatched_samples`; raising on them is the caller's choice. `invoke_timeout_s`: how
    long one inference may take before the device counts as hung (default: QEMU_/BOARD_INVOKE_TIMEOUT_S).
    `cycles`: also estimate the cycles of one inference (emulated Cortex-M4/M7 only; see the module doc).
    `weights`: the DSP kernels' weight layout of the firmware built (tinyml.device.build.WEIGHT_LAYOUTS).
    """
    model_path = Path(model_path)
    if runs is not None and runs < 1:
        raise TinymlError(f"--runs must be at least 1, got {runs}")
    if port is None and board.emulator is None:
        raise TinymlError(f"board {board.name} has no emulator; flash it and pass --port", BAD_INPUT)
    if cycles and (port is not None or board.core not in CYCLE_ESTIMATE_CORES):
        raise TinymlError(f"--cycles needs an emulated {' or '.join(CYCLE_ESTIMATE_CORES)} (the cores whose "
                          f"timings it models); {board.name} is a {board.core}"
                          f"{' on a serial port' if port is not None else ''}", BAD_INPUT)
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as tmp:
        compiled = compile_model(model_path, Path(tmp) / "model")
        inputs = take_samples(compiled.inputs, inputs, runs, DEFAULT_RUNS, source, "--runs")
        refs = reference_outputs(model_path, compiled, inputs)
        build = firmware_for(model_path, board, compiled.model_hash, build_dir, weights)
        if port is None:
            run = _run_in_qemu(board, build.elf, compiled, inputs, progress,
                               invoke_timeout_s or QEMU_INVOKE_TIMEOUT_S)
            counts = [ticks_to_instructions(board, t) for t in run.ticks]
        else:
            run = _run_on_board(port, board, compiled, inputs, progress,
                                invoke_timeout_s or BOARD_INVOKE_TIMEOUT_S)
            counts = run.ticks
        estimate = None
        if cycles:
            from tinyml.device.targets.cycle_estimate import estimate_inference
            estimate = estimate_inference(board, build.elf, [_sample_bytes(x, 0) for x in inputs])
    matching, bad = _compare(run.outputs, refs)
    mean = round(sum(counts) / len(counts))
    return BenchReport(
        board=board.name, target="qemu" if port is None else port, model_hash=compiled.model_hash,
        runs=len(counts), outputs_match=matching, outputs_total=len(counts) * len(run.outputs),
        mismatched_samples=bad, references=list(refs), counter="instructions" if port is None else "cycles",
        per_inference=counts, clock_hz=board.clock_hz, flash_bytes=build.flash_bytes, ram_bytes=build.ram_bytes,
        arena_bytes=build.arena_bytes, weights_bytes=compiled.weights_bytes, stack_peak_bytes=run.stack_peak_bytes,
        energy_uj_estimate=board.power.energy_uj(mean, board.clock_hz), outputs=run.outputs,
        macs=model_stats(model_path).macs, cycles_estimate=estimate.cycles if estimate else None,
        cycles_estimate_instructions=estimate.instructions if estimate else None,
        firmware_version=run.firmware_version)


def measure_instructions(model_path: Path, board: Board, runs: int = 2) -> int:
    """Instructions per inference of `model_path` in `board`'s emulator, on `runs` random samples (deterministic:
    QEMU `-icount shift=0`). Cached in `cache_dir()/bench/instructions.json` under the firmware's build key (the
    model, the board profile and tinyml's sources, so a kernel change is measured anew) and the runs, because the
    budget search (`tinyml fit`) and `tinyml prune` ask for the same models again."""
    key = f"{board.name}:{_build_key(Path(model_path), board, DEFAULT_WEIGHTS)}:{runs}"
    path = cache_dir() / "bench" / "instructions.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    if key not in cache:
        count = bench(Path(model_path), board, runs=runs).count_per_inference
        cache = json.loads(path.read_text()) if path.exists() else {}    # another process may have added some
        cache[key] = count
        write_atomically(path, json.dumps(cache, indent=1).encode())
    return int(cache[key])
