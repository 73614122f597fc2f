"""Clinical re-check c2 (2026-11-22) of the review c1 fixes: the proximal extension of a fibular
neuropathy never hides another lesion, an abnormal Guyon ulnar ratio asks for its specific
companion, the reduced rule names what completes it, the over-70 EDX caveat follows the carpal
tunnel into indeterminate patterns, and Goedee sites on the other side carry their level."""

from __future__ import annotations

from typing import Any

from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern


def run(*items: tuple[Any, ...], **patient: Any):
    rows = []
    for site, side, csa, *extra in items:
        row: dict[str, Any] = {"site": site, "side": side, "csa_mm2": csa}
        if extra:
            row.update(extra[0])
        rows.append(row)
    return assess({"patient": patient or {"age": 58}, "measurements": rows}).pattern


LEG = (("tibial_popliteal", "right", 18.0), ("sural_calf", "right", 2.2))


def test_a_second_focus_is_not_absorbed_into_a_fibular_neuropathy() -> None:
    """Finding 1: a Goedee-positive median upper arm beside an enlarged fibular head and popliteal
    site stays multifocal (before: 'one focus is not a multifocal pattern')."""
    p = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("median_upper_arm", "right", 14.0),
        ("median_forearm", "right", 8.0),
        ("ulnar_upper_arm", "right", 8.0),
        ("c5_root", "right", 6.0),
        *LEG,
    )
    assert p.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT, p.explanation
    assert "proximal_extension_not_applied" in p.rules_fired and "proximal_extension" not in p.rules_fired
    assert "other non-entrapment sites are enlarged (median_upper_arm (right))" in p.explanation


def test_a_popliteal_site_larger_than_the_head_is_not_a_fibular_head_lesion() -> None:
    """Finding 2: head 12 with popliteal 22 (ratio 0.55) is not a focal entrapment at the head."""
    p = run(("fibular_head", "right", 12.0), ("fibular_popliteal", "right", 22.0), *LEG)
    assert p.pattern is not Pattern.FOCAL_ENTRAPMENT
    assert "fibular_popliteal (right) is larger than fibular_head (right)" in p.explanation


def test_an_arm_nerve_does_not_confirm_a_fibular_lesion_the_tibial_nerve_does() -> None:
    """Finding 3: only the tibial nerve in the popliteal fossa separates a fibular from a sciatic
    lesion; a normal median forearm does not, and the tibial site is named as deciding."""
    arm = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("median_forearm", "right", 7.0),
    )
    assert arm.pattern is not Pattern.FOCAL_ENTRAPMENT
    assert "tibial_popliteal (right) is not measured" in arm.explanation
    assert "tibial_popliteal" in arm.deciding_sites
    with_tibial = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("tibial_popliteal", "right", 18.0),
    )
    assert with_tibial.pattern is Pattern.FOCAL_ENTRAPMENT, with_tibial.explanation
    enlarged_tibial = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("tibial_popliteal", "right", 30.0),
    )
    assert "proximal_extension" not in enlarged_tibial.rules_fired


def test_an_abnormal_guyon_ratio_asks_for_the_forearm() -> None:
    """Finding 4: with the ulnar forearm not measured, an abnormal Guyon ratio (support only)
    leaves normal vs focal undecided and names the forearm; with a normal forearm it is normal."""
    base = (("ulnar_wrist", "right", 4.0), ("ulnar_elbow", "right", 9.0), ("ulnar_upper_arm", "right", 7.0))
    p = run(*base, age=50)
    assert p.pattern is Pattern.INDETERMINATE, p.explanation
    assert "support_index_without_its_deciders" in p.rules_fired
    assert p.deciding_sites == ("ulnar_forearm", "ulnar_below_elbow", "ulnar_above_elbow")
    assert run(*base, ("ulnar_forearm", "right", 7.0), age=50).pattern is Pattern.NORMAL
    # the pisiform/Guyon ratio has no companion: healthy means reach it, and it asks for nothing
    cts_free = run(
        ("median_wrist", "right", 8.3), ("ulnar_wrist", "right", 4.1), ("median_forearm", "right", 6.0)
    )
    assert "support_index_without_its_deciders" not in cts_free.rules_fired


def test_a_borderline_elbow_names_the_forearm_the_contradicting_index_needs() -> None:
    """Finding 4: a borderline elbow contradicted by a normal maximal CSA, with the forearm ratio
    not computable, names the forearm as deciding instead of nothing."""
    p = run(
        ("ulnar_wrist", "right", 4.0),
        ("ulnar_elbow", "right", 9.5),
        ("ulnar_upper_arm", "right", 7.0),
        age=50,
    )
    assert "focal_borderline_contradicted" in p.rules_fired
    assert "ulnar_forearm" in p.deciding_sites


def test_the_reduced_rule_names_what_completes_it() -> None:
    """Finding 5: one reduced median forearm needs a second nerve; the other median forearm adds no
    nerve and is not offered; the vagus decides at the thyroid level and is named with it."""
    p = run(
        ("median_forearm", "right", 2.2),
        ("ulnar_forearm", "right", 5.5),
        ("radial_spiral_groove", "right", 6.0),
        ("median_upper_arm", "right", 7.0),
        ("c5_root", "right", 5.0),
        age=62,
    )
    assert "reduced_insufficient" in p.rules_fired
    assert "median_forearm (left)" not in p.deciding_other_side
    assert {"ulnar_forearm (left)", "radial_spiral_groove (left)"} <= set(p.deciding_other_side)
    assert "vagus_neck" in p.deciding_sites and "vagus_neck (right, thyroid level)" in p.explanation
    # and it does decide there
    more = run(
        ("median_forearm", "right", 2.2),
        ("ulnar_forearm", "right", 5.5),
        ("vagus_neck", "right", 1.0, {"level": "thyroid"}),
        age=62,
    )
    assert more.pattern is Pattern.REDUCED, more.explanation


def test_the_over_70_caveat_follows_the_carpal_tunnel_into_undecided_patterns() -> None:
    """Finding 6: a wrist-only scan at 80 is indeterminate and still carries the caveat."""
    p = run(("median_wrist", "right", 15.0), age=80, sex="F")
    assert p.pattern is Pattern.INDETERMINATE
    assert "cts_age_edx" in p.rules_fired
    assert "cts_age_edx" not in run(("median_wrist", "right", 15.0), age=70).rules_fired  # "> 70"
    assert "cts_age_edx" in run(("median_wrist", "right", 15.0), age=71).rules_fired


def test_a_goedee_trunk_on_the_other_side_is_named_at_its_protocol_level() -> None:
    """Finding 7: the trunk decides only at the Goedee protocol's declared level."""
    p = run(
        ("median_forearm", "right", 7.0),
        ("median_upper_arm", "right", 11.0),
        ("ulnar_upper_arm", "right", 7.0),
        ("brachial_plexus_trunk", "right", 15.0, {"trunk": "upper", "level": "supraclavicular"}),
        ("c5_root", "right", 5.0, {"level": "foraminal"}),
        age=49,
    )
    trunk = [x for x in p.deciding_other_side if x.startswith("brachial_plexus_trunk")]
    assert trunk == ["brachial_plexus_trunk (left, utrecht_protocol level)"]


def test_hnpp_hint_leaves_out_a_ratio_on_a_lesion_and_notes_the_healthy_wfr() -> None:
    """Findings 8 and 9: the fibular ratio whose reference is part of the lesion is not used, and
    a median ratio carries the healthy WFR beside it."""
    p = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("median_wrist", "right", 14.0),
        ("median_forearm", "right", 8.0),
        ("ulnar_elbow", "right", 12.0),
        ("ulnar_forearm", "right", 6.0),
        *LEG,
    )
    assert p.pattern is Pattern.FOCAL_ENTRAPMENT
    assert "fibular_head/fibular_popliteal" not in p.explanation.split("hnpp_hint")[1].split(";")[0]
    assert "no ratio for the fibular nerve" in p.explanation
    assert "healthy Korean adults: WFR 1.57" in p.explanation.split("hnpp_hint")[1]
    assert "non-entrapment sites normal apart from the proximal extension above" in p.explanation


def _load(name: str) -> dict[str, Any]:
    return {
        "pe18": {
            "measurements": [
                {"site": "fibular_head", "side": "right", "csa_mm2": 15.0},
                {"site": "fibular_popliteal", "side": "right", "csa_mm2": 12.5},
                {"site": "tibial_popliteal", "side": "right", "csa_mm2": 18.0},
                {"site": "fibular_head", "side": "left", "csa_mm2": 14.0},
                {"site": "fibular_popliteal", "side": "left", "csa_mm2": 12.0},
                {"site": "tibial_popliteal", "side": "left", "csa_mm2": 18.0},
            ]
        },
        "g12": {
            "patient": {"age": 50},
            "measurements": [
                {"site": "ulnar_wrist", "side": "right", "csa_mm2": 6.0},
                {"site": "ulnar_elbow", "side": "right", "csa_mm2": 9.0},
                {"site": "ulnar_upper_arm", "side": "right", "csa_mm2": 7.0},
            ],
        },
        "e06": {
            "patient": {"age": 80, "sex": "F"},
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 10.5},
                {"site": "median_pronator_quadratus", "side": "right", "csa_mm2": 7.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            ],
        },
    }[name]


def test_bilateral_fibular_neuropathy_at_the_head_is_focal() -> None:
    """Re-check c3 finding 1: each leg's qualifying extension does not block the other's."""
    p = assess(_load("pe18")).pattern
    assert p.pattern is Pattern.FOCAL_ENTRAPMENT, p.explanation
    assert (
        p.rules_fired.count("proximal_extension") == 1
        and "proximal_extension_not_applied" not in p.rules_fired
    )
    assert "fibular_popliteal (left) enlarged together with fibular_head (left)" in p.explanation


def test_a_borderline_enlargement_elsewhere_does_not_block_the_extension() -> None:
    """Re-check c3 finding 1: a borderline ulnar upper arm (9.5, ULN 9) is not the other lesion
    the extension could hide; it is judged on its own (one borderline focus)."""
    p = run(
        ("fibular_head", "right", 15.0),
        ("fibular_popliteal", "right", 12.5),
        ("tibial_popliteal", "right", 18.0),
        ("ulnar_upper_arm", "right", 9.5),
    )
    assert "proximal_extension" in p.rules_fired
    assert p.pattern is not Pattern.MULTIFOCAL_NONENTRAPMENT, p.explanation


def test_a_normal_elbow_study_names_the_forearm_among_the_sites_not_measured() -> None:
    """Re-check c3 finding 3: the forearm the elbow ratio needs is named in the normal scope."""
    p = assess(_load("g12")).pattern
    assert p.pattern is Pattern.NORMAL
    scope = p.explanation.split("normal_scope: ")[1].split(".")[0]
    assert "ulnar_forearm" in scope


def test_the_over_70_caveat_also_beside_an_index_alone() -> None:
    """Re-check c3 finding 10: a delta CSA abnormal at 80 with the wrist CSA within its limit."""
    p = assess(_load("e06")).pattern
    assert "index_without_enlargement" in p.rules_fired
    assert "cts_age_edx" in p.rules_fired


def test_two_low_sites_of_one_nerve_are_not_called_one_low_site() -> None:
    """Re-check c3 finding 11."""
    p = assess(
        {
            "reference_set": "korean",
            "patient": {"age": 62},
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 5.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 2.5},
                {"site": "ulnar_forearm", "side": "right", "csa_mm2": 5.5},
            ],
        }
    ).pattern
    assert "reduced CSA at median_wrist (right), median_forearm (right) only" in p.explanation
    assert "one low site is" not in p.explanation
    assert "low sites of one nerve are not the reduced pattern" in p.explanation
