"""Decision 007: plexus protocol and measurement levels in ``sonomsk nerve assess``.

Review /tmp/review_ref/REPORT.md findings 1, 2, 19, 12 (patterns/goedee) and 9; "EV:n" = line n
of clinical-evidence.md. Each test failed on the code before decision 007.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import sonomsk.nerve.goedee as goedee_mod
import sonomsk.nerve.patterns as patterns_mod
from sonomsk.nerve.assess import assess
from sonomsk.nerve.patterns import Pattern
from sonomsk.reference.loader import load_data

VIGNETTES = Path(__file__).parent / "vignettes"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def m(site: str, side: str, csa: float, **kw: Any) -> dict[str, Any]:
    return {"site": site, "side": side, "csa_mm2": csa, **kw}


def trunk(
    csa: float, *, side: str = "right", which: str = "upper", level: str | None = None
) -> dict[str, Any]:
    item = m("brachial_plexus_trunk", side, csa, trunk=which)
    if level is not None:
        item["level"] = level
    return item


# a healthy-looking exam of every region (review allsites.json without the covariates)
HEALTHY = [
    m("median_wrist", "right", 9.0),
    m("median_forearm", "right", 7.0),
    m("median_upper_arm", "right", 9.0),
    m("ulnar_forearm", "right", 6.0),
    m("ulnar_upper_arm", "right", 8.0),
    m("fibular_popliteal", "right", 8.0),
    m("tibial_popliteal", "right", 20.0),
    m("sural_calf", "right", 2.5),
    m("vagus_neck", "right", 2.5),
    m("c5_root", "right", 6.0),
    m("c6_root", "right", 7.0),
    m("c7_root", "right", 8.0),
]


# --------------------------------------------------------------------------- finding 1


def test_won_plane_trunk_is_not_judged_by_goedee_in_the_default_set() -> None:
    # review probe.json: middle trunk 14.0 mm2 supraclavicular = Won 2012's healthy mean (EV:130)
    r = assess({"measurements": [trunk(14.0, which="middle", level="supraclavicular")]})
    assert not r.goedee.met and r.goedee.outcome == "not_evaluable"
    (na,) = r.goedee.not_applied
    assert na["site"] == "brachial_plexus_trunk" and na["level"] == "supraclavicular"
    assert "plane not Goedee's" in na["reason"] and "13.75-16.70" in na["reason"]
    assert "Won 2012" in na["reason"]
    assert "99% specific" not in r.goedee.explanation()


def test_trunk_without_the_goedee_plane_never_makes_the_pattern_multifocal() -> None:
    # review allsites.json: upper trunk 16 (no level) beside normal sites gave multifocal_nonentrapment
    for level in (None, "supraclavicular", "interscalene"):
        r = assess({"measurements": [*HEALTHY, trunk(16.0, level=level)]})
        assert r.pattern.pattern is not Pattern.MULTIFOCAL_NONENTRAPMENT, (level, r.pattern.explanation)
        assert r.pattern.pattern is Pattern.NORMAL, r.pattern.explanation
        assert not r.goedee.met
        reason = r.goedee.not_applied[0]["reason"]
        assert ("no level given" if level is None else f"level {level!r}") in reason


def test_goedee_plane_trunk_is_judged() -> None:
    r = assess({"measurements": [*HEALTHY, trunk(12.0, level="utrecht_protocol")]})
    assert r.goedee.met
    assert r.goedee.positive[0]["site"] == "brachial_plexus_trunk"
    assert "utrecht_protocol" in load_data("nerve_sites.json")["sites"]["brachial_plexus_trunk"]["levels"]
    # at the cut-off itself ('>8' is strict) the criterion is applied and negative
    edge = assess({"measurements": [trunk(8.0, level="utrecht_protocol")]})
    assert edge.goedee.evaluated[0]["positive"] is False and not edge.goedee.not_applied


def test_trunk_criterion_is_decided_by_the_measurement_level_not_the_reference_set() -> None:
    body = {"measurements": [trunk(14.0, which="middle", level="supraclavicular")]}
    dutch, korean = assess(body), assess(body, reference_set="korean")
    assert dutch.goedee.outcome == korean.goedee.outcome == "not_evaluable"
    assert dutch.goedee.not_applied[0]["reason"] == korean.goedee.not_applied[0]["reason"]
    # in the Goedee plane the criterion applies in the korean set too ...
    goedee_plane = {"measurements": [trunk(10.0, which="middle", level="utrecht_protocol")]}
    k = assess(goedee_plane, reference_set="korean")
    assert k.goedee.met
    # ... and Won 2012's normal trunks are not used as the limit of that plane (EV:134)
    row = k.to_dict()["measurements"][0]
    assert row["status"] == "no_reference" and "Won 2012" in row["limit"]["reason"]
    assert assess(goedee_plane).goedee.met


# --------------------------------------------------------------------------- finding 2


def test_intraplexus_variability_uses_roots_only() -> None:
    # review allsites.json: 16 (trunk) / 6 (C5) = 2.67 was "high (MMN)"; EV:130 makes 2.95 healthy
    r = assess({"measurements": [*HEALTHY, trunk(16.0)]})
    plexus = [i for i in r.variability.intranerve if i["nerve"] == "brachial_plexus"]
    assert len(plexus) == 1
    assert plexus[0]["value"] == pytest.approx(8.0 / 6.0, abs=1e-3) and plexus[0]["high"] is False
    assert "brachial_plexus_trunk" not in (plexus[0]["max_site"], plexus[0]["min_site"])
    assert not r.variability.any_high
    assert any("brachial_plexus_trunk" in n["sites"] for n in r.variability.not_compared)
    assert "brachial_plexus_trunk" not in load_data("nerve_rules.json")["variability"]["plexus_members"]


def test_intraplexus_variability_only_among_roots_at_one_level() -> None:
    # C5 interscalene 5, C6 foraminal 12: 2.4 > 2.26 was "high"; levels differ, so not computed
    r = assess({"measurements": [m("c5_root", "left", 5.0), m("c6_root", "left", 12.0, level="foraminal")]})
    assert not [i for i in r.variability.intranerve if i["nerve"] == "brachial_plexus"]
    (nc,) = r.variability.not_compared
    assert set(nc["sites"]) == {"c5_root", "c6_root"}
    assert "'foraminal'" in nc["explanation"] and "'interscalene'" in nc["explanation"]
    assert "levels_not_compared" in r.pattern.rules_fired
    # the same roots at one level are compared
    same = assess({"measurements": [m("c5_root", "left", 5.0), m("c6_root", "left", 12.0)]})
    (p,) = same.variability.intranerve
    assert p["value"] == pytest.approx(2.4) and p["high"] is True and p["level"] == "interscalene"


# --------------------------------------------------------------------------- finding 19


def test_side_to_side_compares_only_the_same_level() -> None:
    # review probe.json: right vagus at the thyroid vs left at the carotid bifurcation gave 1.29
    r = assess(
        {
            "measurements": [
                m("vagus_neck", "right", 2.7, level="thyroid"),
                m("vagus_neck", "left", 2.1, level="carotid bifurcation"),
            ]
        }
    )
    (s,) = [i for i in r.side_to_side if i.site == "vagus_neck"]
    assert s.value is None and not s.computed and s.reason
    assert "'thyroid'" in s.reason and "'carotid bifurcation'" in s.reason
    assert "levels_not_compared" in r.pattern.rules_fired and "side_ratio_vagus_neck" in r.pattern.explanation
    assert r.to_dict()["side_to_side"][0]["reason"] == s.reason
    same = assess(
        {
            "measurements": [
                m("vagus_neck", "right", 2.7, level="thyroid"),
                m("vagus_neck", "left", 2.1, level="thyroid"),
            ]
        }
    )
    (t,) = same.side_to_side
    assert t.value == pytest.approx(2.7 / 2.1) and "'thyroid'" in t.label


def test_side_to_side_roots_foraminal_vs_interscalene_not_compared() -> None:
    r = assess({"measurements": [m("c5_root", "left", 6.0), m("c5_root", "right", 9.0, level="foraminal")]})
    (s,) = r.side_to_side
    assert s.value is None and "'foraminal'" in s.reason and "'interscalene'" in s.reason


def test_trunks_are_compared_side_to_side_only_in_one_plane() -> None:
    r = assess(
        {
            "measurements": [
                trunk(10.0, side="left", level="utrecht_protocol"),
                trunk(16.0, side="right", level="supraclavicular"),
            ]
        }
    )
    (s,) = r.side_to_side
    assert s.value is None and "'utrecht_protocol'" in s.reason


# --------------------------------------------------------------------------- finding 12


def _patched_rules(monkeypatch: pytest.MonkeyPatch, change: dict[tuple[str, str], Any]) -> None:
    rules = copy.deepcopy(load_data("nerve_rules.json"))
    for (section, key), value in change.items():
        rules[section][key] = value
    monkeypatch.setattr(patterns_mod, "_rules", lambda: rules)
    real = goedee_mod.load_data
    monkeypatch.setattr(
        goedee_mod, "load_data", lambda name: rules if name == "nerve_rules.json" else real(name)
    )


def _vignette(name: str) -> dict[str, Any]:
    return json.loads((VIGNETTES / name).read_text(encoding="utf-8"))["request"]


def test_quoted_percentages_are_read_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_data("nerve_rules.json")
    assert rules["goedee"]["specificity_pct"] == 99 and rules["goedee"]["specificity_source"] == "goedee_2017"
    assert rules["zaidman"]["cmt1_diffuse_pct"] == 89 and rules["zaidman"]["axonal_pnp_enlarged_pct"] == 19
    _patched_rules(
        monkeypatch,
        {
            ("goedee", "specificity_pct"): 77,
            ("zaidman", "cmt1_diffuse_pct"): 66,
            ("zaidman", "axonal_pnp_enlarged_pct"): 55,
        },
    )
    goedee = assess({"measurements": [m("median_upper_arm", "right", 14.0)]}).goedee.explanation()
    assert "77% specific" in goedee and "99%" not in goedee
    diffuse = assess(_vignette("07_cmt1a.json")).pattern
    assert diffuse.pattern is Pattern.DIFFUSE and "diffuse in 66%" in diffuse.explanation
    mild = assess(_vignette("12_axonal_mild.json")).pattern
    assert "nonentrapment_borderline" in mild.rules_fired and "55% of axonal" in mild.explanation
    low = assess(_vignette("23_single_reduced_site.json")).pattern
    assert "reduced_insufficient" in low.rules_fired


def test_the_share_of_healthy_values_below_a_lower_limit_is_computed_per_site() -> None:
    """Bae 2021's range lower end at the ulnar forearm (4 mm2) lies 1.23 SD below Bae's mean 5.74
    (SD 1.42): about 11% of healthy values fall below it (normal approximation), not the 2.5% of a
    mean-2SD limit that the explanation used to quote for every lower limit."""
    low = assess(_vignette("23_single_reduced_site.json")).pattern
    assert "about 11% at ulnar_forearm (LLN 4 = mean 5.74 -1.23 SD [Bae 2021])" in low.explanation
    assert "2.5%" not in low.explanation


def test_proximal_regions_and_their_claim_come_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    cidp = _vignette("05_cidp.json")
    r = assess(cidp).pattern
    assert "proximal_enlargement" in r.rules_fired
    assert "(as in CIDP and MMN)" not in r.explanation  # the unsourced claim is gone
    assert "[Clin Neurophysiol 2018 abstract]" in r.explanation  # EV:329
    assert "10.1016/j.clinph.2018.04.576" in {c.doi for c in r.citations}
    # only the sites its source names (proximal median, roots): not the ulnar upper arm (audit)
    assert "proximal enlargement at c5_root, median_upper_arm;" in r.explanation
    _patched_rules(monkeypatch, {("proximal_enlargement", "sites"): ["c5_root"]})
    moved = assess(cidp).pattern
    assert "proximal enlargement at c5_root;" in moved.explanation
    vagus = assess(
        {"measurements": [m("vagus_neck", "right", 9.0), m("ulnar_upper_arm", "right", 20.0)]}
    ).pattern
    assert "proximal_enlargement" not in vagus.rules_fired


# --------------------------------------------------------------------------- finding 11 nit


def test_caveat_of_a_partly_b_goedee_source_is_in_the_goedee_text() -> None:
    # review korean.json: C5 (Dutch CIN cut-off, attribution [B]) was applied and its caveat not shown
    r = assess({"measurements": [m("c5_root", "right", 6.0)]}, reference_set="korean")
    assert r.goedee.evaluated and r.goedee.evaluated[0]["source"] == "dutch_uln"
    text = r.goedee.explanation()
    assert "caveat Dutch ULN table" in text and "attribution was not verified [B]" in text
    finding = r.goedee.to_finding()
    assert "attribution was not verified [B]" in finding.explanation
    # a criterion whose source has no [B] part adds no caveat
    plain = assess({"measurements": [m("median_forearm", "right", 6.0)]}).goedee.explanation()
    assert "caveat" not in plain


# --------------------------------------------------------------------------- finding 9


def test_interpretations_are_labelled_in_data_and_docs() -> None:
    rules = load_data("nerve_rules.json")
    assert "sonomsk interpretation" in rules["hereditary_entrapment_ratio"]["_about"]
    assert "sonomsk interpretation" in rules["entrapment_indices"]["ulnar_max_to_wrist"]["interpretation"]
    assert "sonomsk interpretation" in rules["reduced"]["motor_fibres_about"]
    assert "sonomsk interpretation" in rules["variability"]["plexus_members_about"]
    docs = (DOCS / "nerve-assessment.md").read_text(encoding="utf-8")
    section = docs.split("Interpretations we had to make", 1)[1].split("\n## ", 1)[0].lower()
    for words in ("entrapment ratio", "yoon", "vagus", "intraplexus", "utrecht_protocol"):
        assert words in section, words
    assert (DOCS / "decisions" / "007-plexus-protocol-and-levels.md").is_file()


def test_a_vagus_without_a_level_is_compared_at_the_level_it_is_judged_at() -> None:
    # review of the session's change: an unlevelled right vagus was judged against the carotid
    # bifurcation limit yet not compared with a left vagus measured there
    r = assess(
        {
            "measurements": [
                {"site": "vagus_neck", "side": "right", "csa_mm2": 3.0},
                {"site": "vagus_neck", "side": "left", "csa_mm2": 2.0, "level": "carotid bifurcation"},
            ]
        }
    )
    ratio = next(i for i in r.side_to_side if i.name == "side_ratio_vagus_neck")
    assert ratio.value == pytest.approx(1.5) and ratio.reason is None
