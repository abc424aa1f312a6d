"""Int8 UNIDIRECTIONAL_SEQUENCE_LSTM (tinyml.compiler.codegen.ops.lstm, runtime recurrent/lstm_s8.c) byte for byte
against the TFLite interpreter on the host: random shapes, scales and zero points plus the named edge cases of
tests/codegen/lstm_models.py, several invokes in a row so that the state kept between invokes is checked too; and
the forms the integer kernel does not take, refused with one line."""
from __future__ import annotations

import dataclasses
import subprocess

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tests.codegen.lstm_models import EDGES, build, describe, random_spec, run_sequence, sequence_inputs
from tests.host_batch import BatchCase, run_batch
from tinyml.compiler.codegen import compile_graph, scratch
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.ops import lower
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.errors import TinymlError
from tinyml.paths import RUNTIME_INCLUDE_DIR

RANDOM_CASES = 10
SAMPLES = 3  # invokes in a row per case


def test_lstm_matches_tflite_over_invokes() -> None:
    rng = np.random.default_rng(2026)
    specs = [random_spec(rng, edge) for edge in EDGES] + [random_spec(rng) for _ in range(RANDOM_CASES)]
    models = [build(spec, rng) for spec in specs]
    inputs = [sequence_inputs(spec, rng, SAMPLES) for spec in specs]
    got = run_batch([BatchCase(m, [x]) for m, x in zip(models, inputs, strict=True)])
    failures = []
    for spec, model, x, out in zip(specs, models, inputs, got, strict=True):
        want = run_sequence(model, x)
        if not np.array_equal(want, out[0].reshape(want.shape)):
            first = int(np.argmax((want != out[0].reshape(want.shape)).reshape(SAMPLES, -1).any(axis=1)))
            failures.append(f"{describe(spec)}: first differing invoke {first}")
    assert not failures, f"{len(failures)} of {len(specs)} LSTMs differ from TFLite; first: {failures[0]}"


def test_state_is_reset_by_init_and_kept_between_invokes(tmp_path) -> None:
    """model.c keeps the states outside the arena, starting at (and reset by init to) the interpreter's values."""
    rng = np.random.default_rng(7)
    spec = dataclasses.replace(random_spec(rng), batch=1, units=3, state_q=(1 / 128, -5))
    graph = parse_tflite(build(spec, rng), "lstm.tflite")
    compile_graph(graph, tmp_path, "tm_lstm")
    text = (tmp_path / "model.c").read_text()
    states = graph.operators[0].inputs[18:20]
    assert all(graph.tensors[t].is_variable and f"T{t}_OFFSET" not in text for t in states)  # not in the arena
    assert "static int8_t variable_t" in text and "[3] = {-5, -5, -5};" in text
    assert "static int16_t variable_t" in text and "[3] = {0, 0, 0};" in text
    assert "i] = -5;" in text and "i] = 0;" in text  # the resets in tm_lstm_init


def _with_option(model: bytes, **changes) -> bytes:
    """The model with its LSTM's options, inputs, intermediates or cell state scale changed."""
    m = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    op = m.subgraphs[0].operators[0]
    for name, value in changes.items():
        if name == "inputs":
            op.inputs = np.array(value(list(op.inputs)), dtype=np.int32)
        elif name == "intermediates":
            op.intermediates = np.array(value, dtype=np.int32)
        elif name == "cell_scale":
            m.subgraphs[0].tensors[op.inputs[19]].quantization.scale = np.array([value], dtype=np.float32)
        else:
            setattr(op.builtinOptions, name, value)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize(("change", "message"), [
    ({"fusedActivationFunction": 1}, "cell activation other than tanh"),
    ({"inputs": lambda ins: ins[:9] + [ins[1], ins[1], ins[1]] + ins[12:]}, "peephole weights"),
    ({"inputs": lambda ins: ins[:1] + [-1] + ins[2:5] + [-1] + ins[6:12] + [-1] + ins[13:]}, "no input gate"),
    ({"intermediates": []}, "intermediate tensors"),
    ({"cell_scale": 3.0e-4}, "cell state"),
])
def test_unsupported_forms_are_refused_in_one_line(change: dict, message: str, tmp_path) -> None:
    rng = np.random.default_rng(3)
    model = _with_option(build(random_spec(rng), rng), **change)
    with pytest.raises(TinymlError) as err:
        compile_graph(parse_tflite(model, "lstm.tflite"), tmp_path, "tm_lstm")
    assert message in str(err.value) and "UNIDIRECTIONAL_SEQUENCE_LSTM" in str(err.value)
    assert "\n" not in str(err.value)


def test_scratch_is_what_the_kernel_states(tmp_path) -> None:
    """The lowering's scratch equals tm_lstm_s8_scratch_bytes of tinyml/kernels.h, compiled and run on the host (the
    contract tests/codegen/test_scratch.py holds the other kernels to)."""
    rng = np.random.default_rng(11)
    specs = [dataclasses.replace(random_spec(rng), units=units) for units in (1, 3, 8, 24)]
    program = tmp_path / "scratch.c"
    program.write_text('#include <stdio.h>\n#include "tinyml/kernels.h"\nint main(void) {\n'
                       + "".join(f'  printf("%d\\n", (int)tm_lstm_s8_scratch_bytes({s.units}));\n' for s in specs)
                       + "  return 0;\n}\n")
    exe = tmp_path / "scratch"
    subprocess.run(["cc", f"-I{RUNTIME_INCLUDE_DIR}", str(program), "-o", str(exe)], check=True)
    stated = [int(line) for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                   check=True).stdout.split()]
    generated = []
    for spec in specs:
        graph = parse_tflite(build(spec, rng), "lstm.tflite")
        generated.append(lower(graph.operators[0], LoweringContext(graph, "tm_lstm")).scratch_bytes)
    assert generated == stated == [scratch.lstm_s8_scratch_bytes(s.units) for s in specs]
