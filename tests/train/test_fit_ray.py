"""`tinyml fit --executor ray`: the grid sized and the candidates trained as Ray tasks give the serial run's table,
choice and device run. One local Ray (2 CPUs, loopback, no dashboard) for the module, shut down afterwards."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.train.conftest import run_cli

SEARCH = ("--board", "lm3s6965evb", "--recipe", "gesture", "--small-data", "--epochs", "1", "--widths", "0.25,0.5",
          "--depths", "0.5", "--max-train", "2", "--device-samples", "4", "--max-ram-kb", "32", "--prune-ratios",
          "none", "--no-distill")


@pytest.fixture(scope="module")
def ray_session():
    import ray  # pinned in requirements.txt: an ImportError here is a broken install

    from tinyml.train.executor import start_ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    start_ray(ray, None)  # as `fit --executor ray` starts it: 2 CPUs, loopback, no dashboard
    yield ray
    ray.shutdown()


def _comparable(report: dict, out: Path) -> dict:
    """The report with its output folder taken out of every path."""
    return json.loads(json.dumps(report).replace(str(out), "OUT"))


@pytest.mark.slow
def test_ray_gives_the_serial_result(tmp_path: Path, ray_session) -> None:
    from click.testing import CliRunner

    from tinyml.cli import main

    serial_out, ray_out = tmp_path / "serial", tmp_path / "ray"
    serial = json.loads(run_cli("fit", *SEARCH, "-o", serial_out, "--json").stdout)
    result = CliRunner().invoke(main, ["fit", *SEARCH, "--executor", "ray", "-o", str(ray_out), "--json"])
    assert result.exit_code == 0, (result.stdout[-2000:], result.stderr[-2000:], result.exception)
    on_ray = json.loads(result.stdout)
    assert ray_session.is_initialized()  # fit used the module's Ray and left it running
    a, b = _comparable(serial, serial_out), _comparable(on_ray, ray_out)
    assert a["table"] == b["table"] and a["chosen"] == b["chosen"] and a["device"] == b["device"]
    assert a == b
    chosen = a["chosen"]
    assert chosen["test_samples"] > 0 and chosen["accuracy_int8_interval"][0] <= chosen["accuracy_int8"]
    assert all(row["int8_test_interval"] for row in a["table"] if row["trained"])
    assert (ray_out / "candidates" / "w0.25-d0.5" / "model.keras").exists()


def test_executor_options_are_checked(tmp_path: Path) -> None:
    r = run_cli("fit", *SEARCH, "--address", "127.0.0.1:1", "-o", tmp_path / "f", code=2)
    assert "--address names a Ray cluster: use it with --executor ray" in r.stderr
