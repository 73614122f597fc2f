"""Decision 010: sensory sparing (GBS vs acute-onset CIDP), severity hints inside a focal
entrapment (CTS, UNE) and the pisiform/Guyon ratio (Yurdakul 2016)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sonomsk.nerve import entrapment, patterns, sparing
from sonomsk.nerve.assess import assess
from sonomsk.nerve.sites import site_names
from sonomsk.reference.loader import load_data


def run(*items: tuple[Any, ...], reference_set: str | None = None) -> dict[str, Any]:
    req = {
        "measurements": [
            {"site": s, "side": side, "csa_mm2": v, **({"level": rest[0]} if rest else {})}
            for s, side, v, *rest in items
        ]
    }
    return assess(req, reference_set=reference_set).to_dict()


def hints(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["rule_id"]: h for h in d["pattern_detail"]["hints"]}


def patched_rules(monkeypatch: pytest.MonkeyPatch, module: Any, edit: Any) -> None:
    rules = copy.deepcopy(load_data("nerve_rules.json"))
    edit(rules)
    monkeypatch.setattr(module, "_rules", lambda: rules)


GBS = (
    ("c5_root", "right", 10.0),
    ("c6_root", "right", 13.0),
    ("vagus_neck", "right", 7.0),
    ("median_forearm", "right", 7.0),
    ("ulnar_forearm", "right", 6.0),
    ("tibial_popliteal", "right", 14.0),
)


# --------------------------------------------------------------------------- sensory sparing


def test_only_sural_is_purely_sensory_in_the_site_vocabulary() -> None:
    sites = load_data("nerve_sites.json")["sites"]
    fibres = load_data("nerve_rules.json")["sensory_sparing"]["sensory_fibres"]
    assert patterns.sensory_sites() == ("sural_calf",)
    assert [s for s in site_names() if sites[s]["fibres"] == fibres] == ["sural_calf"]


def test_sensory_sparing_with_enlarged_roots_and_normal_sural() -> None:
    d = run(*GBS, ("sural_calf", "right", 2.0))
    h = hints(d)
    assert set(h) == {"sensory_sparing"}
    text = h["sensory_sparing"]["explanation"]
    assert "GBS) rather than CIDP" in text and "> 85%" in text and "acute onset" in text
    assert h["sensory_sparing"]["citations"][0]["doi"] == "10.1007/s13311-019-00716-5"
    assert "sensory_sparing" in d["pattern_detail"]["rules_fired"]
    assert "sensory_sparing:" in d["explanation"]


def test_sparing_beside_enlarged_sensorimotor_nerves_quotes_no_gbs_figure() -> None:
    """A chronic multifocal picture with a spared sural nerve: the source's CIDP feature
    (multifocal sensorimotor enlargement) is present, so the sparing hint does not say GBS and
    the differential does not count sensory sparing for GBS."""
    from sonomsk.knowledge.differential import rank

    d = run(
        *GBS,
        ("median_upper_arm", "right", 22.0),
        ("ulnar_upper_arm", "right", 14.0),
        ("sural_calf", "right", 2.0),
    )
    h = hints(d)
    assert set(h) == {"sensory_sparing_with_sensorimotor_enlargement"}
    text = h["sensory_sparing_with_sensorimotor_enlargement"]["explanation"]
    assert "> 85%" in text and "not quoted" in text and "rather than CIDP" not in text
    assert "median_upper_arm (right)" in text and "ulnar_upper_arm (right)" in text
    ranked = rank({"nerve_assessment": d})
    assert "sensory_nerve_sparing" not in ranked.inputs
    assert any("sensory_nerve_sparing left unknown" in n for n in ranked.notes)
    # without the upper-arm enlargement the same study does count sparing for GBS
    plain = rank({"nerve_assessment": run(*GBS, ("sural_calf", "right", 2.0))})
    assert plain.inputs["sensory_nerve_sparing"]["state"] == "present"


def test_sensory_sparing_needs_an_enlarged_root_or_vagus() -> None:
    d = run(("c5_root", "right", 6.0), ("vagus_neck", "right", 3.0), ("sural_calf", "right", 2.0))
    assert not hints(d)
    assert "sensory" not in d["explanation"]


def test_enlarged_trunk_alone_does_not_trigger_sensory_sparing() -> None:
    trunk = {"site": "brachial_plexus_trunk", "side": "right", "csa_mm2": 12.0, "level": "utrecht_protocol"}
    req = {"measurements": [trunk, {"site": "sural_calf", "side": "right", "csa_mm2": 2.0}]}
    d = assess(req).to_dict()
    assert d["goedee"]["outcome"] in {"met", "not_met_incomplete"} and not hints(d)


def test_sensory_involvement_fits_cidp() -> None:
    d = run(*GBS, ("sural_calf", "left", 2.0), ("sural_calf", "right", 4.5))
    h = hints(d)
    assert set(h) == {"sensory_involved"}
    assert "fit CIDP rather than GBS" in h["sensory_involved"]["explanation"]


def test_no_sensory_site_measured_names_sural() -> None:
    h = hints(run(*GBS))
    assert "sural_calf would decide it" in h["sensory_not_measured"]["explanation"]


def test_sensory_site_without_limit_is_not_judged() -> None:
    # the korean set has no lower-limb reference: the sural nerve cannot show sparing there
    root = ("c5_root", "right", 9.0, "foraminal")  # Won 2012 foraminal limit 7.7 mm2
    d = run(root, ("sural_calf", "right", 2.0), reference_set="korean")
    h = hints(d)
    assert set(h) == {"sensory_sparing_not_judged"}
    assert "sural_calf (right): " in h["sensory_sparing_not_judged"]["explanation"]
    d = run(root, reference_set="korean")
    assert "no sensory site (sural_calf) has a limit in the 'korean' set" in d["explanation"]


def test_sparing_numbers_come_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    patched_rules(monkeypatch, sparing, lambda r: r["sensory_sparing"].update(performance_pct=91))
    text = hints(run(*GBS, ("sural_calf", "right", 2.0)))["sensory_sparing"]["explanation"]
    assert "> 91%" in text and "> 85%" not in text


def test_sensory_hint_never_changes_the_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    items = (*GBS, ("sural_calf", "right", 2.0))
    with_hint = run(*items)
    patched_rules(monkeypatch, sparing, lambda r: r["sensory_sparing"].update(trigger_sites=[]))
    without = run(*items)
    assert not hints(without) and hints(with_hint)
    for key in ("pattern", "candidates", "deciding_sites", "zaidman_pattern"):
        assert with_hint[key] == without[key]


# --------------------------------------------------------------------------- severity


def test_cts_severe_range_at_the_csa_cutoff() -> None:
    d = run(("median_wrist", "right", 15.0), ("median_forearm", "right", 7.0))
    assert d["pattern"] == "focal_entrapment"
    text = hints(d)["cts_severe_range"]["explanation"]
    assert "median_wrist CSA (right) 15 mm2 >= 15 mm2 (sensitivity 68%, specificity 71%)" in text
    assert "at or above the cut-off the source used to separate severe carpal tunnel syndrome" in text
    assert "not a grade" in text and "71% specific" in text
    below = run(("median_wrist", "right", 14.9), ("median_forearm", "right", 7.0))
    assert below["pattern"] == "focal_entrapment" and "cts_severe_range" not in hints(below)


def test_cts_severe_range_by_wrist_forearm_ratio() -> None:
    d = run(("median_wrist", "right", 13.0), ("median_forearm", "right", 4.3))  # WFR 3.02
    text = hints(d)["cts_severe_range"]["explanation"]
    assert "wrist-to-forearm ratio (right) 3.02 >= 3" in text
    assert "not given" in text and "median_wrist CSA (right)" not in text


def test_severity_only_inside_a_focal_entrapment() -> None:
    # enlarged forearm too: not a focal entrapment, so no severity hint
    d = run(
        ("median_wrist", "right", 16.0),
        ("median_forearm", "right", 12.0),
        ("median_upper_arm", "right", 14.0),
    )
    assert d["pattern"] != "focal_entrapment" and not hints(d)
    # unconfirmed focal entrapment (no normal non-entrapment site): no hint either
    d = run(("median_wrist", "right", 16.0))
    assert d["pattern"] == "indeterminate" and not hints(d)


def test_une_severe_range_uses_the_maximal_elbow_csa() -> None:
    # the maximal CSA 11.0 is more than the between-investigator SD (1.7) above the ULN 9, so it is
    # not borderline (a borderline one does not claim the severe range: review c1 finding 3)
    d = run(
        ("ulnar_elbow", "left", 9.5),
        ("ulnar_above_elbow", "left", 11.0),
        ("ulnar_forearm", "left", 6.0),
        ("median_wrist", "right", 9.0),
    )
    assert d["pattern"] == "focal_entrapment"
    h = hints(d)["une_severe_range"]
    assert h["inputs"]["side"] == "left" and h["inputs"]["ulnar_above_elbow_mm2"] == 11.0
    assert "(sensitivity 82%, specificity 72%)" in h["explanation"] and "72% specific" in h["explanation"]
    d = run(("ulnar_elbow", "left", 9.9), ("ulnar_forearm", "left", 6.0))
    assert d["pattern"] == "focal_entrapment" and "une_severe_range" not in hints(d)


def test_severity_cutoff_comes_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(r: dict[str, Any]) -> None:
        r["severity"]["rules"][0]["criteria"][0]["cutoff"] = 20.0

    patched_rules(monkeypatch, entrapment, edit)
    d = run(("median_wrist", "right", 16.0), ("median_forearm", "right", 7.0))
    assert d["pattern"] == "focal_entrapment" and "cts_severe_range" not in hints(d)


# --------------------------------------------------------------------------- pisiform/Guyon ratio


def _guyon(d: dict[str, Any], side: str = "right") -> dict[str, Any]:
    return next(
        i for i in d["entrapment_indices"] if i["name"] == "median_to_ulnar_wrist" and i["side"] == side
    )


def test_guyon_ratio_cutoff_inclusive() -> None:
    at = _guyon(run(("median_wrist", "right", 7.16), ("ulnar_wrist", "right", 4.0)))
    assert at["value"] == pytest.approx(1.79) and at["abnormal"] is True and at["source"] == "yurdakul_2016"
    below = _guyon(run(("median_wrist", "right", 7.12), ("ulnar_wrist", "right", 4.0)))
    assert below["abnormal"] is False


def test_guyon_ratio_only_on_one_side() -> None:
    d = run(("median_wrist", "right", 9.0), ("ulnar_wrist", "left", 4.0))
    assert _guyon(d, "right")["value"] is None and _guyon(d, "right")["missing_sites"] == ["ulnar_wrist"]
    assert _guyon(d, "left")["value"] is None and _guyon(d, "left")["missing_sites"] == ["median_wrist"]


def test_guyon_ratio_supports_an_enlarged_median_wrist() -> None:
    d = run(("median_wrist", "right", 14.0), ("median_forearm", "right", 7.0), ("ulnar_wrist", "right", 5.0))
    assert d["pattern"] == "focal_entrapment"
    assert "median_to_ulnar_wrist (right) = 2.80 >= 1.79: abnormal [Yurdakul 2016]" in d["explanation"]


def test_guyon_ratio_alone_never_decides() -> None:
    d = run(("median_wrist", "right", 10.0), ("median_forearm", "right", 8.0), ("ulnar_wrist", "right", 4.0))
    assert _guyon(d)["abnormal"] is True and _guyon(d)["decides_alone"] is False
    assert d["pattern"] == "normal"
    assert "index_support_only" in d["pattern_detail"]["rules_fired"]
    assert "index_without_enlargement" not in d["pattern_detail"]["rules_fired"]


def test_guyon_ratio_with_a_reduced_reference_is_not_counted() -> None:
    # korean set: ulnar wrist lower limit 3 mm2 (Bae 2021)
    d = run(("median_wrist", "right", 9.0), ("ulnar_wrist", "right", 2.5), reference_set="korean")
    assert _guyon(d)["abnormal"] is True
    assert "index_reference_reduced" in d["pattern_detail"]["rules_fired"]
    assert "index_support_only" not in d["pattern_detail"]["rules_fired"]


def test_guyon_ratio_not_decisive_because_healthy_means_reach_it() -> None:
    spec = load_data("nerve_rules.json")["entrapment_indices"]["median_to_ulnar_wrist"]
    assert spec["decides_alone"] is False and "sonomsk interpretation" in spec["_about"]
    for mean in spec["healthy_means"]:
        assert mean["numerator_mm2"] / mean["denominator_mm2"] >= spec["cutoff"], mean
    korean = load_data("nerve_csa.json")["sets"]["korean"]["sites"]
    bae = next(m for m in spec["healthy_means"] if m["source"] == "bae_2021")
    assert korean["median_wrist"]["mean"] == bae["numerator_mm2"]
    assert korean["ulnar_wrist"]["mean"] == bae["denominator_mm2"]


def test_hint_findings_reach_the_assessment_findings() -> None:
    # reports and the store read AssessmentResult.findings: the hints must be among them
    items = (*GBS, ("sural_calf", "right", 2.0))
    result = assess({"measurements": [{"site": s, "side": side, "csa_mm2": v} for s, side, v in items]})
    rules = [f.rule_id for f in result.findings]
    assert "sensory_sparing" in rules
    assert [h.rule_id for h in result.pattern.hints] == ["sensory_sparing"]


def test_a_gbs_hint_resting_on_borderline_roots_says_so() -> None:
    # review of the session's change: C6 11 mm2 (ULN 10.6, within the 3.1 mm2 SD) quoted "> 85%"
    # with nothing to say the enlargement itself is within measurement error
    d = run(("c6_root", "right", 11.0), ("sural_calf", "right", 2.0))
    text = hints(d)["sensory_sparing"]["explanation"]
    assert "within the between-investigator SD of its limit" in text
    firm = hints(run(("c6_root", "right", 15.0), ("sural_calf", "right", 2.0)))["sensory_sparing"]
    assert "between-investigator SD" not in firm["explanation"]


def test_guyon_ratio_carries_its_accuracy_and_healthy_mean_caveat_wherever_shown() -> None:
    """Healthy mean CSAs (8.3/4.1 pooled) already reach 1.79: the 'abnormal' verdict travels with
    Yurdakul's 70%/76% and that caveat, in the explanation, the JSON and the report's index row."""
    from sonomsk.report.sections import _index_row

    d = run(("median_wrist", "right", 14.0), ("median_forearm", "right", 7.0), ("ulnar_wrist", "right", 5.0))
    caveat = "sensitivity 70%, specificity 76%; healthy mean CSAs already reach this ratio"
    assert _guyon(d)["caveat"].startswith(caveat)
    assert (
        f"median_to_ulnar_wrist (right) = 2.80 >= 1.79: abnormal [Yurdakul 2016] ({caveat}"
        in d["explanation"]
    )
    assert caveat in _index_row(_guyon(d))["source"]
    # an index without a caveat of its own prints as before
    wfr = next(
        i for i in d["entrapment_indices"] if i["name"] == "wrist_forearm_ratio" and i["side"] == "right"
    )
    assert wfr["caveat"] is None
