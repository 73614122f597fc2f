"""Encapsulated MPEG-4 AVC/H.264 video inside DICOM reads as a lazy cine through PyAV."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import sonomsk
from sonomsk.core.errors import CorruptDataError

av = pytest.importorskip("av")


def _h264_stream(n: int = 20, rows: int = 96, cols: int = 128) -> bytes:
    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV build has no libx264 encoder")
    buf = io.BytesIO()
    c = av.open(buf, "w", format="h264")
    s = c.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = cols, rows, "yuv420p"
    for i in range(n):
        frame = np.full((rows, cols, 3), 10 * i, np.uint8)
        frame[rows // 4 : rows // 2, cols // 4 : cols // 2] = 255
        for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            c.mux(packet)
    for packet in s.encode():
        c.mux(packet)
    c.close()
    return buf.getvalue()


def _dicom_video(path: Path, data: bytes, rows: int = 96, cols: int = 128, frames: int = 20) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID, generate_uid

    ts = UID("1.2.840.10008.1.2.4.102")  # MPEG-4 AVC/H.264 High Profile / Level 4.1
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.3.1")
    fm.MediaStorageSOPInstanceUID = generate_uid()
    fm.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID = fm.MediaStorageSOPClassUID
    ds.SOPInstanceUID = fm.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "YBR_PARTIAL_420"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.PlanarConfiguration = (
        8,
        8,
        7,
        0,
        0,
    )
    ds.FrameTime = 40.0
    ds.PixelData = encapsulate([data])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_encapsulated_h264_reads_lazily(tmp_path: Path) -> None:
    path = _dicom_video(tmp_path / "cine.dcm", _h264_stream())
    image = sonomsk.read(path, spacing_mm=0.1)
    assert image.n_frames == 20
    assert image.rows == 96 and image.columns == 128
    assert image.provenance.decoder == "pyav"
    assert image.frame_time_s == pytest.approx(0.04)
    last = image.frame(19)
    assert float(last[60:90, 70:120].mean()) == pytest.approx(190, abs=8)  # background 10 * 19
    assert float(last[30:40, 40:60].mean()) > 240  # the bright square
    assert image.calibrated and image.metadata["calibration_source"] == "caller"


def test_damaged_encapsulated_video_is_corrupt(tmp_path: Path) -> None:
    path = _dicom_video(tmp_path / "bad.dcm", b"\x00\x00\x00\x01" + bytes(range(256)) * 4)
    with pytest.raises(CorruptDataError, match=r"bad\.dcm"):
        sonomsk.read(path, spacing_mm=0.1)
