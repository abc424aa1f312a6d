"""The suite `tinyml hil` writes for a real board is well-formed for `renode-test`: in a Robot dry run, with
Renode's keywords from a stand-in of `renode-keywords.robot` (Renode itself is not installable here), every keyword
resolves with valid arguments and tinyml's library loads the suite. A dry run executes no keyword body, so this
checks the suite's shape, not Renode's behaviour."""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import robot

from tests import tflite_models as tm
from tinyml.device.boards import get_board
from tinyml.hil.suite import write_suite

# The keywords of Renode's renode-keywords.robot that the suite calls, with the arguments it passes.
RENODE_KEYWORDS_STAND_IN = """\
*** Keywords ***
Setup
    No Operation
Teardown
    No Operation
Test Teardown
    No Operation
Reset Emulation
    No Operation
Execute Command
    [Arguments]    ${command}    ${machine}=${EMPTY}
    No Operation
Create Terminal Tester
    [Arguments]    ${uart}    ${timeout}=8
    No Operation
Start Emulation
    No Operation
"""


def test_real_board_suite_dry_runs_with_renode_keywords(tmp_path: Path) -> None:
    model = tmp_path / "net.tflite"
    model.write_bytes(tm.random_network(np.random.default_rng(11)).model)
    suite = tmp_path / "suite"
    write_suite(model, get_board("nucleo-f446re"), suite, vectors=1)
    stand_in = tmp_path / "renode-keywords.robot"
    stand_in.write_text(RENODE_KEYWORDS_STAND_IN)
    rc = robot.run(str(suite / "hil.robot"), dryrun=True, outputdir=str(tmp_path / "out"), console="none",
                   variable=[f"RENODEKEYWORDS:{stand_in}"])
    root = ElementTree.parse(tmp_path / "out" / "output.xml").getroot()
    errors = [m.text for m in root.iter("msg") if m.get("level") in ("ERROR", "FAIL")]
    assert rc == 0 and not errors, errors
    assert [t.get("name") for t in root.iter("test")] == [
        "Device Runs The Model", "Outputs Match Host Reference", "Latency Within Budget", "Memory Within Budget"]
