"""Bad input (foundation issue, point 7): every kind of broken or foreign file gives a specific
sonomsk error class with a one-line message naming the file, and a batch continues past it."""

from __future__ import annotations

import io
import json
import os
import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import sonomsk
from sonomsk.cli.main import main
from sonomsk.core.errors import (
    BackendUnavailableError,
    CalibrationWarning,
    CorruptDataError,
    EmptyFileError,
    ImageTooLargeError,
    InputPathError,
    MissingPixelDataError,
    NotUltrasoundError,
    SonomskError,
    TruncatedDataError,
    UnsupportedDataError,
)

from ..conftest import pydicom_data_dir, pydicom_test_dir

DATA = pydicom_data_dir()
#: A small native (uncompressed, big-endian explicit VR) RGB ultrasound file from pydicom.
NATIVE_US = pydicom_test_dir() / "ExplVR_BigEnd.dcm"


def assert_error(exc: BaseException, cls: type[SonomskError], path: Path) -> None:
    """Exactly ``cls`` (not a parent or a sibling), one line, naming the file."""
    assert type(exc) is cls, f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    message = str(exc)
    assert "\n" not in message and message.strip() == message and message
    assert path.name in message


def read_error(path: Path) -> SonomskError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken files may also warn; the error is the subject here
        with pytest.raises(SonomskError) as info:
            image = sonomsk.read(path)
            for i in range(image.n_frames):
                image.frame(i)
    return info.value


def us_source(name: str) -> Path:
    if name == NATIVE_US.name:
        return NATIVE_US
    if DATA is None:
        pytest.skip("pydicom-data is not installed (test extra)")
    return DATA / name


# -- truncated files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        NATIVE_US.name,  # native pixel data
        "OBXXXX1A_rle.dcm",  # RLE, encapsulated
        "JPGLosslessP14SV1_1s_1f_8b.dcm",  # JPEG lossless, encapsulated
        "US1_J2KR.dcm",  # JPEG 2000
        "color-pl.dcm",  # palette colour
    ],
)
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.4, 0.8, 0.995])
def test_truncated_dicom_is_truncated_data_error(name: str, fraction: float, tmp_path: Path) -> None:
    data = us_source(name).read_bytes()
    path = tmp_path / f"cut_{fraction}_{name}"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert_error(read_error(path), TruncatedDataError, path)


def test_file_cut_inside_the_preamble_is_unrecognised(tmp_path: Path) -> None:
    """Without the 'DICM' signature nothing says DICOM any more: content decides, not the suffix."""
    path = tmp_path / "preamble_only.dcm"
    path.write_bytes(NATIVE_US.read_bytes()[:100])
    assert_error(read_error(path), UnsupportedDataError, path)


def test_truncated_header_is_not_mistaken_for_missing_pixel_data(tmp_path: Path) -> None:
    """Regression: pydicom stops quietly at a cut element; that used to read as 'no pixel data'."""
    data = NATIVE_US.read_bytes()
    ds = pydicom.dcmread(NATIVE_US)
    assert "PixelData" in ds  # the source has pixel data, so its absence below comes from the cut
    path = tmp_path / "cut_header.dcm"
    path.write_bytes(data[:770])
    assert_error(read_error(path), TruncatedDataError, path)


# -- foreign DICOM objects -------------------------------------------------------------------


def _write_dataset(ds: Dataset, path: Path, sop_class: str) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path


def test_ct_is_not_ultrasound(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    path.write_bytes((pydicom_test_dir() / "CT_small.dcm").read_bytes())
    error = read_error(path)
    assert_error(error, NotUltrasoundError, path)
    assert "CT" in str(error)


def test_structured_report_is_not_ultrasound(tmp_path: Path) -> None:
    sr_class = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds = Dataset()
    ds.SOPClassUID = sr_class
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.PatientName = "Test^Report"
    ds.ValueType = "CONTAINER"
    path = _write_dataset(ds, tmp_path / "report.dcm", sr_class)
    error = read_error(path)
    assert_error(error, NotUltrasoundError, path)
    assert "SR" in str(error)


def test_ultrasound_without_pixel_data(tmp_path: Path) -> None:
    ds = pydicom.dcmread(NATIVE_US)
    del ds.PixelData
    path = tmp_path / "no_pixels.dcm"
    ds.save_as(path)
    assert_error(read_error(path), MissingPixelDataError, path)


def test_pixel_data_shorter_than_the_header_promises(tmp_path: Path) -> None:
    ds = pydicom.dcmread(NATIVE_US)
    ds.PixelData = ds.PixelData[:1000]
    path = tmp_path / "short_pixels.dcm"
    ds.save_as(path)
    error = read_error(path)
    assert_error(error, TruncatedDataError, path)
    assert "1000" in str(error) and "14400" in str(error)  # 60 x 80 x 3 bytes promised


# -- decompression bombs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "cols", "frames"),
    [(60000, 60000, 1), (60, 80, 10**6), (8193, 80, 1), (0, 80, 1)],
)
def test_absurd_dicom_dimensions_are_refused_before_decoding(
    rows: int, cols: int, frames: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = pydicom.dcmread(NATIVE_US)
    ds.Rows, ds.Columns = rows, cols
    ds.NumberOfFrames = frames
    path = tmp_path / f"bomb_{rows}x{cols}x{frames}.dcm"
    ds.save_as(path)

    def no_decoding(*_a: object, **_k: object) -> None:
        raise AssertionError("pixel data was decoded before the dimensions were checked")

    monkeypatch.setattr("pydicom.pixels.pixel_array", no_decoding)
    tracemalloc.start()
    try:
        error = read_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(error, ImageTooLargeError, path)
    assert peak < 20 * 1024**2, f"refusing the bomb allocated {peak / 1024**2:.0f} MiB"


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height``; the IDAT holds at most 4 KiB of rows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * min(height * (width + 1), 4096)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(60000, 60000), (100, 9000), (2**31 - 1, 2)])
def test_png_with_absurd_declared_size(width: int, height: int, tmp_path: Path) -> None:
    path = tmp_path / f"bomb_{width}x{height}.png"
    path.write_bytes(_png_with_size(width, height))
    tracemalloc.start()
    try:
        error = read_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(error, ImageTooLargeError, path)
    assert peak < 20 * 1024**2


def test_crafted_png_header_is_valid_when_small(tmp_path: Path) -> None:
    """The crafted PNG is a real PNG: at a sane size the same bytes are readable image data."""
    from PIL import Image

    with Image.open(io.BytesIO(_png_with_size(8, 8))) as img:
        assert img.size == (8, 8)
        img.load()


# -- content, not suffix ---------------------------------------------------------------------


def make_mp4(path: Path, frames: int = 6, size: tuple[int, int] = (48, 64)) -> Path:
    """An MPEG-4 Part 2 video (PyAV, codec mpeg4) of grey ramps, one brighter per frame."""
    import av

    rows, cols = size
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = cols, rows, "yuv420p"
        for i in range(frames):
            grey = np.full((rows, cols), 30 + 30 * i, dtype=np.uint8)
            rgb = np.repeat(grey[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_video_renamed_dcm_reads_as_video(tmp_path: Path) -> None:
    """docs/decisions/001-content-not-suffix.md: the first bytes decide the reader."""
    path = make_mp4(tmp_path / "clip.dcm")
    with pytest.warns(CalibrationWarning, match="no calibration"):
        image = sonomsk.read(path)
    assert image.metadata["format"] == "MP4"
    assert image.provenance.reader == "video"
    assert image.n_frames == 6
    assert image.frame(5).shape == (48, 64)


def test_dicom_renamed_png_reads_as_dicom(tmp_path: Path) -> None:
    path = tmp_path / "really_dicom.png"
    path.write_bytes(NATIVE_US.read_bytes())
    image = sonomsk.read(path)
    assert image.metadata["format"] == "DICOM"
    assert image.shape == (1, 60, 80, 3)


@pytest.mark.parametrize(
    ("content", "suffix"),
    [(b"just some text, not an image\n", ".dcm"), (b'{"spacing_mm": 0.1}', ".json"), (b"\x00" * 64, ".png")],
)
def test_unrecognised_content(content: bytes, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"mystery{suffix}"
    path.write_bytes(content)
    assert_error(read_error(path), UnsupportedDataError, path)


def test_damaged_png_body(tmp_path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[60:80] = b"\xff" * 20  # inside the IDAT stream
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    error = read_error(path)
    assert isinstance(error, CorruptDataError)  # CorruptDataError or its TruncatedDataError
    assert_error(error, type(error), path)


def test_truncated_png(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert_error(read_error(path), TruncatedDataError, path)


# -- paths -----------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    assert_error(read_error(path), EmptyFileError, path)


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "a_folder.dcm"
    path.mkdir()
    error = read_error(path)
    assert_error(error, InputPathError, path)
    assert "directory" in str(error)


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.dcm"
    error = read_error(path)
    assert_error(error, InputPathError, path)
    assert "no such file" in str(error)


def test_unreadable_by_access_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, which reads everything: simulate a file the user may not read."""
    path = tmp_path / "secret.dcm"
    path.write_bytes(NATIVE_US.read_bytes())
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == path else real_access(p, mode))
    error = read_error(path)
    assert_error(error, InputPathError, path)
    assert "permission denied" in str(error)


def test_unreadable_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.access can say yes while open() still fails (ACLs, network shares)."""
    path = tmp_path / "locked.dcm"
    path.write_bytes(NATIVE_US.read_bytes())
    real_open = Path.open

    def guarded_open(self: Path, *args: object, **kwargs: object) -> object:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", guarded_open)
    error = read_error(path)
    assert_error(error, InputPathError, path)


# -- decoder failures: damaged, not a missing plug-in ----------------------------------------


def test_decoder_failure_on_damaged_data_is_corrupt_not_missing_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression (found by the fuzz test): 'exceptions were raised by all available plugins' means
    the installed decoders ran and failed on damaged data; it used to say a decoder was missing."""
    path = us_source("OBXXXX1A_rle.dcm")

    def damaged(*_a: object, **_k: object) -> None:
        raise RuntimeError(
            "Unable to decode as exceptions were raised by all available plugins:\n"
            "  pylibjpeg: The decoded segment length does not match the expected length\n"
            "  pydicom: The amount of decoded RLE segment data doesn't match"
        )

    monkeypatch.setattr("pydicom.pixels.pixel_array", damaged)
    error = read_error(path)
    assert_error(error, CorruptDataError, path)


def test_missing_decoder_plugin_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    path = us_source("US1_J2KR.dcm")

    def missing(*_a: object, **_k: object) -> None:
        raise RuntimeError(
            "Unable to decompress 'JPEG 2000 Image Compression (Lossless Only)' pixel data because all "
            "plugins are missing dependencies:\n\tpylibjpeg - requires pylibjpeg-openjpeg"
        )

    monkeypatch.setattr("pydicom.pixels.pixel_array", missing)
    assert_error(read_error(path), BackendUnavailableError, path)


def test_real_damaged_rle_segment_is_a_sonomsk_error(tmp_path: Path) -> None:
    """Overwriting the middle of a real RLE stream: the decoders fail, sonomsk names the file."""
    data = bytearray(us_source("OBXXXX1A_rle.dcm").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = bytes(range(256)) * 15 + bytes(160)
    path = tmp_path / "damaged_rle.dcm"
    path.write_bytes(bytes(data))
    error = read_error(path)
    assert isinstance(error, CorruptDataError)
    assert_error(error, type(error), path)


# -- through the command line: a batch continues past a bad file -----------------------------


def test_cli_info_batch_reports_bad_files_and_describes_the_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    good = tmp_path / "good.dcm"
    good.write_bytes(NATIVE_US.read_bytes())
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(NATIVE_US.read_bytes()[:3000])
    good2 = tmp_path / "good2.png"
    Image.fromarray(np.full((40, 50), 90, dtype=np.uint8)).save(good2)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")

    code = main(["info", str(good), str(bad), str(good2), str(empty), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    entries = json.loads(out)
    assert [e["path"] for e in entries] == [str(good), str(bad), str(good2), str(empty)]
    assert entries[0]["format"] == "DICOM" and (entries[0]["rows"], entries[0]["columns"]) == (60, 80)
    assert entries[2]["format"] == "PNG" and entries[2]["calibrated"] is False
    assert entries[1]["error_class"] == "TruncatedDataError" and "bad.dcm" in entries[1]["error"]
    assert entries[3]["error_class"] == "EmptyFileError" and "empty.png" in entries[3]["error"]
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert "bad.dcm" in lines[0] and "empty.png" in lines[1]
    assert "Traceback" not in err


def test_cli_info_text_mode_reports_bad_file_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.dcm"
    good.write_bytes(NATIVE_US.read_bytes())
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "broken.dcm").write_bytes(b"DICM but not really")
    code = main(["info", str(good), str(folder)])
    out, err = capsys.readouterr()
    assert code == 1
    assert str(good) in out and "60 x 80 px" in out
    assert err.count("\n") == 1 and "broken.dcm" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("rows", "cols", "names"),
    [(9000, 100, "8192 px a side"), (8000, 8000, "40 Mpx a frame")],
)
def test_size_error_names_the_limit_that_was_hit(rows: int, cols: int, names: str) -> None:
    from sonomsk.io.limits import check_dimensions

    with pytest.raises(ImageTooLargeError) as caught:
        check_dimensions("scan.dcm", 1, rows, cols, 1, 1)
    assert names in str(caught.value)
    assert "\n" not in str(caught.value)
