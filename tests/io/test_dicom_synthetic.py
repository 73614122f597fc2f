"""Small DICOMs generated here (tier B): bit depths, MONOCHROME1, bare data sets, encapsulated
structure, calibration choices, each with a truth known by construction."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

import sonomsk
from sonomsk.core.errors import CorruptDataError, FormatWarning, TruncatedDataError
from sonomsk.io.dicom import DicomFrames

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def us_dataset(frames: np.ndarray, *, photometric: str = "MONOCHROME2") -> Dataset:
    """An ultrasound data set holding ``frames`` (frame, row, col) natively, explicit VR LE."""
    n, rows, cols = frames.shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = US_MULTIFRAME
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = US_MULTIFRAME
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Manufacturer = "sonomsk test"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    bits = frames.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.FrameTime = 25.0
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds["PixelData"].VR = "OW" if bits == 16 else "OB"
    return ds


def tissue_region(x0: int, y0: int, x1: int, y1: int, delta_cm: float, units: int = 3) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaX = item.PhysicalDeltaY = delta_cm
    return item


def ramp(n: int, rows: int, cols: int, dtype: type[np.integer]) -> np.ndarray:
    top = 4000 if dtype == np.uint16 else 250
    base = np.linspace(0, top, rows * cols).reshape(rows, cols)
    return np.stack([base + 3 * i for i in range(n)]).astype(dtype)


def test_16_bit_grey_cine_keeps_its_values_and_frame_time(tmp_path: Path) -> None:
    truth = ramp(5, 20, 30, np.uint16)
    path = tmp_path / "grey16.dcm"
    us_dataset(truth).save_as(path, enforce_file_format=True)
    image = sonomsk.read(path)
    assert image.shape == (5, 20, 30, 1) and image.photometric == "MONOCHROME2"
    assert image.frames.dtype == np.uint16
    np.testing.assert_array_equal(image.frame(4), truth[4])
    np.testing.assert_array_equal(image.array, truth)
    assert image.frame_time_s == pytest.approx(0.025)
    assert image.provenance.decoder == "pydicom/native"
    assert image.metadata["manufacturer"] == "sonomsk test"


def test_monochrome1_is_inverted_to_monochrome2(tmp_path: Path) -> None:
    truth = ramp(2, 8, 9, np.uint8)
    path = tmp_path / "mono1.dcm"
    us_dataset(truth, photometric="MONOCHROME1").save_as(path, enforce_file_format=True)
    image = sonomsk.read(path)
    assert image.photometric == "MONOCHROME2"
    assert image.metadata["photometric_stored"] == "MONOCHROME1"
    np.testing.assert_array_equal(image.frame(1), 255 - truth[1])
    assert "MONOCHROME1 -> MONOCHROME2" in image.provenance.operations


def test_bare_data_set_without_preamble_or_file_meta(tmp_path: Path) -> None:
    """Some exports write the data set alone (no 128-byte preamble, no group 0002)."""
    truth = ramp(3, 10, 12, np.uint8)
    ds = us_dataset(truth)
    del ds.file_meta
    path = tmp_path / "IM0001"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    image = sonomsk.read(path)
    assert image.metadata["transfer_syntax"] == "1.2.840.10008.1.2"  # implicit VR little endian
    np.testing.assert_array_equal(image.frame(2), truth[2])


def rle_file(tmp_path: Path, n: int = 4) -> tuple[Path, np.ndarray]:
    truth = ramp(n, 16, 20, np.uint8)
    ds = us_dataset(truth)
    ds.compress(RLELossless, truth, encoding_plugin="pydicom")
    path = tmp_path / "rle.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, truth


def test_rle_cine_decodes_each_frame(tmp_path: Path) -> None:
    path, truth = rle_file(tmp_path)
    image = sonomsk.read(path)
    assert isinstance(image.frames, DicomFrames)
    for i in (3, 0, 2):
        np.testing.assert_array_equal(image.frame(i), truth[i])


def test_cine_missing_fragments_is_truncated(tmp_path: Path) -> None:
    """Frames promised by the header but absent from the encapsulated data (a cut cine)."""
    path, _ = rle_file(tmp_path)
    ds = pydicom.dcmread(path)
    frames = [bytes(f) for f in pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=4)]
    ds.PixelData = encapsulate(frames[:2], has_bot=False)
    ds.save_as(path)
    with pytest.raises(TruncatedDataError, match=r"rle\.dcm: .*2 fragments, the header promises 4 frames"):
        sonomsk.read(path)


def test_offset_table_disagreeing_with_the_frame_count_is_corrupt(tmp_path: Path) -> None:
    path, _ = rle_file(tmp_path)
    ds = pydicom.dcmread(path)
    frames = [bytes(f) for f in pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=4)]
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.NumberOfFrames = 3
    ds.save_as(path)
    with pytest.raises(CorruptDataError, match=r"Basic Offset Table lists 4 frames, the header promises 3"):
        sonomsk.read(path)


def test_file_cut_inside_a_fragment_is_truncated_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = rle_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])

    def no_decoding(*_a: object, **_k: object) -> None:
        raise AssertionError("decoded before the structure was checked")

    monkeypatch.setattr("pydicom.pixels.pixel_array", no_decoding)
    with pytest.raises(TruncatedDataError, match=r"rle\.dcm: the file ends inside"):
        sonomsk.read(path)


def test_calibrated_region_gives_mm_and_ignores_caller_spacing(tmp_path: Path) -> None:
    ds = us_dataset(ramp(1, 40, 50, np.uint8))
    ds.SequenceOfUltrasoundRegions = [tissue_region(5, 2, 44, 37, 0.01)]
    path = tmp_path / "cal.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = sonomsk.read(path, spacing_mm=0.3)
    (region,) = image.regions
    assert region.box == (2, 5, 38, 45)  # inclusive DICOM corners -> half-open rows/cols
    assert image.spacing_mm() == pytest.approx((0.1, 0.1))  # 0.01 cm
    assert image.metadata["calibration_source"] == "dicom_regions"
    assert not any("caller" in op for op in image.provenance.operations)


def test_caller_spacing_is_recorded_when_the_region_is_rejected(tmp_path: Path) -> None:
    ds = us_dataset(ramp(1, 40, 50, np.uint8))
    ds.SequenceOfUltrasoundRegions = [tissue_region(5, 2, 44, 37, 0.01, units=4)]  # seconds: not spatial
    ds.PixelSpacing = [0.5, 0.5]
    path = tmp_path / "seconds.dcm"
    ds.save_as(path, enforce_file_format=True)
    from sonomsk.core.errors import CalibrationWarning

    with pytest.warns(CalibrationWarning, match="non-spatial units"):
        image = sonomsk.read(path, spacing_mm=(0.2, 0.25))
    assert image.regions[0].valid is False and image.regions[0].spacing_mm is None
    assert image.spacing_mm() == (0.2, 0.25)  # the caller's, never PixelSpacing's 0.5
    assert image.metadata["calibration_source"] == "caller"
    assert any("caller-supplied" in op for op in image.provenance.operations)
    assert any("calibration supplied by the caller" in w for w in image.warnings)
    assert any("PixelSpacing present but not used" in w for w in image.warnings)


def test_region_one_pixel_past_the_edge_is_clipped_with_a_format_warning(tmp_path: Path) -> None:
    ds = us_dataset(ramp(1, 40, 50, np.uint8))
    ds.SequenceOfUltrasoundRegions = [tissue_region(0, 0, 50, 39, 0.02)]  # x1 = Columns
    path = tmp_path / "edge.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.warns(FormatWarning, match="ends 1 px beyond"):
        image = sonomsk.read(path)
    assert image.regions[0].box == (0, 0, 40, 50)
    assert image.calibrated


def test_no_pydicom_warning_leaks_from_a_clean_file(tmp_path: Path) -> None:
    path = tmp_path / "clean.dcm"
    us_dataset(ramp(2, 8, 8, np.uint8)).save_as(path, enforce_file_format=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sonomsk.read(path).frame(1)
