"""`tinyml fit`: the most accurate model of a recipe that meets a board's flash, RAM, latency and energy budgets.

1. Candidates: the recipe's width x depth grid. Each is converted to int8 (random weights: sizes and instruction
   counts do not depend on the weight values), compiled by tinyml and linked into the board's firmware, so flash
   and RAM are the exact figures of `tinyml build`.
2. Latency: a per-core linear model, instructions = a*conv MACs + b*depthwise MACs + c*FC MACs + d*activation elements +
   e*operators + f, fitted (non-negative
   least squares) to emulator instruction counts of a few candidates measured in QEMU (`-icount shift=0`) on an
   emulated board with the same core (the target board itself when it has an emulator). Latency = instructions /
   clock_hz (one cycle per instruction, the same basis as `tinyml bench`), energy = `Board.power` over the same
   count. Measurements are cached per core and model hash.
3. Candidates within every memory/latency/energy budget are trained (largest first, up to `max_train`), quantized
   and scored by int8 validation accuracy (the TFLite interpreter; our compiled C is checked equal); the best one
   meeting `--min-accuracy` is chosen, built into firmware for the board and run in its emulator on the test split.
4. Derived candidates, from the trained ones: the most accurate is channel-pruned (`prune.channel_prune`, the
   structured path) at each of `prune_ratios` and fine-tuned (a third of the epochs, a third of the learning rate,
   as `tinyml prune`); the largest trained one teaches a narrower student of its depth (`distill.kd_loss`, the
   trained width at or below half the teacher's). Each is measured like the grid (its own int8 model compiled and
   linked for flash/RAM, the latency model, energy, int8 validation accuracy) and competes in step 3's choice.
No candidate fits: exit code 3 naming the budget that fails and by how much the closest candidate misses it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.device.boards import Board, all_boards, get_board
from tinyml.errors import BAD_INPUT, OVER_BUDGET, TinymlError
from tinyml.paths import cache_dir

CALIBRATION_POINTS = 5


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[fit] {msg}", file=sys.stderr, flush=True)


@dataclass
class Candidate:
    tag: str
    width: float
    depth: float
    tflite: str = ""                 # random-weight int8 model (sizes), then the trained one
    params: int = 0
    macs: int = 0
    conv_macs: int = 0
    depthwise_macs: int = 0
    fc_macs: int = 0
    activation_elements: int = 0
    operators: int = 0
    flash_bytes: int = 0
    ram_bytes: int = 0
    arena_bytes: int = 0
    instructions_estimate: int = 0
    instructions_measured: int | None = None
    latency_ms_estimate: float = 0.0
    energy_uj_estimate: float = 0.0
    violations: list[str] = field(default_factory=list)
    origin: str = "grid"             # how it was made: "grid", "pruned 0.5 from w1-d1", "distilled from w1-d1"
    trained: bool = False
    float_val: float | None = None
    int8_val: float | None = None
    int8_test: float | None = None
    host_c_test: float | None = None

    @property
    def fits(self) -> bool:
        return not self.violations

    @property
    def dirname(self) -> str:
        return self.tag.replace(" ", "-")


@dataclass
class Budgets:
    flash_bytes: int
    ram_bytes: int
    latency_ms: float | None
    energy_uj: float | None
    min_accuracy: float | None


def _budgets(board: Board, max_ram_kb, max_flash_kb, max_latency_ms, max_energy_uj, min_accuracy) -> Budgets:
    for name, value in (("--max-ram-kb", max_ram_kb), ("--max-flash-kb", max_flash_kb),
                        ("--max-latency-ms", max_latency_ms), ("--max-energy-uj", max_energy_uj)):
        if value is not None and value <= 0:
            raise TinymlError(f"{name} must be positive, got {value}", BAD_INPUT)
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise TinymlError(f"--min-accuracy is a fraction in [0, 1], got {min_accuracy}", BAD_INPUT)
    ram = board.ram_bytes if max_ram_kb is None else min(board.ram_bytes, int(max_ram_kb * 1024))
    flash = board.flash_bytes if max_flash_kb is None else min(board.flash_bytes, int(max_flash_kb * 1024))
    return Budgets(flash, ram, max_latency_ms, max_energy_uj, min_accuracy)


def _violations(c: Candidate, b: Budgets) -> list[str]:
    out = []
    if c.flash_bytes > b.flash_bytes:
        out.append(f"flash {c.flash_bytes} B > {b.flash_bytes} B")
    if c.ram_bytes > b.ram_bytes:
        out.append(f"RAM {c.ram_bytes} B > {b.ram_bytes} B")
    if b.latency_ms is not None and c.latency_ms_estimate > b.latency_ms:
        out.append(f"latency {c.latency_ms_estimate:.2f} ms > {b.latency_ms:g} ms")
    if b.energy_uj is not None and c.energy_uj_estimate > b.energy_uj:
        out.append(f"energy {c.energy_uj_estimate:.2f} uJ > {b.energy_uj:g} uJ")
    return out


def _overshoots(c: Candidate, b: Budgets) -> dict[str, tuple[float, float, str]]:
    """budget name -> (relative overshoot, absolute overshoot, unit) for each budget the candidate misses."""
    rows = {"flash": (c.flash_bytes, b.flash_bytes, "B"), "RAM": (c.ram_bytes, b.ram_bytes, "B"),
            "latency": (c.latency_ms_estimate, b.latency_ms, "ms"), "energy": (c.energy_uj_estimate, b.energy_uj, "uJ")}
    return {k: ((v - lim) / lim, v - lim, unit) for k, (v, lim, unit) in rows.items() if lim is not None and v > lim}


def calibration_board(board: Board) -> Board:
    """An emulated board with the same core (and FPU setting) to count instructions on: the board itself if it has
    an emulator, otherwise the emulated one with the most RAM."""
    if board.emulator:
        return board
    same = [b for b in all_boards() if b.emulator and b.core == board.core]
    if not same:
        raise TinymlError(f"no emulated board has a {board.core} core to calibrate the latency model for "
                          f"{board.name}", BAD_INPUT)
    return max(same, key=lambda b: b.ram_bytes)


def _measure_cache() -> Path:
    return cache_dir() / "fit" / "instructions.json"


def measure_instructions(tflite: Path, board: Board) -> int:
    """Instructions per inference of `tflite` in `board`'s emulator (cached by core, board and model hash)."""
    from tinyml.device.bench import bench

    key = f"{board.name}:{hashlib.sha256(Path(tflite).read_bytes()).hexdigest()[:16]}"
    path = _measure_cache()
    cache = json.loads(path.read_text()) if path.exists() else {}
    if key not in cache:
        report = bench(Path(tflite), board, runs=2)
        cache = json.loads(path.read_text()) if path.exists() else {}
        cache[key] = report.count_per_inference
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cache, indent=1))
    return int(cache[key])


def _features(c: Candidate) -> list[float]:
    return [float(c.conv_macs), float(c.depthwise_macs), float(c.fc_macs), float(c.activation_elements),
            float(c.operators), 1.0]


@dataclass
class LatencyModel:
    core: str
    board: str                   # where instructions were counted
    coefficients: list[float]    # per conv / depthwise / FC MAC, per activation element, per operator, fixed
    points: list[dict]
    max_rel_error: float

    def instructions(self, c: Candidate) -> int:
        return int(round(float(np.dot(self.coefficients, _features(c)))))


def calibrate(cands: list[Candidate], target: Board, progress: bool) -> LatencyModel:
    from scipy.optimize import nnls

    emu = calibration_board(target)
    usable = [c for c in sorted(cands, key=lambda c: c.macs)
              if emu is not target or c.ram_bytes <= target.ram_bytes and c.flash_bytes <= target.flash_bytes]
    if len(usable) < 2 and emu is target:                  # too little fits the target: count on a bigger sibling
        emu = calibration_board_any(target)
        usable = sorted(cands, key=lambda c: c.macs)
    if not usable:
        raise TinymlError(f"no candidate builds for {emu.name} to calibrate the latency model", OVER_BUDGET)
    picks = sorted({int(round(i)) for i in np.linspace(0, len(usable) - 1, min(CALIBRATION_POINTS, len(usable)))})
    points = []
    for i in picks:
        c = usable[i]
        _log(progress, f"calibrating latency: {c.tag} in QEMU ({emu.name}, {emu.core})")
        c.instructions_measured = measure_instructions(Path(c.tflite), emu)
        points.append({"candidate": c.tag, "features": _features(c), "instructions": c.instructions_measured})
    a = np.array([_features(usable[i]) for i in picks])
    y = np.array([p["instructions"] for p in points], float)
    scale = np.maximum(np.abs(a).max(axis=0), 1.0)       # column scaling for conditioning
    coef, _ = nnls(a / scale, y)
    coef = coef / scale
    pred = a @ coef
    err = float(np.max(np.abs(pred - y) / y)) if len(y) else 0.0
    return LatencyModel(target.core, emu.name, [float(v) for v in coef], points, err)


def _estimate(c: Candidate, lat: LatencyModel, board: Board, b: Budgets) -> None:
    """Latency and energy from the latency model, then the budgets the candidate misses."""
    c.instructions_estimate = lat.instructions(c)
    c.latency_ms_estimate = c.instructions_estimate / board.clock_hz * 1e3
    c.energy_uj_estimate = board.power.energy_uj(c.instructions_estimate, board.clock_hz)
    c.violations = _violations(c, b)


def calibration_board_any(board: Board) -> Board:
    same = [b for b in all_boards() if b.emulator and b.core == board.core]
    if not same:
        raise TinymlError(f"no emulated board has a {board.core} core", BAD_INPUT)
    return max(same, key=lambda b: b.ram_bytes)


def _size_candidate(c: Candidate, recipe, data, board: Board, work: Path) -> None:
    from tinyml.train.quantize import convert_int8
    from tinyml.train.recipes import build_model
    from tinyml.train.trainer import setup_tf

    setup_tf(0)
    model = build_model(recipe, data.input_shape, data.num_classes, c.width, c.depth)
    d = work / "candidates" / c.dirname
    d.mkdir(parents=True, exist_ok=True)
    path = d / "sizing.tflite"
    path.write_bytes(convert_int8(model, data.x_train[:16]))
    _measure_sizes(c, path, board)


def _measure_sizes(c: Candidate, path: Path, board: Board) -> None:
    """Operator statistics of the int8 model at `path` and the flash/RAM of its firmware for `board`."""
    from tinyml.device.build import build_firmware
    from tinyml.compiler.stats import model_stats

    c.tflite = str(path)
    stats = model_stats(path)
    c.params, c.macs, c.activation_elements = stats.params, stats.macs, stats.activation_elements
    c.conv_macs, c.depthwise_macs, c.fc_macs, c.operators = (stats.conv_macs, stats.depthwise_macs, stats.fc_macs,
                                                             stats.operators)
    build_dir = path.parent / f"{path.stem}-build"
    result = build_firmware(path, board, build_dir)
    c.flash_bytes, c.ram_bytes, c.arena_bytes = result.flash_bytes, result.ram_bytes, result.arena_bytes
    shutil.rmtree(build_dir, ignore_errors=True)


def _no_fit_message(board: Board, b: Budgets, cands: list[Candidate]) -> str:
    failing: dict[str, int] = {}
    for c in cands:
        for name in _overshoots(c, b):
            failing[name] = failing.get(name, 0) + 1
    closest = min(cands, key=lambda c: max(v[0] for v in _overshoots(c, b).values()))
    needs = "; ".join(f"{name} {abs_:.6g} {unit} over ({100 * rel:.0f}%)"
                      for name, (rel, abs_, unit) in _overshoots(closest, b).items())
    budgets = ", ".join(f"{name} fails for {n} of {len(cands)}" for name, n in failing.items())
    return (f"no candidate fits {board.name} (flash {b.flash_bytes} B, RAM {b.ram_bytes} B"
            + (f", latency {b.latency_ms:g} ms" if b.latency_ms is not None else "")
            + (f", energy {b.energy_uj:g} uJ" if b.energy_uj is not None else "")
            + f"): {budgets}; the closest candidate, {closest.tag} (flash {closest.flash_bytes} B, RAM "
            f"{closest.ram_bytes} B, {closest.latency_ms_estimate:.2f} ms, {closest.energy_uj_estimate:.2f} uJ), "
            f"misses by: {needs}")


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (lower cost, higher accuracy)."""
    front = []
    for i, (cost, acc) in enumerate(points):
        if not any((c2 <= cost and a2 >= acc) and (c2 < cost or a2 > acc) for j, (c2, a2) in enumerate(points)
                   if j != i):
            front.append(i)
    return front


def pareto_plot(cands: list[Candidate], chosen: Candidate | None, b: Budgets, metric: str, path: Path,
                title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [c for c in cands if c.int8_val is not None]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label, limit in ((axes[0], "latency_ms_estimate", "latency estimate (ms)", b.latency_ms),
                                  (axes[1], "ram_bytes", "RAM (bytes, firmware)", b.ram_bytes)):
        for c in cands:
            if c.int8_val is None:
                ax.axvline(getattr(c, key), color="0.85", lw=0.8, zorder=0)
        pts = [(getattr(c, key), c.int8_val) for c in trained]
        for c, (x, y) in zip(trained, pts):
            marker = {"pruned": "s", "distilled": "^"}.get(c.origin.split()[0], "o") if c.fits else "x"
            ax.scatter(x, y, marker=marker, color="tab:blue" if c.fits else "tab:red", zorder=3)
            ax.annotate(c.tag, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = sorted((pts[i] for i in pareto_front(pts)), key=lambda p: p[0])
        if front:
            ax.plot(*zip(*front), "--", color="tab:green", label="Pareto front")
        if chosen is not None and chosen.int8_val is not None:
            ax.scatter(getattr(chosen, key), chosen.int8_val, s=220, marker="*", color="gold", edgecolor="k",
                       zorder=4, label="chosen")
        if limit is not None:
            ax.axvline(limit, color="tab:red", lw=1, label="budget")
        ax.set_xlabel(label)
        ax.set_ylabel(f"int8 validation {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title + " (o grid, square pruned, triangle distilled; grey lines: not trained)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class FitReport:
    board: str
    recipe: str
    fits: bool
    candidates: int
    budgets: dict
    chosen: dict | None
    table: list[dict]
    latency_model: dict
    pareto_plot: str
    device: dict | None
    out_dir: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fit(recipe_spec: str, board_name: str, out_dir: Path, *, max_ram_kb: float | None = None,
        max_flash_kb: float | None = None, max_latency_ms: float | None = None, max_energy_uj: float | None = None,
        min_accuracy: float | None = None, epochs: int | None = None, data_spec: str | None = None, seed: int = 0,
        small_data: bool = False, max_train: int = 8, device_samples: int | None = None,
        widths: tuple[float, ...] | None = None, depths: tuple[float, ...] | None = None,
        prune_ratios: tuple[float, ...] = (0.25, 0.5), distill: bool = True, progress: bool = True) -> FitReport:
    from tinyml.device.bench import bench
    from tinyml.device.build import build_firmware, require_fit
    from tinyml.train.data import load_dataset
    from tinyml.train.quantize import convert_int8, evaluate_int8, io_quant, quantize_inputs
    from tinyml.train.recipes import build_model, get_recipe
    from tinyml.train.trainer import evaluate_keras, fit_model, metric_name, save_trained, setup_tf

    recipe, _ = get_recipe(recipe_spec)
    board = get_board(board_name)
    for r in prune_ratios:
        if not 0 < r < 1:
            raise TinymlError(f"--prune-ratios are fractions of channels in (0, 1), got {r:g}", BAD_INPUT)
    b = _budgets(board, max_ram_kb, max_flash_kb, max_latency_ms, max_energy_uj, min_accuracy)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset(data_spec or recipe.dataset, seed=seed, small=small_data, task=recipe.task)
    metric = metric_name(data.task)

    cands = [Candidate(f"w{w:g}-d{d:g}", w, d) for d in (depths or recipe.depths) for w in (widths or recipe.widths)]
    for c in cands:
        _log(progress, f"sizing {recipe.name} {c.tag}: int8 conversion + firmware build for {board.name}")
        _size_candidate(c, recipe, data, board, out_dir)
    lat = calibrate(cands, board, progress)
    for c in cands:
        _estimate(c, lat, board, b)
    feasible = sorted((c for c in cands if c.fits), key=lambda c: -c.macs)
    plot = out_dir / "pareto.png"

    def report(chosen: Candidate | None, device: dict | None) -> FitReport:
        pareto_plot(cands, chosen, b, metric, plot, f"tinyml fit: {recipe.name} on {board.name}")
        chosen_json = None
        if chosen is not None:
            chosen_json = {"model": str(out_dir / "model.tflite"), "candidate": chosen.tag, "width": chosen.width,
                           "depth": chosen.depth, "metric": metric, "accuracy_int8": chosen.int8_test,
                           "accuracy_int8_val": chosen.int8_val, "accuracy_host_c": chosen.host_c_test,
                           "accuracy_float_val": chosen.float_val, "flash_bytes": chosen.flash_bytes,
                           "ram_bytes": chosen.ram_bytes, "arena_bytes": chosen.arena_bytes,
                           "latency_ms_estimate": chosen.latency_ms_estimate,
                           "energy_uj_estimate": chosen.energy_uj_estimate, "params": chosen.params,
                           "macs": chosen.macs, "origin": chosen.origin,
                           "keras": str(Path(chosen.tflite).parent / "model.keras")}
        rep = FitReport(board.name, recipe.name, chosen is not None, len(cands), asdict(b), chosen_json,
                        [{k: v for k, v in asdict(c).items()} | {"fits": c.fits} for c in cands], asdict(lat),
                        str(plot), device, str(out_dir))
        (out_dir / "fit.json").write_text(json.dumps(rep.to_json(), indent=2) + "\n")
        return rep

    if not feasible:
        report(None, None)
        raise TinymlError(_no_fit_message(board, b, cands), OVER_BUDGET)

    n_epochs = epochs or recipe.epochs
    models: dict[str, Any] = {}

    def score(c: Candidate, model, extra: dict) -> None:
        """Save the trained `model`, quantize it and score it (int8 validation and test splits)."""
        d = out_dir / "candidates" / c.dirname
        c.float_val = evaluate_keras(model, data.x_val, data.y_val, data.task)
        meta = {"recipe": recipe.name, "width": c.width, "depth": c.depth, "data": data_spec or recipe.dataset,
                "small_data": small_data, "seed": seed, "epochs": n_epochs, "task": data.task, **extra}
        save_trained(model, d, data, meta, {**meta, "metric": metric, "dataset": data.info(),
                                             "float_val": c.float_val})
        tfl = d / "model.tflite"
        tfl.write_bytes(convert_int8(model, data.x_train[np.random.default_rng(0).permutation(
            len(data.x_train))[:200]]))
        c.tflite = str(tfl)
        val = evaluate_int8(tfl, data.x_val, data.y_val, data.task)
        test = evaluate_int8(tfl, data.x_test, data.y_test, data.task)
        c.int8_val, c.int8_test, c.host_c_test = val.int8, test.int8, test.host_c
        c.trained = True
        models[c.tag] = model
        _log(progress, f"{c.tag}: float val {c.float_val:.4f}, int8 val {c.int8_val:.4f}, int8 test "
                       f"{c.int8_test:.4f} (compiled C {c.host_c_test:.4f})")

    def add_derived(c: Candidate, model, extra: dict) -> None:
        """Score a pruned or distilled model and measure it like the grid: its own firmware build for
        flash/RAM, the latency model, energy."""
        score(c, model, extra)
        _measure_sizes(c, Path(c.tflite), board)
        _estimate(c, lat, board, b)
        cands.append(c)

    step = max(1, int(np.ceil(len(feasible) / max_train)))
    to_train = feasible[::step][:max_train]
    for c in to_train:
        _log(progress, f"training {c.tag} ({c.params} params, {c.macs} MACs)")
        setup_tf(seed)
        model = build_model(recipe, data.input_shape, data.num_classes, c.width, c.depth)
        fit_model(model, data, epochs=n_epochs, batch_size=recipe.batch_size,
                  learning_rate=recipe.learning_rate, seed=seed, progress=progress, label=c.tag)
        score(c, model, {})

    def rank(c: Candidate) -> tuple[float, float]:
        return round(c.int8_val, 6), -c.latency_ms_estimate

    if prune_ratios:
        from tinyml.train.prune import channel_prune

        parent = max(to_train, key=rank)
        tune = max(1, n_epochs // 3)
        for ratio in prune_ratios:
            c = Candidate(f"{parent.tag} pruned {ratio:g}", parent.width, parent.depth,
                          origin=f"pruned {ratio:g} from {parent.tag}")
            _log(progress, f"{c.tag}: removing {ratio:g} of the channels, fine-tuning {tune} epochs")
            try:
                pruned = channel_prune(models[parent.tag], ratio)
            except TinymlError as exc:
                _log(progress, f"{c.tag}: skipped ({exc})")
                continue
            fit_model(pruned, data, epochs=tune, batch_size=recipe.batch_size,
                      learning_rate=recipe.learning_rate / 3, seed=seed, progress=progress, label=c.tag)
            add_derived(c, pruned, {"pruned": {"mode": "channels", "amount": ratio, "parent": parent.tag,
                                               "fine_tune_epochs": tune}})
    teacher = max(to_train, key=lambda c: c.macs)
    students = sorted((c for c in to_train if c.depth == teacher.depth and c.width < teacher.width),
                      key=lambda c: c.width)
    if distill and data.task == "classification" and students:
        from tinyml.train.distill import kd_loss, soften

        student = ([s for s in students if s.width <= teacher.width / 2] or students[:1])[-1]
        temperature, alpha = 4.0, 0.7
        c = Candidate(f"{student.tag} distilled from {teacher.tag}", student.width, student.depth,
                      origin=f"distilled from {teacher.tag}")
        _log(progress, f"{c.tag}: knowledge distillation (T={temperature:g}, alpha={alpha:g}), {n_epochs} epochs")
        soft = soften(np.asarray(models[teacher.tag].predict(data.x_train, batch_size=256, verbose=0)), temperature)
        hard = np.eye(data.num_classes, dtype=np.float32)[data.y_train]
        setup_tf(seed)
        model = build_model(recipe, data.input_shape, data.num_classes, c.width, c.depth)
        fit_model(model, data, epochs=n_epochs, batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
                  seed=seed, progress=progress, label=c.tag, y_train=np.concatenate([hard, soft], axis=1),
                  loss=kd_loss(temperature, alpha, data.num_classes))
        add_derived(c, model, {"distilled": {"teacher": teacher.tag, "temperature": temperature, "alpha": alpha}})

    trained = [c for c in cands if c.trained and c.fits]
    ok = [c for c in trained if b.min_accuracy is None or c.int8_val >= b.min_accuracy]
    if not ok:
        best = max(trained, key=lambda c: c.int8_val)
        report(None, None)
        raise TinymlError(f"no candidate that fits {board.name} reaches --min-accuracy {b.min_accuracy:g}: the best, "
                          f"{best.tag}, has int8 validation {metric} {best.int8_val:.4f} "
                          f"({b.min_accuracy - best.int8_val:.4f} short)", OVER_BUDGET)
    chosen = max(ok, key=rank)

    _log(progress, f"chosen {chosen.tag}: building firmware for {board.name}")
    shutil.copyfile(chosen.tflite, out_dir / "model.tflite")
    src = Path(chosen.tflite).parent
    for name in ("features.json", "tinyml.json"):
        if (src / name).exists():
            shutil.copyfile(src / name, out_dir / name)
    build = build_firmware(out_dir / "model.tflite", board, out_dir / "firmware")
    require_fit(build)
    chosen.flash_bytes, chosen.ram_bytes, chosen.arena_bytes = build.flash_bytes, build.ram_bytes, build.arena_bytes
    device = None
    if board.emulator:
        (si, zi), (so, zo) = io_quant((out_dir / "model.tflite").read_bytes())
        n = len(data.y_test) if device_samples is None else min(device_samples, len(data.y_test))
        xq = quantize_inputs(data.x_test[:n], si, zi)
        _log(progress, f"running {n} test samples in QEMU ({board.emulator})")
        rep = bench(out_dir / "model.tflite", board, inputs=[xq], build_dir=out_dir / "firmware")
        from tinyml.train.trainer import score
        out = (rep.outputs[0].astype(np.float32) - zo) * so
        acc = score(data.task, data.y_test[:n], out, (xq.astype(np.float32) - zi) * si)
        chosen.instructions_measured = rep.count_per_inference
        device = {"target": "qemu", "samples": n, "accuracy": acc, "outputs_match_reference":
                  rep.outputs_match == rep.outputs_total, "instructions_per_inference": rep.count_per_inference,
                  "instructions_estimate": chosen.instructions_estimate,
                  "latency_ms_measured": rep.latency_ms_estimate, "energy_uj_measured": rep.energy_uj_estimate,
                  "stack_peak_bytes": rep.stack_peak_bytes}
        if rep.mismatched_samples:
            raise TinymlError(f"the device's outputs differ from the reference for samples "
                              f"{rep.mismatched_samples[:10]}", 5)
    return report(chosen, device)
