"""The differential engine: parsing of FINDINGS, scoring transparency, refusal of bad input."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.knowledge.differential import INTENDED_USE, rank


def test_empty_findings_cannot_rank_and_names_findings_to_collect() -> None:
    d = rank({}).to_dict()
    assert d["can_rank"] is False
    assert d["candidates"] == []
    assert "cannot rank" in d["message"]
    assert len(d["missing_discriminators"]) > 0
    assert d["intended_use"] == INTENDED_USE and "not a diagnosis" in d["intended_use"].lower()


def test_only_absent_findings_cannot_rank() -> None:
    d = rank({"findings": {"joint_effusion": "absent", "fasciculations_us": "absent"}}).to_dict()
    assert d["can_rank"] is False
    assert d["missing_discriminators"]


def test_unknown_finding_name_is_refused_with_its_key() -> None:
    with pytest.raises(InvalidParameterError, match=re.escape("findings.nerve_on_fire")):
        rank({"findings": {"nerve_on_fire": "present"}})


@pytest.mark.parametrize(
    "doc, key",
    [
        ({"findings": {"joint_effusion": "maybe"}}, "findings.joint_effusion"),
        ({"patient": {"onset": "yesterday"}}, "patient.onset"),
        ({"patient": {"age": -3}}, "patient.age"),
        ({"patient": {"shoe_size": 44}}, "patient.shoe_size"),
        ({"labs": {}}, "labs"),
        ({"nerve_assessment": {"pattern": "wobbly"}}, "nerve_assessment.pattern"),
        ({"muscle_assessment": {"muscles": [{"muscle": "deltoid", "echo_z": "high"}]}}, "echo_z"),
        ({"findings": {"onset_acute": "present", "onset_chronic": "present"}}, "mutually exclusive"),
        ([1, 2], "findings document"),
    ],
)
def test_bad_input_names_the_parameter(doc: object, key: str) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(key)):
        rank(doc)  # type: ignore[arg-type]


def test_score_is_the_sum_of_shown_contributions() -> None:
    doc = {"findings": {"joint_effusion": "present", "synovial_thickening": "absent"}}
    d = rank(doc).to_dict()
    top = d["candidates"][0]
    assert top["condition"] == "knee_joint_effusion"
    total = sum(c["log10_lr"] for c in top["supporting"] + top["against"])
    assert top["score_log10"] == pytest.approx(total, abs=1e-3)
    assert top["supporting"][0]["finding"] == "joint_effusion"
    assert top["supporting"][0]["likelihood_ratio"] == pytest.approx(5.0)


def test_group_bound_limits_correlated_schwannoma_signs() -> None:
    signs = [
        "mass_entering_exiting_nerve",
        "mass_polar_vascularity",
        "mass_target_sign",
        "mass_cystic_degeneration",
    ]
    d = rank({"findings": dict.fromkeys(signs, "present")}).to_dict()
    top = d["candidates"][0]
    assert top["condition"] == "schwannoma"
    adj = top["group_adjustments"]
    assert adj and adj[0]["group"] == "yuan_signs"
    assert adj[0]["bounded_to"] == pytest.approx(min(math.log10(0.952 / 0.039), math.log10(20.0)), abs=1e-3)
    assert adj[0]["sum_log10_lr"] > adj[0]["bounded_to"]


def test_nerve_assessment_output_is_read() -> None:
    na = {
        "pattern": "multifocal_nonentrapment",
        "measurements": [
            {
                "name": "area_cross_section",
                "value": 14.0,
                "unit": "mm2",
                "context": {"nerve": "c5", "site": "root", "status": "enlarged"},
            },
            {
                "name": "area_cross_section",
                "value": 30.0,
                "unit": "mm2",
                "context": {"nerve": "median", "site": "forearm", "status": "enlarged"},
            },
            {
                "name": "area_cross_section",
                "value": 4.0,
                "unit": "mm2",
                "context": {"nerve": "sural", "site": "calf", "status": "normal"},
            },
        ],
        "findings": [{"rule_id": "goedee_criteria", "outcome": "met"}],
    }
    d = rank({"nerve_assessment": na}).to_dict()
    inputs = d["inputs"]
    assert inputs["nerve_pattern_multifocal_nonentrapment"] == {
        "state": "present",
        "source": "nerve_assessment",
    }
    assert inputs["nerve_pattern_normal"]["state"] == "absent"
    assert inputs["nerve_enlargement_any"]["state"] == "present"
    assert inputs["sensory_nerve_sparing"]["state"] == "present"  # sural normal beside an enlarged root
    assert inputs["proximal_median_or_plexus_enlarged"]["state"] == "present"


def test_sparing_needs_an_enlarged_root_or_vagus_and_goedee_in_a_diffuse_pattern_is_left_unknown() -> None:
    """Review (ninth session): the sparing pattern's GBS figures are for a normal sural nerve beside
    enlarged roots/vagus, not beside any enlarged nerve (a CTS); and Goedee's specificity does not
    separate CIN from CMT1 inside a diffuse pattern."""
    from sonomsk.nerve.assess import assess

    cts = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 14.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
                {"site": "sural_calf", "side": "right", "csa_mm2": 3.0},
            ]
        }
    ).to_dict()
    d = rank({"nerve_assessment": cts}).to_dict()
    assert "sensory_nerve_sparing" not in d["inputs"]
    assert any("no enlarged root or vagus" in n for n in d["notes"])
    diffuse = {
        "pattern": "diffuse",
        "findings": [{"rule_id": "goedee_criteria", "outcome": "met"}],
        "goedee": {"outcome": "met", "positive_sites": [{"site": "median_upper_arm", "side": "right"}]},
    }
    d = rank({"nerve_assessment": diffuse}).to_dict()
    assert "proximal_median_or_plexus_enlarged" not in d["inputs"]
    assert any("within a diffuse pattern" in n for n in d["notes"])


def test_a_computed_delta_csa_sets_its_finding() -> None:
    from sonomsk.nerve.assess import assess

    def state(pq: float) -> str:
        na = assess(
            {
                "measurements": [
                    {"site": "median_wrist", "side": "right", "csa_mm2": 11.2},
                    {"site": "median_pronator_quadratus", "side": "right", "csa_mm2": pq},
                    {"site": "median_forearm", "side": "right", "csa_mm2": 9.0},
                ]
            }
        ).to_dict()
        return str(rank({"nerve_assessment": na}).to_dict()["inputs"]["median_delta_csa_increased"]["state"])

    assert state(10.0) == "absent" and state(8.0) == "present"  # 1.2 and 3.2 mm2 against Klauser's 2


def test_pattern_from_findings_list_and_indeterminate_note() -> None:
    d = rank(
        {"nerve_assessment": {"findings": [{"rule_id": "nerve_pattern", "outcome": "indeterminate"}]}}
    ).to_dict()
    assert any("indeterminate" in n for n in d["notes"])
    assert d["can_rank"] is False


def test_clinician_findings_override_derived_with_a_note() -> None:
    d = rank(
        {"findings": {"nerve_pattern_diffuse": "absent"}, "nerve_assessment": {"pattern": "diffuse"}}
    ).to_dict()
    assert d["inputs"]["nerve_pattern_diffuse"]["state"] == "absent"
    assert any("clinician" in n for n in d["notes"])


def test_muscle_assessment_derives_ibm_pattern_and_fasciculations() -> None:
    ma = {
        "muscles": [
            {"muscle": "flexor_digitorum_profundus", "echo_z": 3.0, "fasciculations": False},
            {"muscle": "flexor_carpi_ulnaris", "echo_z": 0.5},
            {"muscle": "deltoid", "echo_z": 0.2},
        ]
    }
    inputs = rank({"muscle_assessment": ma}).to_dict()["inputs"]
    assert inputs["muscle_echo_selective_ibm"]["state"] == "present"
    assert inputs["muscle_echo_increased_distal"]["state"] == "present"
    assert inputs["muscle_echo_increased_proximal"]["state"] == "absent"
    assert inputs["muscle_echo_increased_diffuse"]["state"] == "absent"
    assert inputs["fasciculations_us"]["state"] == "absent"


def test_muscle_assessment_diffuse_from_measurement_set() -> None:
    ma = {
        "measurements": [
            {"name": "echo_intensity_z", "value": 2.5, "label": "deltoid"},
            {"name": "echo_intensity_z", "value": 3.0, "label": "rectus_femoris"},
            {"name": "echo_intensity_z", "value": 2.2, "label": "tibialis_anterior"},
        ]
    }
    inputs = rank({"muscle_assessment": ma}).to_dict()["inputs"]
    assert inputs["muscle_echo_increased_diffuse"]["state"] == "present"


def test_every_candidate_carries_evidence_and_citations() -> None:
    d = rank({"findings": {"fasciculations_us": "present", "denervation_fibs_psw": "present"}}).to_dict()
    assert len(d["candidates"]) >= 2
    for c in d["candidates"]:
        assert c["supporting"] and c["citations"]
        for cit in c["citations"]:
            assert cit["evidence"] in ("A", "B")
    assert 0 < sum(c["relative_weight"] for c in d["candidates"]) <= 1.0 + 1e-9
    assert d["method"]["version"] and "NOT a calibrated probability" in d["method"]["score_note"]


def test_missing_discriminators_separate_the_leaders() -> None:
    d = rank({"findings": {"proximal_median_or_plexus_enlarged": "present"}}).to_dict()
    leaders = {c["condition"] for c in d["candidates"][:2]}
    assert leaders == {"cidp", "mmn"}
    assert not d["separated"]
    favoured = {m["favours_if_present"] for m in d["missing_discriminators"]}
    assert favoured & leaders
    known = set(d["inputs"])
    assert not known & {m["finding"] for m in d["missing_discriminators"]}


def test_real_nerve_assess_output_sets_site_findings_on_their_published_cutoffs() -> None:
    """The JSON of `sonomsk nerve assess` (not a hand-made stand-in) feeds the site findings.

    Expected states come from the published limits, not from running the code: median inlet
    10 mm2 meets Tai 2012's diagnostic cut-off (>= 9 mm2) but lies within the Dutch ULN of 11 mm2,
    and ulnar at the elbow 9.5 mm2 is above the Dutch ULN of 9 mm2 but below Chang 2018's cut-off
    (>= 10 mm2): between the two limits neither decides, so both findings stay unknown. A median
    inlet of 12 mm2 is above both and counts. A normal sural nerve beside enlarged mixed nerves
    but no enlarged root or vagus is not the published sparing pattern, so that finding stays
    unknown. The Goedee criteria were not all measured, so that finding stays unknown too.
    """
    from sonomsk.nerve.assess import assess

    na = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 10.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 6.0},
                {"site": "ulnar_elbow", "side": "right", "csa_mm2": 9.5},
                {"site": "sural_calf", "side": "right", "csa_mm2": 2.0},
            ]
        }
    ).to_dict()
    assert next(m for m in na["measurements"] if m["site"] == "median_wrist")["status"] == "normal"
    assert next(m for m in na["measurements"] if m["site"] == "ulnar_elbow")["status"] == "enlarged"
    d = rank({"nerve_assessment": na}).to_dict()
    inputs = d["inputs"]
    assert "median_enlarged_carpal_tunnel" not in inputs
    assert "ulnar_enlarged_elbow" not in inputs
    assert inputs["nerve_enlargement_any"]["state"] == "present"
    assert "sensory_nerve_sparing" not in inputs
    assert "proximal_median_or_plexus_enlarged" not in inputs
    assert any("not_met_incomplete" in n for n in d["notes"])
    # both disagreements between the healthy limit and the diagnostic cut-off are said aloud
    assert any(n.startswith("median_wrist 10 mm2 is not enlarged") and "tai2012" in n for n in d["notes"])
    assert any(n.startswith("ulnar_elbow 9.5 mm2 is enlarged") and "chang2018" in n for n in d["notes"])
    clear = {"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 12.0}]}
    inputs = rank({"nerve_assessment": assess(clear).to_dict()}).to_dict()["inputs"]
    assert inputs["median_enlarged_carpal_tunnel"]["state"] == "present"
    assert "tai2012" in inputs["median_enlarged_carpal_tunnel"]["source"]


def test_goedee_met_in_real_assess_output_sets_the_cin_finding() -> None:
    from sonomsk.nerve.assess import assess

    # median upper arm 15 mm2 > 13 mm2 (Goedee 2017)
    na = assess({"measurements": [{"site": "median_upper_arm", "side": "left", "csa_mm2": 15.0}]}).to_dict()
    assert na["goedee"]["outcome"] == "met"
    d = rank({"nerve_assessment": na}).to_dict()
    assert d["inputs"]["proximal_median_or_plexus_enlarged"]["state"] == "present"


def test_goedee_met_by_the_c5_root_alone_is_not_goedees_99_percent_finding() -> None:
    """C5 > 8 mm2 (the Dutch CIN cut-off) meets the assessment's Goedee criteria but is not one
    of Goedee 2017's three sites, whose 99 % specificity the differential's finding carries."""
    from sonomsk.nerve.assess import assess

    na = assess({"measurements": [{"site": "c5_root", "side": "right", "csa_mm2": 9.5}]}).to_dict()
    assert na["goedee"]["outcome"] == "met"
    d = rank({"nerve_assessment": na}).to_dict()
    assert "proximal_median_or_plexus_enlarged" not in d["inputs"]
    assert any("met by the C5 root only" in n for n in d["notes"])
    both = assess(
        {
            "measurements": [
                {"site": "c5_root", "side": "right", "csa_mm2": 9.5},
                {"site": "median_forearm", "side": "right", "csa_mm2": 12.0},
            ]
        }
    ).to_dict()
    assert rank({"nerve_assessment": both}).to_dict()["inputs"]["proximal_median_or_plexus_enlarged"][
        "state"
    ] == ("present")


@pytest.mark.parametrize("shape", ["goedee_criteria", "findings"])
def test_c5_only_goedee_is_recognised_in_every_input_shape(shape: str) -> None:
    from sonomsk.nerve.assess import assess

    na = assess({"measurements": [{"site": "c5_root", "side": "right", "csa_mm2": 9.5}]}).to_dict()
    if shape == "goedee_criteria":
        given: dict[str, Any] = {"goedee_criteria": na["goedee"]}
    else:
        given = {"findings": [f for f in na["findings"] if f["rule_id"] == "goedee_cin"]}
    d = rank({"nerve_assessment": given}).to_dict()
    assert "proximal_median_or_plexus_enlarged" not in d["inputs"], shape
    by_site = {"goedee": {"outcome": "met", "positive_sites": [{"site": "median_forearm"}]}}
    state = rank({"nerve_assessment": by_site}).to_dict()["inputs"]["proximal_median_or_plexus_enlarged"]
    assert state["state"] == "present"  # decided by site, a source key is not needed


def test_a_generic_finding_never_reads_as_a_site_that_was_not_imaged() -> None:
    """A focal entrapment pattern at the wrist supports fibular neuropathy only as 'a focal
    entrapment', never as 'enlargement at the fibular head' (no fibular site was imaged)."""
    d = rank({"nerve_assessment": {"pattern": "focal_entrapment"}}).to_dict()
    for c in d["candidates"]:
        for s in c["supporting"]:
            text = str(s.get("statement", ""))
            if "fibular head" in text.lower():
                assert "which site" in text, text


def test_a_site_status_nobody_wrote_is_refused_not_dropped() -> None:
    bad = {
        "nerve_assessment": {
            "measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 14.0, "status": "bogus"}]
        }
    }
    with pytest.raises(InvalidParameterError, match="status 'bogus'; expected one of enlarged"):
        rank(bad)
    quiet = {
        "nerve_assessment": {
            "measurements": [{"site": "c5_root", "side": "right", "csa_mm2": 9.0, "status": "no_reference"}]
        }
    }
    assert (
        "nerve_enlargement_any" not in rank(quiet).to_dict()["inputs"]
    )  # no limit there: says nothing, no error


def test_two_focal_entrapments_of_different_nerves_are_said_to_coexist() -> None:
    """A right carpal tunnel syndrome and a left ulnar neuropathy at the elbow, both with their
    site finding present, are not alternatives to separate; the message says they can coexist."""
    from sonomsk.nerve.assess import assess

    na = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 14.8},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.2},
                {"site": "ulnar_elbow", "side": "left", "csa_mm2": 12.0},
                {"site": "ulnar_forearm", "side": "left", "csa_mm2": 6.2},
            ]
        }
    ).to_dict()
    d = rank({"nerve_assessment": na}).to_dict()
    assert not d["separated"]
    assert "focal entrapments of different nerves can coexist" in d["message"]
    assert (
        "ulnar_enlarged_elbow present" in d["message"]
        and "median_enlarged_carpal_tunnel present" in d["message"]
    )
    # one entrapment against a polyneuropathy: no such sentence
    one = rank({"findings": {"median_enlarged_carpal_tunnel": "present"}}).to_dict()
    assert "coexist" not in one["message"]


def test_a_focal_entrapment_pattern_supports_only_the_entrapment_of_the_nerve_found() -> None:
    """An ulnar-only study (no median wrist, no leg nerve measured) with a focal entrapment at the
    elbow: the pattern counts for ulnar neuropathy at the elbow, not for CTS or the fibular head,
    and a note says why; CTS is no longer ranked first on alphabetical order of a tie."""
    from sonomsk.nerve.assess import assess

    na = assess(
        {
            "measurements": [
                {"site": "ulnar_elbow", "side": "left", "csa_mm2": 12.0},
                {"site": "ulnar_forearm", "side": "left", "csa_mm2": 5.5},
                {"site": "median_forearm", "side": "left", "csa_mm2": 6.5},
            ]
        }
    ).to_dict()
    assert na["pattern"] == "focal_entrapment"
    d = rank(
        {"nerve_assessment": na, "findings": {"focal_slowing_across_entrapment_site": "present"}}
    ).to_dict()
    assert d["candidates"][0]["condition"] == "ulnar_neuropathy_elbow"
    by = {c["condition"]: c for c in d["candidates"]}
    for other in ("carpal_tunnel_syndrome", "fibular_neuropathy_fibular_head"):
        assert "nerve_pattern_focal_entrapment" not in {e["finding"] for e in by[other]["supporting"]}
    assert any(
        n.startswith("nerve_pattern_focal_entrapment not counted for Carpal tunnel") for n in d["notes"]
    )
    # the pattern given by the clinician alone (no assessment rows) is not tied to a nerve
    alone = rank({"findings": {"nerve_pattern_focal_entrapment": "present"}}).to_dict()
    cts = next(c for c in alone["candidates"] if c["condition"] == "carpal_tunnel_syndrome")
    assert "nerve_pattern_focal_entrapment" in {e["finding"] for e in cts["supporting"]}


def test_enlargement_at_entrapment_sites_of_several_nerves_is_read_from_the_assessment() -> None:
    """Median wrist, ulnar elbow and fibular head enlarged with their non-entrapment sites normal:
    the HNPP feature 'enlargement at two or more entrapment sites, nerves normal between' is set
    from the rows; one entrapment nerve enlarged of two measured sets it absent."""
    from sonomsk.nerve.assess import assess

    rows = [
        {"site": "median_wrist", "side": "right", "csa_mm2": 14.0},
        {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
        {"site": "ulnar_elbow", "side": "right", "csa_mm2": 13.0},
        {"site": "ulnar_forearm", "side": "right", "csa_mm2": 6.0},
        {"site": "fibular_head", "side": "right", "csa_mm2": 15.0},
        {"site": "fibular_popliteal", "side": "right", "csa_mm2": 8.0},
    ]
    d = rank({"nerve_assessment": assess({"measurements": rows}).to_dict()}).to_dict()
    assert d["inputs"]["enlargement_multiple_entrapment_sites"]["state"] == "present"
    one = [dict(r) for r in rows]
    one[2]["csa_mm2"] = one[4]["csa_mm2"] = 7.0
    d = rank({"nerve_assessment": assess({"measurements": one}).to_dict()}).to_dict()
    assert d["inputs"]["enlargement_multiple_entrapment_sites"]["state"] == "absent"


@pytest.mark.parametrize(
    "rows",
    [
        # right wrist between Dutch ULN 11 and Tai's 9; the routine left wrist normal (either order)
        [("median_wrist", "right", 10.0), ("median_wrist", "left", 7.0)],
        [("median_wrist", "left", 7.0), ("median_wrist", "right", 10.0)],
        # ulnar sulcus above the Dutch ULN 9 but below Chang's 10, the level above it normal
        [("ulnar_elbow", "right", 9.5), ("ulnar_above_elbow", "right", 7.0)],
    ],
)
def test_a_site_between_two_limits_is_not_decided_by_another_sites_normal_value(
    rows: list[tuple[str, str, float]],
) -> None:
    from sonomsk.nerve.assess import assess

    na = assess({"measurements": [{"site": s, "side": side, "csa_mm2": v} for s, side, v in rows]}).to_dict()
    inputs = rank({"nerve_assessment": na}).to_dict()["inputs"]
    assert "median_enlarged_carpal_tunnel" not in inputs and "ulnar_enlarged_elbow" not in inputs


def test_a_childs_normal_sites_against_adult_limits_count_neither_way() -> None:
    """The assessment says adult limits may miss a child's enlargement (adult_references): its
    'not enlarged' must not count against CMT1A (100 % enlarged in adult series), while an
    enlargement in a child still counts."""
    from sonomsk.nerve.assess import assess

    rows = [
        {"site": "median_wrist", "side": "right", "csa_mm2": 6.0},
        {"site": "median_forearm", "side": "right", "csa_mm2": 3.0},
        {"site": "ulnar_elbow", "side": "right", "csa_mm2": 4.0},
    ]
    child = assess({"patient": {"age": 9}, "measurements": rows}).to_dict()
    d = rank({"nerve_assessment": child, "findings": {"family_history_neuromuscular": "present"}}).to_dict()
    for name in ("nerve_enlargement_any", "nerve_pattern_normal", "nerve_pattern_diffuse"):
        assert name not in d["inputs"], name
    assert any("judged a child against adult limits" in n for n in d["notes"])
    adult = rank(
        {"nerve_assessment": assess({"patient": {"age": 40}, "measurements": rows}).to_dict()}
    ).to_dict()
    assert adult["inputs"]["nerve_enlargement_any"]["state"] == "absent"
    rows[0]["csa_mm2"] = 14.0  # enlarged even against adult limits
    big = rank(
        {"nerve_assessment": assess({"patient": {"age": 9}, "measurements": rows}).to_dict()}
    ).to_dict()
    assert big["inputs"]["nerve_enlargement_any"]["state"] == "present"


def test_a_normal_ncs_excludes_the_ncs_abnormalities() -> None:
    """normal_ncs makes the NCS abnormalities absent (axonal loss then counts against axonal
    polyneuropathy) and is refused together with one of them (was scored as given, silently)."""
    d = rank({"findings": {"normal_ncs": "present", "onset_chronic": "present"}}).to_dict()
    for name in ("axonal_loss_sensory", "axonal_loss_motor", "demyelinating_slowing", "conduction_block"):
        assert d["inputs"][name] == {"state": "absent", "source": "implied by normal_ncs"}
    assert "denervation_fibs_psw" not in d["inputs"]  # needle EMG is not NCS
    with pytest.raises(InvalidParameterError, match="normal_ncs is present but so is axonal_loss_sensory"):
        rank({"findings": {"normal_ncs": "present", "axonal_loss_sensory": "present"}})
    d = rank({"findings": {"axonal_loss_sensory": "present"}}).to_dict()
    assert d["inputs"]["normal_ncs"] == {"state": "absent", "source": "implied by axonal_loss_sensory"}


def test_an_inconsistent_or_foreign_assessment_is_named_in_the_notes() -> None:
    """A hand-edited assessment that contradicts itself, another schema version, a nested
    assessment and measurements that are not a list: read as far as possible, and said."""
    from sonomsk.nerve.assess import assess

    rows = [
        {"site": "median_wrist", "side": "right", "csa_mm2": 14.0},
        {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
    ]
    na = assess({"measurements": rows}).to_dict()
    edited = {**na, "pattern": "normal"}
    notes = rank({"nerve_assessment": edited}).to_dict()["notes"]
    assert any("the pattern is 'normal' but some rows are 'enlarged'" in n for n in notes)
    row = {**na["measurements"][0], "csa_mm2": 20.0, "status": "normal"}
    notes = rank({"nerve_assessment": {**na, "measurements": [row, na["measurements"][1]]}}).to_dict()[
        "notes"
    ]
    assert any(
        "median_wrist (right) 20 mm2 has status 'normal' against its own upper limit 11" in n for n in notes
    )
    # the contradicting row decides nothing, and no note treats it as lying between two limits
    assert not any("between the two limits" in n for n in notes)
    notes = rank({"nerve_assessment": {**na, "schema": 99}}).to_dict()["notes"]
    assert any("schema 99 of `sonomsk nerve assess` is not one this version reads" in n for n in notes)
    nested = rank({"nerve_assessment": {"assessment": na}}).to_dict()
    assert nested["inputs"]["median_enlarged_carpal_tunnel"]["state"] == "present"
    notes = rank({"nerve_assessment": {**na, "measurements": None}}).to_dict()["notes"]
    assert any("measurements is not a list" in n for n in notes)


def test_two_abnormal_muscles_never_count_as_echo_not_increased() -> None:
    """Biceps z 4.5 and tibialis anterior z 4.2: too few muscles for the diffuse pattern, so it is
    unknown (was absent, counted against dystrophy and SMA); the [B] z >= 2 limit is named."""
    d = rank(
        {
            "muscle_assessment": {
                "muscles": [
                    {"muscle": "biceps_brachii", "echo_z": 4.5},
                    {"muscle": "tibialis_anterior", "echo_z": 4.2},
                ]
            }
        }
    ).to_dict()
    assert "muscle_echo_increased_diffuse" not in d["inputs"]
    assert any("diffuse pattern needs at least 3 muscles" in n for n in d["notes"])
    assert any(
        n.startswith("muscle echo intensity counted abnormal at z >= 2 [B, diagnijmegen") for n in d["notes"]
    )
    # a normal muscle among them still rules the diffuse pattern out
    d = rank(
        {
            "muscle_assessment": {
                "muscles": [
                    {"muscle": "biceps_brachii", "echo_z": 4.5},
                    {"muscle": "tibialis_anterior", "echo_z": 0.5},
                ]
            }
        }
    ).to_dict()
    assert d["inputs"]["muscle_echo_increased_diffuse"]["state"] == "absent"


def test_an_enlargement_at_guyons_canal_does_not_count_for_ulnar_neuropathy_at_the_elbow() -> None:
    """The focal pattern belongs to the entrapment site found, not to the whole nerve: an enlarged
    ulnar nerve at the wrist with a normal elbow is no evidence of ulnar neuropathy at the elbow."""
    from sonomsk.nerve.assess import assess

    na = assess(
        {
            "measurements": [
                {"site": "ulnar_wrist", "side": "right", "csa_mm2": 11.0},
                {"site": "ulnar_elbow", "side": "right", "csa_mm2": 7.0},
                {"site": "ulnar_forearm", "side": "right", "csa_mm2": 5.5},
            ]
        }
    ).to_dict()
    assert na["pattern"] == "focal_entrapment"
    d = rank({"nerve_assessment": na}).to_dict()
    une = next((c for c in d["candidates"] if c["condition"] == "ulnar_neuropathy_elbow"), None)
    assert une is None or "nerve_pattern_focal_entrapment" not in {e["finding"] for e in une["supporting"]}
    assert any(
        "not counted for Ulnar neuropathy at the elbow" in n and "ulnar_wrist" in n for n in d["notes"]
    )


def test_a_row_at_its_rounded_limit_is_not_called_self_contradicting() -> None:
    """The wrist formula's ULN is printed to 3 decimals: a CSA equal to the printed limit and
    'enlarged' against the unrounded one is a consistent row, and keeps its site finding."""
    from sonomsk.nerve.assess import assess

    na = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 10.432, "wrist_circumference_cm": 16.4},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            ]
        }
    ).to_dict()
    row = na["measurements"][0]
    assert row["status"] == "enlarged" and row["csa_mm2"] == pytest.approx(row["limit"]["uln_mm2"], abs=0.001)
    d = rank({"nerve_assessment": na}).to_dict()
    assert not any("contradicts itself" in n for n in d["notes"])
    assert d["inputs"]["median_enlarged_carpal_tunnel"]["state"] == "present"


def _ranked(d: dict[str, Any]) -> list[str]:
    return [c["condition"] for c in d["candidates"]]


def test_slowing_at_a_named_site_supports_only_the_entrapment_there() -> None:
    """Focal slowing at the wrist supports carpal tunnel syndrome, not fibular or ulnar
    neuropathy (the unnamed-site finding ranked fibular neuropathy second in a pure CTS)."""
    unnamed = rank({"findings": {"focal_slowing_across_entrapment_site": "present"}}).to_dict()
    assert {"fibular_neuropathy_fibular_head", "ulnar_neuropathy_elbow"} <= set(_ranked(unnamed))
    for finding, own, others in (
        (
            "focal_slowing_median_wrist",
            "carpal_tunnel_syndrome",
            ("ulnar_neuropathy_elbow", "fibular_neuropathy_fibular_head"),
        ),
        (
            "focal_slowing_ulnar_elbow",
            "ulnar_neuropathy_elbow",
            ("carpal_tunnel_syndrome", "fibular_neuropathy_fibular_head"),
        ),
        (
            "focal_slowing_fibular_head",
            "fibular_neuropathy_fibular_head",
            ("carpal_tunnel_syndrome", "ulnar_neuropathy_elbow"),
        ),
    ):
        d = rank({"findings": {finding: "present"}}).to_dict()
        assert _ranked(d)[0] == own, (finding, _ranked(d))
        assert not set(others) & set(_ranked(d)), (finding, _ranked(d))
        assert "hnpp" in _ranked(d)  # slowing at an entrapment site is still HNPP-compatible


def test_the_unnamed_slowing_is_not_counted_again_beside_a_named_one() -> None:
    d = rank(
        {
            "findings": {
                "focal_slowing_across_entrapment_site": "present",
                "focal_slowing_median_wrist": "present",
            }
        }
    ).to_dict()
    assert _ranked(d)[0] == "carpal_tunnel_syndrome"
    assert "fibular_neuropathy_fibular_head" not in _ranked(d)
    assert "focal_slowing_across_entrapment_site" not in d["inputs"]
    assert any("counted through focal_slowing_median_wrist" in n for n in d["notes"])
    asked = [m["finding"] for m in d["missing_discriminators"]]
    assert "focal_slowing_across_entrapment_site" not in asked
    with pytest.raises(InvalidParameterError, match="focal_slowing_across_entrapment_site is absent but"):
        rank(
            {
                "findings": {
                    "focal_slowing_across_entrapment_site": "absent",
                    "focal_slowing_ulnar_elbow": "present",
                }
            }
        )
    with pytest.raises(
        InvalidParameterError, match="normal_ncs is present but so is focal_slowing_fibular_head"
    ):
        rank({"findings": {"normal_ncs": "present", "focal_slowing_fibular_head": "present"}})


def test_slowing_at_several_named_sites_adds_up_for_hnpp_within_the_clamp() -> None:
    one = rank({"findings": {"focal_slowing_median_wrist": "present"}}).to_dict()
    two = rank(
        {"findings": {"focal_slowing_median_wrist": "present", "focal_slowing_ulnar_elbow": "present"}}
    ).to_dict()
    three = rank(
        {
            "findings": {
                "focal_slowing_median_wrist": "present",
                "focal_slowing_ulnar_elbow": "present",
                "focal_slowing_fibular_head": "present",
            }
        }
    ).to_dict()

    def hnpp(d: dict[str, Any]) -> dict[str, Any]:
        return next(c for c in d["candidates"] if c["condition"] == "hnpp")

    assert hnpp(one)["score_log10"] == pytest.approx(math.log10(3.0), abs=0.01)
    assert hnpp(two)["score_log10"] == pytest.approx(math.log10(9.0), abs=0.01)
    assert hnpp(three)["score_log10"] == pytest.approx(math.log10(20.0), abs=0.01)  # bounded
    assert hnpp(three)["group_adjustments"][0]["group"] == "entrapment_slowing"
    assert _ranked(three)[0] == "hnpp"


def test_unnamed_slowing_is_not_counted_where_the_named_site_is_absent() -> None:
    """Slowing at an unnamed entrapment site with the wrist's slowing absent is slowing elsewhere:
    it no longer supports CTS (review ws15a finding 7); with every named site absent it is refused."""
    d = rank(
        {
            "findings": {
                "focal_slowing_across_entrapment_site": "present",
                "focal_slowing_median_wrist": "absent",
            }
        }
    ).to_dict()
    assert "carpal_tunnel_syndrome" not in _ranked(d)
    assert "ulnar_neuropathy_elbow" in _ranked(d)
    assert any("not counted for Carpal tunnel syndrome" in n for n in d["notes"])
    with pytest.raises(InvalidParameterError, match="every named site"):
        rank(
            {
                "findings": {
                    "focal_slowing_across_entrapment_site": "present",
                    "focal_slowing_median_wrist": "absent",
                    "focal_slowing_ulnar_elbow": "absent",
                    "focal_slowing_fibular_head": "absent",
                }
            }
        )
