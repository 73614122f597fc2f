"""Review ws15d: de-identified exports carry no plain file hash (N2), agree with the
de-identified images (N3), FHIR "not applicable" (N6), observer names (N5), SEG of a non-DICOM
study (N4)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pydicom
import pytest

from sonomsk.report.dicom_export import write_sr
from sonomsk.report.fhir import write_fhir
from sonomsk.report.results import StudyResults
from sonomsk.report.tables import write_csv

from .report_tools import need_tool

SHA = "75cadfee6f94b32c92283d3a85398939941643076e1413c1898ef8b3a0e49e4a"
KEY = "testkey123"


def _all_text(ds: Any) -> str:
    """Every element value of a data set, nested sequences included, untruncated."""
    out: list[str] = []

    def walk(d: Any) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value:
                    walk(item)
            elif elem.VR not in ("OB", "OW", "OF", "OD", "OL", "UN"):
                out.append(str(elem.value))

    walk(ds)
    return "\n".join(out)


def _non_dicom(example: StudyResults) -> StudyResults:
    """The demo study as if its images had been PNG uploads (what the workstation writes)."""
    images = tuple(dataclasses.replace(im, sop_instance_uid=None, series_uid=None) for im in example.images)
    extra = {"non_dicom_images": {im.id: {"format": "PNG", "sha256": SHA} for im in example.images}}
    return dataclasses.replace(example, images=images, extra={**example.extra, **extra})


def test_deidentified_exports_carry_no_plain_sha256_of_the_source_file(
    example: StudyResults, tmp_path: Path
) -> None:
    from sonomsk.report.render import render_html

    r = _non_dicom(example)
    write_sr(r, tmp_path / "sr.dcm", deidentify_key=KEY)
    write_fhir(r, tmp_path / "f.json", deidentify_key=KEY)
    write_csv(r, tmp_path / "t.csv", deidentify_key=KEY)
    html = render_html(r, deidentify_key=KEY)
    sr = pydicom.dcmread(tmp_path / "sr.dcm")
    texts = {
        "sr": _all_text(sr),
        "fhir": (tmp_path / "f.json").read_text(),
        "csv": (tmp_path / "t.csv").read_text(),
        "html": html,
    }
    for name, text in texts.items():
        assert SHA not in text.lower(), name
    from sonomsk.report.deid import keyed_file_hash

    keyed = keyed_file_hash(SHA, KEY)
    # the keyed pseudonym names the file instead (same key, same value), as the UIDs are mapped
    assert keyed in texts["sr"] and keyed in texts["fhir"]
    assert keyed != keyed_file_hash(SHA, "another key") and SHA[:32] != keyed
    # the identified export still names the stored file by its sha256
    write_sr(r, tmp_path / "sr_id.dcm")
    assert SHA in _all_text(pydicom.dcmread(tmp_path / "sr_id.dcm"))


def test_a_file_hash_in_a_measurements_provenance_is_keyed(example: StudyResults) -> None:
    from sonomsk.report.deid import deidentify_results

    m0 = example.measurements[0]
    m = dataclasses.replace(m0, provenance={**m0.provenance, "source_sha256": SHA})
    r = dataclasses.replace(example, measurements=(m, *example.measurements[1:]))
    out = deidentify_results(r, KEY)
    assert SHA not in json.dumps(out.to_dict())


@pytest.fixture()
def deid_pair(example: StudyResults, tmp_path: Path) -> dict[str, Any]:
    """The demo study's first image (with the RESULTS' referring physician) de-identified by the
    images' de-identifier, and the SR and SEG of the same study de-identified with the same key."""
    from sonomsk.io.deidentify import deidentify_dicom
    from sonomsk.report.dicom_export import write_seg

    im = example.images[0]
    ds = pydicom.dcmread(im.path)
    ds.ReferringPhysicianName = example.study.referring
    # a scan late in the day: an offset in hours moved its date to another day than the report's
    # (which has the study's date, not its time); the result depended on the hour the tests ran
    ds.StudyTime = "235959"
    assert ds.StudyDescription  # the images carry a description the de-identification removes
    src = tmp_path / "src.dcm"
    ds.save_as(src, enforce_file_format=True)
    deidentify_dicom(src, tmp_path / "img_anon.dcm", key=KEY)
    r = dataclasses.replace(example, structures=tuple(s for s in example.structures if s.image == im.id))
    write_sr(r, tmp_path / "sr.dcm", deidentify_key=KEY)
    [seg] = write_seg(r, tmp_path / "seg.dcm", deidentify_key=KEY)
    return {
        "img": tmp_path / "img_anon.dcm",
        "sr": tmp_path / "sr.dcm",
        "seg": seg.path,
        "original": ds,
    }


def test_deidentified_sr_and_seg_agree_with_the_deidentified_image(deid_pair: dict[str, Any]) -> None:
    img = pydicom.dcmread(deid_pair["img"], stop_before_pixels=True)
    assert str(img.ReferringPhysicianName) and "StudyDescription" not in img
    assert img.StudyDate != deid_pair["original"].StudyDate  # the images' dates are shifted
    for name in ("sr", "seg"):
        ds = pydicom.dcmread(deid_pair[name], stop_before_pixels=True)
        assert str(ds.ReferringPhysicianName) == str(img.ReferringPhysicianName), name
        assert str(ds.PatientName) == str(img.PatientName), name
        assert "StudyDescription" not in ds, name
        assert ds.StudyDate == img.StudyDate, name
        # no date of the real calendar next to the shifted ones (a draft: its content date is
        # the study's), while the method still claims the modified-dates option
        assert ds.ContentDate == img.StudyDate, name
        assert "113107" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence], name


def test_dcentvfy_finds_no_study_or_patient_disagreement(deid_pair: dict[str, Any]) -> None:
    import subprocess

    exe = need_tool("dcentvfy")
    files = [str(deid_pair[k]) for k in ("img", "sr", "seg")]
    proc = subprocess.run([exe, *files], capture_output=True, text=True, timeout=60)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]
    # the images add the Clean Pixel Data option to their method (acceptable per instance);
    # every other study or patient attribute must agree
    other = [e for e in errors if "DeidentificationMethod" not in e]
    assert not other, other


def test_deidentified_signing_time_is_shifted_as_the_images_dates(signed: StudyResults) -> None:
    import datetime as dt

    from sonomsk.report.deid import deidentify_results

    out = deidentify_results(signed, KEY)
    # the probe: what the images' de-identifier makes of the study's date at midnight
    from pydicom.dataset import Dataset

    from sonomsk.io.deidentify import deidentify_dataset

    probe = Dataset()
    probe.SOPClassUID, probe.Modality = "1.2.840.10008.5.1.4.1.1.6.1", "US"
    probe.StudyDate, probe.StudyTime = "20260102", "100000"
    deidentify_dataset(probe, key=KEY)
    shifted = dt.datetime.strptime(probe.StudyDate + probe.StudyTime[:6], "%Y%m%d%H%M%S")
    assert out.signoff.at is not None and out.signoff.at[:19] == shifted.isoformat()
    assert out.study.date is not None and len(out.study.date) == 10 and out.study.date != signed.study.date
    assert out.study.description is None


def test_seg_of_a_non_dicom_study_names_the_real_reason(example: StudyResults, tmp_path: Path) -> None:
    from sonomsk.core.errors import MeasurementError
    from sonomsk.report.dicom_export import write_seg

    with pytest.raises(MeasurementError, match="no outlined image is a DICOM object") as err:
        write_seg(_non_dicom(example), tmp_path / "seg.dcm")
    assert "single-frame" not in str(err.value) and "PNG" in str(err.value)
    assert not (tmp_path / "seg.dcm").exists()


def _with_doppler_failures(example: StudyResults) -> StudyResults:
    from sonomsk.core.results import Measurement, Method

    s = example.structures[0]
    ctx = {"structure": s.id, "image": s.image, "site": "wrist", "side": "right", "frame": 0}
    method = Method(function="sonomsk.nerve.morphology.vascularity", version="1")
    extra = (
        Measurement.failed(
            "fraction_vascular",
            "no colour/power Doppler region in the image",
            method,
            label="nerve",
            context=ctx,
        ),
        Measurement.failed(
            "echo_intensity_mean", "outline outside the image", method, label="nerve", context=ctx
        ),
    )
    return dataclasses.replace(example, measurements=(*example.measurements, *extra))


def test_fhir_sends_no_error_for_a_doppler_measure_of_a_bmode_image(example: StudyResults) -> None:
    from sonomsk.report.fhir import bundle_dict

    bundle = bundle_dict(_with_doppler_failures(example))
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    absent = {
        o["code"]["text"].split(" of ")[0]: o["dataAbsentReason"] for o in obs if "dataAbsentReason" in o
    }
    # not applicable: no Observation, never dataAbsentReason "error"
    assert "fraction vascular" not in absent
    assert not [o for o in obs if "Doppler" in str(o.get("dataAbsentReason", {}).get("text", ""))]
    # a real failure is still sent as an error with its reason
    assert absent["echo intensity mean"]["coding"][0]["code"] == "error"
    assert absent["echo intensity mean"]["text"] == "outline outside the image"


def test_a_login_is_not_written_as_a_family_name(example: StudyResults, tmp_path: Path) -> None:
    from sonomsk.report.results import SignOff

    r = dataclasses.replace(example, signoff=SignOff(state="signed", by="asmith", at="2026-01-02T10:00:00"))
    write_sr(r, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    assert ds.VerificationFlag == "VERIFIED"
    assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == "asmith"
    names = [str(e.value) for e in _elements(ds) if e.VR == "PN"]
    assert "asmith" in names and "asmith^" not in names


def _elements(ds: Any) -> list[Any]:
    out = []
    for elem in ds:
        out.append(elem)
        if elem.VR == "SQ":
            for item in elem.value:
                out.extend(_elements(item))
    return out


def test_a_deidentified_report_keeps_local_as_local(example: StudyResults) -> None:
    from sonomsk.report.deid import deidentify_results
    from sonomsk.report.render import render_html
    from sonomsk.report.results import UNIDENTIFIED_SIGNER_NOTE, SignOff

    note = f"{UNIDENTIFIED_SIGNER_NOTE} (workstation user 'local': no sign-in names the person)"
    r = dataclasses.replace(
        example, signoff=SignOff(state="signed", by="local", at="2026-01-02T10:00:00", note=note)
    )
    out = deidentify_results(r, KEY)
    assert out.signoff.by == "local"
    html = render_html(r, deidentify_key=KEY)
    assert "ANON" not in html.split("Signed by", 1)[-1][:80]
