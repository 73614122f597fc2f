"""Review ws14b (a neurologist's review of `nerve assess`): findings 1-3 and 5-8, 10.

Each vignette is the reviewer's input (``/work/review_ws14b/v``), written out here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from sonomsk.cli.main import main
from sonomsk.core.errors import InvalidParameterError
from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern, zaidman_pattern

Row = tuple[Any, ...]


def body(rows: list[Row], **patient: Any) -> dict[str, Any]:
    out = []
    for row in rows:
        item: dict[str, Any] = {"site": row[0], "side": row[1], "csa_mm2": row[2]}
        if len(row) > 3:
            item["level"] = row[3]
        out.append(item)
    return {"patient": patient, "measurements": out}


ADULT = {"age": 38, "sex": "F", "height_cm": 168, "weight_kg": 62}

V30_GOEDEE_FOREARM_ONLY = [
    ("median_forearm", "right", 10.5),
    ("median_upper_arm", "right", 8.0),
    ("ulnar_forearm", "right", 6.0),
    ("c5_root", "right", 6.0),
    ("tibial_popliteal", "right", 18.0),
    ("sural_calf", "right", 2.0),
]
V07_AXONAL_MILD = [
    ("median_wrist", "right", 10.0),
    ("median_forearm", "right", 7.5),
    ("median_upper_arm", "right", 10.0),
    ("ulnar_forearm", "right", 6.0),
    ("ulnar_upper_arm", "right", 8.0),
    ("tibial_popliteal", "right", 23.0),
    ("tibial_ankle", "right", 14.0),
    ("fibular_head", "right", 11.5),
    ("fibular_popliteal", "right", 8.5),
    ("sural_calf", "right", 3.4),
]
V21_CMT1A_UNIFORM_MILD = [
    ("median_wrist", "right", 17.0),
    ("median_forearm", "right", 16.0),
    ("median_upper_arm", "right", 16.5),
    ("ulnar_wrist", "right", 11.0),
    ("ulnar_forearm", "right", 15.0),
    ("ulnar_elbow", "right", 15.5),
    ("ulnar_upper_arm", "right", 16.0),
    ("c5_root", "right", 14.0),
    ("c6_root", "right", 18.0),
    ("fibular_head", "right", 18.0),
    ("fibular_popliteal", "right", 16.0),
    ("tibial_popliteal", "right", 40.0),
    ("tibial_ankle", "right", 23.0),
    ("sural_calf", "right", 5.5),
]
V10_CHILD_CMT = [
    ("median_forearm", "right", 14.0),
    ("median_upper_arm", "right", 16.0),
    ("median_wrist", "right", 12.0),
    ("ulnar_forearm", "right", 11.0),
    ("ulnar_upper_arm", "right", 12.0),
    ("tibial_popliteal", "right", 30.0),
    ("sural_calf", "right", 4.0),
    ("c5_root", "right", 10.0),
]
V08_ALS_REDUCED = [
    ("median_forearm", "right", 3.2),
    ("median_upper_arm", "right", 5.5),
    ("median_wrist", "right", 6.0),
    ("ulnar_forearm", "right", 3.0),
    ("ulnar_upper_arm", "right", 4.5),
    ("radial_spiral_groove", "right", 3.0),
    ("c5_root", "right", 3.5),
    ("c6_root", "right", 3.5),
    ("c7_root", "right", 4.0),
    ("vagus_neck", "right", 1.5),
    ("sural_calf", "right", 2.3),
]
V26_ALS_ROOTS_DUTCH = [
    ("c5_root", "right", 2.5),
    ("c6_root", "right", 1.2),
    ("c7_root", "right", 2.0),
    ("c5_root", "left", 2.5),
    ("c6_root", "left", 1.1),
]


# ---------------------------------------------------------------- F1: one focus is not multifocal


def test_single_enlarged_nonentrapment_site_is_not_multifocal() -> None:
    r = assess(body(V30_GOEDEE_FOREARM_ONLY, **ADULT))
    p = r.pattern
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    # borderline: a second measurement may find it normal (review ws15c N9)
    assert p.candidates == ("normal", "multifocal_nonentrapment", "focal_nonentrapment")
    assert "single_nonentrapment_site" in p.rules_fired
    # the deciding sites are other non-entrapment sites, Goedee's trunk among them
    assert "brachial_plexus_trunk" in p.deciding_sites and "median_forearm" not in p.deciding_sites
    # the Goedee criterion is still reported beside it, and says it is met only within the SD
    assert r.goedee.met and "goedee_cin" in p.rules_fired
    assert re.search(
        r"median_forearm \(right\) 10\.5 > 10 \[Goedee 2017\] \(borderline: 0\.50 mm2", p.explanation
    )


def test_single_focus_with_goedee_met_not_borderline_is_still_indeterminate() -> None:
    rows = [("median_forearm", "right", 14.0), *V30_GOEDEE_FOREARM_ONLY[1:]]
    r = assess(body(rows, **ADULT))
    assert r.pattern.pattern is Pattern.INDETERMINATE
    assert "borderline" not in r.goedee.explanation()
    assert r.goedee.evaluated[0]["borderline"] is False


def test_two_enlarged_sites_of_one_nerve_are_multifocal() -> None:
    # the decision (006 addendum): sites of one nerve count as two foci (Padua 2012's intranerve
    # variability describes enlargement varying along one nerve)
    rows = [
        ("median_forearm", "right", 15.0),
        ("median_upper_arm", "right", 17.0),
        *V30_GOEDEE_FOREARM_ONLY[2:],
    ]
    r = assess(body(rows, **ADULT))
    assert r.pattern.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, r.pattern.explanation


# ---------------------------------------------------------------- F3: every enlargement borderline


def test_all_borderline_nonentrapment_enlargement_is_indeterminate() -> None:
    r = assess(body(V07_AXONAL_MILD, age=72, sex="M", height_cm=175, weight_kg=100))
    p = r.pattern
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    assert p.candidates[:2] == ("normal", "multifocal_nonentrapment")
    assert "nonentrapment_borderline" in p.rules_fired
    assert "proximal_enlargement" not in p.rules_fired
    assert "19% of axonal polyneuropathy" in p.explanation


def test_proximal_claim_names_a_borderline_value() -> None:
    rows = [
        ("median_upper_arm", "right", 10.0),  # ULN 9: borderline (SD 1.7)
        ("ulnar_upper_arm", "right", 14.0),  # ULN 9: clearly enlarged
        ("median_forearm", "right", 7.0),
        ("tibial_popliteal", "right", 15.0),
        ("c5_root", "right", 6.0),
    ]
    p = assess(body(rows, **ADULT)).pattern
    assert p.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, p.explanation
    sentence = next(s for s in p.explanation.split(". ") if s.startswith("proximal_enlargement"))
    assert "borderline" in sentence and "median_upper_arm (right)" in sentence


# ---------------------------------------------------------------- F2: uniform mild enlargement


def test_uniform_mild_enlargement_in_all_regions_is_indeterminate_with_zaidman_and_goedee_caveat() -> None:
    p = assess(body(V21_CMT1A_UNIFORM_MILD, **ADULT)).pattern
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    assert p.candidates == ("diffuse", "multifocal_nonentrapment")
    assert "uniform_mild_enlargement" in p.rules_fired and p.zaidman == "mild"
    assert "CMT1 is diffuse in 89%" in p.explanation and "CIDP 64%" in p.explanation
    assert "does not separate a chronic inflammatory neuropathy from CMT1" in p.explanation
    assert "not diffuse" not in p.explanation


def test_child_on_adult_limits_never_reads_not_diffuse() -> None:
    p = assess(body(V10_CHILD_CMT, age=8, sex="M", height_cm=128, weight_kg=26)).pattern
    assert p.pattern is Pattern.INDETERMINATE and "diffuse" in p.candidates
    assert "not diffuse" not in p.explanation
    # a child with a region within the adult limits: still no multifocal ("not diffuse") verdict
    rows = [
        ("median_forearm", "right", 25.0),
        ("ulnar_upper_arm", "right", 20.0),
        ("tibial_popliteal", "right", 15.0),
    ]
    p = assess(body(rows, age=8, sex="M")).pattern
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    assert "child_regions_adult_limits" in p.rules_fired and "not diffuse" not in p.explanation
    # the same values in an adult are regional: multifocal
    adult = assess(body(rows, **ADULT)).pattern
    assert adult.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT


# ---------------------------------------------------------------- F5: reduced explanation


def test_reduced_explanation_gives_healthy_share_and_borderline() -> None:
    p = assess(body(V08_ALS_REDUCED, age=63, sex="M", height_cm=176, weight_kg=70)).pattern
    assert p.pattern is Pattern.REDUCED
    sentence = next(s for s in p.explanation.split(". ") if s.startswith("reduced_motor_csa"))
    assert "about 11% at ulnar_forearm" in sentence and "about 6% at median_forearm" in sentence
    assert "every reduced site lies within the between-investigator SD" in sentence


# ---------------------------------------------------------------- F6: a lower limit at the floor


def test_lower_limit_at_the_input_floor_cannot_detect_reduction() -> None:
    r = assess(body(V26_ALS_ROOTS_DUTCH, age=66, sex="M"))
    p = r.pattern
    assert "reduction_scope" in p.rules_fired, p.explanation
    assert "reduction could not be judged at any measured site" in p.explanation
    assert "c6_root (right)" in p.no_lower_limit_sites
    # a single reduced vagus: its lower limit (0.32) lies within the measurement SD of the input floor,
    # so it does not count for the reduced pattern (review ws16a R1), and c6_root (LLN 1.00 = the floor
    # in dutch) is not among the sites that could show reduction
    one = assess(body([("vagus_neck", "left", 0.5), ("c6_root", "right", 6.0), ("c6_root", "left", 6.0)]))
    assert one.pattern.pattern is Pattern.NORMAL, one.pattern.explanation
    assert "vagus_neck (left)" in one.pattern.no_lower_limit_sites
    could = one.pattern.explanation.split("sites with such a lower limit: ")[1]
    assert "median_forearm" in could and "c6_root" not in could


def test_reduction_scope_counts_nerves() -> None:
    # two sites with a usable lower limit on one nerve (median forearm both sides): not enough
    rows = [("median_forearm", "right", 6.0), ("median_forearm", "left", 6.0)]
    p = assess(body(rows, **ADULT)).pattern
    assert "reduction_scope" in p.rules_fired and "on 1 nerve(s)" in p.explanation


# ---------------------------------------------------------------- F7: LLN column


def test_text_table_shows_the_lower_limit(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = tmp_path / "als.json"
    path.write_text(json.dumps(body(V08_ALS_REDUCED, age=63, sex="M")))
    assert main(["nerve", "assess", str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("site"))
    assert "LLN mm2" in header
    row = next(line for line in out.splitlines() if line.startswith("ulnar_forearm"))
    assert re.search(r"9\.0\s+4\.00\s+0\.33", row) and "reduced" in row


# ---------------------------------------------------------------- F8: Zaidman with open regions


def test_zaidman_undetermined_with_an_unmeasured_or_unjudged_region() -> None:
    one = assess(body([("median_upper_arm", "right", 15.0)]))
    assert zaidman_pattern(one.measurements)[0] == "undetermined"
    assert one.pattern.zaidman == "undetermined"
    plexus = [
        ("c5_root", "right", 11.0, "foraminal"),  # no limit in dutch at this level: unjudged
        ("median_forearm", "right", 7.0),
        ("median_upper_arm", "right", 8.0),
        ("tibial_popliteal", "right", 15.0),
    ]
    z, state, open_regions = zaidman_pattern(assess(body(plexus)).measurements)
    assert z == "undetermined" and state["cervical"] == "unjudged" and open_regions == ["cervical"]


# ---------------------------------------------------------------- F10: two unnamed trunks


def test_two_unnamed_trunks_are_told_to_name_each_trunk() -> None:
    rows = [
        {"site": "brachial_plexus_trunk", "side": "right", "csa_mm2": 9.0, "level": "utrecht_protocol"},
        {"site": "brachial_plexus_trunk", "side": "right", "csa_mm2": 7.0, "level": "utrecht_protocol"},
    ]
    with pytest.raises(InvalidParameterError) as info:
        assess({"measurements": rows})
    msg = str(info.value)
    assert '"trunk": "upper|middle|lower"' in msg and "mean" not in msg and "\n" not in msg
