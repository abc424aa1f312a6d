"""Per-layer profile of one inference (`tinyml bench --profile`): instructions, estimated cycles, MACs and MAC/cycle
of every layer, with the kernel and variant the generator chose. It costs the device nothing (no profiler in the
firmware, no RAM): it reads the emulator's trace.

How an executed instruction finds its layer:
1. The generator states each layer's lines in the invoke function of model.c (`tinyml.compiler.codegen.layers`,
   counted from the function's opening line), its kernel, variant and MACs.
2. The firmware is built with `-g`, so the ELF's line table (DWARF, read with `objdump --dwarf=decodedline`) maps
   each address of the compiled invoke function to a line of model.c, hence to a layer. Addresses whose line is no
   layer's (the prologue, code the compiler inlined from another file, the epilogue) belong to the layer of the
   nearest address before them: the invoke function's own address ranges, so inlining moves no work out of a layer.
3. One inference is traced in QEMU (`tinyml.device.targets.cycle_estimate.traced_inference`) and its translation
   blocks are walked in execution order: an instruction of the invoke function counts for its address's layer; any
   other (a kernel, a helper it calls) for the layer of the invoke instruction last executed, i.e. the call site
   it was called from. A kernel that several layers call is thus split by position in the sequence, not address.
The per-layer figures sum exactly to the whole inference's (checked on every profile), which are the cycle
estimate's (`Tally`, the same trace), so the cycles carry its limits: Cortex-M4 timings, zero wait states.
"""
from __future__ import annotations

import bisect
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.compiler.codegen.layers import Layer
from tinyml.device.bench import CYCLE_ESTIMATE_BASIS, CYCLE_ESTIMATE_CORES, firmware_for, take_samples
from tinyml.device.boards import Board
from tinyml.device.build import compile_for_board
from tinyml.device.targets.cycle_estimate import (
    ENTRY,
    OBJDUMP,
    PIPELINE_REFILL,
    Block,
    Tally,
    executions,
    function_ranges,
    traced_inference,
)
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS
from tinyml.errors import BAD_INPUT, TinymlBug, TinymlError


@dataclass(frozen=True)
class LayerProfile:
    layer: Layer
    instructions: int
    cycles: int

    @property
    def mac_per_cycle(self) -> float | None:
        return self.layer.macs / self.cycles if self.layer.macs and self.cycles else None

    def kernel_label(self) -> str:
        """The kernel with its variant, e.g. `tm_conv2d_s8_dsp_rows (im2col, in place)`."""
        details = [d for d in (self.layer.mode, "in place" if self.layer.in_place else "") if d]
        name = self.layer.kernel or "(no code)"
        return f"{name} ({', '.join(details)})" if details else name


@dataclass(frozen=True)
class Profile:
    board: str
    model_hash: str
    layers: tuple[LayerProfile, ...]
    instructions: int          # the whole inference's, as the cycle estimate counts them (== sum over layers)
    cycles: int

    @property
    def macs(self) -> int:
        return sum(p.layer.macs for p in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {"board": self.board, "model_hash": self.model_hash, "instructions": self.instructions,
                "cycles": self.cycles, "macs": self.macs,
                "mac_per_cycle": round(self.macs / self.cycles, 6) if self.cycles else None,
                "basis": CYCLE_ESTIMATE_BASIS,
                "layers": [p.layer.to_json() | {
                    "instructions": p.instructions, "cycles": p.cycles,
                    "cycles_share": round(p.cycles / self.cycles, 6) if self.cycles else 0.0,
                    "mac_per_cycle": None if p.mac_per_cycle is None else round(p.mac_per_cycle, 6)}
                    for p in self.layers]}

    def table(self) -> str:
        """The profile as a text table, one row per layer and a total."""
        head = f"{'#':>3}  {'operator':<18} {'kernel (variant)':<52} {'instructions':>12} {'cycles':>11} " \
               f"{'%':>5} {'MACs':>10} {'MAC/cyc':>7}"
        rows = [head]
        for p in self.layers:
            share = 100 * p.cycles / self.cycles if self.cycles else 0.0
            rate = f"{p.mac_per_cycle:.3f}" if p.mac_per_cycle is not None else "-"
            rows.append(f"{p.layer.index:>3}  {p.layer.op:<18} {p.kernel_label():<52} {p.instructions:>12,} "
                        f"{p.cycles:>11,} {share:>5.1f} {p.layer.macs:>10,} {rate:>7}")
        total_rate = f"{self.macs / self.cycles:.3f}" if self.cycles else "-"
        rows.append(f"{'':>3}  {'total':<18} {'':<52} {self.instructions:>12,} {self.cycles:>11,} {100.0:>5.1f} "
                    f"{self.macs:>10,} {total_rate:>7}")
        return "\n".join(rows)


# ---------------------------------------------------------------------------------------------- addresses -> layers

def _invoke_line(elf: Path, entry: str) -> int:
    """The line of model.c that opens the definition of `entry` (its DW_AT_decl_line), from the DWARF info."""
    dump = subprocess.run([OBJDUMP, "--dwarf=info", str(elf)], capture_output=True, text=True, check=True).stdout
    die: dict[str, str] = {}
    for line in [*dump.splitlines(), " <0><0>: Abbrev Number: 0"]:
        if "Abbrev Number" in line:   # a new entry: was the last one the definition?
            if die.get("DW_AT_name") == entry and "DW_AT_low_pc" in die and "DW_AT_decl_line" in die:
                return int(die["DW_AT_decl_line"])
            die = {}
            continue
        key, _, value = line.partition(":")
        key = key.split()[-1] if key.split() else ""
        if key.startswith("DW_AT_"):
            die[key] = value.rsplit(": ", 1)[-1].strip()
    raise TinymlError(f"{elf}: no debug information for {entry}; profiles need a firmware built with -g (tinyml "
                      "build does that)", BAD_INPUT)


def _line_rows(elf: Path, low: int, end: int) -> list[tuple[int, str, int | None]]:
    """(address, file, line or None at an end of sequence) of the line table rows in [low, end), by address."""
    dump = subprocess.run([OBJDUMP, "--dwarf=decodedline", str(elf)], capture_output=True, text=True,
                          check=True).stdout
    rows = []
    for line in dump.splitlines():
        tokens = line.split()
        at = next((i for i, t in enumerate(tokens) if t.startswith("0x")), None)
        if at is None or at < 2:
            continue
        address = int(tokens[at], 16)
        if low <= address < end:
            number = tokens[at - 1]
            rows.append((address, " ".join(tokens[:at - 1]), int(number) if number.isdigit() else None))
    return sorted(rows, key=lambda r: r[0])   # stable: rows at one address keep their order (the last one holds)


@dataclass(frozen=True)
class LayerMap:
    """Which layer (by position in the profile) each address of the invoke function belongs to."""

    low: int
    end: int
    starts: tuple[int, ...]
    positions: tuple[int, ...]

    def __call__(self, address: int) -> int:
        return self.positions[bisect.bisect_right(self.starts, address) - 1]


def layer_map(elf: Path, layers: tuple[Layer, ...], entry: str = ENTRY) -> LayerMap:
    """Map the compiled `entry` function's addresses to `layers` (see the module doc, step 2)."""
    ranges = function_ranges(elf)
    if entry not in ranges:
        raise TinymlError(f"{elf}: no function {entry}; is it a tinyml firmware image?", BAD_INPUT)
    low, end = ranges[entry]
    rows = _line_rows(elf, low, end)
    if not rows:
        raise TinymlError(f"{elf}: no line table for {entry}; profiles need a firmware built with -g", BAD_INPUT)
    return map_rows(rows, low, end, _invoke_line(elf, entry), layers)


def map_rows(rows: list[tuple[int, str, int | None]], low: int, end: int, invoke_line: int,
             layers: tuple[Layer, ...]) -> LayerMap:
    """The `LayerMap` of line table `rows` (address, file, line; by address) of the function at [low, end) whose
    definition opens at `invoke_line` of the file of its first row."""
    model_file = rows[0][1]
    by_line = {invoke_line + n: pos for pos, layer in enumerate(layers)
               for n in range(layer.first_line, layer.last_line + 1)}
    current = next((pos for pos, layer in enumerate(layers) if layer.calls), 0)   # the prologue: the first layer
    starts, positions = [low], [current]
    for address, file, line in rows:
        if file == model_file and line in by_line:
            current = by_line[line]
        if address == starts[-1]:
            positions[-1] = current
        else:
            starts.append(address)
            positions.append(current)
    return LayerMap(low, end, tuple(starts), tuple(positions))


# ---------------------------------------------------------------------------------------------- the trace -> layers

def attribute(runs: Iterable[tuple[Block, bool]], where: LayerMap, n_layers: int, tally: Tally) -> list[list[int]]:
    """[instructions, cycles] per layer over the TB executions `runs` (also counted into `tally`)."""
    totals = [[0, 0] for _ in range(n_layers)]
    split: dict[Block, tuple[list[tuple[int, int, int]], int]] = {}   # invoke block -> its share per layer, last
    current = where(where.low)
    for block, taken in runs:
        tally.add(block, taken)
        penalty = PIPELINE_REFILL if taken else 0
        if not where.low <= block.insns[0].addr < where.end:
            row = totals[current]
            row[0] += len(block.insns)
            row[1] += block.cycles + penalty
            continue
        if block not in split:
            shares: dict[int, list[int]] = {}
            for insn, cost in zip(block.insns, block.costs):
                share = shares.setdefault(where(insn.addr), [0, 0])
                share[0] += 1
                share[1] += cost
            split[block] = ([(pos, n, c) for pos, (n, c) in shares.items()], where(block.insns[-1].addr))
        shares_list, current = split[block]
        for pos, n, c in shares_list:
            totals[pos][0] += n
            totals[pos][1] += c
        totals[current][1] += penalty   # a taken branch at the block's end: its last instruction's layer
    return totals


def require_profilable(board: Board) -> None:
    """A profile needs the board's emulator and a core whose timings the cycle estimate models."""
    if board.emulator is None or board.core not in CYCLE_ESTIMATE_CORES:
        raise TinymlError(f"--profile needs an emulated {' or '.join(CYCLE_ESTIMATE_CORES)} (the cores whose "
                          f"timings the cycle estimate models); {board.name} is "
                          f"{'a ' + board.core if board.emulator else 'not emulated'}", BAD_INPUT)


def profile(model_path: Path, board: Board, *, inputs: list[np.ndarray] | None = None,
            build_dir: Path | None = None, weights: str = DEFAULT_WEIGHTS, source: str = "inputs",
            keep_log: Path | None = None) -> Profile:
    """Profile one inference of `model_path` (its first sample of `inputs`, or a deterministic random one) in the
    emulator of `board` (a Cortex-M4 or M7, whose timings the estimate models), per layer."""
    model_path = Path(model_path)
    require_profilable(board)
    with tempfile.TemporaryDirectory(prefix="tinyml-profile-") as tmp:
        compiled = compile_for_board(model_path, board, Path(tmp) / "model", weights)
        build = firmware_for(model_path, board, compiled.model_hash, build_dir, weights)
        built_c = build.out_dir / "model" / "model.c"
        if not built_c.is_file() or built_c.read_bytes() != (compiled.out_dir / "model.c").read_bytes():
            raise TinymlError(f"{build.out_dir}: its model/model.c is not what this tinyml generates for "
                              f"{model_path} (another version built it?); delete the directory to rebuild",
                              BAD_INPUT)
        sample = take_samples(compiled.inputs, inputs, 1, 1, source, "--runs")
        data = [np.ascontiguousarray(x[0]).tobytes() for x in sample]
        layers = compiled.layers
        where = layer_map(build.elf, layers)
        with traced_inference(board, build.elf, data, keep_log=keep_log) as trace:
            tally = Tally()
            totals = attribute(executions(trace.log, trace.window), where, len(layers), tally)
            whole = tally.estimate(trace.ranges)
    if (sum(t[0] for t in totals), sum(t[1] for t in totals)) != (whole.instructions, whole.cycles):
        raise TinymlBug(f"the layers of {model_path} sum to {sum(t[0] for t in totals)} instructions and "
                        f"{sum(t[1] for t in totals)} cycles, the inference to {whole.instructions} and "
                        f"{whole.cycles}", compiled.model_hash)
    return Profile(board.name, compiled.model_hash,
                   tuple(LayerProfile(layer, n, c) for layer, (n, c) in zip(layers, totals)),
                   whole.instructions, whole.cycles)
