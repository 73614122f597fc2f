"""FHIR R4 bundle (validated by fhir.resources, codes by the code table) and CSV/XLSX tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.report.fhir import _codings, bundle_dict, validate_bundle, write_fhir
from sonomsk.report.results import StudyResults
from sonomsk.report.tables import MEASUREMENT_COLUMNS, write_csv, write_xlsx


def _resources(data: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def test_fhir_bundle_validates_and_holds_the_values(example: StudyResults, tmp_path: Path) -> None:
    path = write_fhir(example, tmp_path / "b.json")
    data = json.loads(path.read_text())
    bundle = validate_bundle(data)
    assert bundle.type == "collection"
    (report,) = _resources(data, "DiagnosticReport")
    assert report["code"]["coding"][0]["code"] == "25061-3"
    assert report["status"] == "preliminary"  # a draft
    obs = _resources(data, "Observation")
    assert len(report["result"]) == len(obs) == 2 + 1 + 4  # CSA x2, WFR, 4 muscle z-scores
    urls = {e["fullUrl"] for e in data["entry"]}
    assert all(ref["reference"] in urls for ref in report["result"])
    csa = [o for o in obs if o["code"].get("coding", [{}])[0].get("code") == "42798000"]
    assert [o["valueQuantity"]["value"] for o in csa] == [m.value for m in example.measurements]
    wrist = csa[0]
    assert wrist["valueQuantity"]["code"] == "mm2"
    assert wrist["referenceRange"][0]["high"]["value"] == example.nerve_assessment["measurements"][0]["limit"]  # type: ignore[index]
    assert wrist["interpretation"][0]["coding"][0]["code"] == "H"
    assert "Bae" in wrist["referenceRange"][0]["text"]
    assert csa[1]["interpretation"][0]["coding"][0]["code"] == "N"
    assert "Median neuropathy" in report["conclusion"]


def test_every_fhir_code_is_in_the_code_table(example: StudyResults) -> None:
    data = bundle_dict(example)
    codings = _codings(data)
    assert len(codings) >= 10
    validate_bundle(data)  # checks each against the table
    data["entry"][0]["resource"]["code"]["coding"][0]["code"] = "99999-9"
    with pytest.raises(InvalidParameterError, match="99999-9"):
        validate_bundle(data)


def test_fhir_resources_rejects_a_broken_bundle(example: StudyResults) -> None:
    data = bundle_dict(example)
    del data["entry"][0]["resource"]["code"]  # DiagnosticReport.code is 1..1
    with pytest.raises(InvalidParameterError, match=r"fhir\.resources"):
        validate_bundle(data)
    data = bundle_dict(example)
    data["entry"][1]["resource"]["birthDate"] = "21 Nov"
    with pytest.raises(InvalidParameterError, match="birthDate"):
        validate_bundle(data)


def test_signed_fhir_is_final(signed: StudyResults) -> None:
    data = bundle_dict(signed)
    assert {e["resource"].get("status") for e in data["entry"] if "status" in e["resource"]} <= {
        "final",
        "available",
    }


def test_csv_round_trip(example: StudyResults, tmp_path: Path) -> None:
    path = write_csv(example, tmp_path / "t.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(MEASUREMENT_COLUMNS)
    assert [float(r["value"]) for r in rows] == [m.value for m in example.measurements]
    assert {r["site"] for r in rows} == {"wrist", "forearm"}
    assert rows[0]["patient_id"] == "DEMO-0001" and rows[0]["unit"] == "mm2"


def test_xlsx_sheets(example: StudyResults, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(write_xlsx(example, tmp_path / "t.xlsx"))
    assert wb.sheetnames == ["measurements", "nerve_assessment", "nerve_indices", "muscles", "differential"]
    ws = wb["measurements"]
    values = [row[MEASUREMENT_COLUMNS.index("value")] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert values == [m.value for m in example.measurements]
    na = list(wb["nerve_assessment"].iter_rows(values_only=True))
    assert "z" in na[0] and na[1][na[0].index("status")] == "enlarged"
