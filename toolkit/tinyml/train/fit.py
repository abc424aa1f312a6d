"""`tinyml fit`: the most accurate model of a recipe that meets a board's flash, RAM, latency and energy budgets.

The search is a pipeline of stages, each a function of frozen dataclasses (every stage also reads the `Search`, the
request resolved); `fit` chains them:

    stage          takes -> gives                what it does
    plan           Request -> Search             resolves and checks the recipe, board, budgets and data
    measure_grid   Search -> Grid                the four stages below, for the recipe's width x depth grid
      candidates   -> Candidates                 one `Candidate` (a `Spec`) per grid point
      size         Candidate -> Candidate        `Footprint`: the random-weight int8 model compiled by tinyml and
                                                 linked into the board's firmware; flash and RAM are the exact
                                                 figures of `tinyml build` (they do not depend on weight values)
      calibrate    Candidates -> LatencyModel    instructions = a*conv MACs + b*depthwise MACs + c*FC MACs +
                                                 d*activation elements + e*operators + f, fitted (non-negative
                                                 least squares) to QEMU counts (`device.bench.measure_instructions`)
                                                 of a few candidates on an emulated board with the same core (the
                                                 target itself when it has an emulator)
      estimate     Candidate -> Candidate        `Cost`: latency = instructions / clock_hz (one cycle per
                                                 instruction, as `tinyml bench`), energy = `Board.power` over the
                                                 same count, and the budgets the candidate misses
    to_train       Grid -> Candidates            those within every budget, spread from the largest down, up to
                                                 `max_train`; none: exit code 3 naming the budget that fails and by
                                                 how much the closest candidate misses it
    evaluate       Candidates -> Trained         the two stages below for each (`train_and_score`), the trained
                                                 models read back from their folders:
      train        Candidate -> Trained          the recipe's model at the candidate's width and depth, trained
      quantize     Trained -> Trained            `Scores`: saved, converted to int8, int8 validation and test
                                                 accuracy (TFLite interpreter; our compiled C checked equal), with
                                                 sample counts and 95 % Wilson intervals
    DERIVED        Trained grid -> Trained       new candidate kinds made from the trained grid, then quantize,
                                                 `measure` (their own firmware build) and estimate like the grid:
      pruned                                     the most accurate, channel-pruned at each of `prune_ratios` and
                                                 fine-tuned by prune's rule (`prune.prune_channels`)
      distilled                                  a narrower student of the largest one's depth (the trained width
                                                 at or below half the teacher's), `distill.train_student`
    choose         Candidates -> Candidate       the most accurate within the budgets reaching `--min-accuracy`
    deliver        Candidate -> Delivery         firmware for the board, run in its emulator on the test split
                                                 (outputs checked against the host reference)
    report         -> FitReport                  fit.json and the Pareto plot

Scale-out: `size` over the grid and `train_and_score` over the candidates to train are independent per candidate and
run through an executor (`tinyml.train.executor`): in this process, or as Ray tasks (`--executor ray`, a local Ray
or `--address` of a cluster). Results come back in candidate order and training is deterministic (fixed seeds, op
determinism), so the Ray run gives the serial run's table and choice.

A new candidate kind (a user's model, another compression) is one function `(Search, trained grid) -> Trained
models` added to `DERIVED`.
"""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from tinyml.device.boards import Board, all_boards, get_board
from tinyml.errors import BAD_INPUT, MISMATCH, OVER_BUDGET, TinymlError
from tinyml.train.data import Dataset
from tinyml.train.executor import Executor, executor, serial
from tinyml.train.recipes import Recipe

CALIBRATION_POINTS = 5
CALIBRATION_SAMPLES = 200          # training samples the int8 converter calibrates on


# ---- the values that flow through the stages ----

@dataclass(frozen=True)
class Request:
    """What `tinyml fit` was asked (the CLI's options)."""
    recipe: str
    board: str
    out_dir: Path
    max_ram_kb: float | None = None
    max_flash_kb: float | None = None
    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    min_accuracy: float | None = None
    epochs: int | None = None
    data_spec: str | None = None
    seed: int = 0
    small_data: bool = False
    max_train: int = 8
    device_samples: int | None = None
    widths: tuple[float, ...] | None = None
    depths: tuple[float, ...] | None = None
    prune_ratios: tuple[float, ...] = (0.25, 0.5)
    distill: bool = True
    progress: bool = True
    executor: str = "serial"        # where the grid is sized and trained: "serial" or "ray" (tinyml.train.executor)
    address: str | None = None      # a Ray cluster to join (None: a local Ray)


@dataclass(frozen=True)
class Budgets:
    flash_bytes: int
    ram_bytes: int
    latency_ms: float | None
    energy_uj: float | None
    min_accuracy: float | None


@dataclass(frozen=True)
class Search:
    """The request resolved: every stage reads it, none changes it."""
    request: Request
    recipe: Recipe
    board: Board
    budgets: Budgets
    data: Dataset
    epochs: int

    @property
    def out_dir(self) -> Path:
        return self.request.out_dir

    @property
    def metric(self) -> str:
        from tinyml.train.trainer import metric_name
        return metric_name(self.data.task)

    def log(self, msg: str) -> None:
        if self.request.progress:
            print(f"[fit] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Spec:
    """What a candidate is: a grid point, or a model derived from trained ones (`origin` says how)."""
    tag: str
    width: float
    depth: float
    origin: str = "grid"            # "grid", "pruned 0.5 from w1-d1", "distilled from w1-d1"

    @property
    def dirname(self) -> str:
        return self.tag.replace(" ", "-")


@dataclass(frozen=True)
class Footprint:
    """Operator statistics of a candidate's int8 model and the flash/RAM of its firmware for the board."""
    params: int
    macs: int
    conv_macs: int
    depthwise_macs: int
    fc_macs: int
    activation_elements: int
    operators: int
    flash_bytes: int
    ram_bytes: int
    arena_bytes: int


@dataclass(frozen=True)
class Cost:
    """The latency model's estimate for a candidate, and the budgets it misses."""
    instructions_estimate: int
    latency_ms_estimate: float
    energy_uj_estimate: float
    violations: tuple[str, ...]


SCORE_KEYS = ("float_val", "int8_val", "int8_test", "host_c_test")


@dataclass(frozen=True)
class Scores:
    float_val: float
    int8_val: float
    int8_test: float
    host_c_test: float
    metric: str = "accuracy"
    val_samples: int = 0
    test_samples: int = 0

    def fields(self) -> dict[str, Any]:
        """The scores, their sample counts and, for an accuracy, their 95 % Wilson intervals (`<key>_interval`)."""
        from tinyml.train.metrics import accuracy_interval

        counts = {k: self.val_samples if k.endswith("_val") else self.test_samples for k in SCORE_KEYS}
        return {**{k: getattr(self, k) for k in SCORE_KEYS}, "val_samples": self.val_samples,
                "test_samples": self.test_samples,
                **{f"{k}_interval": accuracy_interval(getattr(self, k), counts[k])
                   if self.metric == "accuracy" and counts[k] else None for k in SCORE_KEYS}}


NO_SCORES = dict.fromkeys((*SCORE_KEYS, "val_samples", "test_samples", *(f"{k}_interval" for k in SCORE_KEYS)))


@dataclass(frozen=True)
class Candidate:
    spec: Spec
    tflite: str = ""                          # random-weight int8 model (sizes), then the trained one
    footprint: Footprint | None = None
    cost: Cost | None = None
    instructions_measured: int | None = None  # QEMU count: calibration points and the delivered model
    scores: Scores | None = None

    @property
    def tag(self) -> str:
        return self.spec.tag

    @property
    def fits(self) -> bool:
        return self.cost is None or not self.cost.violations

    @property
    def trained(self) -> bool:
        return self.scores is not None

    def row(self) -> dict[str, Any]:
        """The candidate as one flat row of fit.json's table."""
        fp, cost, scores = asdict(self.footprint), asdict(self.cost), self.scores
        return {"tag": self.tag, "width": self.spec.width, "depth": self.spec.depth, "tflite": self.tflite, **fp,
                "instructions_estimate": cost["instructions_estimate"],
                "instructions_measured": self.instructions_measured,
                "latency_ms_estimate": cost["latency_ms_estimate"], "energy_uj_estimate": cost["energy_uj_estimate"],
                "violations": list(cost["violations"]), "origin": self.spec.origin, "trained": self.trained,
                **(scores.fields() if scores else NO_SCORES), "fits": self.fits}


@dataclass(frozen=True)
class Trained:
    """A candidate's trained Keras model; `how` goes into its tinyml.json (how a derived model was made)."""
    candidate: Candidate
    model: Any                                # keras.Model
    how: dict[str, Any]


@dataclass(frozen=True)
class LatencyModel:
    core: str
    board: str                   # where instructions were counted
    coefficients: list[float]    # per conv / depthwise / FC MAC, per activation element, per operator, fixed
    points: list[dict]
    max_rel_error: float

    def instructions(self, fp: Footprint) -> int:
        return int(round(float(np.dot(self.coefficients, _features(fp)))))


@dataclass(frozen=True)
class Grid:
    latency: LatencyModel
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Delivery:
    candidate: Candidate         # with the delivered firmware's sizes and instruction count
    device: dict | None          # the emulator run on the test split (None: the board has no emulator)


@dataclass(frozen=True)
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


# ---- the pipeline ----

def fit(recipe_spec: str, board_name: str, out_dir: Path, **options: Any) -> FitReport:
    """Search `recipe_spec` for `board_name` (`options`: the fields of `Request`); writes into `out_dir`."""
    search = plan(Request(recipe_spec, board_name, Path(out_dir), **options))
    with executor(search.request.executor, search.request.address) as run:
        grid = measure_grid(search, run)
        trained = evaluate(search, run, to_train(search, grid))
    pool = _merge(grid.candidates, (t.candidate for t in trained), derive(search, grid.latency, trained))
    delivery = deliver(search, choose(search, grid.latency, pool))
    return report(search, grid.latency, _merge(pool, (delivery.candidate,)), delivery)


def plan(request: Request) -> Search:
    """Checks the request and resolves the recipe, board, budgets and data."""
    from tinyml.train.data import load_dataset
    from tinyml.train.recipes import get_recipe

    recipe, _ = get_recipe(request.recipe)
    board = get_board(request.board)
    for r in request.prune_ratios:
        if not 0 < r < 1:
            raise TinymlError(f"--prune-ratios are fractions of channels in (0, 1), got {r:g}", BAD_INPUT)
    budgets = _budgets(board, request)
    request = replace(request, out_dir=request.out_dir.resolve())   # the same folder for every Ray worker
    request.out_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset(request.data_spec or recipe.dataset, seed=request.seed, small=request.small_data,
                        task=recipe.task)
    return Search(request, recipe, board, budgets, data, request.epochs or recipe.epochs)


def _budgets(board: Board, r: Request) -> Budgets:
    for name, value in (("--max-ram-kb", r.max_ram_kb), ("--max-flash-kb", r.max_flash_kb),
                        ("--max-latency-ms", r.max_latency_ms), ("--max-energy-uj", r.max_energy_uj)):
        if value is not None and value <= 0:
            raise TinymlError(f"{name} must be positive, got {value}", BAD_INPUT)
    if r.min_accuracy is not None and not 0 <= r.min_accuracy <= 1:
        raise TinymlError(f"--min-accuracy is a fraction in [0, 1], got {r.min_accuracy}", BAD_INPUT)
    ram = board.ram_bytes if r.max_ram_kb is None else min(board.ram_bytes, int(r.max_ram_kb * 1024))
    flash = board.flash_bytes if r.max_flash_kb is None else min(board.flash_bytes, int(r.max_flash_kb * 1024))
    return Budgets(flash, ram, r.max_latency_ms, r.max_energy_uj, r.min_accuracy)


def measure_grid(search: Search, run: Executor = serial) -> Grid:
    """The grid's candidates, sized (by `run`: in this process or on Ray), the latency model calibrated on them, and
    each one's estimate."""
    sized = tuple(run(size, search, candidates(search)))
    latency = calibrate(search, sized)
    return Grid(latency, tuple(estimate(search, latency, c) for c in sized))


def candidates(search: Search) -> tuple[Candidate, ...]:
    r = search.request
    return tuple(Candidate(Spec(f"w{w:g}-d{d:g}", w, d)) for d in (r.depths or search.recipe.depths)
                 for w in (r.widths or search.recipe.widths))


def size(search: Search, c: Candidate) -> Candidate:
    """The candidate's footprint, from its architecture with random weights."""
    from tinyml.train.quantize import convert_int8
    from tinyml.train.recipes import build_model
    from tinyml.train.trainer import setup_tf

    search.log(f"sizing {search.recipe.name} {c.tag}: int8 conversion + firmware build for {search.board.name}")
    setup_tf(0)
    model = build_model(search.recipe, search.data.input_shape, search.data.num_classes, c.spec.width, c.spec.depth)
    d = search.out_dir / "candidates" / c.spec.dirname
    d.mkdir(parents=True, exist_ok=True)
    path = d / "sizing.tflite"
    path.write_bytes(convert_int8(model, search.data.x_train[:16]))
    return measure(search, replace(c, tflite=str(path)))


def measure(search: Search, c: Candidate) -> Candidate:
    """Operator statistics of the candidate's int8 model and the flash/RAM of its firmware for the board."""
    from tinyml.compiler.stats import model_stats
    from tinyml.device.build import build_firmware

    path = Path(c.tflite)
    stats = model_stats(path)
    build_dir = path.parent / f"{path.stem}-build"
    build = build_firmware(path, search.board, build_dir)
    shutil.rmtree(build_dir, ignore_errors=True)
    return replace(c, footprint=Footprint(stats.params, stats.macs, stats.conv_macs, stats.depthwise_macs,
                                          stats.fc_macs, stats.activation_elements, stats.operators,
                                          build.flash_bytes, build.ram_bytes, build.arena_bytes))


def calibration_board(board: Board) -> Board:
    """An emulated board with the same core (and FPU setting) to count instructions on: the board itself if it has
    an emulator, otherwise the emulated one with the most RAM."""
    return board if board.emulator else _largest_emulated(board)


def _largest_emulated(board: Board) -> Board:
    same = [b for b in all_boards() if b.emulator and b.core == board.core]
    if not same:
        raise TinymlError(f"no emulated board has a {board.core} core to calibrate the latency model for "
                          f"{board.name}", BAD_INPUT)
    return max(same, key=lambda b: b.ram_bytes)


def _features(fp: Footprint) -> list[float]:
    return [float(fp.conv_macs), float(fp.depthwise_macs), float(fp.fc_macs), float(fp.activation_elements),
            float(fp.operators), 1.0]


def calibrate(search: Search, cands: tuple[Candidate, ...]) -> LatencyModel:
    """The latency model fitted to QEMU instruction counts of up to CALIBRATION_POINTS candidates."""
    from scipy.optimize import nnls

    from tinyml.device.bench import measure_instructions

    target = search.board
    emu = calibration_board(target)
    by_macs = sorted(cands, key=lambda c: c.footprint.macs)
    usable = [c for c in by_macs if emu is not target or c.footprint.ram_bytes <= target.ram_bytes
              and c.footprint.flash_bytes <= target.flash_bytes]
    if len(usable) < 2 and emu is target:                  # too little fits the target: count on a bigger sibling
        emu, usable = _largest_emulated(target), by_macs
    if not usable:
        raise TinymlError(f"no candidate builds for {emu.name} to calibrate the latency model", OVER_BUDGET)
    picks = sorted({int(round(i)) for i in np.linspace(0, len(usable) - 1, min(CALIBRATION_POINTS, len(usable)))})
    points = []
    for c in (usable[i] for i in picks):
        search.log(f"calibrating latency: {c.tag} in QEMU ({emu.name}, {emu.core})")
        points.append({"candidate": c.tag, "features": _features(c.footprint),
                       "instructions": measure_instructions(Path(c.tflite), emu)})
    a = np.array([p["features"] for p in points])
    y = np.array([p["instructions"] for p in points], float)
    scale = np.maximum(np.abs(a).max(axis=0), 1.0)       # column scaling for conditioning
    coef, _ = nnls(a / scale, y)
    coef = coef / scale
    err = float(np.max(np.abs(a @ coef - y) / y)) if len(y) else 0.0
    return LatencyModel(target.core, emu.name, [float(v) for v in coef], points, err)


def estimate(search: Search, latency: LatencyModel, c: Candidate) -> Candidate:
    """Latency and energy from the latency model, then the budgets the candidate misses."""
    board, b = search.board, search.budgets
    instructions = latency.instructions(c.footprint)
    ms = instructions / board.clock_hz * 1e3
    uj = board.power.energy_uj(instructions, board.clock_hz)
    fp, out = c.footprint, []
    if fp.flash_bytes > b.flash_bytes:
        out.append(f"flash {fp.flash_bytes} B > {b.flash_bytes} B")
    if fp.ram_bytes > b.ram_bytes:
        out.append(f"RAM {fp.ram_bytes} B > {b.ram_bytes} B")
    if b.latency_ms is not None and ms > b.latency_ms:
        out.append(f"latency {ms:.2f} ms > {b.latency_ms:g} ms")
    if b.energy_uj is not None and uj > b.energy_uj:
        out.append(f"energy {uj:.2f} uJ > {b.energy_uj:g} uJ")
    measured = {p["candidate"]: p["instructions"] for p in latency.points}.get(c.tag, c.instructions_measured)
    return replace(c, cost=Cost(instructions, ms, uj, tuple(out)), instructions_measured=measured)


def to_train(search: Search, grid: Grid) -> tuple[Candidate, ...]:
    """Up to `max_train` of the candidates within every budget, spread over them from the largest down; none:
    exit code 3 (fit.json written first)."""
    feasible = sorted((c for c in grid.candidates if c.fits), key=lambda c: -c.footprint.macs)
    if not feasible:
        _refuse(search, grid.latency, grid.candidates, _no_fit_message(search, grid.candidates))
    n = search.request.max_train
    return tuple(feasible[::max(1, int(np.ceil(len(feasible) / n)))][:n])


def evaluate(search: Search, run: Executor, chosen: tuple[Candidate, ...]) -> tuple[Trained, ...]:
    """The candidates to train, each trained and scored by `run` (`train_and_score`: in this process or as Ray
    tasks); the trained models are read back from their folders, so the stages after see the same models either
    way."""
    from tinyml.train.trainer import load_trained

    scored = run(train_and_score, search, chosen)
    return tuple(Trained(c, load_trained(Path(c.tflite).parent)[0], {}) for c in scored)


def train_and_score(search: Search, c: Candidate) -> Candidate:
    """`train`, then `quantize` (which saves the model in the candidate's folder): the scored candidate."""
    return quantize(search, train(search, c)).candidate


def train(search: Search, c: Candidate) -> Trained:
    """The recipe's model at the candidate's width and depth, trained on the search's data."""
    from tinyml.train.recipes import build_model
    from tinyml.train.trainer import fit_model, setup_tf

    search.log(f"training {c.tag} ({c.footprint.params} params, {c.footprint.macs} MACs)")
    r, data = search.recipe, search.data
    setup_tf(search.request.seed)
    model = build_model(r, data.input_shape, data.num_classes, c.spec.width, c.spec.depth)
    fit_model(model, data, epochs=search.epochs, batch_size=r.batch_size, learning_rate=r.learning_rate,
              seed=search.request.seed, progress=search.request.progress, label=c.tag)
    return Trained(c, model, {})


def quantize(search: Search, t: Trained) -> Trained:
    """Saves the trained model, converts it to int8 and scores it (int8 validation and test splits)."""
    from tinyml.train.quantize import convert_int8, evaluate_int8
    from tinyml.train.trainer import evaluate_keras, save_trained

    c, data, r = t.candidate, search.data, search.request
    d = search.out_dir / "candidates" / c.spec.dirname
    float_val = evaluate_keras(t.model, data.x_val, data.y_val, data.task)
    meta = {"recipe": search.recipe.name, "width": c.spec.width, "depth": c.spec.depth,
            "data": r.data_spec or search.recipe.dataset, "small_data": r.small_data, "seed": r.seed,
            "epochs": search.epochs, "task": data.task, **t.how}
    save_trained(t.model, d, data, meta, {**meta, "metric": search.metric, "dataset": data.info(),
                                          "float_val": float_val})
    tfl = d / "model.tflite"
    calib = np.random.default_rng(0).permutation(len(data.x_train))[:CALIBRATION_SAMPLES]
    tfl.write_bytes(convert_int8(t.model, data.x_train[calib]))
    val = evaluate_int8(tfl, data.x_val, data.y_val, data.task)
    test = evaluate_int8(tfl, data.x_test, data.y_test, data.task)
    scores = Scores(float_val, val.int8, test.int8, test.host_c, search.metric, len(data.y_val), len(data.y_test))
    search.log(f"{c.tag}: float val {float_val:.4f}, int8 val {val.int8:.4f}, int8 test {test.int8:.4f} "
               f"(compiled C {test.host_c:.4f})")
    return replace(t, candidate=replace(c, tflite=str(tfl), scores=scores))


def derive(search: Search, latency: LatencyModel, grid: tuple[Trained, ...]) -> tuple[Candidate, ...]:
    """Every kind in `DERIVED` applied to the trained grid; each new model quantized, measured and estimated."""
    return tuple(estimate(search, latency, measure(search, quantize(search, t).candidate))
                 for kind in DERIVED for t in kind(search, grid))


def _rank(c: Candidate) -> tuple[float, float]:
    return round(c.scores.int8_val, 6), -c.cost.latency_ms_estimate


# ---- derived candidate kinds: (Search, trained grid) -> trained models ----

def pruned(search: Search, grid: tuple[Trained, ...]) -> tuple[Trained, ...]:
    """The most accurate grid model with `prune_ratios` of its channels removed, fine-tuned by prune's rule."""
    from tinyml.train.prune import FineTune, prune_channels

    r, recipe = search.request, search.recipe
    if not r.prune_ratios:
        return ()
    parent = max(grid, key=lambda t: _rank(t.candidate))
    schedule = FineTune.after(search.epochs, recipe.learning_rate, recipe.batch_size)
    out = []
    for ratio in r.prune_ratios:
        p = parent.candidate.spec
        spec = Spec(f"{p.tag} pruned {ratio:g}", p.width, p.depth, f"pruned {ratio:g} from {p.tag}")
        search.log(f"{spec.tag}: removing {ratio:g} of the channels, fine-tuning {schedule.epochs} epochs")
        try:
            model = prune_channels(parent.model, ratio, search.data, schedule, seed=r.seed, progress=r.progress,
                                   label=spec.tag)
        except TinymlError as exc:
            search.log(f"{spec.tag}: skipped ({exc})")
            continue
        out.append(Trained(Candidate(spec), model, {"pruned": {"mode": "channels", "amount": ratio, "parent": p.tag,
                                                               "fine_tune_epochs": schedule.epochs}}))
    return tuple(out)


def distilled(search: Search, grid: tuple[Trained, ...]) -> tuple[Trained, ...]:
    """A narrower student of the largest grid model's depth (the trained width at or below half the teacher's),
    trained with knowledge distillation from it (`distill.KD`'s defaults, as `tinyml distill`). Classifiers only."""
    from tinyml.train.distill import KD, train_student
    from tinyml.train.recipes import build_model
    from tinyml.train.trainer import setup_tf

    kd, r, data = KD(), search.request, search.data
    if not (r.distill and data.task == "classification"):
        return ()
    teacher = max(grid, key=lambda t: t.candidate.footprint.macs)
    ts = teacher.candidate.spec
    students = sorted((t.candidate.spec for t in grid if t.candidate.spec.depth == ts.depth
                       and t.candidate.spec.width < ts.width), key=lambda s: s.width)
    if not students:
        return ()
    s = ([s for s in students if s.width <= ts.width / 2] or students[:1])[-1]
    spec = Spec(f"{s.tag} distilled from {ts.tag}", s.width, s.depth, f"distilled from {ts.tag}")
    search.log(f"{spec.tag}: knowledge distillation (T={kd.temperature:g}, alpha={kd.alpha:g}), "
               f"{search.epochs} epochs")
    setup_tf(r.seed)
    model = build_model(search.recipe, data.input_shape, data.num_classes, spec.width, spec.depth)
    train_student(model, teacher.model, data, kd, epochs=search.epochs, batch_size=search.recipe.batch_size,
                  learning_rate=search.recipe.learning_rate, seed=r.seed, progress=r.progress, label=spec.tag)
    return (Trained(Candidate(spec), model, {"distilled": {"teacher": ts.tag, "temperature": kd.temperature,
                                                           "alpha": kd.alpha}}),)


DERIVED: tuple[Callable[[Search, tuple[Trained, ...]], tuple[Trained, ...]], ...] = (pruned, distilled)


# ---- choose, deliver, report ----

def choose(search: Search, latency: LatencyModel, pool: tuple[Candidate, ...]) -> Candidate:
    """The most accurate trained candidate within the budgets that reaches `--min-accuracy` (ties: the faster);
    none: exit code 3 (fit.json written first)."""
    b = search.budgets
    trained = [c for c in pool if c.trained and c.fits]
    ok = [c for c in trained if b.min_accuracy is None or c.scores.int8_val >= b.min_accuracy]
    if not ok:
        best = max(trained, key=lambda c: c.scores.int8_val)
        _refuse(search, latency, pool, f"no candidate that fits {search.board.name} reaches --min-accuracy "
                                       f"{b.min_accuracy:g}: the best, {best.tag}, has int8 validation "
                                       f"{search.metric} {best.scores.int8_val:.4f} "
                                       f"({b.min_accuracy - best.scores.int8_val:.4f} short)")
    return max(ok, key=_rank)


def deliver(search: Search, chosen: Candidate) -> Delivery:
    """The chosen model, its features/tinyml.json and its firmware in the output directory, run in the board's
    emulator on the test split when it has one."""
    from tinyml.device.build import build_firmware, require_fit

    out, board = search.out_dir, search.board
    search.log(f"chosen {chosen.tag}: building firmware for {board.name}")
    shutil.copyfile(chosen.tflite, out / "model.tflite")
    src = Path(chosen.tflite).parent
    for name in ("features.json", "tinyml.json"):
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    build = build_firmware(out / "model.tflite", board, out / "firmware")
    require_fit(build)
    chosen = replace(chosen, footprint=replace(chosen.footprint, flash_bytes=build.flash_bytes,
                                               ram_bytes=build.ram_bytes, arena_bytes=build.arena_bytes))
    return run_on_emulator(search, chosen) if board.emulator else Delivery(chosen, None)


def run_on_emulator(search: Search, chosen: Candidate) -> Delivery:
    """The delivered firmware on (up to `device_samples` of) the test split in QEMU: accuracy, instructions."""
    from tinyml.device.bench import bench
    from tinyml.train.metrics import accuracy_interval
    from tinyml.train.quantize import io_quant, quantize_inputs
    from tinyml.train.trainer import score

    out, data, n = search.out_dir, search.data, search.request.device_samples
    (si, zi), (so, zo) = io_quant((out / "model.tflite").read_bytes())
    n = len(data.y_test) if n is None else min(n, len(data.y_test))
    xq = quantize_inputs(data.x_test[:n], si, zi)
    search.log(f"running {n} test samples in QEMU ({search.board.emulator})")
    rep = bench(out / "model.tflite", search.board, inputs=[xq], build_dir=out / "firmware")
    acc = score(data.task, data.y_test[:n], (rep.outputs[0].astype(np.float32) - zo) * so,
                (xq.astype(np.float32) - zi) * si)
    device = {"target": "qemu", "samples": n, "accuracy": acc,
              "accuracy_interval": accuracy_interval(acc, n) if search.metric == "accuracy" else None,
              "outputs_match_reference":
              rep.outputs_match == rep.outputs_total, "instructions_per_inference": rep.count_per_inference,
              "instructions_estimate": chosen.cost.instructions_estimate,
              "latency_ms_measured": rep.latency_ms_estimate, "energy_uj_measured": rep.energy_uj_estimate,
              "stack_peak_bytes": rep.stack_peak_bytes}
    if rep.mismatched_samples:
        raise TinymlError(f"the device's outputs differ from the reference for samples "
                          f"{rep.mismatched_samples[:10]}", MISMATCH)
    return Delivery(replace(chosen, instructions_measured=rep.count_per_inference), device)


def report(search: Search, latency: LatencyModel, pool: tuple[Candidate, ...],
           delivery: Delivery | None) -> FitReport:
    """fit.json and pareto.png in the output directory; `delivery` None: nothing was chosen."""
    out, chosen = search.out_dir, delivery.candidate if delivery else None
    plot = out / "pareto.png"
    pareto_plot(pool, chosen, search.budgets, search.metric, plot,
                f"tinyml fit: {search.recipe.name} on {search.board.name}")
    chosen_json = None
    if chosen is not None:
        fp, cost, s = chosen.footprint, chosen.cost, chosen.scores
        chosen_json = {"model": str(out / "model.tflite"), "candidate": chosen.tag, "width": chosen.spec.width,
                       "depth": chosen.spec.depth, "metric": search.metric, "accuracy_int8": s.int8_test,
                       "accuracy_int8_val": s.int8_val, "accuracy_host_c": s.host_c_test,
                       "accuracy_float_val": s.float_val, "test_samples": s.test_samples, "val_samples": s.val_samples,
                       **{f"accuracy_{name}_interval": s.fields()[f"{key}_interval"]
                          for name, key in (("int8", "int8_test"), ("int8_val", "int8_val"), ("host_c", "host_c_test"),
                                            ("float_val", "float_val"))},
                       "flash_bytes": fp.flash_bytes, "ram_bytes": fp.ram_bytes,
                       "arena_bytes": fp.arena_bytes, "latency_ms_estimate": cost.latency_ms_estimate,
                       "energy_uj_estimate": cost.energy_uj_estimate, "params": fp.params, "macs": fp.macs,
                       "origin": chosen.spec.origin, "keras": str(Path(chosen.tflite).parent / "model.keras")}
    rep = FitReport(search.board.name, search.recipe.name, chosen is not None, len(pool), asdict(search.budgets),
                    chosen_json, [c.row() for c in pool], asdict(latency), str(plot),
                    delivery.device if delivery else None, str(out))
    (out / "fit.json").write_text(json.dumps(rep.to_json(), indent=2) + "\n")
    return rep


def _refuse(search: Search, latency: LatencyModel, pool: tuple[Candidate, ...], message: str) -> NoReturn:
    """Writes the report without a chosen model, then stops with exit code 3."""
    report(search, latency, pool, None)
    raise TinymlError(message, OVER_BUDGET)


def _merge(*groups: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """Candidates by tag, in first-seen order, later versions replacing earlier ones (trained over sized)."""
    by_tag: dict[str, Candidate] = {}
    for group in groups:
        by_tag.update((c.tag, c) for c in group)
    return tuple(by_tag.values())


def _overshoots(c: Candidate, b: Budgets) -> dict[str, tuple[float, float, str]]:
    """budget name -> (relative overshoot, absolute overshoot, unit) for each budget the candidate misses."""
    fp, cost = c.footprint, c.cost
    rows = {"flash": (fp.flash_bytes, b.flash_bytes, "B"), "RAM": (fp.ram_bytes, b.ram_bytes, "B"),
            "latency": (cost.latency_ms_estimate, b.latency_ms, "ms"),
            "energy": (cost.energy_uj_estimate, b.energy_uj, "uJ")}
    return {k: ((v - lim) / lim, v - lim, unit) for k, (v, lim, unit) in rows.items() if lim is not None and v > lim}


def _no_fit_message(search: Search, cands: tuple[Candidate, ...]) -> str:
    b = search.budgets
    failing: dict[str, int] = {}
    for c in cands:
        for name in _overshoots(c, b):
            failing[name] = failing.get(name, 0) + 1
    closest = min(cands, key=lambda c: max(v[0] for v in _overshoots(c, b).values()))
    needs = "; ".join(f"{name} {abs_:.6g} {unit} over ({100 * rel:.0f}%)"
                      for name, (rel, abs_, unit) in _overshoots(closest, b).items())
    budgets = ", ".join(f"{name} fails for {n} of {len(cands)}" for name, n in failing.items())
    fp, cost = closest.footprint, closest.cost
    return (f"no candidate fits {search.board.name} (flash {b.flash_bytes} B, RAM {b.ram_bytes} B"
            + (f", latency {b.latency_ms:g} ms" if b.latency_ms is not None else "")
            + (f", energy {b.energy_uj:g} uJ" if b.energy_uj is not None else "")
            + f"): {budgets}; the closest candidate, {closest.tag} (flash {fp.flash_bytes} B, RAM "
            f"{fp.ram_bytes} B, {cost.latency_ms_estimate:.2f} ms, {cost.energy_uj_estimate:.2f} uJ), "
            f"misses by: {needs}")


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (lower cost, higher accuracy)."""
    front = []
    for i, (cost, acc) in enumerate(points):
        if not any((c2 <= cost and a2 >= acc) and (c2 < cost or a2 > acc) for j, (c2, a2) in enumerate(points)
                   if j != i):
            front.append(i)
    return front


def pareto_plot(cands: tuple[Candidate, ...], chosen: Candidate | None, b: Budgets, metric: str, path: Path,
                title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [c for c in cands if c.trained]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, value, label, limit in ((axes[0], lambda c: c.cost.latency_ms_estimate, "latency estimate (ms)",
                                     b.latency_ms),
                                    (axes[1], lambda c: c.footprint.ram_bytes, "RAM (bytes, firmware)", b.ram_bytes)):
        for c in cands:
            if not c.trained:
                ax.axvline(value(c), color="0.85", lw=0.8, zorder=0)
        pts = [(value(c), c.scores.int8_val) for c in trained]
        for c, (x, y) in zip(trained, pts):
            marker = {"pruned": "s", "distilled": "^"}.get(c.spec.origin.split()[0], "o") if c.fits else "x"
            ax.scatter(x, y, marker=marker, color="tab:blue" if c.fits else "tab:red", zorder=3)
            ax.annotate(c.tag, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = sorted((pts[i] for i in pareto_front(pts)), key=lambda p: p[0])
        if front:
            ax.plot(*zip(*front), "--", color="tab:green", label="Pareto front")
        if chosen is not None and chosen.trained:
            ax.scatter(value(chosen), chosen.scores.int8_val, s=220, marker="*", color="gold", edgecolor="k",
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
