"""What the assessment says stays within what the evidence digest says (audit, eighth session)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.nerve.assess import assess
from sonomsk.reference.loader import load_data

VIGNETTES = Path(__file__).parent / "vignettes"


def _vignette(name: str) -> dict[str, Any]:
    return json.loads((VIGNETTES / name).read_text(encoding="utf-8"))["request"]


def m(site: str, csa: float, side: str = "right") -> dict[str, Any]:
    return {"site": site, "side": side, "csa_mm2": csa}


def test_goedee_99_percent_only_for_goedee_sites() -> None:
    """Goedee 2017's 99 % specificity covers median forearm, upper arm and plexus trunk; C5 >8
    (Dutch table) alone quotes the multicentre short protocol's own figures instead."""
    c5 = assess({"measurements": [m("c5_root", 9.5)]}).goedee
    assert c5.met
    text = c5.explanation()
    assert "99%" not in text and "specificity 67.3%" in text and "sensitivity 87.4%" in text
    forearm = assess({"measurements": [m("median_forearm", 12.0), m("c5_root", 9.5)]}).goedee
    assert (
        "enlargement of any of Goedee's sites is 99% specific for CIN [Goedee 2017]" in forearm.explanation()
    )


def test_diffuse_pattern_wording() -> None:
    r = assess(_vignette("07_cmt1a.json")).pattern
    assert r.pattern.value == "diffuse"
    assert (
        "acquired neuropathies were mostly none, mild or regional (CIDP 64%, GBS 95%, MMN 100%)"
        in r.explanation
    )
    assert "acquired neuropathies rarely" not in r.explanation
    assert "over sonomsk's site pairs (the source gives the cut-offs only)" in r.explanation


def test_high_variability_in_a_diffuse_pattern_decides_nothing() -> None:
    """No numeric variability cut-off separating CIDP from CMT is established ([U] in the
    digest): a high variability is described, never read as 'acquired more likely'."""
    req = _vignette("07_cmt1a.json")
    uniform = assess(req).pattern
    for x in req["measurements"]:
        if x["site"] == "median_upper_arm":
            x["csa_mm2"] = 80.0  # one very swollen segment: high intranerve variability
    swollen = assess(req).pattern
    assert swollen.pattern == uniform.pattern
    assert "variability_high" in swollen.rules_fired
    assert "more likely" not in swollen.explanation
    assert "no variability cut-off separating them is established" in swollen.explanation


def test_proximal_claim_only_at_the_sites_its_source_names() -> None:
    r = assess({"measurements": [m("vagus_neck", 9.0), m("ulnar_upper_arm", 20.0)]}).pattern
    assert "proximal_enlargement" not in r.rules_fired
    normal_elsewhere = [m("median_forearm", 7.0), m("ulnar_forearm", 6.0), m("tibial_popliteal", 12.0)]
    root = assess(
        {"measurements": [m("c6_root", 12.0), m("ulnar_upper_arm", 12.0), *normal_elsewhere]}
    ).pattern
    assert root.pattern.value == "multifocal_nonentrapment", root.explanation
    assert "proximal enlargement at c6_root;" in root.explanation


def test_reduced_pattern_says_its_site_count_is_a_convention() -> None:
    r = assess(_vignette("09_als.json")).pattern
    assert r.pattern.value == "reduced"
    assert (
        "at least 2 sites on 2 nerves is a sonomsk convention (decision 006), not a published criterion"
        in (r.explanation)
    )


def test_hnpp_hint_names_the_site_pairs_as_sonomsks() -> None:
    r = assess(_vignette("08_hnpp.json")).pattern
    assert "hnpp_hint" in r.rules_fired and "over sonomsk's site pairs" in r.explanation


def test_an_index_of_b_evidence_never_decides_alone_in_the_output() -> None:
    out = assess(_vignette("01_cts_classic.json")).to_dict()
    (wfr,) = [i for i in out["entrapment_indices"] if i["name"] == "wrist_forearm_ratio"]
    assert wfr["decides_alone"] is False and "its source is [B]" in wfr["why_not_alone"]


def test_kinds_of_cut_off_follow_the_digest() -> None:
    idx = load_data("nerve_rules.json")["entrapment_indices"]
    assert idx["delta_csa_median"]["kind"] == "diagnostic_cutoff"  # Klauser: accuracy given, no ROC stated
    assert idx["ulnar_max_elbow_csa"]["kind"] == "diagnostic_cutoff"  # Chang: pooled cut-off


def test_doppler_count_bounds_come_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.reference import nerve_csa

    req = {"measurements": [{**m("median_wrist", 14.0), "intraneural_doppler": 7}]}
    assess(req)
    real = nerve_csa.load_data

    def narrow(name: str) -> Any:
        data = real(name)
        if name == "nerve_input_bounds.json":
            data = {**data, "intraneural_doppler": {**data["intraneural_doppler"], "bounds": [0, 5]}}
        return data

    monkeypatch.setattr(nerve_csa, "load_data", narrow)
    with pytest.raises(InvalidParameterError, match="intraneural_doppler"):
        assess(req)


def test_click_and_box_parameters_are_data_with_reasons() -> None:
    from sonomsk.nerve import interactive

    params = interactive.interactive_parameters()
    assert all(isinstance(p, dict) and p["reason"] for k, p in params.items() if k != "description")
    assert params["snap_radius_px"]["value"] == interactive.SNAP_RADIUS_PX
    assert list(interactive.CLICK_WINDOW_SIDES_PX) == params["click_window_sides_px"]["value"]
    assert params["box_margin"]["value"] == interactive.BOX_MARGIN
    assert params["min_box_px"]["value"] == interactive.MIN_BOX_PX
