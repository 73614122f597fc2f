"""Clinical review c1 (2026-11-22): deciding measurements on the side not measured, the levels
an elbow index has not seen, and the HNPP hint's wording on one ratio and borderline values."""

from __future__ import annotations

from typing import Any

from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern


def run(*items: tuple[Any, ...], **patient: Any):
    rows = []
    for site, side, csa, *level in items:
        row = {"site": site, "side": side, "csa_mm2": csa}
        if level:
            row["level"] = level[0]
        rows.append(row)
    return assess({"patient": patient or {"age": 50}, "measurements": rows})


LEFT_ARM = (
    ("median_wrist", "left", 10.0),
    ("median_forearm", "left", 12.0),
    ("median_upper_arm", "left", 8.5),
    ("ulnar_forearm", "left", 6.0),
    ("ulnar_upper_arm", "left", 7.5),
)


def test_one_arm_study_names_every_site_of_the_other_arm() -> None:
    """Finding 4: any non-entrapment site of the unmeasured arm can be the second focus."""
    r = run(*LEFT_ARM)
    assert "single_nonentrapment_site" in r.pattern.rules_fired
    assert set(r.pattern.deciding_other_side) == {
        "median_forearm (right)",
        "median_upper_arm (right)",
        "ulnar_forearm (right)",
        "ulnar_upper_arm (right)",
    }
    assert "median_wrist (right)" not in r.pattern.deciding_other_side  # an entrapment site: no second focus
    assert (
        "on the side not measured: median_forearm (right), median_upper_arm (right)" in r.pattern.explanation
    )
    # each of them does decide: one enlarged there makes the pattern multifocal
    for site, value in (("median_upper_arm", 14.0), ("ulnar_upper_arm", 11.0), ("median_forearm", 11.5)):
        two = run(*LEFT_ARM, (site, "right", value))
        assert two.pattern.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, (site, two.pattern.explanation)


def test_other_side_is_named_at_a_level_that_has_a_limit() -> None:
    """Finding 5: the left vagus has no limit at the thyroid level, so it is offered at the level
    of the reference that has one, and named with it."""
    r = run(
        ("vagus_neck", "right", 6.5, "thyroid"),
        ("c5_root", "right", 6.0),
        ("median_forearm", "right", 6.0),
        ("median_upper_arm", "right", 8.0),
        ("sural_calf", "right", 2.0),
        ("tibial_popliteal", "right", 18.0),
        age=45,
    )
    assert "vagus_neck (left, carotid bifurcation level)" in r.pattern.deciding_other_side
    assert "vagus_neck (left)" not in r.pattern.deciding_other_side
    assert "vagus_neck (left, thyroid level)" not in r.pattern.deciding_other_side
    # at that level it decides; at the thyroid level it cannot
    base = [
        ("vagus_neck", "right", 6.5, "thyroid"),
        ("c5_root", "right", 6.0),
        ("median_forearm", "right", 6.0),
        ("median_upper_arm", "right", 8.0),
        ("sural_calf", "right", 2.0),
        ("tibial_popliteal", "right", 18.0),
    ]
    decided = run(*base, ("vagus_neck", "left", 6.0, "carotid bifurcation"), age=45)
    assert decided.pattern.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, decided.pattern.explanation
    undecided = run(*base, ("vagus_neck", "left", 6.0, "thyroid"), age=45)
    assert undecided.pattern.pattern is Pattern.INDETERMINATE


def test_elbow_index_names_the_levels_it_has_not_seen() -> None:
    """Finding 1: the ulnar swelling ratio takes the largest CSA around the elbow; with only the
    sulcus measured, the levels above and below decide (one enlarged there gives focal entrapment)."""
    arm = (
        ("ulnar_wrist", "left", 4.5),
        ("ulnar_forearm", "left", 5.0),
        ("ulnar_elbow", "left", 9.0),
        ("ulnar_upper_arm", "left", 6.5),
    )
    r = run(*arm)
    assert r.pattern.pattern is Pattern.INDETERMINATE
    assert "index_without_enlargement" in r.pattern.rules_fired
    assert set(r.pattern.deciding_sites) >= {"ulnar_below_elbow", "ulnar_above_elbow"}
    assert "no further site decides it" not in r.pattern.explanation
    assert "ulnar_below_elbow (left), ulnar_above_elbow (left) were not measured" in r.pattern.explanation
    more = run(*arm, ("ulnar_above_elbow", "left", 10.5))
    assert more.pattern.pattern is Pattern.FOCAL_ENTRAPMENT
    # measured on the other arm only: named with its side
    other = run(*arm, ("ulnar_above_elbow", "right", 8.0), ("ulnar_below_elbow", "right", 8.0))
    assert "ulnar_above_elbow (left)" in other.pattern.deciding_other_side
    assert "ulnar_above_elbow" not in other.pattern.deciding_sites


def test_hnpp_hint_does_not_say_every_ratio_on_one_and_names_borderline() -> None:
    """Finding 6: one computed ratio is not 'every entrapment ratio', the nerve without one is
    named, and enlargements that are all borderline are said to be."""
    r = run(
        ("median_wrist", "right", 12.0),
        ("median_forearm", "right", 7.5),
        ("tibial_ankle", "right", 14.0),
        ("tibial_popliteal", "right", 20.0),
        ("sural_calf", "right", 2.0),
        ("fibular_head", "right", 10.0),
        age=86,
        sex="F",
    )
    text = r.pattern.explanation
    assert "hnpp_hint" in r.pattern.rules_fired
    assert "every entrapment ratio" not in text
    assert "the one entrapment ratio computed is > 1.4" in text
    assert "no ratio for the tibial nerve" in text
    assert "every one of these enlargements is borderline" in text


def test_proximal_fibular_swelling_is_part_of_the_fibular_head_lesion() -> None:
    """Finding 8: popliteal fibular enlargement contiguous with an enlarged fibular head, other
    nerves of the leg and the other fibular nerve normal: a fibular neuropathy at the knee (the
    lesion lay just proximal to the head in 71%, Visser 2013), not 'axonal or non-specific'."""
    r = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("fibular_head", "left", 9.0),
        ("fibular_popliteal", "left", 7.5),
        ("tibial_popliteal", "right", 18.0),
        ("sural_calf", "right", 2.2),
        age=58,
    )
    assert r.pattern.pattern is Pattern.FOCAL_ENTRAPMENT, r.pattern.explanation
    assert "proximal_extension" in r.pattern.rules_fired
    assert "Visser 2013" in r.pattern.explanation
    assert "generalized (e.g. axonal)" not in r.pattern.explanation
    # without the tibial nerve measured normal beside it, a sciatic lesion is not excluded: not
    # read as an extension, and the tibial nerve in the popliteal fossa decides (review c2 finding 3)
    alone = run(("fibular_head", "right", 15.0), ("fibular_popliteal", "right", 12.5), age=58)
    assert alone.pattern.pattern is Pattern.INDETERMINATE
    assert "proximal_extension_not_applied" in alone.pattern.rules_fired
    assert "tibial_popliteal (right) is not measured" in alone.pattern.explanation
    assert "tibial_popliteal" in alone.pattern.deciding_sites
    # a popliteal enlargement without an enlarged fibular head stays a non-entrapment finding
    no_head = run(
        ("fibular_head", "right", 9.0),
        ("fibular_popliteal", "right", 12.5),
        ("tibial_popliteal", "right", 18.0),
        ("sural_calf", "right", 2.2),
        age=58,
    )
    assert "proximal_extension" not in no_head.pattern.rules_fired
    assert no_head.pattern.pattern is Pattern.INDETERMINATE


def test_cts_over_70_carries_the_consensus_edx_caveat() -> None:
    """Finding 7: the consensus [A] asks for EDX in patients over 70; said beside a carpal tunnel
    entrapment, not at 63, and not without an age."""
    cts = (("median_wrist", "right", 14.0), ("median_forearm", "right", 6.5), ("ulnar_forearm", "right", 5.0))
    old = run(*cts, age=86)
    assert old.pattern.pattern is Pattern.FOCAL_ENTRAPMENT
    assert "cts_age_edx" in old.pattern.rules_fired
    assert "older than 70 years" in old.pattern.explanation and "Pelosi 2022" in old.pattern.explanation
    assert any(c.evidence == "A" and "Pelosi" in c.text for c in old.pattern.citations)
    assert "cts_age_edx" not in run(*cts, age=63).pattern.rules_fired
    assert (
        "cts_age_edx"
        not in assess(
            {"measurements": [{"site": s, "side": d, "csa_mm2": v} for s, d, v in cts]}
        ).pattern.rules_fired
    )
    # an ulnar entrapment at 86 is not a carpal tunnel
    une = run(("ulnar_elbow", "right", 13.0), ("ulnar_forearm", "right", 6.0), age=86)
    assert "cts_age_edx" not in une.pattern.rules_fired


def test_gbs_figures_beside_one_enlarged_vagus_say_the_source_had_several() -> None:
    """Finding 12: a single enlarged root/vagus site is named as such beside the GBS figures."""
    one = run(
        ("vagus_neck", "right", 6.5, "thyroid"),
        ("c5_root", "right", 6.0),
        ("sural_calf", "right", 2.0),
        age=45,
    )
    text = one.pattern.explanation
    assert "sensory_sparing" in one.pattern.rules_fired
    assert "one enlarged root/vagus site only" in text
    two = run(
        ("vagus_neck", "right", 6.5, "thyroid"),
        ("c5_root", "right", 12.0),
        ("sural_calf", "right", 2.0),
        age=45,
    )
    assert "sensory_sparing" in two.pattern.rules_fired
    assert "one enlarged root/vagus site only" not in two.pattern.explanation


def test_text_output_says_why_no_internerve_value_and_names_other_side(tmp_path, capsys) -> None:
    """The CLI text shows the note for an internerve value not computed (one nerve, both sides) and
    the deciding measurements on the side not measured."""
    import json

    from sonomsk.cli.main import main

    body = {
        "patient": {"age": 54},
        "measurements": [
            {"site": "median_wrist", "side": "right", "csa_mm2": 14.0},
            {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            {"site": "median_wrist", "side": "left", "csa_mm2": 9.0},
            {"site": "median_forearm", "side": "left", "csa_mm2": 6.5},
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(body))
    assert main(["nerve", "assess", str(path)]) == 0
    out = capsys.readouterr().out
    assert "internerve variability not computed" in out
    path.write_text(
        json.dumps({"measurements": [{"site": s, "side": d, "csa_mm2": v} for s, d, v in LEFT_ARM]})
    )
    assert main(["nerve", "assess", str(path)]) == 0
    out = capsys.readouterr().out
    assert "deciding, on the side not measured: median_forearm (right), median_upper_arm (right)" in out
