"""DICOM SR (TID 1500) and SEG: read back with highdicom and checked by dciodvfy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sonomsk.core.errors import MeasurementError
from sonomsk.core.results import Measurement, Method
from sonomsk.report.dicom_export import structure_mask, write_seg, write_sr
from sonomsk.report.results import ImageRef, Structure, StudyResults

from .report_tools import dciodvfy_errors


def _groups(path: Path) -> list:
    import highdicom as hd

    sr = hd.sr.srread(path)
    report = hd.sr.MeasurementReport.from_sequence([sr])
    return report.get_planar_roi_measurement_groups()


def test_sr_reads_back_with_measurements_and_coordinates(example: StudyResults, tmp_path: Path) -> None:
    summary = write_sr(example, tmp_path / "sr.dcm")
    assert summary.written == 2 and summary.skipped == ()
    groups = _groups(summary.path)
    assert len(groups) == 2
    for s, g in zip(example.structures, groups, strict=True):
        m = example.measurements_of(s)[0]
        (got,) = g.get_measurements()
        assert got.name.meaning == "Area" and got.unit.value == "mm2"
        assert got.value == pytest.approx(m.value)
        region = g.roi
        xy = np.asarray(region.value)
        # (col, row) in DICOM image coordinates: pixel centres at +0.5 (review ws14c F2)
        assert np.allclose(xy[:-1], np.asarray(s.contour)[:, ::-1] + 0.5, atol=1e-3)
        assert np.allclose(xy[0], xy[-1])  # closed polyline
        ref = region.ContentSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == example.image(s.image).sop_instance_uid
        assert g.finding_type.value == "84782009"
        site, region = g.finding_sites  # the nerve (with its level) and the body region
        lat = site.ContentSequence[0].ConceptCodeSequence[0]
        assert lat.CodeValue == "24028007"  # right


def test_sr_passes_dciodvfy(example: StudyResults, tmp_path: Path) -> None:
    s = write_sr(example, tmp_path / "sr.dcm")
    assert dciodvfy_errors(s.path) == []


def test_signed_sr_names_the_person(signed: StudyResults, tmp_path: Path) -> None:
    import pydicom

    s = write_sr(signed, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(s.path)
    assert ds.CompletionFlag == "COMPLETE"
    assert "Dr^Signer" in str(ds.ContentSequence)
    # the signature attests the report: final and verified, by the signer
    assert ds.PreliminaryFlag == "FINAL" and ds.VerificationFlag == "VERIFIED"
    assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == "Dr^Signer"
    assert dciodvfy_errors(s.path) == []


def test_draft_sr_is_partial_preliminary_and_unverified(example: StudyResults, tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(write_sr(example, tmp_path / "sr.dcm").path)
    assert (ds.CompletionFlag, ds.VerificationFlag) == ("PARTIAL", "UNVERIFIED")
    assert ds.get("PreliminaryFlag", "PRELIMINARY") == "PRELIMINARY"


def test_seg_reads_back_and_passes_dciodvfy(example: StudyResults, tmp_path: Path) -> None:
    import highdicom as hd

    out = write_seg(example, tmp_path / "seg.dcm")
    assert [p.path.name for p in out] == ["seg_img1.dcm", "seg_img2.dcm"]
    for summary, s in zip(out, example.structures, strict=True):
        seg = hd.seg.segread(summary.path)
        assert seg.number_of_segments == 1
        assert seg.get_segment_description(1).segment_label.startswith("median nerve")
        image = example.image(s.image)
        src = seg.get_source_image_uids()
        assert src[0][2] == image.sop_instance_uid
        mask = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[image.sop_instance_uid], segment_numbers=[1]
        )[0, :, :, 0]
        assert np.array_equal(mask > 0, structure_mask(s, image))
        assert dciodvfy_errors(summary.path) == []


def test_mask_area_agrees_with_the_measured_area(example: StudyResults) -> None:
    for s in example.structures:
        image = example.image(s.image)
        area = structure_mask(s, image).sum() * image.spacing_mm[0] * image.spacing_mm[1]  # type: ignore[index]
        assert area == pytest.approx(example.measurements_of(s)[0].value, rel=0.03)


def test_uncalibrated_sr_uses_pixel_units(tmp_path: Path) -> None:
    im = ImageRef(
        id="a", rows=50, cols=60, sop_instance_uid="1.2.3.4.5", study_uid="1.2.3.4", series_uid="1.2.3.4.6"
    )
    s = Structure(id="s", image="a", label="nerve", kind="nerve", contour=((10, 10), (10, 30), (30, 30)))
    m = Measurement(
        name="area_cross_section",
        value=200.0,
        unit="px2",
        method=Method("f", "1"),
        label="nerve",
        context={"structure": "s"},
    )
    e = Measurement(
        name="echo_intensity_mean",
        value=70.0,
        unit="grey",
        method=Method("f", "1"),
        label="nerve",
        context={"structure": "s"},
    )
    r = StudyResults(images=(im,), structures=(s,), measurements=(m, e))
    summary = write_sr(r, tmp_path / "sr.dcm")
    assert any("echo_intensity_mean" in x for x in summary.skipped)
    (got,) = _groups(summary.path)[0].get_measurements()
    assert got.unit.value == "{px2}"
    assert dciodvfy_errors(summary.path) == []


def test_nothing_to_export_is_an_error(example: StudyResults, tmp_path: Path) -> None:
    empty = dataclasses.replace(example, structures=(), measurements=())
    with pytest.raises(MeasurementError, match="SR"):
        write_sr(empty, tmp_path / "sr.dcm")
    with pytest.raises(MeasurementError, match="SEG"):
        write_seg(empty, tmp_path / "seg.dcm")
    no_uid = dataclasses.replace(
        example, images=tuple(dataclasses.replace(im, sop_instance_uid=None) for im in example.images)
    )
    # images without a SOP Instance UID are not DICOM objects: the SR references none of them
    # (review ws14c F3), the SEG has nothing to segment
    summary = write_sr(no_uid, tmp_path / "sr.dcm")
    assert any("not a DICOM object" in x for x in summary.skipped)
    assert "CurrentRequestedProcedureEvidenceSequence" not in pydicom.dcmread(tmp_path / "sr.dcm")
    with pytest.raises(MeasurementError, match="SEG"):
        write_seg(no_uid, tmp_path / "seg.dcm")


def test_a_signer_name_not_made_for_dicom_still_gives_a_valid_sr(
    example: StudyResults, tmp_path: Path
) -> None:
    import dataclasses

    import pydicom

    from sonomsk.report.results import SignOff

    odd = "domain\\" + "x" * 80  # a Windows account name, longer than a PN component group
    signed = dataclasses.replace(
        example,
        signoff=SignOff(state="signed", by=odd, at="2026-01-02T10:00:00"),
        study=dataclasses.replace(example.study, institution="Clinic \\ " + "y" * 90),
    )
    s = write_sr(signed, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(s.path)
    name = str(ds.VerifyingObserverSequence[0].VerifyingObserverName)
    assert "\\" not in name and len(name) <= 64 and name.startswith("domain/x")
    assert dciodvfy_errors(s.path) == []


def test_person_names_keep_their_groups() -> None:
    from sonomsk.report.dicom_export import _person_name

    three = "Yamada^Tarou=山田^太郎=やまだ^" + "た" * 80
    groups = _person_name(three).split("=")
    assert len(groups) == 3 and groups[0] == "Yamada^Tarou" and groups[1] == "山田^太郎"
    assert all(len(g) <= 64 for g in groups)
    assert _person_name("dr=smith", login=True) == "dr-smith^"  # a login name is one name
    assert _person_name("   ") == ""
    assert _person_name("A^B^C^D^E^F^G") == "A^B^C^D^E"


def test_a_name_in_any_script_survives_sr_and_seg(example: StudyResults, tmp_path: Path) -> None:
    import dataclasses

    import pydicom

    from sonomsk.report.api import write_seg

    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    named = dataclasses.replace(example, patient=dataclasses.replace(example.patient, name=name))
    sr = pydicom.dcmread(write_sr(named, tmp_path / "sr.dcm").path)
    assert str(sr.PatientName) == name and sr.SpecificCharacterSet == "ISO_IR 192"
    for seg in write_seg(named, tmp_path / "seg.dcm"):
        assert str(pydicom.dcmread(seg.path).PatientName) == name
    assert dciodvfy_errors(tmp_path / "sr.dcm") == []


def test_an_sr_is_one_object_per_results_and_seed(example: StudyResults, tmp_path: Path) -> None:
    """The same results give the same SR, byte for byte; another seed (another stored report of
    equal results) gives another object."""
    from sonomsk.report.api import write_sr

    a = write_sr(example, tmp_path / "a.dcm", uid_seed="report 5").path.read_bytes()
    b = write_sr(example, tmp_path / "b.dcm", uid_seed="report 5").path.read_bytes()
    c = pydicom.dcmread(write_sr(example, tmp_path / "c.dcm", uid_seed="report 6").path)
    assert a == b
    assert c.SOPInstanceUID != pydicom.dcmread(tmp_path / "a.dcm").SOPInstanceUID
