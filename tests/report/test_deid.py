"""De-identified exports: no identifier survives, pseudonyms and UIDs agree across every output."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from sonomsk.core.errors import BackendUnavailableError, DeidentificationError
from sonomsk.report.api import render_html, write_csv, write_fhir, write_seg, write_sr, write_xlsx
from sonomsk.report.deid import deidentify_results
from sonomsk.report.results import StudyResults

from .report_tools import dciodvfy_errors

IDENTIFIERS = (
    "Demo^Patient",
    "DEMO-0001",
    "Demo^Sonographer",
    "Demo^Referrer",
    "sonomsk demo clinic",
    "1970-01-01",
    "19700101",
    "DEMO-ACC-1",
)


def _identifiers(r: StudyResults) -> list[str]:
    uids = [r.study.study_uid] + [im.sop_instance_uid for im in r.images] + [im.series_uid for im in r.images]
    return [*IDENTIFIERS, *[u for u in uids if u]]


def test_every_export_is_free_of_identifiers(
    example: StudyResults, fake_deidentify: types.ModuleType, tmp_path: Path
) -> None:
    key = "k1"
    outputs = {
        "html": render_html(example, deidentify_key=key).encode(),
        "csv": write_csv(example, tmp_path / "t.csv", deidentify_key=key).read_bytes(),
        "fhir": write_fhir(example, tmp_path / "b.json", deidentify_key=key).read_bytes(),
        "sr": write_sr(example, tmp_path / "sr.dcm", deidentify_key=key).path.read_bytes(),
    }
    for s in write_seg(example, tmp_path / "seg.dcm", deidentify_key=key):
        outputs[s.path.name] = s.path.read_bytes()
        assert dciodvfy_errors(s.path) == []
    xlsx = write_xlsx(example, tmp_path / "t.xlsx", deidentify_key=key)
    from openpyxl import load_workbook

    outputs["xlsx"] = " ".join(
        str(c) for ws in load_workbook(xlsx).worksheets for row in ws.iter_rows(values_only=True) for c in row
    ).encode()
    for name, blob in outputs.items():
        for ident in _identifiers(example):
            assert ident.encode() not in blob, f"{ident} in {name}"
    pseudo = fake_deidentify.pseudonym("DEMO-0001", key)
    for name in ("html", "csv", "fhir", "sr", "xlsx"):
        assert pseudo.encode() in outputs[name], name
    assert dciodvfy_errors(tmp_path / "sr.dcm") == []


def test_references_point_to_the_deidentified_images(
    example: StudyResults, fake_deidentify: types.ModuleType, tmp_path: Path
) -> None:
    import highdicom as hd
    from pydicom.dataset import Dataset

    key = "k2"
    sr = hd.sr.srread(write_sr(example, tmp_path / "sr.dcm", deidentify_key=key).path)
    for im in example.images:
        ds = Dataset()
        ds.SOPInstanceUID = im.sop_instance_uid
        expected = fake_deidentify.deidentify_dataset(ds, key=key).SOPInstanceUID
        refs = [
            i.ReferencedSOPInstanceUID
            for i in sr.CurrentRequestedProcedureEvidenceSequence[0]
            .ReferencedSeriesSequence[0]
            .ReferencedSOPSequence
        ]
        assert expected in refs
    d = deidentify_results(example, key)
    assert d.patient.pseudonymised and d.study.date == example.study.date[:4]  # type: ignore[index]
    assert all(im.path is None for im in d.images)
    assert deidentify_results(example, key) == d  # same key, same pseudonyms
    assert deidentify_results(example, "other").patient.id != d.patient.id
    fhir = json.loads(write_fhir(example, tmp_path / "b.json", deidentify_key=key).read_text())
    patient = next(e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["identifier"][0]["value"] == d.patient.id


def test_a_deidentifier_that_keeps_the_name_is_refused(
    example: StudyResults, fake_deidentify: types.ModuleType
) -> None:
    fake_deidentify.deidentify_record = lambda patient, key: dict(patient)  # type: ignore[attr-defined]
    with pytest.raises(DeidentificationError, match="kept the original"):
        deidentify_results(example, "k")
    with pytest.raises(DeidentificationError, match="key"):
        deidentify_results(example, "")


def test_missing_deidentifier_names_the_module(
    example: StudyResults, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sonomsk.io.deidentify", None)
    with pytest.raises(BackendUnavailableError, match=r"sonomsk\.io\.deidentify"):
        deidentify_results(example, "k")


def test_real_deidentifier_when_present(example: StudyResults, tmp_path: Path) -> None:
    pytest.importorskip("sonomsk.io.deidentify", reason="sonomsk.io.deidentify is not written yet")
    key = "real-key"
    html = render_html(example, deidentify_key=key)
    csv_bytes = write_csv(example, tmp_path / "t.csv", deidentify_key=key).read_bytes()
    sr = write_sr(example, tmp_path / "sr.dcm", deidentify_key=key).path.read_bytes()
    for ident in ("Demo^Patient", "DEMO-0001"):
        assert ident not in html and ident.encode() not in csv_bytes and ident.encode() not in sr
    assert dciodvfy_errors(tmp_path / "sr.dcm") == []


def test_no_full_date_survives_in_the_times_of_a_signed_report(
    example: StudyResults, fake_deidentify: types.ModuleType, tmp_path: Path
) -> None:
    """The study date is cut to its year; the report's creation and signing times, made on the
    exam's day, must not give the date back (FHIR ``issued``, the PDF's "signed at")."""
    import dataclasses

    from sonomsk.report.results import SignOff, SignOffState

    signed = dataclasses.replace(
        example,
        created="2026-03-14T09:26:53+00:00",
        signoff=SignOff(state=SignOffState.SIGNED, by="Dr Who", at="2026-03-14T09:30:00+00:00"),
    )
    d = deidentify_results(signed, "k3")
    assert d.created is None and d.signoff.at == "2026" and d.signoff.state is SignOffState.SIGNED
    outputs = {
        "html": render_html(signed, deidentify_key="k3"),
        "fhir": write_fhir(signed, tmp_path / "b.json", deidentify_key="k3").read_text(),
    }
    for name, text in outputs.items():
        assert "2026-03-14" not in text and "20260314" not in text, name
    assert "issued" not in json.loads(outputs["fhir"])["entry"][0]["resource"]


def test_who_corrected_a_measurement_and_when_are_deidentified(
    example: StudyResults, fake_deidentify: types.ModuleType
) -> None:
    import dataclasses

    m = dataclasses.replace(
        example.measurements[0],
        provenance={
            **example.measurements[0].provenance,
            "corrected_by": "dr.who",
            "corrected_at": "2026-03-14T09:26:53+00:00",
        },
    )
    d = deidentify_results(dataclasses.replace(example, measurements=(m, *example.measurements[1:])), "k4")
    prov = d.measurements[0].provenance
    assert prov["corrected_at"] == "2026" and prov["corrected_by"] != "dr.who"
    assert prov["corrected_by"] == fake_deidentify.pseudonym("dr.who", "k4")


def test_a_deidentified_sr_is_the_same_object_on_every_export(
    example: StudyResults, fake_deidentify: types.ModuleType, tmp_path: Path
) -> None:
    """Its times keep their year only (1 January, 00:00), so two exports with one key are equal."""
    import dataclasses

    import pydicom

    from sonomsk.report.results import SignOff, SignOffState

    for results in (
        example,
        dataclasses.replace(
            example, signoff=SignOff(state=SignOffState.SIGNED, by="Dr Who", at="2026-03-14T09:30:00+00:00")
        ),
    ):
        a = write_sr(results, tmp_path / "a.dcm", deidentify_key="k5").path.read_bytes()
        b = write_sr(results, tmp_path / "b.dcm", deidentify_key="k5").path.read_bytes()
        assert a == b
        ds = pydicom.dcmread(tmp_path / "a.dcm")
        assert ds.ContentDate.endswith("0101") and ds.ContentTime == "000000"


def test_ages_of_90_and_over_are_one_category_in_every_export(
    example: StudyResults, fake_deidentify: types.ModuleType, tmp_path: Path
) -> None:
    """HIPAA Safe Harbor: ages over 89, and the birth year that gives them back, become one
    category (the DICOM path writes 090Y). The assessment's age field and its covariate note
    ("age 95 years: ...") are capped, and a 1930 birth year is dropped for a 2026 study."""
    import dataclasses

    from sonomsk.nerve.assess import assess
    from sonomsk.report.results import Patient

    na = assess(
        {"patient": {"age": 95}, "measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 14.0}]}
    ).to_dict()
    assert any("age 95 years" in n for m in na["measurements"] for n in m["notes"])
    old = dataclasses.replace(
        example,
        patient=Patient(name="Doe^Jane", id="P1", birth_date="1930-05-01", sex="F"),
        study=dataclasses.replace(example.study, date="2026-01-02"),
        nerve_assessment=na,
        differential=None,
    )
    r = deidentify_results(old, "k1")
    assert r.patient.birth_date is None and r.nerve_assessment["patient"]["age"] == 90
    fhir = write_fhir(old, tmp_path / "b.json", deidentify_key="k1").read_text()
    html = render_html(old, deidentify_key="k1")
    for text in (fhir, html):
        assert "age 95" not in text and "1930" not in text
        assert "age 90 years or older" in text
    # a younger patient keeps the birth year and the age
    young = deidentify_results(dataclasses.replace(old, patient=Patient(birth_date="1972-05-01")), "k1")
    assert young.patient.birth_date == "1972"
