"""Decision 011: the borderline flag from measurement reliability, foraminal roots in the ``dutch``
set, and the vagus at the thyroid level (review findings 14 and 17).

Each group fails on the code before the decision: no ``borderline`` field; a right vagus at the
thyroid gave ``no_reference`` in the default set; a foraminal root's ``no_reference`` did not say
why or where a limit is.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sonomsk.cli.main import main
from sonomsk.nerve.assess import assess
from sonomsk.reference import loader, nerve_csa
from sonomsk.reference.loader import load_data
from sonomsk.reference.nerve_csa import (
    lookup_limit,
    measurement_reliability,
    site_names,
    validate_reference_data,
)

NOTE = "between-investigator SD"
OTHER_SIDE = "a second measurement may fall on the other side"


def _one(site: str, csa: float, *, side: str = "right", reference_set: str | None = None, **extra: Any):
    request: dict[str, Any] = {"measurements": [{"site": site, "side": side, "csa_mm2": csa, **extra}]}
    return assess(request, reference_set=reference_set).measurements[0]


def _patched(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    data = copy.deepcopy(load_data("nerve_csa.json"))
    real = loader.load_data
    monkeypatch.setattr(nerve_csa, "load_data", lambda n: data if n == "nerve_csa.json" else real(n))
    return data


# ------------------------------------------------------------------ 1. borderline flag


def test_reliability_figures_are_the_upper_ends_of_the_published_ranges() -> None:
    rel = load_data("nerve_csa.json")["measurement_reliability"]
    assert rel["source"] == "interinvestigator_2018"
    assert rel["groups"]["arm"]["range_mm2"] == [1.0, 1.7] and rel["groups"]["arm"]["sd_mm2"] == 1.7
    group = rel["groups"]["plexus_tibial_fibular"]
    assert group["range_mm2"] == [1.5, 3.1] and group["sd_mm2"] == 3.1
    assert measurement_reliability("radial_spiral_groove").sd_mm2 == 1.7
    assert measurement_reliability("ulnar_elbow").group == "arm"
    for site in ("c5_root", "brachial_plexus_trunk", "tibial_ankle", "fibular_popliteal"):
        assert measurement_reliability(site).sd_mm2 == 3.1, site
    for site in ("sural_calf", "vagus_neck"):
        r = measurement_reliability(site)
        assert r.sd_mm2 is None and r.group is None and "no between-investigator SD" in (r.note or "")


@pytest.mark.parametrize(
    ("site", "csa", "flag"),
    [
        ("median_wrist", 12.0, True),  # ULN 11 (dutch), 1.0 < 1.7
        ("median_wrist", 12.6, True),
        ("median_wrist", 12.7, False),  # exactly one SD away: not "less than"
        ("median_wrist", 13.0, False),
        ("median_wrist", 10.0, True),  # normal, 1.0 below the ULN
        ("median_wrist", 9.0, False),
        ("fibular_head", 14.0, True),  # ULN 11, plexus/tibial/fibular SD 3.1
        ("fibular_head", 14.2, False),
        ("tibial_popliteal", 19.5, True),  # ULN 22, normal
    ],
)
def test_flag_within_one_sd_of_the_upper_limit(site: str, csa: float, flag: bool) -> None:
    before = {"median_wrist": 11.0, "fibular_head": 11.0, "tibial_popliteal": 22.0}[site]
    a = _one(site, csa)
    assert a.status == ("enlarged" if csa > before else "normal")  # the status is never changed
    assert a.borderline is flag
    assert a.borderline_detail is not None and a.borderline_detail["limit"] == "upper"
    assert any(NOTE in n and OTHER_SIDE in n for n in a.notes) is flag
    d = a.to_dict()
    assert d["borderline"] is flag and d["borderline_detail"]["source"] == "interinvestigator_2018"


def test_reduced_is_judged_against_the_lower_limit() -> None:
    # korean median wrist: range 7-13 (Bae 2021)
    a = _one("median_wrist", 6.0, reference_set="korean")
    assert a.status == "reduced" and a.borderline is True
    assert a.borderline_detail is not None and a.borderline_detail["limit"] == "lower"
    assert a.borderline_detail["limit_mm2"] == 7.0 and a.borderline_detail["distance_mm2"] == 1.0
    far = _one("median_wrist", 5.0, reference_set="korean")
    assert far.status == "reduced" and far.borderline is False


def test_normal_value_near_the_lower_limit_is_borderline() -> None:
    a = _one("median_wrist", 7.5, reference_set="korean")
    assert a.status == "normal" and a.borderline is True
    assert a.borderline_detail is not None and a.borderline_detail["limit"] == "lower"
    mid = _one("median_wrist", 10.0, reference_set="korean")  # 3 from each limit
    assert mid.status == "normal" and mid.borderline is False


@pytest.mark.parametrize(("site", "csa"), [("sural_calf", 3.2), ("vagus_neck", 5.0)])
def test_sites_without_a_published_sd_get_no_flag_and_a_note(site: str, csa: float) -> None:
    a = _one(site, csa)
    assert a.status != "no_reference"
    assert a.borderline is None
    assert any("no between-investigator SD for this site" in n for n in a.notes)
    assert not any(OTHER_SIDE in n for n in a.notes)


def test_no_reference_rows_have_no_flag_and_no_reliability_note() -> None:
    a = _one("median_pronator_quadratus", 8.0)
    assert a.status == "no_reference" and a.borderline is None and a.borderline_detail is None
    assert not any(NOTE in n for n in a.notes)


def test_borderline_still_counts_in_the_pattern() -> None:
    r = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 11.5},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            ]
        }
    )
    assert r.measurements[0].status == "enlarged" and r.measurements[0].borderline is True
    assert r.pattern.pattern.value == "focal_entrapment"


def test_finding_carries_the_sd_and_the_citation_when_flagged() -> None:
    flagged = _one("median_wrist", 12.0).to_finding()
    assert flagged.thresholds["between_investigator_sd_mm2"] == 1.7
    assert any("S135" in c.text for c in flagged.citations) and OTHER_SIDE in flagged.explanation
    clear = _one("median_wrist", 14.0).to_finding()
    assert clear.thresholds["between_investigator_sd_mm2"] == 1.7
    assert not any("S135" in c.text for c in clear.citations) and OTHER_SIDE not in clear.explanation


def test_validator_checks_the_reliability_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _patched(monkeypatch)
    rel = data["measurement_reliability"]
    rel["no_figure"]["sites"].remove("sural_calf")
    rel["groups"]["arm"]["sd_mm2"] = 2.0
    problems = validate_reference_data()
    assert any("sural_calf" in p for p in problems)
    assert any("sd_mm2 must lie in its range" in p for p in problems)


def test_every_site_is_mapped_once() -> None:
    rel = load_data("nerve_csa.json")["measurement_reliability"]
    mapped = [s for g in rel["groups"].values() for s in g["sites"]] + rel["no_figure"]["sites"]
    assert sorted(mapped) == sorted(site_names())


# ------------------------------------------------------------------ 2. foraminal roots (dutch)


@pytest.mark.parametrize("site", ["c5_root", "c6_root", "c7_root"])
def test_dutch_foraminal_root_is_not_judged_by_won_2012(site: str) -> None:
    # The Dutch table's own note (roots at the foraminal exit normally up to about 12 mm2) and
    # Won 2012's foraminal C5 limit (7.7 mm2) disagree: nothing is borrowed, the reason says why
    lim = lookup_limit(site, level="foraminal")  # default set: dutch
    assert lim.reference_set == "dutch" and lim.status == "no_reference"
    assert lim.reason is not None
    assert "up to about 12 mm2" in lim.reason and "--reference-set korean" in lim.reason
    korean = lookup_limit(site, reference_set="korean", level="foraminal")
    assert korean.has_limit and korean.source == "won_2012"


def test_dutch_interscalene_roots_unchanged() -> None:
    assert lookup_limit("c5_root", level="interscalene").source == "dutch_uln"
    assert lookup_limit("c5_root").uln == 8.0
    assert lookup_limit("c6_root", level="interscalene").source == "bedewi_2021"


def test_assess_foraminal_c5_in_default_set() -> None:
    a = _one("c5_root", 9.0, level="foraminal")
    assert a.status == "no_reference" and a.limit.status == "no_reference"
    assert a.borderline is None


# ------------------------------------------------------------------ 3. vagus at the thyroid


def test_right_vagus_at_thyroid_uses_p25() -> None:
    lim = lookup_limit("vagus_neck", side="right", level="thyroid")
    assert lim.has_limit and lim.source == "vagus_p25" and lim.kind == "mean_plus_2sd"
    assert lim.uln == pytest.approx(2.7 + 2 * 0.6)  # proximal: the larger upper limit
    assert lim.lln == pytest.approx(2.6 - 2 * 0.6)  # distal: the smaller lower limit
    assert lim.mean is None and lim.z_score(3.0) is None  # two positions: no single mean
    assert lim.protocol is not None and lim.protocol["level"] == "thyroid"
    assert any("proximal or distal" in n for n in lim.notes)
    a = _one("vagus_neck", 4.2, level="thyroid")
    assert a.status == "enlarged" and a.limit.source == "vagus_p25"
    low = _one("vagus_neck", 1.2, level="thyroid")
    assert low.status == "reduced"


def test_left_vagus_at_thyroid_stays_without_reference() -> None:
    lim = lookup_limit("vagus_neck", side="left", level="thyroid")
    assert lim.status == "no_reference"
    assert lim.reason is not None and "without an SD" in lim.reason


def test_vagus_at_carotid_bifurcation_unchanged_and_korean_unchanged() -> None:
    assert lookup_limit("vagus_neck", side="right", level="carotid bifurcation").source == "curcean_2020"
    assert lookup_limit("vagus_neck", side="right").source == "curcean_2020"
    korean = lookup_limit("vagus_neck", side="right", level="thyroid", reference_set="korean")
    assert korean.status == "no_reference"


def test_validator_checks_level_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _patched(monkeypatch)
    sites = data["sets"]["dutch"]["sites"]
    sites["c5_root"]["other_levels"]["cervical"] = sites["c5_root"]["other_levels"].pop("foraminal")
    right = sites["vagus_neck"]["level_variants"]["thyroid"]["variants"]["right"]
    right["positions"]["distal"]["sd"] = 0
    problems = validate_reference_data()
    assert any("other_levels: 'cervical' is not a level of c5_root" in p for p in problems)
    assert any("level_variants/thyroid: mean_plus_2sd needs" in p for p in problems)


def test_data_files_validate() -> None:
    assert validate_reference_data() == []


# ------------------------------------------------------------------ CLI


def _write(tmp_path: Path, measurements: list[dict[str, Any]]) -> str:
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"measurements": measurements}), encoding="utf-8")
    return str(path)


def test_cli_text_and_json_show_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path,
        [
            {"site": "median_wrist", "side": "right", "csa_mm2": 12.0},
            {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            {"site": "sural_calf", "side": "right", "csa_mm2": 2.0},
        ],
    )
    assert main(["nerve", "assess", path]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("median_wrist"))
    assert "enlarged (borderline)" in row
    forearm = next(line for line in out.splitlines() if line.startswith("median_forearm"))
    assert "borderline" not in forearm
    assert "within the between-investigator SD (1.7 mm2) of the limit" in out
    assert "no between-investigator SD for this site" in out
    assert main(["nerve", "assess", path, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["measurements"]
    assert [r["borderline"] for r in rows] == [True, False, None]


def test_cli_references_lists_level_limits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nerve", "references", "--reference-set", "dutch"]) == 0
    out = capsys.readouterr().out
    assert any(
        line.strip().startswith("vagus_neck (right) [thyroid]") and "vagus_p25" in line
        for line in out.splitlines()
    )
    assert main(["nerve", "references", "--reference-set", "dutch", "--json"]) == 0
    limits = json.loads(capsys.readouterr().out)[0]["limits"]
    thyroid_left = [
        x for x in limits if x["site"] == "vagus_neck" and x["level"] == "thyroid" and x["side"] == "left"
    ]
    assert thyroid_left and thyroid_left[0]["status"] == "no_reference"


def test_measurement_set_carries_the_borderline_flag() -> None:
    # reports and exports read the assessment through to_measurement_set
    request = {"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 11.5}]}
    ms = assess(request).to_measurement_set()
    assert ms.measurements[0].context["borderline"] is True


# ------------------------------------------------ section 5: a borderline CSA the [A] indices contradict


def test_a_borderline_entrapment_csa_with_every_a_index_normal_is_indeterminate() -> None:
    from sonomsk.nerve.assess import assess

    cts = {
        "measurements": [
            {"site": "median_wrist", "side": "right", "csa_mm2": 11.2},
            {"site": "median_pronator_quadratus", "side": "right", "csa_mm2": 10.0},
            {"site": "median_forearm", "side": "right", "csa_mm2": 9.0},
        ]
    }
    d = assess(cts).to_dict()
    assert d["pattern"] == "indeterminate" and d["candidates"] == ["focal_entrapment", "normal"]
    assert "focal_borderline_contradicted" in d["pattern_detail"]["rules_fired"]
    assert "delta_csa_median (right) = 1.20 mm2 < 2: normal" in d["explanation"]
    # the same CSA with an abnormal [A] index (delta CSA 3.2 mm2) is a supported focal entrapment
    cts["measurements"][1]["csa_mm2"] = 8.0
    d = assess(cts).to_dict()
    assert d["pattern"] == "focal_entrapment"
    assert (
        "within the between-investigator SD of the limit (borderline): median_wrist (right)"
        in d["explanation"]
    )
    # a clear enlargement is not borderline, whatever the indices
    cts["measurements"][0]["csa_mm2"] = 14.0
    cts["measurements"][1]["csa_mm2"] = 12.5
    assert assess(cts).to_dict()["pattern"] == "focal_entrapment"


def test_a_side_ratio_without_a_cut_off_neither_contradicts_nor_decides() -> None:
    """The median wrist side-to-side ratio has no published cut-off (information only): measuring
    the other wrist must not turn a borderline carpal tunnel CSA
    into `indeterminate` as if an [A] index were normal."""
    from sonomsk.nerve.assess import assess

    one_side = {
        "measurements": [
            {"site": "median_wrist", "side": "right", "csa_mm2": 11.5},
            {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
        ]
    }
    both = {
        "measurements": [*one_side["measurements"], {"site": "median_wrist", "side": "left", "csa_mm2": 10.5}]
    }
    d = assess(both).to_dict()
    ratio = next(i for i in d["side_to_side"] if i["name"] == "side_ratio_median_wrist")
    assert ratio["cutoff"] is None and ratio["abnormal"] is None and ratio["decides_alone"] is False
    assert d["pattern"] == assess(one_side).to_dict()["pattern"] == "focal_entrapment"
    assert "focal_borderline_contradicted" not in d["pattern_detail"]["rules_fired"]


def test_only_the_contradicted_nerve_loses_its_focal_entrapment() -> None:
    from sonomsk.nerve.assess import assess

    d = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 11.2},
                {"site": "median_pronator_quadratus", "side": "right", "csa_mm2": 10.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 9.0},
                {"site": "ulnar_elbow", "side": "right", "csa_mm2": 14.0},
                {"site": "ulnar_forearm", "side": "right", "csa_mm2": 6.0},
            ]
        }
    ).to_dict()
    assert d["pattern"] == "focal_entrapment"
    assert "focal_borderline_contradicted: median (right)" in d["explanation"]
    # the contradicted nerve is neither named in the focal entrapment nor counted for the HNPP hint
    focal = next(s for s in d["explanation"].split(". ") if s.startswith("focal_entrapment:"))
    assert "ulnar_elbow (right)" in focal and "median_wrist" not in focal
    assert "hnpp_hint" not in d["pattern_detail"]["rules_fired"]
