"""``sonomsk nerve assess`` after the review of the nerve references (REPORT findings 3, 4, 6, 7, 15).

Per-measurement notes are visible in the text output; the Olde Dubbelink formula decides only at
or above the pooled healthy mean; covariate notes trigger on the covariates the patient gave.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sonomsk.cli.main import main
from sonomsk.nerve.assess import assess
from sonomsk.nerve.assess_model import PatientInfo, covariate_notes

ADULT_ALL_SITES: dict[str, Any] = {
    "patient": {"age": 60, "sex": "M", "height_cm": 180, "weight_kg": 90, "wrist_circumference_cm": 17},
    "measurements": [
        {"site": "median_wrist", "side": "right", "csa_mm2": 12.0},
        {"site": "median_forearm", "side": "right", "csa_mm2": 7.0, "echogenicity": {"class": 2}},
        {"site": "median_upper_arm", "side": "right", "csa_mm2": 9.0},
        {"site": "ulnar_wrist", "side": "right", "csa_mm2": 6.0},
        {"site": "ulnar_elbow", "side": "right", "csa_mm2": 8.0},
        {"site": "radial_spiral_groove", "side": "right", "csa_mm2": 7.0},
        {"site": "fibular_popliteal", "side": "right", "csa_mm2": 8.0},
        {"site": "tibial_popliteal", "side": "right", "csa_mm2": 20.0},
        {"site": "tibial_ankle", "side": "right", "csa_mm2": 11.0},
        {"site": "sural_calf", "side": "right", "csa_mm2": 2.5},
        {"site": "vagus_neck", "side": "right", "csa_mm2": 2.5},
        {"site": "c5_root", "side": "right", "csa_mm2": 6.0},
        {"site": "c7_root", "side": "right", "csa_mm2": 8.0},
        {"site": "brachial_plexus_trunk", "side": "right", "csa_mm2": 12.0, "trunk": "upper"},
    ],
}

CHILD: dict[str, Any] = {
    "patient": {"age": 15, "sex": "M"},
    "measurements": [
        {"site": "ulnar_forearm", "side": "right", "csa_mm2": 3.0},
        {"site": "radial_spiral_groove", "side": "right", "csa_mm2": 3.0},
        {"site": "c6_root", "side": "right", "csa_mm2": 4.0},
    ],
}

SMALL_WRIST: dict[str, Any] = {
    "patient": {"wrist_circumference_cm": 12.0},
    "measurements": [
        {"site": "median_wrist", "side": "right", "csa_mm2": 9.3},  # Bae 2021 healthy mean 9.33
        {"site": "median_forearm", "side": "right", "csa_mm2": 6.3},
    ],
}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: dict[str, Any], *opts: str) -> str:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    assert main(["nerve", "assess", str(path), *opts]) == 0
    return capsys.readouterr().out


def notes_of(body: dict[str, Any], site: str) -> list[str]:
    rows = assess(body).to_dict()["measurements"]
    return list(next(m for m in rows if m["site"] == site)["notes"])


# ----------------------------------------------------------------- finding 3: notes in text


@pytest.mark.parametrize("body", [ADULT_ALL_SITES, CHILD, SMALL_WRIST], ids=["adult", "child", "small_wrist"])
def test_every_json_note_is_visible_in_the_text_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: dict[str, Any]
) -> None:
    d = json.loads(run(tmp_path, capsys, body, "--json"))
    text = run(tmp_path, capsys, body)
    notes = {n for m in d["measurements"] for n in m["notes"]}
    limit_notes = {n for m in d["measurements"] for n in m["limit"]["notes"]}
    assert notes | limit_notes  # every body here has at least one note
    for note in notes | limit_notes:
        assert note in text, note


def test_text_notes_name_their_rows_and_appear_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = run(tmp_path, capsys, ADULT_ALL_SITES)
    note_lines = [line for line in text.splitlines() if line.startswith("note (")]
    assert len(note_lines) == len(set(note_lines))
    senarai = [line for line in note_lines if "Senarai 2023" in line]
    assert any(line.startswith("note (tibial_ankle right):") and "BMI 27.8" in line for line in senarai)
    assert any(
        line.startswith("note (tibial_popliteal right):") and "weight 90 kg" in line for line in senarai
    )
    assert any("median_forearm right" in line and "not scored" in line for line in note_lines)


def test_paediatric_note_is_printed_once_near_the_top(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = json.loads(run(tmp_path, capsys, CHILD, "--json"))
    assert all(any("younger than 18" in n for n in m["notes"]) for m in d["measurements"])
    lines = run(tmp_path, capsys, CHILD).splitlines()
    child = [
        i for i, line in enumerate(lines) if "younger than 18" in line and not line.startswith("Pattern ")
    ]
    header = next(i for i, line in enumerate(lines) if line.startswith("site "))
    assert len(child) == 1 and child[0] < header
    assert lines[child[0]].startswith("note: patient younger than 18")
    # the pattern's own explanation names it too: its limits are adult limits
    assert "adult_references: patient younger than 18" in d["explanation"]


@pytest.mark.parametrize("age", [2, 9, 17])
def test_a_child_with_small_nerves_is_never_called_reduced(age: int) -> None:
    """Adult lower limits say nothing of a child's smaller nerves: below 18 no site is 'reduced'
    and the pattern is never 'reduced' (motor neuron disease); the same values at 18 are."""
    body = {
        "patient": {"age": age},
        "measurements": [
            {"site": "median_forearm", "side": "right", "csa_mm2": 3.0},
            {"site": "ulnar_forearm", "side": "right", "csa_mm2": 2.5},
            {"site": "median_wrist", "side": "right", "csa_mm2": 5.0},
        ],
    }
    child = assess(body)
    assert child.pattern.pattern.value == "normal"
    assert all(a.status == "normal" and not a.reduction_assessable for a in child.measurements)
    assert "adult_references" in child.pattern.rules_fired
    assert "reduction is not judged" in child.pattern.explanation
    adult = assess({**body, "patient": {"age": 18}})
    assert adult.pattern.pattern.value == "reduced"
    # enlargement is still judged against the adult limits
    big = assess(
        {
            "patient": {"age": age},
            "measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 16.0}],
        }
    )
    assert big.measurements[0].status == "enlarged"


def test_adult_has_no_paediatric_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "younger than" not in run(tmp_path, capsys, ADULT_ALL_SITES)


# ----------------------------------------------------------------- finding 4: formula guard


def test_small_wrist_formula_below_healthy_mean_does_not_call_a_normal_nerve_enlarged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 9.3 mm2 (Bae's healthy mean) at a 12 cm wrist: the formula (6.56) cannot decide, and 9.3
    # lies between the healthy mean and the fixed ULN: not judged (decision 011, section 4)
    d = json.loads(run(tmp_path, capsys, SMALL_WRIST, "--json"))
    wrist = d["measurements"][0]
    assert wrist["status"] == "no_reference" and "not judged" in wrist["limit"]["reason"]
    assert wrist["limit"]["source"] == "dutch_uln"
    formula = wrist["limit"]["covariate_formula"]
    assert formula["used"] is False and formula["uln_mm2"] == pytest.approx(6.56)
    text = run(tmp_path, capsys, SMALL_WRIST)
    assert "formula not used for wrist 12 cm" in text and "6.56" in text and "8.3 mm2" in text
    assert "centimetres are assumed" in text
    assert "not judged: at wrist circumference 12 cm" in text
    assert "enlarged" not in text.split("pattern:")[1].split("\n")[0]


@pytest.mark.parametrize("csa", [8.0, 9.3, 10.0, 10.9, 11.5, 13.0])
def test_a_smaller_wrist_never_gets_a_more_lenient_verdict(csa: float) -> None:
    # review of the session's diff: the fixed ULN (11) took over below the guard, so a 10 mm2
    # nerve was normal at 13.9 cm and enlarged at 14.0 cm
    from sonomsk.nerve.assess import assess

    wrists = (10.0, 12.0, 13.0, 13.9, 14.0, 15.0, 16.0, 18.0, 20.0)
    verdicts = []
    for wc in wrists:
        body = {
            "patient": {"wrist_circumference_cm": wc},
            "measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": csa}],
        }
        verdicts.append(assess(body).measurements[0].status)
    # "not judged" (no_reference) may stand anywhere; a verdict of normal at a smaller wrist and
    # enlarged at a larger one may not
    for i, small in enumerate(verdicts):
        for large in verdicts[i + 1 :]:
            assert not (small == "normal" and large == "enlarged"), list(zip(wrists, verdicts, strict=True))


def test_formula_above_the_guard_still_decides() -> None:
    body = {
        "patient": {"wrist_circumference_cm": 15.0},
        "measurements": [
            {"site": "median_wrist", "side": "right", "csa_mm2": 10.5},
            {"site": "median_forearm", "side": "right", "csa_mm2": 6.0},
        ],
    }
    wrist = assess(body).to_dict()["measurements"][0]
    assert wrist["status"] == "enlarged" and wrist["limit"]["uln_mm2"] == pytest.approx(9.2)
    assert wrist["limit"]["covariate_formula"]["used"] is True


# ----------------------------------------------------------------- findings 6, 7, 15: covariates


def test_bmi_is_computed_from_height_and_weight() -> None:
    assert PatientInfo(height_cm=180, weight_kg=90).bmi == pytest.approx(90 / 1.8**2)
    assert PatientInfo(height_cm=180).bmi is None and PatientInfo(weight_kg=90).bmi is None


def test_senarai_popliteal_triggers_on_weight_ankle_needs_bmi() -> None:
    weight_only = PatientInfo(weight_kg=80)
    popliteal = [n for n in covariate_notes("tibial_popliteal", weight_only) if "Senarai" in n]
    assert popliteal == [
        "weight 80 kg: CSA increases with age and weight [Senarai 2023] (limit not adjusted)"
    ]
    assert not [n for n in covariate_notes("tibial_ankle", weight_only) if "Senarai" in n]  # no BMI yet
    both = PatientInfo(height_cm=160, weight_kg=80)
    ankle = [n for n in covariate_notes("tibial_ankle", both) if "Senarai" in n]
    assert len(ankle) == 1 and "BMI 31.2 kg/m2" in ankle[0] and "age and BMI" in ankle[0]


def test_won_triggers_on_height_not_on_weight_alone() -> None:
    body = {
        "patient": {"height_cm": 170},
        "measurements": [{"site": "c5_root", "side": "left", "csa_mm2": 6.0}],
    }
    assert any("Won 2012" in n and "height 170 cm" in n for n in notes_of(body, "c5_root"))
    body["patient"] = {"weight_kg": 70}
    assert not any("Won 2012" in n for n in notes_of(body, "c5_root"))


@pytest.mark.parametrize(
    ("patient", "site", "expected"),
    [
        ({"sex": "F"}, "c6_root", "Bedewi 2021"),
        ({"age": 70}, "tibial_ankle", "no age effect"),  # Singh 2022 beside "increases with age"
        ({"sex": "F"}, "tibial_popliteal", "women have smaller nerves"),
        ({"sex": "M"}, "ulnar_elbow", "Hsieh 2021"),
        ({"height_cm": 190}, "median_upper_arm", "Zaidman 2009"),
        ({"height_cm": 190}, "fibular_head", "Zaidman 2009"),
    ],
)
def test_a_covariate_notes_added(patient: dict[str, Any], site: str, expected: str) -> None:
    body = {"patient": patient, "measurements": [{"site": site, "side": "right", "csa_mm2": 6.0}]}
    notes = notes_of(body, site)
    assert any(expected in n and "not adjusted" in n for n in notes), notes


def test_no_covariates_no_covariate_notes() -> None:
    body = {"measurements": [{"site": "tibial_ankle", "side": "right", "csa_mm2": 10.0}]}
    assert not any("not adjusted" in n for n in notes_of(body, "tibial_ankle"))


@pytest.mark.parametrize(
    ("height", "weight", "bmi"),
    [(250, 2, "0.3"), (45, 390, "1925.9"), (66, 150, "344.4")],
    ids=["thin", "heavy", "inches-pounds"],
)
def test_an_impossible_height_and_weight_pair_is_refused(height: float, weight: float, bmi: str) -> None:
    from sonomsk.core.errors import InvalidParameterError

    body = {
        "patient": {"height_cm": height, "weight_kg": weight},
        "measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 10.0}],
    }
    with pytest.raises(
        InvalidParameterError, match=rf"patient.height_cm and patient.weight_kg: .*BMI of {bmi} kg/m2"
    ):
        assess(body)
    # a newborn and a heavy adult are accepted
    for h, w in ((50, 3.5), (190, 200)):
        assess({**body, "patient": {"height_cm": h, "weight_kg": w}})


def test_an_entrapment_site_left_unjudged_by_the_wrist_formula_makes_a_normal_study_indeterminate() -> None:
    """At a 13.5 cm wrist the formula's ULN lies below the healthy mean, so a 9 mm2 median nerve
    at the wrist is not judged (decision 011, section 4). The study must not be called normal on
    the forearm alone: the wrist decides it, and is named."""
    from sonomsk.nerve.assess import assess

    d = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 9.0, "wrist_circumference_cm": 13.5},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            ]
        }
    ).to_dict()
    assert d["measurements"][0]["status"] == "no_reference"
    # the limit that was not applied is given nowhere as if it had been (report row, FHIR, panel)
    from sonomsk.report.sections import _site_row

    lim = d["measurements"][0]["limit"]
    assert lim["uln_mm2"] is None and lim["lln_mm2"] is None
    assert _site_row(d["measurements"][0])["limit mm2"] is None
    assert d["pattern"] == "indeterminate"
    assert d["candidates"] == ["normal", "focal_entrapment"]
    assert d["deciding_sites"] == ["median_wrist"]
    assert "unjudged_measured_site" in d["pattern_detail"]["rules_fired"]
    assert "normal_scope" not in d["pattern_detail"]["rules_fired"]
    # without the covariate the fixed ULN judges it, and the study is normal
    d = assess(
        {
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 9.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
            ]
        }
    ).to_dict()
    assert d["pattern"] == "normal"
