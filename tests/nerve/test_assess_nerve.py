"""assess(): input validation, per-measurement verdicts, indices, variability, JSON output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Finding
from sonomsk.nerve.assess import AssessmentRequest, AssessmentResult, assess


def m(site: str, side: str, csa: Any, **kw: Any) -> dict[str, Any]:
    return {"site": site, "side": side, "csa_mm2": csa, **kw}


def req(*items: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"measurements": list(items), **top}


def by_site(result: AssessmentResult, site: str, side: str = "right") -> dict[str, Any]:
    return next(x for x in result.to_dict()["measurements"] if x["site"] == site and x["side"] == side)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (req(m("median_knee", "right", 9)), "measurements[0].site"),
        (req(m("median_wrist", "middle", 9)), "measurements[0].side"),
        (req(m("median_wrist", "right", -3)), "measurements[0].csa_mm2"),
        (req(m("median_wrist", "right", 0)), "measurements[0].csa_mm2"),
        (req(m("median_wrist", "right", 250)), "measurements[0].csa_mm2"),
        (req(m("median_wrist", "right", "12")), "measurements[0].csa_mm2"),
        (req(m("median_wrist", "right", True)), "measurements[0].csa_mm2"),
        (req(m("median_wrist", "right", float("nan"))), "measurements[0].csa_mm2"),
        (req({"site": "median_wrist", "side": "right"}), "measurements[0].csa_mm2"),
        (req({"side": "right", "csa_mm2": 9}), "measurements[0].site"),
        (req(m("median_wrist", "right", 9, csa_px=4)), "measurements[0].csa_px"),
        (req({"site": "median_wrist", "side": "right", "csa_px2": 400}), "measurements[0].csa_px2"),
        (req(m("median_wrist", "right", 9), m("median_wrist", "right", 10)), "measurements[1]"),
        (
            req(m("median_wrist", "right", 9, wrist_circumference_cm=3)),
            "measurements[0].wrist_circumference_cm",
        ),
        (req(m("median_wrist", "right", 9, trunk="upper")), "measurements[0].trunk"),
        (req(m("median_wrist", "right", 9, echogenicity={"class": 5})), "measurements[0].echogenicity.class"),
        (req(m("median_wrist", "right", 9), patient={"age": -4}), "patient.age"),
        (req(m("median_wrist", "right", 9), patient={"sex": 3}), "patient.sex"),
        (
            req(m("median_wrist", "right", 9), patient={"wrist_circumference_cm": 150}),
            "patient.wrist_circumference_cm",
        ),
        (req(m("median_wrist", "right", 9), patient=[]), "patient"),
        ({"measurements": []}, "measurements"),
        ({"patient": {}}, "measurements"),
        ({"measurements": "median_wrist"}, "measurements"),
        (req(m("median_wrist", "right", 9), reference_set="martian"), "reference_set"),
        (req(m("median_wrist", "right", 9), extra=1), "request.extra"),
        (req(m("median_wrist", "right", 0.14)), "measurements[0].csa_mm2"),
        (req(m("median_wrist", "right", 0.0001)), "measurements[0].csa_mm2"),
        (req(m("sural_calf", "right", 150)), "measurements[0].csa_mm2"),
        (req(m("c5_root", "right", 9, level="foramen")), "measurements[0].level"),
        (req(m("median_wrist", "right", 9, level="interscalene")), "measurements[0].level"),
        (req(m("median_wrist", "right", 9, intraneural_doppler=2.7)), "measurements[0].intraneural_doppler"),
    ],
)
def test_bad_input_names_the_field(request_: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        assess(request_)
    msg = str(info.value)
    assert msg.startswith(field) and "\n" not in msg


def test_request_must_be_a_mapping() -> None:
    with pytest.raises(InvalidParameterError, match="request"):
        assess(["median_wrist"])  # type: ignore[arg-type]


def test_status_ratio_and_z() -> None:
    r = assess(
        req(m("median_wrist", "right", 14.0), m("median_forearm", "right", 6.31)), reference_set="korean"
    )
    wrist = by_site(r, "median_wrist")
    assert wrist["status"] == "enlarged"
    # Bae 2021 published reference range 7-13 (not the computed mean+2SD 12.43)
    assert wrist["ratio_to_uln"] == pytest.approx(14.0 / 13.0, abs=1e-3)
    assert wrist["limit"]["kind"] == "published_reference_range"
    assert wrist["z_score"] == pytest.approx((14.0 - 9.33) / 1.55, abs=0.01)
    fore = by_site(r, "median_forearm")
    assert fore["status"] == "normal" and fore["z_score"] == pytest.approx(0.0)


def test_reduced_only_where_a_lower_limit_exists() -> None:
    r = assess(req(m("median_wrist", "right", 2.0), m("median_forearm", "right", 2.0)))
    wrist = by_site(r, "median_wrist")  # Dutch table: ULN only
    assert wrist["status"] == "normal" and wrist["reduction_assessable"] is False
    assert any("reduction not assessable" in n for n in wrist["notes"])
    fore = by_site(r, "median_forearm")  # Bae published range 4-10
    assert fore["status"] == "reduced" and fore["reduction_assessable"] is True
    assert fore["limit"]["lln_mm2"] == 4.0


def test_no_reference_site_is_reported_not_judged() -> None:
    r = assess(req(m("brachial_plexus_trunk", "right", 7.0, trunk="upper")))
    trunk = by_site(r, "brachial_plexus_trunk")
    assert trunk["status"] == "no_reference" and trunk["ratio_to_uln"] is None
    assert trunk["limit"]["reason"]
    assert r.pattern.pattern.value == "indeterminate"


def test_korean_trunk_needs_trunk_name_and_foraminal_roots() -> None:
    r = assess(
        req(
            m("brachial_plexus_trunk", "left", 18.0, trunk="middle"),
            m("c5_root", "left", 6.0, level="foraminal"),
        ),
        reference_set="korean",
    )
    assert by_site(r, "brachial_plexus_trunk", "left")["status"] == "normal"
    assert by_site(r, "c5_root", "left")["status"] == "normal"
    r2 = assess(req(m("c5_root", "left", 6.0)), reference_set="korean")  # default level interscalene
    assert by_site(r2, "c5_root", "left")["status"] == "no_reference"


def test_request_reference_set_and_override() -> None:
    body = req(m("median_wrist", "right", 12.0), reference_set="korean")
    assert assess(body).reference_set == "korean"
    assert assess(body, reference_set="dutch").reference_set == "dutch"
    assert by_site(assess(body), "median_wrist")["status"] == "normal"  # 12.0 <= 13 (Bae range)
    assert by_site(assess(body, reference_set="dutch"), "median_wrist")["status"] == "enlarged"


def test_patient_wrist_circumference_applies_to_median_wrist() -> None:
    r = assess(req(m("median_wrist", "right", 10.5), patient={"wrist_circumference_cm": 15}))
    w = by_site(r, "median_wrist")
    assert w["status"] == "enlarged" and w["limit"]["uln_mm2"] == pytest.approx(9.2)
    assert w["limit"]["source"] == "olde_dubbelink_2020"


def test_covariate_and_paediatric_notes() -> None:
    r = assess(req(m("tibial_ankle", "right", 10.0), patient={"age": 12, "sex": "F", "height_cm": 150}))
    notes = " ".join(by_site(r, "tibial_ankle")["notes"])
    assert "adults" in notes and "Grimm 2018" in notes and "not adjusted" in notes


def test_echogenicity_and_doppler_are_reported_not_scored() -> None:
    r = assess(
        req(
            m(
                "median_wrist",
                "right",
                9.0,
                echogenicity={"fraction_hypoechoic": 0.6, "class": 1},
                intraneural_doppler=2,
            )
        )
    )
    w = by_site(r, "median_wrist")
    assert w["echogenicity"] == {"fraction_hypoechoic": 0.6, "class": 1, "class_name": "hypoechoic"}
    assert w["intraneural_doppler"] == 2
    assert any("not scored" in n for n in w["notes"])
    assert (
        AssessmentRequest.from_dict(req(m("median_wrist", "R", 9, echogenicity="mixed"))).measurements[0].side
        == "right"
    )


def test_entrapment_indices_and_side_to_side() -> None:
    r = assess(
        req(
            m("median_wrist", "right", 12.0),
            m("median_pronator_quadratus", "right", 11.0),
            m("median_forearm", "right", 8.0),
            m("radial_spiral_groove", "right", 8.0),
            m("radial_spiral_groove", "left", 6.0),
            m("median_wrist", "left", 9.0),
            m("median_forearm", "left", 7.0),
        )
    )
    idx = {(i["name"], i["side"]): i for i in r.to_dict()["entrapment_indices"]}
    assert idx[("wrist_forearm_ratio", "right")]["value"] == pytest.approx(1.5)
    assert idx[("wrist_forearm_ratio", "right")]["abnormal"] is True
    assert idx[("delta_csa_median", "right")]["value"] == pytest.approx(1.0)
    assert idx[("delta_csa_median", "right")]["abnormal"] is False
    assert idx[("delta_csa_median", "left")]["value"] is None
    assert idx[("delta_csa_median", "left")]["missing_sites"] == ["median_pronator_quadratus"]
    assert idx[("wrist_forearm_ratio", "left")]["abnormal"] is False  # 9/7 = 1.29
    sides = {i["name"]: i for i in r.to_dict()["side_to_side"]}
    assert sides["side_ratio_radial_spiral_groove"]["value"] == pytest.approx(8 / 6, abs=1e-3)
    assert sides["side_ratio_radial_spiral_groove"]["abnormal"] is True  # >= 1.22
    assert sides["side_difference_radial_spiral_groove"]["abnormal"] is True  # 2.0 >= 1.75
    info_only = sides["side_ratio_median_wrist"]
    assert info_only["abnormal"] is None and "information only" in info_only["healthy"]


def test_variability_definitions() -> None:
    r = assess(
        req(
            m("ulnar_wrist", "left", 4.0),
            m("ulnar_elbow", "left", 8.0),
            m("ulnar_upper_arm", "left", 6.0),
            m("tibial_popliteal", "left", 15.0),
            m("tibial_ankle", "left", 10.0),
        )
    )
    v = r.to_dict()["variability"]
    intra = {i["nerve"]: i for i in v["intranerve"]}
    assert intra["ulnar"]["value"] == pytest.approx(2.0) and intra["ulnar"]["high"] is False  # ULN 2.55
    assert intra["tibial"]["value"] == pytest.approx(1.5)
    assert v["internerve"]["value"] == pytest.approx(2.0 / 1.5, abs=1e-3)
    assert v["internerve"]["uln"] == pytest.approx(1.76 + 2 * 0.37)


def test_goedee_outcomes() -> None:
    met = assess(req(m("median_upper_arm", "left", 13.5)))
    assert met.goedee.outcome == "met"
    edge = assess(req(m("median_upper_arm", "left", 13.0)))  # '>13' is strict
    assert edge.goedee.outcome == "not_met_incomplete"
    assert set(edge.goedee.missing_sites) == {"median_forearm", "brachial_plexus_trunk", "c5_root"}
    full = assess(
        req(
            m("median_forearm", "left", 8.0),
            m("median_upper_arm", "left", 9.0),
            # decision 007: the trunk criterion applies only in the Goedee/Utrecht protocol plane
            m("brachial_plexus_trunk", "left", 7.0, trunk="upper", level="utrecht_protocol"),
            m("c5_root", "left", 6.0),
        )
    )
    assert full.goedee.outcome == "not_met"
    assert assess(req(m("sural_calf", "left", 2.0))).goedee.outcome == "not_evaluable"
    assert met.to_dict()["goedee"]["met"] is True and edge.to_dict()["goedee"]["met"] is False
    assert assess(req(m("sural_calf", "left", 2.0))).to_dict()["goedee"]["met"] is None
    assert met.to_dict()["goedee"]["positive_sites"][0]["site"] == "median_upper_arm"


def test_result_is_json_safe_and_findings_are_core_findings() -> None:
    r = assess(req(m("median_wrist", "right", 14.0), m("median_forearm", "right", 7.0), patient={"age": 50}))
    text = r.to_json()
    d = json.loads(text)
    assert d["pattern"] == "focal_entrapment" and d["reference_set"]["name"] == "dutch"
    assert all(isinstance(f, Finding) for f in r.findings)
    rules = {f.rule_id for f in r.findings}
    assert {"nerve_csa_reference", "wrist_forearm_ratio", "goedee_cin", "nerve_enlargement_pattern"} <= rules
    for f in d["findings"]:
        assert Finding.from_dict(f).to_dict() == f


def test_assess_accepts_a_request_object() -> None:
    body = AssessmentRequest.from_dict(req(m("median_wrist", "right", 9.0)))
    assert assess(body).pattern.pattern.value == "normal"


def test_measurement_set_round_trip() -> None:
    from sonomsk.core.results import MeasurementSet

    r = assess(req(m("median_wrist", "right", 14.0), m("median_forearm", "right", 7.0)))
    ms = r.to_measurement_set()
    assert [x.value for x in ms.by_name("area_cross_section")] == [14.0, 7.0]
    assert all(x.unit == "mm2" for x in ms)
    assert ms.measurements[0].context["status"] == "enlarged"
    assert MeasurementSet.from_json(ms.to_json()) == ms
    assert any(
        f.rule_id == "nerve_enlargement_pattern" and f.outcome == "focal_entrapment" for f in ms.findings
    )


def test_extreme_disease_values_pass_the_plausibility_bounds() -> None:
    # hypertrophic nerves (CMT1A-like vignettes: tibial 55, roots 20-23, sural 7) are not refused
    r = assess(
        req(
            m("tibial_popliteal", "right", 55.0),
            m("c5_root", "right", 20.0),
            m("c6_root", "right", 23.0),
            m("sural_calf", "right", 7.0),
            m("median_upper_arm", "right", 60.0),
            m("median_wrist", "right", 9, intraneural_doppler=2.0),
        )
    )
    assert by_site(r, "median_upper_arm")["status"] == "enlarged"
    assert by_site(r, "median_wrist")["intraneural_doppler"] == 2
