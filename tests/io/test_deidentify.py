"""De-identification: keyed pseudonyms, identifiers gone, burned-in text blanked, refusals."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest

import sonomsk
from sonomsk.core.errors import DeidentificationError, FormatWarning, InvalidParameterError
from sonomsk.core.image import Axis, Region, RegionKind, UltrasoundImage
from sonomsk.io.deidentify import (
    deidentify_dataset,
    deidentify_dicom,
    deidentify_record,
    keep_mask,
    kept_regions,
    parse_keep_box,
    pseudonym,
)
from sonomsk.io.dicom_write import write_dicom

from ..conftest import pydicom_data_dir, pydicom_test_dir

IDENTIFIERS = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-4815162342",
    "PatientBirthDate": "19600214",
    "StudyDate": "20200301",
    "InstitutionName": "St Elsewhere Hospital",
    "InstitutionAddress": "1 Hospital Way Springfield",
    "ReferringPhysicianName": "House^Gregory",
    "OperatorsName": "Sono^Samantha",
    "AccessionNumber": "ACC777123",
    "ImageComments": "Jane Doe left wrist",
    "OtherPatientIDs": "OTHER-ID-999",
}
# (file, warning the reader gives for it)
REAL_FILES = [
    ("gdcm-US-ALOKA-16.dcm", None),
    ("OBXXXX1A.dcm", FormatWarning),
    ("color3d_jpeg_baseline.dcm", None),
]


def _data(name: str) -> Path:
    root = pydicom_data_dir()
    if root is None or not (root / name).is_file():
        pytest.skip(f"pydicom-data file {name} not installed")
    return root / name


@contextlib.contextmanager
def _expect(warning: type[Warning] | None) -> Iterator[None]:
    if warning is None:
        yield
    else:
        with pytest.warns(warning):
            yield


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _with_identifiers(src: Path, dst: Path) -> Path:
    """A copy of ``src`` carrying known identifiers, a private tag and a birth date."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(src)
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00091010, "LO", "PRIVATE-SECRET-42")
    ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "ACME-PRIVATE-VALUE")
    ds.add_new(0x60000022, "LO", "OVERLAY-TEXT-SECRET")  # Overlay Description
    icon = pydicom.Dataset()
    icon.ImageComments = "ICON-SECRET"
    ds.IconImageSequence = [icon]
    ds.BurnedInAnnotation = "YES"
    ds.save_as(dst)
    return dst


def _synthetic(
    path: Path, *, regions: bool = True, burned: str = "YES", rows: int = 200, cols: int = 300
) -> tuple[Path, np.ndarray]:
    """A grey ultrasound DICOM: speckle inside region (40, 30, 180, 270), bright 'text' outside."""
    rng = np.random.default_rng(3)
    array = np.zeros((rows, cols), dtype=np.uint8)
    array[40:180, 30:270] = rng.integers(20, 200, size=(140, 240), dtype=np.uint8)
    text = np.zeros_like(array, dtype=bool)
    for c in range(10, 120, 12):  # letter-like strokes in the header band
        text[5:25, c : c + 3] = True
        text[5:8, c : c + 9] = True
    text[185:195, 200:290] = True  # a footer line
    array[text] = 255
    region = Region(
        box=(40, 30, 180, 270),
        kind=RegionKind.TISSUE,
        row_axis=Axis("mm", 0.1),
        col_axis=Axis("mm", 0.1),
    )
    image = UltrasoundImage.from_array(array, regions=(region,) if regions else ())
    write_dicom(
        image,
        path,
        PatientName="Doe^Jane",
        PatientID="MRN-4815162342",
        PatientBirthDate="19600214",
        BurnedInAnnotation=burned,
    )
    return path, text


# -- pseudonyms and records ------------------------------------------------------------------
def test_pseudonym_is_keyed_and_repeatable() -> None:
    a = pseudonym("Doe^Jane", "key-1")
    assert a == pseudonym("Doe^Jane", "key-1")
    assert a == pseudonym(" Doe^Jane^^ ", "key-1")  # DICOM padding does not change it
    assert a != pseudonym("Doe^Jane", "key-2")
    assert a != pseudonym("Doe^John", "key-1")
    assert a.startswith("ANON") and len(a) == 16 and "Doe" not in a
    assert pseudonym("", "key-1") == ""
    with pytest.raises(InvalidParameterError, match="key"):
        pseudonym("Doe^Jane", "")


def test_record_keeps_sex_and_age_and_cuts_birth_date_to_year() -> None:
    rec = {
        "name": "Doe^Jane",
        "id": "MRN-1",
        "birth_date": "1960-02-14",
        "sex": "F",
        "age": 60,
        "address": "1 Main St",
    }
    out = deidentify_record(rec, "k")
    assert out == {
        "name": pseudonym("Doe^Jane", "k"),
        "id": pseudonym("MRN-1", "k"),
        "birth_date": "1960",
        "sex": "F",
        "age": 60,
    }
    assert deidentify_record({"name": None, "birth_date": "unknown"}, "k") == {
        "name": None,
        "id": None,
        "birth_date": None,
    }


def test_parse_keep_box() -> None:
    assert parse_keep_box("1, 2,30,40") == (1, 2, 30, 40)
    with pytest.raises(InvalidParameterError, match="keep-box"):
        parse_keep_box("1,2,3")


# -- headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "warning"), REAL_FILES)
def test_identifiers_are_gone(name: str, warning: type[Warning] | None, tmp_path: Path) -> None:
    src = _with_identifiers(_data(name), tmp_path / "in.dcm")
    before = _sha(src)
    with _expect(warning):
        report = deidentify_dicom(src, tmp_path / "out.dcm", key="secret-key-1")
    assert _sha(src) == before
    blob = (tmp_path / "out.dcm").read_bytes()
    for value in [
        *IDENTIFIERS.values(),
        "PRIVATE-SECRET-42",
        "ACME-PRIVATE-VALUE",
        "OVERLAY-TEXT-SECRET",
        "ICON-SECRET",
        "secret-key-1",
    ]:
        assert value.encode() not in blob, value
    ds = pydicom.dcmread(tmp_path / "out.dcm")
    assert ds.PatientName == pseudonym("Doe^Jane", "secret-key-1")
    assert ds.PatientID == pseudonym("MRN-4815162342", "secret-key-1")
    assert ds.PatientBirthDate == ""
    assert ds.PatientAge == "060Y"  # computed from birth and study date before they went
    assert "ImageComments" not in ds
    assert not any(e.tag.is_private for e in ds)
    assert ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    assert f"key fingerprint {report.key_fingerprint}" in list(ds.DeidentificationMethod)
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert {"113100", "113101"} <= codes
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert report.removed_tags >= 3 and report.replaced_tags >= 8


def test_same_key_same_pseudonyms_and_uids(tmp_path: Path) -> None:
    src = _with_identifiers(_data("gdcm-US-ALOKA-16.dcm"), tmp_path / "in.dcm")
    original = pydicom.dcmread(src, stop_before_pixels=True)
    outs = {}
    for label, key in (("a1", "key-A"), ("a2", "key-A"), ("b", "key-B")):
        deidentify_dicom(src, tmp_path / f"{label}.dcm", key=key)
        outs[label] = pydicom.dcmread(tmp_path / f"{label}.dcm", stop_before_pixels=True)
    fields = (
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "StudyDate",
    )
    for kw in fields:
        a1, a2, b = (str(outs[k].get(kw)) for k in ("a1", "a2", "b"))
        assert a1 == a2, kw
        assert a1 != b, kw
        assert a1 != str(original.get(kw)), kw
    assert outs["a1"].file_meta.MediaStorageSOPInstanceUID == outs["a1"].SOPInstanceUID
    assert outs["a1"].SOPClassUID == original.SOPClassUID


def test_running_twice_keeps_the_earlier_method(tmp_path: Path) -> None:
    path, _ = _synthetic(tmp_path / "s.dcm")
    deidentify_dicom(path, tmp_path / "o1.dcm", key="k1")
    deidentify_dicom(tmp_path / "o1.dcm", tmp_path / "o2.dcm", key="k2")
    first = list(pydicom.dcmread(tmp_path / "o1.dcm").DeidentificationMethod)
    second = list(pydicom.dcmread(tmp_path / "o2.dcm").DeidentificationMethod)
    assert second[: len(first)] == first and len(second) == 2 * len(first)


def test_header_only_dataset_maps_uids_like_the_file(tmp_path: Path) -> None:
    """The report room maps UIDs on a bare data set; they must equal the image file's new UIDs."""
    from pydicom.dataset import Dataset

    path, _ = _synthetic(tmp_path / "s.dcm")
    src = pydicom.dcmread(path)
    deidentify_dicom(path, tmp_path / "o.dcm", key="k")
    out = pydicom.dcmread(tmp_path / "o.dcm")
    bare = Dataset()
    bare.SOPInstanceUID = src.SOPInstanceUID
    bare.StudyInstanceUID = src.StudyInstanceUID
    result = deidentify_dataset(bare, key="k")
    assert result is bare and not hasattr(bare, "file_meta")
    assert bare.SOPInstanceUID == out.SOPInstanceUID != src.SOPInstanceUID
    assert bare.StudyInstanceUID == out.StudyInstanceUID
    assert bare.PatientIdentityRemoved == "YES"  # no pixels, nothing burned in
    header_only = deidentify_dataset(pydicom.dcmread(_with_identifiers(path, tmp_path / "b.dcm")), key="k")
    assert header_only.PatientIdentityRemoved == "NO"  # pixels not cleaned, BurnedInAnnotation YES


# -- pixels ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "warning"), REAL_FILES)
def test_pixels_outside_regions_are_zero_inside_unchanged(
    name: str, warning: type[Warning] | None, tmp_path: Path
) -> None:
    src = _data(name)
    with _expect(warning):
        report = deidentify_dicom(src, tmp_path / "out.dcm", key="k")
    with _expect(warning):
        before = sonomsk.read(src)
    after = sonomsk.read(tmp_path / "out.dcm")  # no warning: the clipped region was written fixed
    assert [(r.box, r.kind, r.spacing_mm) for r in after.regions] == [
        (r.box, r.kind, r.spacing_mm) for r in before.regions
    ]
    assert after.calibrated and after.shape == before.shape and after.photometric == before.photometric
    mask = keep_mask(before.rows, before.columns, [r.box for r in kept_regions(before)])
    assert report.blanked_fraction == pytest.approx(1 - mask.mean(), abs=1e-6)
    for i in sorted({0, before.n_frames // 2, before.n_frames - 1}):
        old, new = before.frame(i), after.frame(i)
        assert old[~mask].any()  # there was something to blank
        assert not new[~mask].any()
        np.testing.assert_array_equal(new[mask], old[mask])


def test_synthetic_burned_in_text_is_blanked(tmp_path: Path) -> None:
    path, text = _synthetic(tmp_path / "s.dcm")
    deidentify_dicom(path, tmp_path / "o.dcm", key="k")
    before = sonomsk.read(path).frame(0)
    after = sonomsk.read(tmp_path / "o.dcm")
    assert (before[text] == 255).all() and not after.frame(0)[text].any()
    np.testing.assert_array_equal(after.frame(0)[40:180, 30:270], before[40:180, 30:270])
    assert after.spacing_mm() == pytest.approx((0.1, 0.1))


def test_keep_box_is_used_and_recorded(tmp_path: Path) -> None:
    src = pydicom_test_dir() / "examples_rgb_color.dcm"
    report = deidentify_dicom(src, tmp_path / "o.dcm", key="k", keep_box=(10, 20, 59, 79))
    image = sonomsk.read(tmp_path / "o.dcm")
    mask = keep_mask(image.rows, image.columns, [(20, 10, 80, 60)])
    frame = image.frame(0)
    assert not frame[~mask].any() and frame[mask].any()
    assert report.kept_by == "keep box 10,20,59,79"
    assert (
        "pixels outside keep box 10,20,59,79 set to 0"
        in pydicom.dcmread(tmp_path / "o.dcm").DeidentificationMethod
    )
    with pytest.raises(InvalidParameterError, match="keep_box"):
        deidentify_dicom(src, tmp_path / "p.dcm", key="k", keep_box=(0, 0, image.columns, 10))
    assert not (tmp_path / "p.dcm").exists()


def test_burned_in_no_without_regions_keeps_the_whole_image(tmp_path: Path) -> None:
    path, text = _synthetic(tmp_path / "s.dcm", regions=False, burned="NO")
    report = deidentify_dicom(path, tmp_path / "o.dcm", key="k")
    assert report.blanked_fraction == 0.0
    assert (sonomsk.read(tmp_path / "o.dcm").frame(0)[text] == 255).all()  # the vendor said: no text
    np.testing.assert_array_equal(sonomsk.read(tmp_path / "o.dcm").frame(0), sonomsk.read(path).frame(0))


# -- refusals --------------------------------------------------------------------------------
def _only(tmp: Path, *names: str) -> None:
    assert sorted(p.name for p in tmp.iterdir()) == sorted(names)


def test_no_region_is_refused_and_nothing_written(tmp_path: Path) -> None:
    src = pydicom_test_dir() / "examples_rgb_color.dcm"
    before = _sha(src)
    with pytest.raises(DeidentificationError, match="no valid ultrasound region"):
        deidentify_dicom(src, tmp_path / "o.dcm", key="k")
    _only(tmp_path)
    assert _sha(src) == before
    path, _ = _synthetic(tmp_path / "s.dcm", regions=False, burned="YES")
    with pytest.raises(DeidentificationError, match="BurnedInAnnotation"):
        deidentify_dicom(path, tmp_path / "o.dcm", key="k")
    _only(tmp_path, "s.dcm")


def test_video_transfer_syntax_is_refused(tmp_path: Path) -> None:
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG4HP41

    path, _ = _synthetic(tmp_path / "s.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "v.dcm")
    with pytest.raises(DeidentificationError, match="encapsulated video"):
        deidentify_dicom(tmp_path / "v.dcm", tmp_path / "o.dcm", key="k")
    _only(tmp_path, "s.dcm", "v.dcm")


def test_video_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(DeidentificationError, match="mp4"):
        deidentify_dicom(src, tmp_path / "o.mp4", key="k")
    _only(tmp_path, "clip.mp4")


def test_input_is_never_overwritten(tmp_path: Path) -> None:
    path, _ = _synthetic(tmp_path / "s.dcm")
    before = _sha(path)
    with pytest.raises(DeidentificationError, match="input file itself"):
        deidentify_dicom(path, path, key="k")
    os.symlink(path, tmp_path / "link.dcm")
    with pytest.raises(DeidentificationError, match="input file itself"):
        deidentify_dicom(path, tmp_path / "link.dcm", key="k")
    os.link(path, tmp_path / "hard.dcm")
    with pytest.raises(DeidentificationError, match="input file itself"):
        deidentify_dicom(path, tmp_path / "hard.dcm", key="k")
    assert _sha(path) == before
    _only(tmp_path, "s.dcm", "link.dcm", "hard.dcm")


def test_random_key_when_none(tmp_path: Path) -> None:
    path, _ = _synthetic(tmp_path / "s.dcm")
    a = deidentify_dicom(path, tmp_path / "a.dcm", key=None)
    b = deidentify_dicom(path, tmp_path / "b.dcm", key=None)
    assert a.random_key and a.key_fingerprint != b.key_fingerprint
    assert pydicom.dcmread(tmp_path / "a.dcm").PatientID != pydicom.dcmread(tmp_path / "b.dcm").PatientID


# -- still images ----------------------------------------------------------------------------
def _png(path: Path) -> np.ndarray:
    from PIL import Image

    rng = np.random.default_rng(5)
    array = np.zeros((120, 160), dtype=np.uint8)
    array[30:110, 20:150] = rng.integers(10, 200, size=(80, 130), dtype=np.uint8)
    array[5:15, 10:100] = 255  # burned-in patient name
    Image.fromarray(array).save(path)
    return array


def test_still_needs_box_or_sidecar(tmp_path: Path) -> None:
    src = tmp_path / "scan.png"
    original = _png(src)
    with pytest.raises(DeidentificationError, match="keep-box"):
        deidentify_dicom(src, tmp_path / "out.png", key="k")
    _only(tmp_path, "scan.png")
    report = deidentify_dicom(src, tmp_path / "out.png", key="k", keep_box=(20, 30, 149, 109))
    assert report.blanked_fraction == pytest.approx(1 - (80 * 130) / (120 * 160))
    from PIL import Image

    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert not out[5:15, 10:100].any()
    np.testing.assert_array_equal(out[30:110, 20:150], original[30:110, 20:150])


def test_still_with_region_sidecar_keeps_calibration(tmp_path: Path) -> None:
    src = tmp_path / "scan.png"
    _png(src)
    sidecar = {"regions": [{"bbox": [20, 30, 149, 109], "kind": "tissue", "spacing_mm": [0.08, 0.09]}]}
    (tmp_path / "scan.png.json").write_text(json.dumps(sidecar), encoding="utf-8")
    deidentify_dicom(src, tmp_path / "out.png", key="k")
    image = sonomsk.read(tmp_path / "out.png", detect_scale=False)
    assert image.regions[0].box == (30, 20, 110, 150)
    assert image.spacing_mm() == pytest.approx((0.09, 0.08))
    assert not image.frame(0)[5:15, 10:100].any()


def test_dates_move_back_by_whole_days_with_or_without_a_time() -> None:
    """An offset in hours moved a date with a late time of day to another day than the same
    date without a time (the report's SR and SEG carry the study's date only), so de-identified
    images and their report disagreed on the study date at some hours of the day."""
    from pydicom.dataset import Dataset

    from sonomsk.io.deidentify import DATE_OFFSET_DAYS, date_offset_days, deidentify_dataset

    days = date_offset_days("k1")
    assert days == date_offset_days("k1") != date_offset_days("k2")
    assert DATE_OFFSET_DAYS[0] <= -days < DATE_OFFSET_DAYS[1]
    shifted = []
    for time in ("000000", "120000", "235959", None):
        ds = Dataset()
        ds.SOPClassUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.6.1", "US"
        ds.StudyDate, ds.AcquisitionDateTime = "20260315", "20260315" + (time or "")
        if time is not None:
            ds.StudyTime = time
        deidentify_dataset(ds, key="k1")
        shifted.append(ds.StudyDate)
        assert ds.AcquisitionDateTime == ds.StudyDate + (time or "")  # time of day kept
        if time is not None:
            assert ds.StudyTime == time
    expected = (datetime.date(2026, 3, 15) + datetime.timedelta(days=days)).strftime("%Y%m%d")
    assert shifted == [expected] * 4
