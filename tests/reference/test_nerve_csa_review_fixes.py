"""Reference data after the review of the nerve references (REPORT findings 4, 5, 6, 7, 12, 15).

Each test fails on the code before the fix: the wrist-circumference guard, the Bae 2021 'range'
caveat as an interpretation, the covariate variables, the k of mean + k SD and the patient bounds
read from data.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.nerve.assess_model import PatientInfo
from sonomsk.reference import loader, nerve_csa
from sonomsk.reference.loader import citation, load_data
from sonomsk.reference.nerve_csa import (
    covariate_effects,
    lookup_limit,
    patient_input_bounds,
    sd_factor,
    validate_reference_data,
)

EVIDENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "clinical-evidence.md"


def _patched(monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, Any]:
    """A private copy of the data file ``name`` that nerve_csa reads instead of the real one."""
    data = copy.deepcopy(load_data(name))
    real = loader.load_data

    def fake(n: str) -> dict[str, Any]:
        return data if n == name else real(n)

    monkeypatch.setattr(nerve_csa, "load_data", fake)
    return data


def test_data_files_still_validate() -> None:
    assert validate_reference_data() == []


# ----------------------------------------------------------------- finding 4: formula guard


def test_guard_is_the_pooled_healthy_mean_in_data_with_its_citation() -> None:
    cov = load_data("nerve_csa.json")["sets"]["dutch"]["sites"]["median_wrist"]["covariate_limit"]
    guard = cov["guard"]
    assert guard["min_uln_mm2"] == 8.3  # clinical-evidence.md 1.1: median wrist 8.3 [7.9-8.7]
    cit = citation(guard["source"])
    assert cit.evidence == "A" and cit.doi == "10.1111/ene.14759"


@pytest.mark.skipif(not EVIDENCE.is_file(), reason=f"evidence digest not found at {EVIDENCE}")
def test_sources_added_by_the_review_are_in_the_evidence_digest() -> None:
    text = EVIDENCE.read_text(encoding="utf-8")
    for key in ("ma_2021_upper_limb", "singh_2022", "cin_normal_ncs_2018"):
        cit = citation(key)
        assert cit.evidence == "A" and cit.doi is not None and cit.doi in text, key
    assert "| Median, wrist | 8.3 [7.9–8.7]" in text


def test_formula_below_the_healthy_mean_does_not_decide() -> None:
    # 0.88 x 12 - 4.0 = 6.56 mm2 < 8.3 mm2: the fixed Dutch ULN decides, the formula is reported
    lim = lookup_limit("median_wrist", wrist_circumference_cm=12.0)
    assert lim.uln == 11.0 and lim.source == "dutch_uln" and lim.kind == "uln_table"
    assert lim.covariates_used == {}
    formula = lim.to_dict()["covariate_formula"]
    assert formula["used"] is False and formula["uln_mm2"] == pytest.approx(6.56)
    assert formula["guard_mm2"] == 8.3 and "healthy mean" in formula["reason"]
    note = next(n for n in lim.notes if "formula not used" in n)
    assert "6.56" in note and "8.3" in note and "fixed ULN 11" in note
    assert "centimetres are assumed" in note  # the cm caveat of Olde Dubbelink stays visible


@pytest.mark.parametrize(
    ("wrist", "used", "uln"),
    [
        (13.9, False, 11.0),  # 0.88 x 13.9 - 4 = 8.232 < 8.3
        (14.0, True, 0.88 * 14.0 - 4.0),  # 8.32 >= 8.3
        (15.0, True, 0.88 * 15.0 - 4.0),
        (20.0, True, 0.88 * 20.0 - 4.0),  # above the fixed ULN: the formula decides as before
    ],
)
def test_formula_decides_only_at_or_above_the_guard(wrist: float, used: bool, uln: float) -> None:
    lim = lookup_limit("median_wrist", wrist_circumference_cm=wrist)
    assert lim.uln == pytest.approx(uln)
    assert lim.to_dict()["covariate_formula"]["used"] is used
    assert lim.source == ("olde_dubbelink_2020" if used else "dutch_uln")
    json.dumps(lim.to_dict(), allow_nan=False)


def test_no_wrist_gives_no_formula_record() -> None:
    assert lookup_limit("median_wrist").to_dict()["covariate_formula"] is None
    with pytest.raises(InvalidParameterError, match="wrist_circumference_cm"):
        lookup_limit("median_wrist", wrist_circumference_cm=9.0)


def test_validator_refuses_a_guard_without_a_known_source(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _patched(monkeypatch, "nerve_csa.json")
    data["sets"]["dutch"]["sites"]["median_wrist"]["covariate_limit"]["guard"]["source"] = "nobody_2099"
    assert any("guard" in p for p in validate_reference_data())


# ----------------------------------------------------------------- finding 5: Bae 'range'


def test_bae_caveat_says_the_range_column_is_an_interpretation() -> None:
    caveat = load_data("nerve_csa.json")["population_caveats"]["bae_2021"]
    assert "interpretation" in caveat and "min-max" in caveat and "not stated" in caveat
    assert "7 vs 6.23" in caveat  # lower ends above mean-2SD (9.33 - 2 x 1.55 = 6.23)
    assert "limits are the published reference range" not in caveat
    for site in ("median_forearm", "ulnar_forearm", "radial_spiral_groove"):
        lim = lookup_limit(site, reference_set="dutch")
        assert not any("published reference range" in n for n in lim.notes), site
        assert any("'range' column" in n for n in lim.notes), site


# ----------------------------------------------------------------- findings 6, 7, 15: covariates


def _effect(site: str, source: str) -> dict[str, Any]:
    return next(e for e in covariate_effects(site) if e["source"] == source)


def test_senarai_ankle_is_age_and_bmi_popliteal_is_age_and_weight() -> None:
    ankle, popliteal = _effect("tibial_ankle", "senarai_2023"), _effect("tibial_popliteal", "senarai_2023")
    assert set(ankle["variables"]) == {"age", "bmi"} and "BMI" in ankle["effect"]
    assert set(popliteal["variables"]) == {"age", "weight_kg"} and "weight" in popliteal["effect"]


def test_won_is_keyed_on_bmi_and_height() -> None:
    assert set(_effect("c5_root", "won_2012")["variables"]) == {"bmi", "height_cm"}


@pytest.mark.parametrize(
    ("site", "source", "variable"),
    [
        ("c6_root", "bedewi_2021", "sex"),
        ("tibial_popliteal", "singh_2022", "height_cm"),
        ("tibial_ankle", "singh_2022", "age"),  # shown beside the "increases with age" notes
        ("ulnar_elbow", "hsieh_2021", "sex"),
        ("median_upper_arm", "zaidman_2009", "height_cm"),
        ("fibular_head", "zaidman_2009", "height_cm"),
    ],
)
def test_a_covariates_from_the_review_are_encoded(site: str, source: str, variable: str) -> None:
    assert any(variable in e["variables"] for e in covariate_effects(site) if e["source"] == source)


def test_singh_says_no_age_effect() -> None:
    assert "no age effect" in _effect("tibial_ankle", "singh_2022")["effect"]


def test_validator_refuses_an_unknown_covariate_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _patched(monkeypatch, "nerve_covariates.json")
    data["effects"][0]["variables"] = ["shoe_size"]
    assert any("variables" in p for p in validate_reference_data())


# ----------------------------------------------------------------- finding 12: numbers in data


def test_k_of_mean_plus_k_sd_is_read_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_data("nerve_csa.json")["derived_limits"]["mean_plus_2sd"]["k_sd"] == 2
    assert sd_factor() == 2.0
    assert lookup_limit("c6_root").uln == pytest.approx(5.8 + 2 * 2.4)  # Bedewi 2021
    data = _patched(monkeypatch, "nerve_csa.json")
    data["derived_limits"]["mean_plus_2sd"]["k_sd"] = 1
    lim = lookup_limit("c6_root")
    assert lim.uln == pytest.approx(5.8 + 2.4) and lim.lln == pytest.approx(5.8 - 2.4)
    data["derived_limits"]["mean_plus_2sd"]["k_sd"] = 0
    assert any("k_sd" in p for p in validate_reference_data())


def test_patient_bounds_live_in_the_input_bounds_file() -> None:
    raw = load_data("nerve_input_bounds.json")["patient"]
    assert raw["rationale"] and all(f["why"] for f in raw["fields"].values())
    assert patient_input_bounds() == {
        "age": (0.0, 120.0, "years"),
        "height_cm": (40.0, 250.0, "cm"),
        "weight_kg": (2.0, 400.0, "kg"),
    }


@pytest.mark.parametrize(
    ("field", "ok", "bad"),
    [
        ("age", 120, 120.5),
        ("age", 0, -1),
        ("height_cm", 40, 39.9),
        ("height_cm", 250, 251),
        ("weight_kg", 400, 401),
    ],
)
def test_patient_bounds_behave_as_before(field: str, ok: float, bad: float) -> None:
    assert getattr(PatientInfo.from_dict({field: ok}), field) == ok
    with pytest.raises(InvalidParameterError, match=f"patient.{field}: expected"):
        PatientInfo.from_dict({field: bad})


def test_patient_bounds_are_read_from_data(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _patched(monkeypatch, "nerve_input_bounds.json")
    data["patient"]["fields"]["age"]["bounds"] = [0.0, 40.0]
    with pytest.raises(InvalidParameterError, match=r"patient\.age: expected 0 to 40 years, got 50"):
        PatientInfo.from_dict({"age": 50})
