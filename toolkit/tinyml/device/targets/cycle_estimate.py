"""Cycle estimate per inference: Cortex-M4 instruction timings applied to what QEMU executed.

QEMU's `-icount shift=0` counts instructions, which flatters multi-cycle ones (an LDM of 4 registers counts once
but costs 5 cycles; a taken branch refills the pipeline). This module runs one inference in QEMU with
`-d in_asm,exec,nochain` restricted (`-dfilter`) to the code the model's invoke can reach, maps every executed
translation block (TB) to its instructions, and sums a per-instruction cost:

| class (Cortex-M4 TRM, DDI 0439, table 3-1) | cycles |
|---|---|
| data processing, extend/pack/saturate/SIMD add, IT, MUL/MLA/MLS, SMULL/SMLAL, SMLAD, SMMULR, SMLAxy | 1 |
| LDR/STR (byte, half, word) single | 2; 1 when it directly follows another single load/store (pipelined) |
| LDRD/STRD | 3 |
| LDM/STM/PUSH/POP of N registers | 1 + N |
| SDIV/UDIV | 7 (2..12 by operand size; the middle) |
| branch not taken | 1 |
| branch taken, or any write to PC (POP {pc}, BX, LDR pc) | 1 + P, P = 2 (1..3: pipeline refill) |
| VFP: VADD/VSUB/VMUL/VCVT/VMOV 1, VMLA/VMLS/VFMA 3, VDIV/VSQRT 14, VLDR/VSTR 2, VLDM/VSTM/VPUSH/VPOP 1+N | |

A TB's last instruction counts as a taken branch when the next executed TB does not start right after it.
Limits: no memory wait states (zero-wait SRAM, as on the MPS2 FPGA boards; flash wait states on silicon add more),
no load-use or register-dependency stalls beyond the LDR pipelining rule, P fixed at 2, division at its middle
cost, and the interrupt handlers that fire during the inference (SysTick wrap) are outside the filter. So it is an
estimate for a zero-wait-state Cortex-M4, not a cycle-accurate model (docs/PROFILE.md compares it with published
silicon figures).

Only the inference is counted (`Window`): from the first TB at the invoke function's entry to the first TB at a
return address of a call to it, so reachable code that the firmware runs outside the inference (the boot's memset
of .bss) is not. `executions` yields the TB executions in order, so `tinyml.device.profile` can attribute each one
to a layer in the same pass that `Tally` counts them.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tinyml.device.boards import Board
from tinyml.errors import BAD_INPUT, TinymlError

OBJDUMP = "arm-none-eabi-objdump"
NM = "arm-none-eabi-nm"
ENTRY = "tm_model_invoke"
PIPELINE_REFILL = 2
DIVIDE = 7

_ONE = set("""add adds adc adcs sub subs sbc sbcs rsb rsbs mov movs movw movt mvn mvns cmp cmn tst teq and ands orr orrs
orn orns eor eors bic bics lsl lsls lsr lsrs asr asrs ror rors rrx neg negs clz rbit rev rev16 revsh ubfx sbfx bfi bfc
sxtb sxth uxtb uxth sxtab sxtah uxtab uxtah sxtb16 uxtb16 sxtab16 uxtab16 pkhbt pkhtb ssat usat ssat16 usat16 sel
qadd qsub qdadd qdsub qadd8 qadd16 qsub8 qsub16 sadd8 sadd16 ssub8 ssub16 uadd8 uadd16 usub8 usub16 shadd8 shadd16
shsub8 shsub16 uhadd8 uhadd16 uqadd8 uqadd16 uqsub8 uqsub16 usad8 usada8 qasx qsax sasx ssax uasx usax
mul muls mla mls smull umull smlal umlal smlad smladx smlsd smlsdx smlald smlaldx smlsld smuad smuadx smusd smusdx
smmul smmulr smmla smmlar smmls smmlsr smlabb smlabt smlatb smlatt smulbb smulbt smultb smultt smlawb smlawt smulwb
smulwt umaal it ite itt itte ittt itee itet ittee itttt nop dmb dsb isb cpsid cpsie mrs msr sev wfi wfe bkpt svc
vadd vsub vmul vnmul vneg vabs vcmp vcmpe vcvt vcvtr vmov vmrs vmsr vsel vmaxnm vminnm""".split())
_VFP3 = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
_VFP14 = {"vdiv", "vsqrt"}
_LOAD_STORE = re.compile(r"^(ldr|str)(b|h|sb|sh|t|bt|ht|sbt|sht|ex|exb|exh)?$")
_MULTI = re.compile(r"^(ldm|stm|push|pop|vldm|vstm|vpush|vpop)")
_BRANCH = re.compile(r"^(b|bl|bx|blx|cbz|cbnz|tbb|tbh)$")
_COND = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")


@dataclass(frozen=True)
class Insn:
    addr: int
    size: int
    mnemonic: str   # without condition or .w/.n suffix
    operands: str


def _base_mnemonic(m: str) -> str:
    m = m.lower().split(".")[0]
    for c in _COND:
        if len(m) > len(c) and m.endswith(c):
            stem = m[: -len(c)]
            if stem in _ONE or _LOAD_STORE.match(stem) or _BRANCH.match(stem) or _MULTI.match(stem) \
                    or stem in _VFP3 or stem in _VFP14 or stem in ("sdiv", "udiv", "vldr", "vstr"):
                return stem
    return m


def _reglist_size(operands: str) -> int:
    inner = operands[operands.find("{") + 1: operands.find("}")]
    count = 0
    for part in inner.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(re.sub(r"\D", "", p) or 0) for p in part.split("-"))
            count += hi - lo + 1
        elif part:
            count += 1
    return max(count, 1)


def insn_cycles(insn: Insn, previous: Insn | None) -> int:
    """Cycles of one instruction, branch-taken penalties excluded (see `estimate`)."""
    m, ops = insn.mnemonic, insn.operands
    writes_pc = ops.split(",")[0].strip() == "pc"
    if _MULTI.match(m):
        return 1 + _reglist_size(ops)
    if m in ("ldrd", "strd"):
        return 3
    if _LOAD_STORE.match(m) or m in ("vldr", "vstr"):
        if previous is not None and (_LOAD_STORE.match(previous.mnemonic) or previous.mnemonic in ("vldr", "vstr")):
            prev_dest = previous.operands.split(",")[0].strip()
            base = ops[ops.find("[") + 1:].split(",")[0].strip(" ]!") if "[" in ops else ""
            if not (previous.mnemonic.startswith("ldr") and prev_dest == base):
                return 1 + (PIPELINE_REFILL if writes_pc else 0)
        return 2 + (PIPELINE_REFILL if writes_pc else 0)
    if m in ("sdiv", "udiv"):
        return DIVIDE
    if m in _VFP3:
        return 3
    if m in _VFP14:
        return 14
    if _BRANCH.match(m):
        return 1
    return 1 + (PIPELINE_REFILL if writes_pc and m in ("mov", "add") else 0)


def _is_branch(insn: Insn) -> bool:
    m, ops = insn.mnemonic, insn.operands
    return bool(_BRANCH.match(m)) or (m in ("pop", "ldm", "ldmia") and "pc" in ops) \
        or ops.split(",")[0].strip() == "pc"


# ---------------------------------------------------------------------------------------------- reachable code

def function_ranges(elf: Path) -> dict[str, tuple[int, int]]:
    """[first address, end) of every function of `elf` with a size, by name (Thumb bit cleared)."""
    out = subprocess.run([NM, "-S", "--defined-only", str(elf)], capture_output=True, text=True, check=True).stdout
    funcs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            addr, size = int(parts[0], 16) & ~1, int(parts[1], 16)
            if size:
                funcs[parts[3]] = (addr, addr + size)
    return funcs


def _disassembly(elf: Path) -> dict[str, list[str]]:
    """objdump's disassembly lines of every function, by name."""
    dump = subprocess.run([OBJDUMP, "-d", "--no-show-raw-insn", str(elf)], capture_output=True, text=True,
                          check=True).stdout
    body: dict[str, list[str]] = defaultdict(list)
    current = None
    for line in dump.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            current = head.group(1)
        elif current:
            body[current].append(line)
    return body


def reachable_ranges(elf: Path, entry: str = ENTRY) -> dict[str, tuple[int, int]]:
    """Functions reachable from `entry`: direct branches, plus functions whose address appears in a literal pool
    (function pointers, e.g. the kernel handed to an in-place wrapper)."""
    funcs = function_ranges(elf)
    by_addr = sorted((lo, hi, name) for name, (lo, hi) in funcs.items())
    body = _disassembly(elf)

    def owner(addr: int) -> str | None:
        for lo, hi, name in by_addr:
            if lo <= addr < hi:
                return name
        return None

    seen, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name in seen or name not in funcs:
            continue
        seen.add(name)
        for line in body.get(name, []):
            target = re.search(r"\b(?:b|bl|b\.w|b\.n|bl\.w|b[a-z]{2}(?:\.[wn])?)\s+([0-9a-f]+) <", line)
            if target:
                callee = owner(int(target.group(1), 16))
                if callee and callee != name:
                    todo.append(callee)
            word = re.search(r"\.word\s+0x([0-9a-f]+)", line)
            if word:
                callee = owner(int(word.group(1), 16) & ~1)
                if callee and funcs[callee][0] == int(word.group(1), 16) & ~1:
                    todo.append(callee)
    return {name: funcs[name] for name in seen}


@dataclass(frozen=True)
class Window:
    """Which part of a trace is one inference: from the first TB that starts at `entry` (the invoke function) to
    the first TB that starts at one of `returns` (the instructions right after each call of it). Without it, the
    trace would also count the reachable functions the firmware runs outside the inference (the boot's memset of
    .bss, for one)."""

    entry: int
    returns: frozenset[int]


def inference_window(elf: Path, entry: str = ENTRY) -> Window:
    """The `Window` of one call of `entry` in `elf`: its address and the return address of every `bl` to it."""
    funcs = function_ranges(elf)
    if entry not in funcs:
        raise TinymlError(f"{elf}: no function {entry}; is it a tinyml firmware image?", BAD_INPUT)
    returns = set()
    for lines in _disassembly(elf).values():
        for line in lines:
            call = re.match(rf"^\s*([0-9a-f]+):\s+bl(?:\.w)?\s+[0-9a-f]+ <{re.escape(entry)}>", line)
            if call:
                returns.add(int(call.group(1), 16) + 4)   # a Thumb-2 BL is 4 bytes
    if not returns:
        raise TinymlError(f"{elf}: nothing calls {entry} (with BL), so an inference cannot be delimited",
                          BAD_INPUT)
    return Window(funcs[entry][0], frozenset(returns))


# ---------------------------------------------------------------------------------------------- the QEMU log

_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/")
# QEMU logs this after a TB's "Trace" line when the TB did not start (icount's budget ran out, every 65535
# instructions or at a timer deadline); counting it would add its instructions once more for each such stop.
_STOPPED = "Stopped execution of TB chain before "
_INSN = re.compile(r"^0x([0-9a-f]+):\s+((?:[0-9a-f]{4} ?)+)\s+(\S+)\s*(.*)$")


@dataclass(frozen=True, eq=False)   # identity: one object per translation, counted by identity
class Block:
    """A translation block: its instructions and the cycles of each (the taken-branch penalty excluded)."""

    insns: tuple[Insn, ...]
    costs: tuple[int, ...]
    cycles: int

    @staticmethod
    def of(insns: list[Insn]) -> Block:
        costs, previous = [], None
        for insn in insns:
            costs.append(insn_cycles(insn, previous))
            previous = insn
        return Block(tuple(insns), tuple(costs), sum(costs))


def executions(log_path: Path, window: Window | None = None) -> Iterator[tuple[Block, bool]]:
    """Every TB execution of a `-d in_asm,exec,nochain` log in order, with whether it ended in a taken branch (the
    next executed TB does not start right after its last instruction, which is a branch). With `window`, only
    those of the first inference; the last TB before the window closes is judged against the TB that closes it."""
    blocks: dict[str, Block] = {}   # host TB pointer -> the block translated there
    pending: list[Insn] = []
    in_block = False
    inside = window is None
    previous: Block | None = None
    previous_ptr = ""
    with open(log_path, errors="replace") as log:
        for line in log:
            if line.startswith("Trace "):
                in_block = False
                match = _TRACE.match(line)
                if not match:
                    continue
                ptr, pc = match.group(1), int(match.group(2), 16)
                if pending and pending[0].addr == pc:
                    blocks[ptr] = Block.of(pending)
                    pending = []
                if previous is not None:
                    last = previous.insns[-1]
                    yield previous, _is_branch(last) and pc != last.addr + last.size
                    previous = None
                if window is not None:
                    if inside and pc in window.returns:
                        return
                    inside = inside or pc == window.entry
                previous, previous_ptr = (blocks.get(ptr) if inside else None), ptr
            elif line.startswith(_STOPPED) and line[len(_STOPPED):].split(" ", 1)[0] == previous_ptr:
                previous = None   # logged, then not run: the instruction budget ran out at its start
            elif line.startswith("IN:"):
                in_block, pending = True, []
            elif in_block:
                match = _INSN.match(line.strip())
                if match:
                    raw = match.group(2).split()
                    size = 2 * len(raw) if all(len(r) == 4 for r in raw) else 4
                    pending.append(Insn(int(match.group(1), 16), size, _base_mnemonic(match.group(3)),
                                        match.group(4).strip().lower()))
    if previous is not None:
        yield previous, False   # the trace ended inside the window: nothing tells whether it branched


@dataclass
class Estimate:
    instructions: int = 0
    cycles: int = 0
    taken_branches: int = 0
    by_function: dict[str, list[int]] = field(default_factory=dict)  # name -> [instructions, cycles]

    @property
    def cycles_per_instruction(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0

    def to_json(self) -> dict:
        return {"instructions": self.instructions, "cycles": self.cycles, "taken_branches": self.taken_branches,
                "cycles_per_instruction": round(self.cycles_per_instruction, 4),
                "by_function": {k: {"instructions": v[0], "cycles": v[1]} for k, v in
                                sorted(self.by_function.items(), key=lambda kv: -kv[1][1])}}


class Tally:
    """Counts TB executions (per block, and how many ended in a taken branch) and turns them into an `Estimate`;
    feed it `executions(...)` one at a time (`add`) so another consumer can walk the same pass."""

    def __init__(self) -> None:
        self.runs: Counter[Block] = Counter()
        self.taken: Counter[Block] = Counter()

    def add(self, block: Block, taken: bool) -> None:
        self.runs[block] += 1
        if taken:
            self.taken[block] += 1

    def estimate(self, symbols: dict[str, tuple[int, int]] | None = None) -> Estimate:
        owners = sorted((lo, hi, name) for name, (lo, hi) in (symbols or {}).items())
        est = Estimate()
        for block, count in self.runs.items():
            n_taken = self.taken[block]
            total = count * block.cycles + n_taken * PIPELINE_REFILL
            est.instructions += count * len(block.insns)
            est.cycles += total
            est.taken_branches += n_taken
            start = block.insns[0].addr
            name = next((nm for lo, hi, nm in owners if lo <= start < hi), f"0x{start:x}")
            row = est.by_function.setdefault(name, [0, 0])
            row[0] += count * len(block.insns)
            row[1] += total
        return est


def estimate_from_log(log_path: Path, symbols: dict[str, tuple[int, int]] | None = None,
                      window: Window | None = None) -> Estimate:
    """Sum instruction costs over every TB execution in a `-d in_asm,exec,nochain` log (with `window`: over the
    first inference only)."""
    tally = Tally()
    for block, taken in executions(log_path, window):
        tally.add(block, taken)
    return tally.estimate(symbols)


# ---------------------------------------------------------------------------------------------- one inference

@dataclass(frozen=True)
class Trace:
    """A traced inference: the log, the reachable functions and the inference's window in it."""

    log: Path
    ranges: dict[str, tuple[int, int]]
    window: Window


@contextmanager
def traced_inference(board: Board, elf: Path, inputs: list[bytes], *, keep_log: Path | None = None,
                     max_seconds: float = 600.0) -> Iterator[Trace]:
    """Run one inference of the firmware `elf` in QEMU with the code it can reach traced (and the return addresses
    of the invoke, which close the window); yield the `Trace` while its log exists. `inputs`: each input's bytes."""
    from tinyml.device.protocol import connect
    from tinyml.device.targets.qemu import QemuSession

    ranges = reachable_ranges(elf)
    window = inference_window(elf)
    spans = sorted([*ranges.values(), *((ret, ret + 2) for ret in window.returns)])
    dfilter = ",".join(f"0x{lo:x}..0x{hi - 1:x}" for lo, hi in spans)
    with tempfile.TemporaryDirectory(prefix="tinyml-cycles-") as tmp:
        log = Path(keep_log) if keep_log else Path(tmp) / "qemu.log"
        args = ("-d", "in_asm,exec,nochain", "-dfilter", dfilter, "-D", str(log))
        with QemuSession(board, elf, max_seconds=max_seconds, extra_args=args) as qemu:
            with connect(qemu.url, timeout_s=2.0, retries=1, boot_timeout_s=30.0,
                         invoke_timeout_s=max_seconds) as link:
                for index, data in enumerate(inputs):
                    link.load_input(index, data)
                link.invoke(1)
        yield Trace(log, ranges, window)


def estimate_inference(board: Board, elf: Path, inputs: list[bytes], *, keep_log: Path | None = None,
                       max_seconds: float = 600.0) -> Estimate:
    """Run one inference of the firmware `elf` in QEMU with the reachable code traced; return the estimate.
    `inputs`: the bytes of each model input."""
    with traced_inference(board, elf, inputs, keep_log=keep_log, max_seconds=max_seconds) as trace:
        return estimate_from_log(trace.log, trace.ranges, trace.window)
