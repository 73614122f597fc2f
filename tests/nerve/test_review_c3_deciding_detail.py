"""Clinical re-check c3 (2026-11-22), findings 6 and 7: a deciding site whose value decides only on
one side or at one level is named with them wherever deciding sites are given (the JSON's
``deciding_sites_detail``, the CLI, the explanation); ``deciding_sites`` keeps the bare site names
of the vocabulary for programs that match them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sonomsk.nerve.assess import assess


def request(*items: tuple[str, str, float], **extra: Any) -> dict[str, Any]:
    rows = [{"site": site, "side": side, "csa_mm2": csa} for site, side, csa in items]
    return {"patient": {"age": 49, "sex": "M"}, "measurements": rows, **extra}


def test_the_reduced_rule_names_the_right_vagus_at_the_thyroid_level() -> None:
    """Finding 6: only the right vagus at the thyroid level has a lower limit above the input
    floor; the JSON said 'vagus_neck' bare."""
    d = assess(request(("median_forearm", "right", 2.2), ("ulnar_forearm", "right", 5.5))).to_dict()
    assert d["pattern"] == "indeterminate"
    assert "vagus_neck" in d["deciding_sites"]
    detail = dict(zip(d["deciding_sites"], d["deciding_sites_detail"], strict=True))
    assert detail["vagus_neck"] == "vagus_neck (right, thyroid level)"
    assert detail["radial_spiral_groove"] == "radial_spiral_groove"


def test_the_goedee_trunk_is_named_at_its_protocol_level() -> None:
    """Finding 7: the trunk decides only at the Utrecht protocol level (no limit elsewhere), in
    the detail and in the explanation's own deciding list; a root with its own limit stays bare."""
    d = assess(request(("median_upper_arm", "right", 11.0), ("median_forearm", "right", 7.0))).to_dict()
    detail = dict(zip(d["deciding_sites"], d["deciding_sites_detail"], strict=True))
    assert detail["brachial_plexus_trunk"] == "brachial_plexus_trunk (utrecht_protocol level)"
    assert detail["c5_root"] == "c5_root"
    # a branch whose sentence lists its deciding sites names the level there too
    legs = assess(request(("fibular_head", "right", 15.0), ("fibular_popliteal", "right", 12.5))).to_dict()
    assert "diffuse_undetermined" in legs["pattern_detail"]["rules_fired"]
    assert "brachial_plexus_trunk (utrecht_protocol level)" in legs["explanation"]
    assert "brachial_plexus_trunk (utrecht_protocol level)" in legs["deciding_sites_detail"]


def test_a_result_that_decides_has_no_detail() -> None:
    d = assess(request(("median_wrist", "right", 16.0), ("median_forearm", "right", 8.0))).to_dict()
    assert d["pattern"] == "focal_entrapment"
    assert d["deciding_sites"] == [] and d["deciding_sites_detail"] == []


def test_the_cli_prints_the_detail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sonomsk.cli.main import main

    path = tmp_path / "r.json"
    path.write_text(json.dumps(request(("median_forearm", "right", 2.2), ("ulnar_forearm", "right", 5.5))))
    assert main(["nerve", "assess", str(path)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("deciding sites:")]
    assert lines == ["deciding sites: radial_spiral_groove, vagus_neck (right, thyroid level)"]
