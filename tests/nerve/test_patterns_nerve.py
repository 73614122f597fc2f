"""Pattern rules: Zaidman classes, Goedee, and the overall pattern on minimal inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern, zaidman_pattern
from sonomsk.nerve.sites import site_names


def run(*items: tuple[str, str, float], **kw: Any):
    body = {"measurements": [{"site": s, "side": side, "csa_mm2": v} for s, side, v in items]}
    return assess(body, **kw)


NORMAL_ALL_REGIONS = [
    ("median_forearm", "right", 6.0),
    ("median_upper_arm", "right", 8.0),
    ("tibial_popliteal", "right", 15.0),
    ("c5_root", "right", 6.0),
]


def test_zaidman_none_mild_regional_diffuse() -> None:
    r = run(*NORMAL_ALL_REGIONS)
    assert zaidman_pattern(r.measurements)[0] == "none"
    r = run(("median_forearm", "right", 10.0), *NORMAL_ALL_REGIONS[1:])  # 10/9.29 < 2
    assert zaidman_pattern(r.measurements)[0] == "mild"
    r = run(("median_forearm", "right", 19.0), *NORMAL_ALL_REGIONS[1:])  # > 2x, other regions normal
    assert zaidman_pattern(r.measurements)[0] == "regional"
    r = run(
        ("median_forearm", "right", 19.0),
        ("median_upper_arm", "right", 10.0),
        ("tibial_popliteal", "right", 23.0),
        ("c5_root", "right", 9.0),
    )
    assert zaidman_pattern(r.measurements)[0] == "diffuse"
    assert r.pattern.pattern is Pattern.DIFFUSE


def test_zaidman_factor_is_strictly_above_two() -> None:
    # median upper arm ULN 9: 18 is exactly 2x -> still mild
    r = run(("median_upper_arm", "right", 18.0), ("median_forearm", "right", 6.0))
    assert zaidman_pattern(r.measurements)[0] == "mild"


def test_regional_is_multifocal_not_diffuse() -> None:
    r = run(("median_forearm", "right", 19.0), ("median_upper_arm", "right", 19.0), *NORMAL_ALL_REGIONS[2:])
    assert r.pattern.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT
    assert r.pattern.zaidman == "regional"
    assert "goedee_cin" in r.pattern.explanation


def test_focal_needs_a_normal_non_entrapment_site_on_the_same_side() -> None:
    r = run(("median_wrist", "right", 14.0), ("median_forearm", "left", 6.0))
    assert r.pattern.pattern is Pattern.INDETERMINATE
    assert "median_forearm" in r.pattern.deciding_sites
    r = run(("median_wrist", "right", 14.0), ("median_forearm", "right", 6.0))
    assert r.pattern.pattern is Pattern.FOCAL_ENTRAPMENT


def test_index_alone_makes_a_focal_pattern() -> None:
    # both CSAs normal, WFR 10/6.5 = 1.54 > 1.4 [B]
    r = run(("median_wrist", "right", 10.0), ("median_forearm", "right", 6.5))
    assert r.pattern.pattern is Pattern.FOCAL_ENTRAPMENT
    assert "wrist_forearm_ratio" in r.pattern.rules_fired or "wrist_forearm_ratio" in r.pattern.explanation


def test_reduced_with_enlargement_is_indeterminate() -> None:
    r = run(("median_forearm", "right", 3.0), ("median_upper_arm", "right", 14.0))
    assert r.pattern.pattern is Pattern.INDETERMINATE
    assert "reduced_and_enlarged" in r.pattern.rules_fired


def test_reduced_sensory_nerve_alone_is_not_the_mnd_pattern() -> None:
    # sural has no lower limit in the Dutch table, so nothing is reduced: normal
    r = run(("sural_calf", "right", 1.0), ("median_forearm", "right", 6.0))
    assert r.pattern.pattern is Pattern.NORMAL


def test_nothing_evaluable_is_indeterminate_with_deciding_sites() -> None:
    r = run(("median_pronator_quadratus", "right", 8.0))
    assert r.pattern.pattern is Pattern.INDETERMINATE
    assert "no_evaluable_site" in r.pattern.rules_fired
    assert "median_forearm" in r.pattern.deciding_sites
    assert "median_pronator_quadratus" not in r.pattern.deciding_sites  # it has no limit


def test_goedee_positive_trunk_counts_without_a_normal_limit() -> None:
    body = {
        "measurements": [
            {"site": "brachial_plexus_trunk", "side": "left", "csa_mm2": 12.0, "trunk": "upper"},
            {"site": "median_forearm", "side": "left", "csa_mm2": 6.0},
        ]
    }
    r = assess(body)
    assert r.goedee.met
    # Goedee 2017: enlargement of ANY criterion site is 99% specific for CIN, whose pattern is
    # multifocal non-entrapment; a single positive criterion site is therefore enough.
    assert r.pattern.pattern is Pattern.MULTIFOCAL_NONENTRAPMENT
    assert "goedee_cin" in r.pattern.rules_fired and "Goedee 2017" in r.pattern.explanation


@pytest.mark.parametrize("pattern", list(Pattern))
def test_pattern_values_are_the_six_of_the_issue(pattern: Pattern) -> None:
    assert pattern.value in {
        "normal",
        "focal_entrapment",
        "multifocal_nonentrapment",
        "diffuse",
        "reduced",
        "indeterminate",
    }


def test_radial_spiral_groove_focal_needs_some_normal_site() -> None:
    # the radial nerve has no non-entrapment site in the vocabulary
    alone = run(("radial_spiral_groove", "left", 12.0))
    assert alone.pattern.pattern is Pattern.INDETERMINATE and alone.pattern.deciding_sites
    r = run(("radial_spiral_groove", "left", 12.0), ("median_upper_arm", "left", 8.0))
    assert r.pattern.pattern is Pattern.FOCAL_ENTRAPMENT


def test_normal_names_what_was_not_measured() -> None:
    r = run(("median_forearm", "right", 6.0))
    assert r.pattern.pattern is Pattern.NORMAL
    assert "normal_scope" in r.pattern.rules_fired and "median_wrist" in r.pattern.explanation


SITES = sorted(site_names())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(SITES), st.sampled_from(["left", "right"]), st.floats(0.5, 200.0)),
        min_size=1,
        max_size=12,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.sampled_from(["dutch", "korean"]),
)
def test_any_valid_input_gives_a_pattern_and_json(items, ref) -> None:
    r = run(*items, reference_set=ref)
    d = json.loads(r.to_json())
    assert d["pattern"] in {p.value for p in Pattern}
    assert d["explanation"].startswith(f"Pattern {d['pattern']}")
    if d["pattern"] == "indeterminate":
        assert d["candidates"]
    for m in d["measurements"]:
        assert (m["status"] == "no_reference") == (m["limit"]["uln_mm2"] is None)
