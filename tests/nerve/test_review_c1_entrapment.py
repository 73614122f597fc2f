"""Review c1 (neuromuscular ultrasound / EDX specialist), findings 2, 3, 10 and 11.

2: the maximal-swelling/Guyon ulnar ratio (specificity 73%) only supports an enlarged CSA.
3: a severity cut-off met on a borderline CSA (decision 011) does not claim the severe range.
10: an intranerve value is printed the same way in the intranerve and the internerve line.
11: internerve variability divides only intranerve values of different nerves (Padua 2012).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from sonomsk.nerve.assess import assess
from sonomsk.nerve.entrapment import compute_variability, evaluate_severity
from sonomsk.reference.loader import load_data


def _assess(*rows: tuple[str, str, float], **patient: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"measurements": [{"site": s, "side": side, "csa_mm2": v} for s, side, v in rows]}
    if patient:
        body["patient"] = patient
    return assess(body).to_dict()


def _index(d: dict[str, Any], name: str, side: str) -> dict[str, Any]:
    return next(i for i in d["entrapment_indices"] if i["name"] == name and i["side"] == side)


# --------------------------------------------------------------------------- finding 2


def test_guyon_ulnar_ratio_is_support_only_with_its_specificity_and_source_in_data() -> None:
    spec = load_data("nerve_rules.json")["entrapment_indices"]["ulnar_max_to_wrist"]
    assert spec["decides_alone"] is False
    why = spec["why_not_alone"]
    assert "specificity (73%" in why and "Ann Rehabil Med 2015" in why
    # the more specific elbow indices keep deciding alone
    rules = load_data("nerve_rules.json")["entrapment_indices"]
    assert rules["ulnar_max_to_forearm"].get("decides_alone", True) is True
    assert rules["ulnar_max_elbow_csa"].get("decides_alone", True) is True


def test_guyon_ratio_alone_leaves_a_normal_ulnar_study_normal() -> None:
    # review input 21: every CSA normal, forearm ratio 1.33 and maximal CSA 8 normal, Guyon ratio 2.00
    d = _assess(
        ("ulnar_wrist", "right", 4.0),
        ("ulnar_forearm", "right", 6.0),
        ("ulnar_elbow", "right", 8.0),
        ("ulnar_upper_arm", "right", 7.0),
        age=40,
        sex="F",
        height_cm=166,
        weight_kg=60,
    )
    guyon = _index(d, "ulnar_max_to_wrist", "right")
    assert guyon["abnormal"] is True and guyon["decides_alone"] is False
    assert "specificity (73%" in guyon["why_not_alone"]
    assert d["pattern"] == "normal", d["explanation"]
    assert "index_support_only" in d["explanation"]
    assert "index_without_enlargement" not in d["explanation"]


def test_guyon_ratio_no_longer_keeps_a_borderline_elbow_as_focal_entrapment() -> None:
    # ulnar_elbow 9.5 > ULN 9 but within the SD 1.7 (borderline); forearm ratio 1.36 < 1.48 and
    # maximal CSA 9.5 < 10 normal; only the 73%-specific Guyon ratio (2.11) is abnormal
    d = _assess(
        ("ulnar_wrist", "left", 4.5),
        ("ulnar_forearm", "left", 7.0),
        ("ulnar_elbow", "left", 9.5),
        ("ulnar_upper_arm", "left", 7.0),
        age=50,
        sex="M",
    )
    assert _index(d, "ulnar_max_to_wrist", "left")["abnormal"] is True
    assert d["pattern"] == "indeterminate", d["explanation"]
    assert "focal_borderline_contradicted" in d["explanation"]


# --------------------------------------------------------------------------- finding 3

UNE_BORDERLINE = {
    ("ulnar_elbow", "left"): 10.0,
    ("ulnar_wrist", "left"): 4.5,
    ("ulnar_upper_arm", "left"): 7.0,
}


def test_une_severe_range_on_a_borderline_csa_is_not_claimed() -> None:
    (hint,) = evaluate_severity(UNE_BORDERLINE, {("ulnar_elbow", "left")}, {("ulnar_elbow", "left")})
    f = hint.to_finding()
    assert f.outcome == "severe_range_not_established"
    text = hint.explanation
    assert "maximal ulnar CSA at the elbow (left) 10 mm2 >= 10 mm2" in text
    assert "the severe range is not established" in text
    assert (
        "ulnar_elbow (left) 10 mm2) is within the between-investigator SD (1.7 mm2) of its upper limit"
        in text
    )
    assert "a second measurement may not confirm the enlargement" in text
    assert "at or above the cut-off the source used to separate severe" not in text
    assert "a hint, not a grade" not in text  # no grade-like claim to qualify
    reliability = load_data("nerve_csa.json")["measurement_reliability"]["source"]
    assert hint.sources == ("ayromlou_2012", reliability) and len(f.citations) == 2


def test_une_severe_range_on_a_firm_csa_is_unchanged() -> None:
    values = {**UNE_BORDERLINE, ("ulnar_elbow", "left"): 13.0}
    # a borderline flag on another site does not touch the CSA the cut-off rests on
    (hint,) = evaluate_severity(values, {("ulnar_elbow", "left")}, {("ulnar_upper_arm", "left")})
    assert hint.to_finding().outcome == "severe_range"
    assert "at or above the cut-off the source used to separate severe ulnar neuropathy" in hint.explanation
    assert hint.sources == ("ayromlou_2012",)
    # without borderline information (the default) every CSA counts as firm
    (default,) = evaluate_severity(UNE_BORDERLINE, {("ulnar_elbow", "left")})
    assert default.to_finding().outcome == "severe_range"


def test_une_borderline_check_uses_the_maximal_elbow_csa() -> None:
    # the maximal CSA (13, above the elbow) is firm; a borderline sulcus CSA does not matter
    values = {
        ("ulnar_elbow", "left"): 10.0,
        ("ulnar_above_elbow", "left"): 13.0,
        ("ulnar_forearm", "left"): 6.0,
    }
    (hint,) = evaluate_severity(values, {("ulnar_elbow", "left")}, {("ulnar_elbow", "left")})
    assert hint.to_finding().outcome == "severe_range"
    # and the maximal one borderline: not established, naming the maximal site
    values[("ulnar_above_elbow", "left")] = 10.5
    (hint,) = evaluate_severity(
        values, {("ulnar_elbow", "left")}, {("ulnar_elbow", "left"), ("ulnar_above_elbow", "left")}
    )
    assert hint.to_finding().outcome == "severe_range_not_established"
    assert "(ulnar_above_elbow (left) 10.5 mm2)" in hint.explanation


def test_cts_severe_range_on_a_borderline_wrist_csa_is_not_claimed() -> None:
    # WFR 12/4 = 3 >= 3 (Abrishamchi) with median_wrist 12, within the SD of the ULN 11
    values = {("median_wrist", "right"): 12.0, ("median_forearm", "right"): 4.0}
    (hint,) = evaluate_severity(values, {("median_wrist", "right")}, {("median_wrist", "right")})
    assert hint.name == "cts_severe_range"
    assert hint.to_finding().outcome == "severe_range_not_established"
    assert "wrist-to-forearm ratio (right) 3 >= 3" in hint.explanation
    assert "the severe range is not established" in hint.explanation
    assert "EDX is always needed to grade CTS severity" in hint.explanation
    (firm,) = evaluate_severity(values, {("median_wrist", "right")})
    assert firm.to_finding().outcome == "severe_range"


# --------------------------------------------------------------------------- finding 10


def _printed(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    assert match, text
    return match.group(1)


def test_an_intranerve_value_is_printed_the_same_in_both_lines() -> None:
    # median left 9/6.5 = 1.3846 (stored 1.385); ulnar left 10/4 = 2.50
    values = {
        ("median_wrist", "left", None): 9.0,
        ("median_forearm", "left", None): 6.5,
        ("ulnar_elbow", "left", None): 10.0,
        ("ulnar_wrist", "left", None): 4.0,
    }
    v = compute_variability(values)
    median = next(i for i in v.intranerve if i["nerve"] == "median")
    assert median["value"] == pytest.approx(1.385)
    intra_text = _printed(median["explanation"], r"= 9/6\.5 = (\d\.\d\d) ")
    assert v.internerve is not None
    inter_text = _printed(v.internerve["explanation"], r"/ (\d\.\d\d) \(median left\)")
    assert intra_text == inter_text == "1.38"
    assert v.internerve["value"] == pytest.approx(2.5 / (9.0 / 6.5), abs=1e-3)


# --------------------------------------------------------------------------- finding 11


def test_the_two_sides_of_one_nerve_give_no_internerve_value() -> None:
    # review input 09: median nerve on both sides only
    d = _assess(
        ("median_wrist", "right", 14.0),
        ("median_forearm", "right", 7.0),
        ("median_wrist", "left", 9.0),
        ("median_forearm", "left", 6.5),
    )
    var = d["variability"]
    assert len(var["intranerve"]) == 2
    assert var["internerve"] is None
    note = var["internerve_not_computed"]
    assert note["nerves"] == ["median"]
    assert "different nerves" in note["explanation"] and "side-to-side" in note["explanation"]
    (finding,) = [f for f in d["findings"] if f["rule_id"] == "internerve_variability"]
    assert finding["outcome"] == "not_computed"


def test_internerve_variability_divides_different_nerves_only() -> None:
    # the largest and smallest intranerve values are the two median sides (2.00 and 1.38); the
    # internerve value pairs different nerves: median right 2.00 / ulnar left 1.40
    d = _assess(
        ("median_wrist", "right", 14.0),
        ("median_forearm", "right", 7.0),
        ("median_wrist", "left", 9.0),
        ("median_forearm", "left", 6.5),
        ("ulnar_wrist", "left", 5.0),
        ("ulnar_forearm", "left", 7.0),
    )
    inter = d["variability"]["internerve"]
    assert inter["max"] == "median (right)" and inter["min"] == "ulnar (left)"
    assert inter["value"] == pytest.approx(2.0 / 1.4, abs=1e-3)
    assert "the two sides of the median nerve are not divided here" in inter["explanation"]
    assert d["variability"]["internerve_not_computed"] is None


def test_internerve_takes_the_largest_ratio_between_different_nerves() -> None:
    # ulnar right 3.0 is the largest; the smallest entry of another nerve is median left 1.2
    values = {
        ("ulnar_elbow", "right", None): 12.0,
        ("ulnar_wrist", "right", None): 4.0,
        ("ulnar_elbow", "left", None): 5.0,
        ("ulnar_wrist", "left", None): 4.5,
        ("median_wrist", "left", None): 9.6,
        ("median_forearm", "left", None): 8.0,
    }
    v = compute_variability(values)
    assert v.internerve is not None
    assert v.internerve["max"] == "ulnar (right)" and v.internerve["min"] == "median (left)"
    assert v.internerve["value"] == pytest.approx(3.0 / 1.2, abs=1e-3)


def test_review_input_19_borderline_une_does_not_claim_the_severe_range() -> None:
    # review input 19: ulnar_elbow 10.0, ULN 9, SD 1.7: enlarged (borderline) and >= Ayromlou's 10
    d = _assess(
        ("ulnar_wrist", "left", 4.5),
        ("ulnar_elbow", "left", 10.0),
        ("ulnar_upper_arm", "left", 7.0),
        age=55,
        sex="M",
        height_cm=175,
        weight_kg=82,
    )
    assert d["pattern"] == "focal_entrapment"
    (hint,) = [h for h in d["pattern_detail"]["hints"] if h["rule_id"] == "une_severe_range"]
    assert hint["outcome"] == "severe_range_not_established"
    assert "the severe range is not established" in d["explanation"]
    assert "at or above the cut-off the source used to separate severe" not in d["explanation"]
    cited = " ".join(c["text"] for c in d["pattern_detail"]["citations"])
    assert "S135" in cited  # the between-investigator SD's source is cited with the pattern
