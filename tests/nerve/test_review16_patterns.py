"""Review ws16a (a final re-check of the pattern rules): R1-R5, R7."""

from __future__ import annotations

from sonomsk.knowledge.base import FindingState, load_knowledge
from sonomsk.knowledge.inputs import parse_findings
from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern
from tests.nerve.test_review14_patterns import body

WOMAN = {"age": 50, "sex": "F"}


def test_a_site_near_the_input_floor_does_not_count_toward_the_reduced_pattern() -> None:
    """Median forearm 3.0 plus a vagus 0.5 (LLN 0.32-0.56, floor 0.3) made `reduced` on "2 sites on
    2 nerves" while the same text said the vagus does not count (R1)."""
    p = assess(body([("median_forearm", "right", 3.0), ("vagus_neck", "left", 0.5)], **WOMAN)).pattern
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    assert "reduced_insufficient" in p.rules_fired and "reduced_motor_csa" not in p.rules_fired
    assert p.candidates == ("reduced", "normal")


def test_a_carpal_tunnel_beside_one_borderline_forearm_stays_a_candidate() -> None:
    """Wrist 16 and forearm 10.6 (0.6 over, within the SD): "diffuse vs multifocal" dropped the
    carpal tunnel (R2); a borderline site alone never offered normal (R3)."""
    cts = assess(body([("median_wrist", "right", 16.0), ("median_forearm", "right", 10.6)], **WOMAN)).pattern
    assert cts.candidates[0] == "focal_entrapment", cts.explanation
    assert (
        "median_wrist (right) 16 mm2" in cts.explanation
        and "may be a focal entrapment on its own" in cts.explanation
    )
    alone = assess(body([("median_forearm", "right", 10.5)], **WOMAN)).pattern
    assert alone.candidates[0] == "normal", alone.explanation
    assert "so a second measurement may find it normal" in alone.explanation
    firm = assess(body([("median_forearm", "right", 13.0)], **WOMAN)).pattern  # 3 mm2 over: firm
    assert "normal" not in firm.candidates


def test_the_sparing_hint_and_finding_follow_the_borderline_vagus() -> None:
    """C5 10/8 and a vagus 6/5.4 (within the 1.0 mm2 stand-in): the GBS figures were quoted without
    the borderline caveat and counted at full weight (R4)."""
    rows = [
        ("c5_root", "right", 10.0),
        ("vagus_neck", "right", 6.0),
        ("sural_calf", "right", 2.0),
        ("median_forearm", "right", 7.0),
    ]
    r = assess(body(rows, **WOMAN))
    sentence = next(s for s in r.pattern.explanation.split(". ") if s.startswith("sensory_sparing"))
    assert "every one within the between-investigator SD of its limit" in sentence
    obs = parse_findings({"nerve_assessment": r.to_dict()}, load_knowledge())
    assert obs.states.get("sensory_nerve_sparing", FindingState.UNKNOWN) == FindingState.UNKNOWN
    rows[1] = ("vagus_neck", "right", 7.5)  # 2.1 mm2 over: firm
    obs = parse_findings({"nerve_assessment": assess(body(rows, **WOMAN)).to_dict()}, load_knowledge())
    assert obs.states.get("sensory_nerve_sparing") == FindingState.PRESENT


def test_borderline_reduction_beside_a_borderline_entrapment_keeps_normal_and_offers_no_multifocal() -> None:
    rows = [
        ("median_forearm", "right", 3.8),
        ("ulnar_forearm", "right", 3.9),
        ("tibial_ankle", "right", 14.0),
        ("tibial_popliteal", "right", 15.0),
    ]
    p = assess(body(rows, age=91, sex="F")).pattern
    assert "reduced_and_enlarged" in p.rules_fired, p.explanation
    assert p.candidates == ("normal", "reduced", "focal_entrapment")


def test_the_single_site_sentence_names_normal_when_it_is_a_candidate() -> None:
    rows = [
        ("median_forearm", "right", 10.5),
        ("median_upper_arm", "right", 8.0),
        ("ulnar_forearm", "right", 6.0),
        ("c5_root", "right", 6.0),
        ("tibial_popliteal", "right", 18.0),
        ("sural_calf", "right", 2.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert p.candidates[0] == "normal"
    assert (
        "normal (a second measurement), multifocal (another site enlarged) vs a focal non-entrapment lesion"
        in (p.explanation)
    )


def test_all_regions_borderline_keeps_diffuse_open() -> None:
    """Every region enlarged, every value within the SD: the borderline rule dropped `diffuse`,
    and the differential then counted "not diffuse" against CMT1A (review ws16b 1)."""
    rows = [
        ("median_forearm", "right", 10.5),
        ("ulnar_upper_arm", "right", 9.5),
        ("tibial_popliteal", "right", 23.0),
        ("c5_root", "right", 9.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert "nonentrapment_borderline" in p.rules_fired
    assert p.candidates == ("normal", "multifocal_nonentrapment", "diffuse")
    rows.append(("median_upper_arm", "right", 7.0))  # a normal non-entrapment site: diffuse is out
    assert "diffuse" not in assess(body(rows, **WOMAN)).pattern.candidates


def test_reduced_beside_a_firm_goedee_trunk_does_not_offer_normal() -> None:
    rows = [("median_forearm", "right", 3.0), ("ulnar_forearm", "right", 3.0)]
    trunk = {"site": "brachial_plexus_trunk", "side": "right", "csa_mm2": 20.0, "trunk": "upper"}
    trunk["level"] = "utrecht_protocol"
    doc = body(rows, age=60, sex="M")
    doc["measurements"].append(trunk)
    p = assess(doc).pattern
    assert "reduced_and_enlarged" in p.rules_fired and "normal" not in p.candidates, p.explanation
    vagus = assess(body([*rows, ("vagus_neck", "right", 5.6)], age=60, sex="M")).pattern  # 0.2 over
    assert vagus.candidates[0] == "normal", vagus.explanation


def test_a_single_borderline_focus_beside_a_borderline_wrist_keeps_normal() -> None:
    rows = [
        ("median_forearm", "right", 10.5),
        ("median_wrist", "right", 11.5),  # ULN 11: borderline
        ("median_upper_arm", "right", 8.0),
        ("c5_root", "right", 6.0),
        ("tibial_popliteal", "right", 18.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert "single_nonentrapment_site" in p.rules_fired, p.explanation
    assert p.candidates[0] == "normal" and "focal_entrapment" in p.candidates


def test_a_floor_limited_reduced_row_is_not_called_within_its_limits() -> None:
    p = assess(
        body([("vagus_neck", "right", 0.3), ("median_forearm", "right", 7.0)], age=60, sex="M")
    ).pattern
    assert p.pattern is Pattern.NORMAL
    assert "all 2 evaluable measurements are within their limits" not in p.explanation
    assert "reduced only where the lower limit cannot decide (vagus_neck (right)" in p.explanation
