"""Review ws15a (a code review of the ws14b pattern rules): findings 1-4 and 6.

Each study is the reviewer's input (``/work/review_ws15a/in``), written out here.
"""

from __future__ import annotations

from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern
from tests.nerve.test_review14_patterns import body

WOMAN = {"age": 50, "sex": "F"}


def test_a_region_enlarged_only_at_its_entrapment_site_is_not_a_generalized_enlargement() -> None:
    """A carpal tunnel (median wrist 18, forearm 7 normal) and enlargement in the other three
    regions was called "generalized enlargement without a normal region" (finding 1)."""
    rows = [
        ("median_wrist", "right", 18.0),
        ("median_forearm", "right", 7.0),
        ("ulnar_upper_arm", "right", 13.0),
        ("tibial_popliteal", "right", 28.0),
        ("c5_root", "right", 13.0),
        ("sural_calf", "right", 2.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert "uniform_mild_enlargement" not in p.rules_fired, p.explanation
    assert p.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, p.explanation
    assert "also at entrapment sites (median_wrist (right) 18 mm2" in p.explanation


def test_borderline_nonentrapment_sites_beside_a_clear_carpal_tunnel_do_not_offer_normal() -> None:
    """Median wrist 20 mm2 (limit 11) is far beyond the measurement SD: "normal" is no candidate
    and "may find them normal" is not said of it (finding 2)."""
    rows = [
        ("median_wrist", "right", 20.0),
        ("median_forearm", "right", 11.0),
        ("median_upper_arm", "right", 10.0),
        ("tibial_popliteal", "right", 14.0),
        ("c5_root", "right", 6.0),
        ("sural_calf", "right", 2.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    assert p.candidates == ("focal_entrapment", "multifocal_nonentrapment")
    sentence = next(s for s in p.explanation.split(". ") if s.startswith("nonentrapment_borderline"))
    assert sentence.index("may find them normal") < sentence.index("median_wrist (right) 20 mm2")
    assert "is beyond it: focal entrapment vs multifocal undecided" in sentence


def test_a_site_without_a_published_sd_is_borderline_only_within_the_smallest_published_sd() -> None:
    """A sural nerve 2.9 mm2 above its 3 mm2 limit was "compatible with borderline" under a 2x
    stand-in (finding 3); the stand-in is now the smallest SD the source reports (1.0 mm2)."""
    rows = [
        ("median_forearm", "right", 11.0),  # 1 mm2 over: borderline (SD 1.7)
        ("sural_calf", "right", 5.9),  # 2.9 mm2 over
        ("median_upper_arm", "right", 8.0),
        ("tibial_popliteal", "right", 14.0),
        ("c5_root", "right", 6.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert p.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, p.explanation
    rows[1] = ("sural_calf", "right", 3.6)  # 0.6 mm2 over: within the stand-in
    p = assess(body(rows, **WOMAN)).pattern
    assert "nonentrapment_borderline" in p.rules_fired, p.explanation
    assert "the source gives no SD and 1 mm2, the smallest it reports at any site, stands in" in p.explanation


def test_one_site_enlarged_on_both_sides_is_two_foci() -> None:
    """Ulnar upper arm 13 mm2 right and left (limit 9) was "a single non-entrapment site"
    (finding 4); the rules count site and side."""
    rows = [
        ("ulnar_upper_arm", "right", 13.0),
        ("ulnar_upper_arm", "left", 13.0),
        ("median_forearm", "right", 7.0),
        ("median_upper_arm", "right", 8.0),
        ("tibial_popliteal", "right", 14.0),
        ("c5_root", "right", 6.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert "isolated_mild_enlargement" not in p.rules_fired, p.explanation
    assert p.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, p.explanation


def test_the_vagus_cannot_decide_reduction_its_lower_limit_is_within_noise_of_the_floor() -> None:
    """Vagus LLN 0.32 mm2 against an input floor of 0.3 mm2 (finding 6): not a deciding site for
    reduction, and a study whose only other motor site is one nerve gets the scope note."""
    low = assess(body([("median_forearm", "right", 3.0), ("ulnar_forearm", "right", 5.0)], **WOMAN)).pattern
    assert "reduced_insufficient" in low.rules_fired
    assert "radial_spiral_groove" in low.deciding_sites
    # at its default level the vagus cannot decide; at the thyroid level (right LLN 1.4 mm2) it can,
    # and the level is named (review c2 finding 5)
    assert "vagus_neck (right, thyroid level)" in low.explanation
    normal = assess(body([("median_forearm", "right", 6.0), ("vagus_neck", "right", 2.5)], **WOMAN)).pattern
    assert normal.pattern is Pattern.NORMAL
    assert "reduction_scope" in normal.rules_fired, normal.explanation


def test_a_lower_limit_near_the_floor_is_explained_as_a_convention_not_an_impossibility() -> None:
    """A left vagus of 0.5 mm2 below its LLN 0.56 was said to be a value that "no accepted value
    can fall below" (review ws15c N2)."""
    p = assess(body([("vagus_neck", "left", 0.5), ("median_forearm", "right", 6.0)], **WOMAN)).pattern
    assert "no accepted value can fall below" not in p.explanation
    assert "within one between-investigator SD of the lowest accepted value" in p.explanation
    assert "stand-in: no SD published for the site" in p.explanation and "sonomsk convention" in p.explanation


def test_the_borderline_sentence_names_every_candidate_it_returns() -> None:
    """Three candidates (normal, multifocal, focal entrapment) were described as "normal vs
    multifocal undecided" (review ws15c N8)."""
    rows = [
        ("median_upper_arm", "right", 10.0),  # ULN 9: borderline
        ("tibial_popliteal", "right", 23.0),  # ULN 22: borderline
        ("median_wrist", "right", 11.5),  # ULN 11: borderline entrapment
        ("median_forearm", "right", 7.5),
        ("c5_root", "right", 6.0),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert p.candidates == ("normal", "multifocal_nonentrapment", "focal_entrapment"), p.explanation
    assert "normal vs multifocal vs focal entrapment undecided" in p.explanation


CTS_ARM = [
    ("median_wrist", "right", 14.8),  # ULN 11: 3.8 mm2 over, beyond the SD 1.7
    ("median_wrist", "left", 9.5),
    ("median_forearm", "right", 10.65),  # ULN 10: borderline
    ("median_upper_arm", "right", 9.98),  # ULN 9: borderline
    ("median_forearm", "left", 7.3),
]


def test_an_arm_only_carpal_tunnel_with_borderline_arm_sites_is_not_diffuse_vs_multifocal() -> None:
    """The browser re-check's study (review ws15b F1): legs and neck unmeasured made it "diffuse vs
    multifocal undecided" and dropped the carpal tunnel; the borderline guard comes first."""
    p = assess(body(CTS_ARM, **WOMAN)).pattern
    assert "diffuse_undetermined" not in p.rules_fired, p.explanation
    assert "nonentrapment_borderline" in p.rules_fired
    assert p.candidates == ("focal_entrapment", "multifocal_nonentrapment")
    assert "median_wrist (right) 14.8 mm2" in p.explanation


def test_a_single_forearm_focus_beside_a_normal_other_side_is_one_focus_not_diffuse() -> None:
    rows = [r for r in CTS_ARM if r[0] != "median_upper_arm"]
    p = assess(body(rows, **WOMAN)).pattern
    assert "diffuse_undetermined" not in p.rules_fired, p.explanation
    assert "focal_entrapment" in p.candidates and "diffuse" not in p.candidates


def test_patchy_enlargement_with_normal_sites_is_not_a_generalized_enlargement() -> None:
    """Every region enlarged somewhere but with normal sites beside (review ws15b F2): not
    "generalized enlargement without a normal region"."""
    rows = [
        *CTS_ARM,
        ("fibular_popliteal", "left", 10.3),
        ("fibular_popliteal", "right", 6.4),
        ("c5_root", "left", 9.8),
        ("c5_root", "right", 6.3),
    ]
    p = assess(body(rows, **WOMAN)).pattern
    assert "uniform_mild_enlargement" not in p.rules_fired, p.explanation
    assert "without a normal region" not in p.explanation
    assert "diffuse" not in p.candidates
