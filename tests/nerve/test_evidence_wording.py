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


def test_two_ordinary_entrapments_are_not_told_they_fit_hnpp() -> None:
    """The entrapment-ratio source compared hereditary neuropathies with one another: ratios > 1.4
    at two entrapped nerves (CTS with UNE) are the HNPP feature only where a hereditary cause is
    suspected; the hint says so and never says 'fits HNPP'."""
    d = assess(
        {
            "measurements": [
                m("median_wrist", 14.0),
                m("median_forearm", 7.0),
                m("ulnar_elbow", 12.0),
                m("ulnar_forearm", 6.5),
            ]
        }
    ).to_dict()
    assert d["pattern"] == "focal_entrapment"
    hint = next(s for s in d["explanation"].split(". ") if s.startswith("hnpp_hint"))
    assert "fits HNPP" not in hint
    assert "only where a hereditary neuropathy is suspected" in hint and "the HNPP feature" in hint


def test_goedee_in_a_diffuse_pattern_says_it_does_not_separate_cin_from_cmt1() -> None:
    sites = [
        ("median_wrist", 30.0),
        ("median_forearm", 34.0),
        ("median_upper_arm", 40.0),
        ("ulnar_forearm", 18.0),
        ("ulnar_upper_arm", 20.0),
        ("c5_root", 20.0),
        ("tibial_ankle", 40.0),
        ("fibular_popliteal", 25.0),
        ("sural_calf", 6.0),
    ]
    d = assess({"measurements": [m(s, v) for s, v in sites]}).to_dict()
    assert d["pattern"] == "diffuse" and d["goedee"]["met"]
    goedee = next(s for s in d["explanation"].split(". ") if s.startswith("goedee_cin"))
    assert "does not separate a chronic inflammatory neuropathy from CMT1" in goedee
    # outside a diffuse pattern the criterion keeps its plain wording
    d = assess({"measurements": [m("median_upper_arm", 16.0), m("median_wrist", 9.0)]}).to_dict()
    assert d["goedee"]["met"] and "from CMT1" not in d["explanation"]


def test_two_levels_of_one_site_are_refused_without_advice_to_average_them() -> None:
    body = {
        "measurements": [
            {**m("c5_root", 9.0), "level": "interscalene"},
            {**m("c5_root", 11.0), "level": "foraminal"},
        ]
    }
    with pytest.raises(InvalidParameterError) as info:
        assess(body)
    text = str(info.value)
    assert "one level per site and side" in text and "never as an average" in text and "mean" not in text
    # the default level named or left out is one level: a true duplicate, whose repeats may be averaged
    body["measurements"][1] = m("c5_root", 11.0)
    with pytest.raises(
        InvalidParameterError, match=r"duplicate of measurements\[0\].*mean of repeats at the same level"
    ):
        assess(body)


def test_a_normal_study_with_a_fibular_ratio_just_over_its_cut_off_stays_normal() -> None:
    d = assess(
        {"measurements": [m("fibular_head", 9.0), m("fibular_popliteal", 8.0), m("median_wrist", 9.0)]}
    ).to_dict()
    ratio = next(i for i in d["entrapment_indices"] if i["name"] == "fibular_head_to_popliteal")
    assert ratio["abnormal"] and ratio["decides_alone"] is False
    assert d["pattern"] == "normal" and "index_support_only" in d["pattern_detail"]["rules_fired"]
    # beside an enlarged fibular head it still supports the focal entrapment
    d = assess({"measurements": [m("fibular_head", 14.0), m("fibular_popliteal", 8.0)]}).to_dict()
    assert (
        d["pattern"] == "focal_entrapment" and "fibular_head_to_popliteal (right) = 1.75" in d["explanation"]
    )


def test_high_intranerve_variability_is_named_beside_an_isolated_enlargement() -> None:
    d = assess(
        {"measurements": [m("ulnar_upper_arm", 17.0, "left"), m("ulnar_forearm", 6.0, "left")]}
    ).to_dict()
    assert (
        d["pattern"] == "indeterminate" and "isolated_mild_enlargement" in d["pattern_detail"]["rules_fired"]
    )
    assert (
        "variability_high: intranerve variability above the healthy limit (ulnar (left) 2.83 > 2.55)"
        in d["explanation"]
    )
    assert "does not decide the pattern" in d["explanation"]


def test_no_assessment_text_points_into_the_unshipped_evidence_digest() -> None:
    """The explanations, notes and reasons a clinician reads cite the literature, never the
    project's own evidence digest, which is not shipped with the package."""
    texts = []
    for path in sorted(VIGNETTES.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        try:
            texts.append(json.dumps(assess(spec["request"]).to_dict()))
        except InvalidParameterError:
            continue
    assert len(texts) > 30
    leaks = [t for t in texts if "clinical-evidence.md" in t]
    assert not leaks, leaks[0][:300]


def test_trunks_positive_by_goedee_alone_are_not_called_mildly_enlarged() -> None:
    trunk = {"site": "brachial_plexus_trunk", "side": "right", "level": "utrecht_protocol"}
    d = assess(
        {
            "measurements": [
                {**trunk, "trunk": "upper", "csa_mm2": 9.0},
                {**trunk, "trunk": "middle", "csa_mm2": 11.0},
            ]
        }
    ).to_dict()
    text = d["explanation"]
    assert "diffuse_undetermined" in d["pattern_detail"]["rules_fired"]
    assert "by a Goedee criterion only" in text and "mildly (never" not in text
    assert "brachial_plexus_trunk (upper trunk, right) 9 > 8" in text
    # an enlarged entrapment site beside them does not make the trunks "mildly enlarged"
    d = assess(
        {
            "measurements": [
                {**trunk, "trunk": "upper", "csa_mm2": 9.0},
                {**trunk, "trunk": "middle", "csa_mm2": 11.0},
                m("median_wrist", 14.0),
            ]
        }
    ).to_dict()
    assert "by a Goedee criterion only" in d["explanation"] and "mildly (never" not in d["explanation"]
