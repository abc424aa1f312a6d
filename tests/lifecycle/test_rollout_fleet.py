"""Named mistakes in a fleet file, each one line naming the file and the entry (no emulator, no store), and the stage
plan a good file gives."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyml.cli import main
from tinyml.errors import BAD_INPUT
from tinyml.lifecycle.fleet import load_fleet

DEVICES = "".join(f'[[devices]]\nid = "em-{i}"\nboard = "mps2-an386"\nemulated = true\n\n' for i in range(1, 5))
GOOD = f'[rollout]\nstages = [0.5]\n\n[cohorts]\ncanary = ["em-1"]\n\n{DEVICES}'

CASES = {
    "unknown_board": (GOOD.replace('board = "mps2-an386"', 'board = "no-such-board"', 1),
                      "device 'em-1': unknown board 'no-such-board'"),
    "no_canary": (GOOD.replace('canary = ["em-1"]', 'beta = ["em-1"]'), "cohorts.canary: is missing or empty"),
    "canary_not_in_fleet": (GOOD.replace('canary = ["em-1"]', 'canary = ["em-9"]'),
                            "cohorts.canary: names device 'em-9'"),
    "duplicate_id": (GOOD.replace('id = "em-2"', 'id = "em-1"'), "device 'em-1': appears twice"),
    "port_and_emulated": (GOOD.replace('emulated = true', 'emulated = true\nport = "/dev/ttyACM0"', 1),
                          "device 'em-1': needs either emulated = true or a serial port"),
    "unknown_key": (GOOD.replace('emulated = true', 'emulated = true\nspeed = 3', 1),
                    "device 'em-1': unknown key 'speed'"),
    "share_above_one": (GOOD.replace("stages = [0.5]", "stages = [1.5]"), "rollout.stages[0]: must be a share"),
    "shrinking_shares": (GOOD.replace("stages = [0.5]", "stages = [0.5, 0.25]"), "rollout.stages: shares must grow"),
    "budget_not_a_number": (GOOD.replace("stages = [0.5]", 'stages = [0.5]\nmax_instructions = "fast"'),
                            "rollout.max_instructions: must be a positive number"),
    "no_devices": ('[cohorts]\ncanary = []\n', "[[devices]]: the fleet has no devices"),
    "not_toml": ("[rollout\n", "not valid TOML"),
    "shadow_without_telemetry": (GOOD.replace("stages = [0.5]", "stages = [0.5]\nshadow_first = true"),
                                 "rollout.shadow_first: needs a [telemetry] table"),
    "agreement_above_one": (GOOD + "[telemetry]\nmin_agreement = 1.5\n", "telemetry.min_agreement: must be in [0, 1]"),
    "telemetry_unknown_key": (GOOD + "[telemetry]\nthreshold = 1\n", "[telemetry]: unknown key 'threshold'"),
    "field_id_not_hex": (GOOD.replace('emulated = true', 'emulated = true\nfield_id = "XYZ"', 1),
                         "device 'em-1'.field_id: must be the id its reports carry"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_fleet_file_is_one_line_naming_file_and_entry(case: str, tmp_path: Path) -> None:
    text, expected = CASES[case]
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["fleet", "emulate", "--fleet", str(path), "status"])
    assert result.exit_code == BAD_INPUT, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_stage_plan_canary_then_shares_then_all(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD)
    fleet = load_fleet(path)
    assert fleet.stage_plan() == [("canary", ["em-1"]), ("50%", ["em-2"]), ("all", ["em-3", "em-4"])]
    assert fleet.stage_plan((0.25, 0.75)) == [("canary", ["em-1"]), ("75%", ["em-2", "em-3"]), ("all", ["em-4"])]
    assert fleet.state_dir == (tmp_path / ".tinyml" / "emulated").resolve()
    rules = fleet.rules
    assert rules.should_abort(failed=1, finished=1) and not rules.should_abort(failed=0, finished=3)


def test_shadow_stage_and_telemetry_table(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD.replace("stages = [0.5]", "stages = [0.5]\nshadow_first = true")
                    + '[telemetry]\nstore = "reports/field.sqlite"\nmin_agreement = 0.95\nwait_s = 30\n')
    fleet = load_fleet(path)
    assert fleet.stage_plan()[:2] == [("shadow", ["em-1"]), ("canary", ["em-1"])]
    telemetry = fleet.rules.telemetry
    assert telemetry.store == str(tmp_path / "reports" / "field.sqlite") and telemetry.min_agreement == 0.95
    assert telemetry.wait_s == 30.0 and telemetry.min_shadow_runs == 200    # the rest are the defaults
    assert type(fleet.rules).from_json(fleet.rules.to_json()) == fleet.rules  # as the rollout store keeps them
