"""Review ws14c: SR SCOORD in DICOM image coordinates (F2), de-identified SR/SEG declare their
de-identification like the images (F5), successive signed reports (F12)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from sonomsk.report.dicom_export import contour_from_scoord, sr_uids, write_seg, write_sr
from sonomsk.report.fhir import bundle_dict
from sonomsk.report.results import SignOff, StudyResults

KEY = "testkey123"


def _walk(ds: Any) -> list[Any]:
    out = []
    for item in ds.get("ContentSequence", []):
        out.append(item)
        out.extend(_walk(item))
    return out


def _polygon_centroid(xy: np.ndarray) -> tuple[float, float]:
    x, y = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    a = cross.sum() / 2
    return float(((x + x1) * cross).sum() / (6 * a)), float(((y + y1) * cross).sum() / (6 * a))


def test_sr_outline_and_seg_mask_have_one_centroid(example: StudyResults, tmp_path: Path) -> None:
    # one structure on one image: the SR polygon (DICOM image coordinates, top-left corner of the
    # top-left pixel at 0,0) and the SEG mask (pixel (r, c) covers c..c+1, r..r+1) coincide
    s = example.structures[0]
    one = dataclasses.replace(
        example,
        structures=(s,),
        measurements=tuple(example.measurements_of(s)),
        nerve_assessment=None,
        differential=None,
    )
    sr = pydicom.dcmread(write_sr(one, tmp_path / "sr.dcm").path)
    (poly,) = [it for it in _walk(sr) if getattr(it, "GraphicType", None) == "POLYLINE"]
    xy = np.asarray(poly.GraphicData, dtype=float).reshape(-1, 2)[:-1]
    (seg_summary,) = write_seg(one, tmp_path / "seg.dcm")
    seg = pydicom.dcmread(seg_summary.path)
    mask = seg.pixel_array.astype(bool)
    rr, cc = np.nonzero(mask)
    seg_xy = (cc.mean() + 0.5, rr.mean() + 0.5)  # pixel centres in DICOM image coordinates
    sr_xy = _polygon_centroid(xy)
    assert abs(sr_xy[0] - seg_xy[0]) < 0.05 and abs(sr_xy[1] - seg_xy[1]) < 0.05, (sr_xy, seg_xy)
    # and the reader takes the shift off again: the stored outline comes back
    assert np.allclose(np.asarray(contour_from_scoord(poly.GraphicData)), np.asarray(s.contour), atol=1e-3)


def test_deidentified_sr_and_seg_declare_it_like_the_images(example: StudyResults, tmp_path: Path) -> None:
    pytest.importorskip("dicognito", reason="dicognito is needed for sonomsk.io.deidentify")
    from sonomsk.io.deidentify import deidentify_record

    sr = pydicom.dcmread(write_sr(example, tmp_path / "sr.dcm", deidentify_key=KEY).path)
    segs = write_seg(example, tmp_path / "seg.dcm", deidentify_key=KEY)
    name = deidentify_record({"name": example.patient.name, "id": example.patient.id}, KEY)["name"]
    assert name and not str(name).endswith("^")
    for ds in [sr, *(pydicom.dcmread(x.path) for x in segs)]:
        assert ds.PatientIdentityRemoved == "YES"
        methods = ds.DeidentificationMethod
        text = " ".join(methods) if isinstance(methods, pydicom.multival.MultiValue) else str(methods)
        assert "key fingerprint" in text
        assert "113100" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
        assert str(ds.PatientName) == name  # the images' form, no trailing "^"
    seg = pydicom.dcmread(segs[0].path)
    from sonomsk.report.deid import date_shift, shift_date

    # a draft: the study's date, shifted as the images' dates are (review ws15d N3)
    shifted = (shift_date(example.study.date, date_shift(KEY)) or "").replace("-", "")
    assert len(shifted) == 8 and shifted != (example.study.date or "").replace("-", "")
    for kw in ("ContentDate", "InstanceCreationDate"):
        assert seg.get(kw) == shifted, (kw, seg.get(kw))
    assert seg.ContentTime == "000000"


def test_a_later_signed_report_names_its_predecessor_and_gets_new_fhir_ids(
    signed: StudyResults, tmp_path: Path
) -> None:
    first = signed
    prev = {"report": 1, "signed_at": first.signoff.at, **sr_uids(first, "report 1")}
    prev["study_uid"] = first.study.study_uid
    second = dataclasses.replace(
        first,
        signoff=SignOff(state="signed", by="Dr^Signer", at="2026-01-03T09:00:00"),
        extra={**dict(first.extra), "supersedes": prev},
    )
    # the first report's SR has the UIDs sr_uids says
    ds1 = pydicom.dcmread(write_sr(first, tmp_path / "a.dcm", uid_seed="report 1").path)
    assert ds1.SOPInstanceUID == prev["sop_instance_uid"] and ds1.SeriesInstanceUID == prev["series_uid"]
    assert "PredecessorDocumentsSequence" not in ds1
    ds2 = pydicom.dcmread(write_sr(second, tmp_path / "b.dcm", uid_seed="report 2").path)
    (study,) = ds2.PredecessorDocumentsSequence
    assert study.StudyInstanceUID == first.study.study_uid
    ref = study.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == ds1.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == ds1.SOPClassUID
    # FHIR: no resource of the second bundle reuses an id of the first
    b1, b2 = bundle_dict(first), bundle_dict(second)
    ids1 = {e["fullUrl"] for e in b1["entry"]}
    ids2 = {e["fullUrl"] for e in b2["entry"]}
    assert not ids1 & ids2
    rep2 = b2["entry"][0]["resource"]
    assert rep2["resourceType"] == "DiagnosticReport" and "Replaces report 1" in rep2["conclusion"]
    assert rep2["identifier"][0]["value"] == b2["entry"][0]["fullUrl"]
    # the same report downloaded again: the same ids
    assert json.dumps(bundle_dict(second)) == json.dumps(b2)


def test_key_image_of_a_cine_shows_the_frame_of_its_outline(
    example: StudyResults, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sonomsk.report import figures
    from sonomsk.report.sections import ImagesSection, RenderEnv

    im = dataclasses.replace(example.images[0], n_frames=30, frame=0, path=None)
    s = dataclasses.replace(example.structures_of(im.id)[0], frame=10)
    cine = dataclasses.replace(
        example,
        images=(im,),
        structures=(s,),
        measurements=tuple(example.measurements_of(example.structures_of(im.id)[0])),
        nerve_assessment=None,
        differential=None,
    )
    asked: list[int] = []
    real = figures.load_frame

    def spy(image: Any) -> Any:
        asked.append(image.frame)
        return real(image)

    monkeypatch.setattr(figures, "load_frame", spy)
    items = ImagesSection().context(cine, RenderEnv())["images"]
    assert [x["frame"] for x in items] == [10]
    assert asked == [10]  # the pixels of frame 10, not of the image's key frame 0
