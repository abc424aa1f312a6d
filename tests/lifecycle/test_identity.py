"""Named edge cases of the firmware's registry identity (the INFO string carries at most 32 bytes) and of the
model card's intervals, without a store."""
from __future__ import annotations

import pytest

from tinyml import __version__
from tinyml.device.build import FIRMWARE_STRING_BYTES, firmware_string
from tinyml.device.protocol import DeviceInfo, parse_firmware_version
from tinyml.errors import TinymlError
from tinyml.lifecycle.card import model_card, render_markdown
from tinyml.lifecycle.lineage import identity, lineage_hash
from tinyml.train.metrics import wilson_interval


def test_plain_build_is_unchanged() -> None:
    assert firmware_string() == f"tinyml {__version__}"
    assert parse_firmware_version(firmware_string()) == {"version": f"tinyml {__version__}", "registry_id": None,
                                                         "lineage_hash": None}


def test_identity_with_the_version_when_it_fits_else_alone() -> None:
    short, long = "kws@3 lin:ab12cd34", "kws-ds-cnn-small@12 lin:ab12cd34"
    assert firmware_string(short) == f"tinyml {__version__} {short}"
    assert firmware_string(long) == long and len(long) <= FIRMWARE_STRING_BYTES
    for text, name in ((firmware_string(short), "kws@3"), (firmware_string(long), "kws-ds-cnn-small@12")):
        assert parse_firmware_version(text) == {"version": text, "registry_id": name, "lineage_hash": "ab12cd34"}
    info = DeviceInfo(1, 256, 0, "0" * 16, "mps2-an386", firmware_string(short), (), ())
    assert (info.registry_id, info.lineage_hash) == ("kws@3", "ab12cd34")


@pytest.mark.parametrize("bad", ["a-name-far-too-long-for-info@1 lin:ab12cd34", 'k"s@1 lin:ab12cd34',
                                 "kws@1 lin:ab12cd34\\n"])
def test_identity_that_cannot_be_built_in(bad: str) -> None:
    with pytest.raises(TinymlError):
        firmware_string(bad)


def test_lineage_hash_ignores_the_firmware_it_is_built_into() -> None:
    lineage = {"model": {"sha256": "00"}, "data": None, "firmware": {}}
    with_fw = {**lineage, "firmware": {"mps2-an386": {"sha256": "ff", "identity": "x"}}}
    assert lineage_hash(lineage) == lineage_hash(with_fw) and len(lineage_hash(lineage)) == 8
    assert identity("kws", 3, lineage) == f"kws@3 lin:{lineage_hash(lineage)}"


def test_card_interval_from_accuracy_and_count() -> None:
    reports = {"quantize": {"metric": "accuracy", "float_accuracy": 0.9, "int8_accuracy": 0.885,
                            "host_c_accuracy": 0.885, "test_samples": 200, "data": {"name": "kws"}}}
    card = model_card("kws", 1, {"model": {}, "data": None, "firmware": {}}, reports, {}, {}, None)
    low, high = wilson_interval(177, 200)
    assert card["metrics"]["int8"]["interval95"] == [round(low, 6), round(high, 6)]
    text = render_markdown(card)
    assert f"88.50% [{100 * low:.2f}, {100 * high:.2f}] of 200" in text and "espeak-ng" in text
    assert "Per class: not measured (no tinyml.json and quantize report" in text


def test_card_per_class_and_on_device() -> None:
    """Per-class precision and recall with counts and intervals, and the bench's byte-for-byte agreement per board,
    as the card prints them."""
    from tinyml.train.metrics import per_class

    reports = {"quantize": {"metric": "accuracy", "int8_accuracy": 0.5, "test_samples": 4, "data": {"name": "kws"}}}
    bench = {"board": "mps2-an386", "outputs_match": 8, "outputs_total": 8}
    card = model_card("kws", 1, {"model": {}, "data": None, "firmware": {}}, reports, {}, {"mps2-an386": bench},
                      None)
    card["metrics"]["per_class"] = {"model": "int8", "split": "test", "samples": 4,
                                    "rows": per_class([0, 0, 1, 1], [0, 1, 1, 1], ["yes", "no"])}
    text = render_markdown(card)
    low, high = wilson_interval(2, 3)
    assert f"| no | 2 | {200 / 3:.2f}% [{100 * low:.2f}, {100 * high:.2f}] (2/3) | 100.00% [" in text
    assert "On mps2-an386: outputs equal to the TFLite reference on 8 of 8 bench samples" in text
    assert card["metrics"]["on_device"] == [{"board": "mps2-an386", "outputs_match": 8, "outputs_total": 8,
                                             "equal_to_int8": True}]
