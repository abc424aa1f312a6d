"""Run many generated models through one host build: each model gets its own symbol prefix, one driver
dispatches by case number. Compiling once per batch instead of once per model keeps thousands of kernel cases fast."""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.compiler.codegen import CompileResult, compile_graph
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.device.targets.host import decode_samples, encode_samples, host_cflags


@dataclass(frozen=True)
class BatchCase:
    model: bytes
    inputs: list[np.ndarray]  # one array per model input, each (N, *shape): N whole input tensors


def run_batch(cases: Sequence[BatchCase], workdir: Path | None = None, target=None) -> list[list[np.ndarray]]:
    """Compile every case into one executable and run each case's samples; returns outputs per case.
    `target` (tinyml.compiler.codegen.target): which kernel variants the generator picks (default: portable)."""
    with tempfile.TemporaryDirectory(prefix="tinyml-batch-") as tmp:
        root = Path(workdir or tmp)
        results = [compile_graph(parse_tflite(c.model, f"case{k}.tflite"), root / f"case{k}", f"tm_case{k}",
                                 target)
                   for k, c in enumerate(cases)]
        exe = _build(root, results)
        return [_run(exe, k, r, c.inputs) for k, (r, c) in enumerate(zip(results, cases))]


def _build(root: Path, results: list[CompileResult]) -> Path:
    entries = ",\n".join(f"  {{tm_case{k}_invoke, tm_case{k}_input, tm_case{k}_output, TM_CASE{k}_NUM_INPUTS, "
                         f"TM_CASE{k}_NUM_OUTPUTS}}" for k in range(len(results)))
    includes = "\n".join(f'#include "case{k}/model.h"' for k in range(len(results)))
    (root / "driver.c").write_text(f"""#include <stdio.h>
#include <stdlib.h>
{includes}
typedef struct {{
  void (*invoke)(void);
  const tm_io *(*input)(uint32_t);
  const tm_io *(*output)(uint32_t);
  uint32_t n_in, n_out;
}} entry;
static const entry cases[] = {{
{entries}
}};
int main(int argc, char **argv) {{
  const entry *e = &cases[atoi(argv[1])];
  for (;;) {{
    for (uint32_t i = 0; i < e->n_in; ++i) {{
      const tm_io *in = e->input(i);
      if (fread(in->data, 1, in->bytes, stdin) != in->bytes) return i == 0 && feof(stdin) ? 0 : 1;
    }}
    e->invoke();
    for (uint32_t i = 0; i < e->n_out; ++i) fwrite(e->output(i)->data, 1, e->output(i)->bytes, stdout);
  }}
  (void)argc;
}}
""")
    sources = sorted({str(s) for r in results for s in r.sources if "runtime" in s.parts})
    sources += [str(s) for r in results for s in r.sources if "runtime" not in s.parts]
    include = results[0].include_dirs[-1]
    exe = root / "driver"
    cmd = ["cc", *host_cflags(), "-Werror", f"-I{root}", f"-I{include}", str(root / "driver.c"), *sources,
           "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"generated code does not compile:\n{proc.stderr[-3000:]}"
    return exe


def _run(exe: Path, k: int, result: CompileResult, inputs: list[np.ndarray]) -> list[np.ndarray]:
    proc = subprocess.run([str(exe), str(k)], input=encode_samples(inputs), capture_output=True)
    report = proc.stderr.decode(errors="replace")[-3000:]  # e.g. a sanitizer's finding
    assert proc.returncode == 0, f"case {k} failed (exit {proc.returncode}):\n{report}"
    out = proc.stdout
    whole = tuple(dataclasses.replace(t, shape=(1, *t.shape)) for t in result.outputs)  # a sample = whole tensor
    return decode_samples(out, whole, inputs[0].shape[0])
