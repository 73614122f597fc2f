"""Informatics review ws14c, remaining findings: SR/FHIR of non-DICOM sources (F3), failed
measurements (F1), study attributes and unidentified signers (F6), perimeter (F9), FHIR body site
(F10)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pydicom
import pytest

from sonomsk.core.results import Measurement
from sonomsk.report.dicom_export import write_sr
from sonomsk.report.fhir import bundle_dict, write_fhir
from sonomsk.report.results import SignOff, StudyResults

SHA = "ab" * 32
REASON = "the corrected outline is measured in px2, not mm2"


def _items(ds: Any) -> list[Any]:
    """Every content item of an SR, depth first."""
    out = []
    for item in ds.get("ContentSequence", []):
        out.append(item)
        out.extend(_items(item))
    return out


def _texts(ds: Any) -> list[str]:
    return [str(i.TextValue) for i in _items(ds) if i.ValueType == "TEXT"]


def _non_dicom(example: StudyResults) -> StudyResults:
    """The demo study as if its images had been PNG uploads: no SOP/series UIDs, the store's
    format and sha256 in ``extra`` (what the workstation writes)."""
    images = tuple(dataclasses.replace(im, sop_instance_uid=None, series_uid=None) for im in example.images)
    extra = {"non_dicom_images": {im.id: {"format": "PNG", "sha256": SHA} for im in example.images}}
    return dataclasses.replace(example, images=images, extra={**example.extra, **extra})


def test_sr_of_a_non_dicom_image_references_no_instance(example: StudyResults, tmp_path: Path) -> None:
    r = _non_dicom(example)
    summary = write_sr(r, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds
    assert "PertinentOtherEvidenceSequence" not in ds
    items = _items(ds)
    assert not [i for i in items if i.ValueType in ("SCOORD", "IMAGE")]
    assert not [i for i in items if "ReferencedSOPSequence" in i]
    # the outline's coordinates and the file's identity are kept as text; the CSA is still coded
    outline = [t for t in _texts(ds) if t.startswith("Outline on image img1")]
    assert outline and SHA in outline[0] and "PNG" in outline[0]
    first = example.structures[0].contour[0]  # type: ignore[index]
    assert f"{first[1] + 0.5:.2f}/{first[0] + 0.5:.2f}" in outline[0]
    assert sum(1 for i in items if i.ValueType == "NUM") == 2
    assert any("not a DICOM object" in x for x in summary.skipped)
    # the study is the one RESULTS names (the SR is its first DICOM object)
    assert ds.StudyInstanceUID == example.study.study_uid


def test_fhir_of_a_non_dicom_study_claims_no_imaging_study(example: StudyResults) -> None:
    bundle = bundle_dict(_non_dicom(example))
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "ImagingStudy" not in kinds
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    csa = [o for o in obs if "valueQuantity" in o and o["code"]["text"].startswith("area cross section")]
    assert len(csa) == 2
    assert all(SHA in o["note"][0]["text"] and "derivedFrom" not in o for o in csa)
    # a DICOM study keeps its ImagingStudy
    assert "ImagingStudy" in [e["resource"]["resourceType"] for e in bundle_dict(example).get("entry")]


def _all_failed(example: StudyResults) -> StudyResults:
    failed = tuple(
        dataclasses.replace(m, value=None, failure=REASON) if m.name == "area_cross_section" else m
        for m in example.measurements
    )
    return dataclasses.replace(example, measurements=failed)


def test_sr_of_outlines_whose_measurements_all_failed_still_has_the_outlines(
    example: StudyResults, tmp_path: Path
) -> None:
    summary = write_sr(_all_failed(example), tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    items = _items(ds)
    assert sum(1 for i in items if i.ValueType == "SCOORD") == 2
    assert not [i for i in items if i.ValueType == "NUM"]
    assert len([t for t in _texts(ds) if REASON in t]) == 2
    assert summary.written == 2


def test_fhir_sends_a_failed_measurement_with_its_reason(example: StudyResults, tmp_path: Path) -> None:
    out = write_fhir(_all_failed(example), tmp_path / "f.json")  # validated by fhir.resources
    bundle = json.loads(out.read_text())
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    absent = [o for o in obs if "dataAbsentReason" in o]
    assert len(absent) == 2
    for o in absent:
        assert "valueQuantity" not in o and "referenceRange" not in o
        assert o["dataAbsentReason"]["text"] == REASON
        assert o["dataAbsentReason"]["coding"][0]["code"] == "error"


def test_sr_repeats_the_study_attributes(example: StudyResults, tmp_path: Path) -> None:
    write_sr(example, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    assert ds.StudyDescription == example.study.description
    assert str(ds.ReferringPhysicianName) == example.study.referring
    assert ds.InstitutionName == example.study.institution


@pytest.mark.parametrize(
    ("by", "note", "verified"),
    [
        ("local", "signed without an identified user (workstation user 'local': no sign-in)", False),
        ("Dr^Signer", None, True),
    ],
)
def test_sr_is_verified_only_by_an_identified_signer(
    example: StudyResults, tmp_path: Path, by: str, note: str | None, verified: bool
) -> None:
    r = dataclasses.replace(
        example, signoff=SignOff(state="signed", by=by, at="2026-01-02T10:00:00", note=note)
    )
    write_sr(r, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    assert ds.VerificationFlag == ("VERIFIED" if verified else "UNVERIFIED")
    assert ds.CompletionFlag == "COMPLETE"
    assert ("VerifyingObserverSequence" in ds) is verified
    if verified:
        assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == by
        assert ds.VerifyingObserverSequence[0].VerificationDateTime == "20260102100000"
    else:  # the observer is the device, not a person called "local^"
        assert "local^" not in str(ds)


def test_perimeter_is_coded_as_sct_perimeter(example: StudyResults, tmp_path: Path) -> None:
    from pydicom.sr.codedict import codes

    assert (codes.SCT.Perimeter.value, codes.SCT.Perimeter.meaning) == ("131191004", "Perimeter")
    csa = example.measurements[0]
    perimeter = Measurement(
        name="perimeter", value=14.2, unit="mm", method=csa.method, label=csa.label, context=csa.context
    )
    r = dataclasses.replace(example, measurements=(*example.measurements, perimeter))
    summary = write_sr(r, tmp_path / "sr.dcm")
    assert not [x for x in summary.skipped if "perimeter" in x]
    nums = [i for i in _items(pydicom.dcmread(tmp_path / "sr.dcm")) if i.ValueType == "NUM"]
    found = [i for i in nums if i.ConceptNameCodeSequence[0].CodeValue == "131191004"]
    assert len(found) == 1
    assert float(found[0].MeasuredValueSequence[0].NumericValue) == pytest.approx(14.2)
    assert found[0].MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "mm"


def test_fhir_body_site_codes_the_nerve(example: StudyResults) -> None:
    obs = [
        e["resource"] for e in bundle_dict(example)["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    csa = [o for o in obs if o["code"]["text"].startswith("area cross section of median nerve")]
    assert len(csa) == 2
    for o in csa:
        codings = {(c["system"], c["code"]) for c in o["bodySite"]["coding"]}
        assert ("urn:sonomsk:codes", "median_nerve") in codings
    # a nerve with a SNOMED CT code is coded with it instead of "Peripheral nerve"
    s = dataclasses.replace(example.structures[0], site="vagus_neck", label="vagus nerve")
    ms = tuple(
        dataclasses.replace(m, context={**m.context, "site": "vagus_neck"}, label="vagus nerve")
        if m.context.get("structure") == s.id
        else m
        for m in example.measurements
    )
    r = dataclasses.replace(example, structures=(s, *example.structures[1:]), measurements=ms)
    obs = [e["resource"] for e in bundle_dict(r)["entry"] if e["resource"]["resourceType"] == "Observation"]
    vagus = [o for o in obs if "vagus" in o["code"]["text"]]
    assert vagus and all(
        [(c["system"], c["code"]) for c in o["bodySite"]["coding"]]
        == [("http://snomed.info/sct", "88882009")]
        for o in vagus
    )


def test_fhir_body_site_codes_the_side(example: StudyResults, tmp_path: Path) -> None:
    """The side of a measured nerve is coded, not only written in the text: the core extensions
    registry's observation-structureLaterality on bodySite, SNOMED CT Right/Left (the SR's codes);
    the written bundle still validates."""
    from sonomsk.report.fhir import LATERALITY_EXTENSION

    expected = {
        "right": ("http://snomed.info/sct", "24028007", "Right"),
        "left": ("http://snomed.info/sct", "7771000", "Left"),
    }

    def csa_sides(r: StudyResults) -> list[tuple[str, tuple[str, str, str]]]:
        out = []
        for e in bundle_dict(r)["entry"]:
            o = e["resource"]
            if o["resourceType"] != "Observation" or not o["code"]["text"].startswith(
                "area cross section of"
            ):
                continue
            (ext,) = [x for x in o["bodySite"].get("extension", []) if x["url"] == LATERALITY_EXTENSION]
            (coding,) = ext["valueCodeableConcept"]["coding"]
            side = ext["valueCodeableConcept"]["text"]
            assert o["bodySite"]["text"].endswith(side), o["bodySite"]["text"]
            out.append((side, (coding["system"], coding["code"], coding["display"])))
        return out

    found = csa_sides(example)
    assert found and all(code_ == expected[side] for side, code_ in found)
    # the same study measured on the left
    left = tuple(
        dataclasses.replace(m, context={**m.context, "side": "left"}) if m.context.get("side") else m
        for m in example.measurements
    )
    r = dataclasses.replace(example, measurements=left, nerve_assessment=None)
    found = csa_sides(r)
    assert found and {side for side, _ in found} == {"left"}
    assert all(code_ == expected["left"] for _, code_ in found)
    # a measurement without a side carries no laterality
    m = example.measurements[0]
    no_side = dataclasses.replace(m, context={k: v for k, v in m.context.items() if k != "side"})
    r = dataclasses.replace(example, measurements=(no_side, *example.measurements[1:]))
    first = next(
        e["resource"] for e in bundle_dict(r)["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    assert "side" not in m.context or "extension" not in first["bodySite"]
    assert "side" in m.context
    write_fhir(example, tmp_path / "fhir.json")  # validated by fhir.resources before it is written
    assert LATERALITY_EXTENSION in (tmp_path / "fhir.json").read_text()
