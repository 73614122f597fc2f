"""Every ultrasound file of pydicom-data and of pydicom's test files reads with the right shape,
colour and calibration; the burned-in caliper of a real echo image measures what the scanner said."""

from __future__ import annotations

import math
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

import sonomsk
from sonomsk.core.errors import CalibrationWarning, FormatWarning
from sonomsk.io.dicom import DicomFrames

from ..conftest import pydicom_data_dir, pydicom_test_dir

DATA = pydicom_data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="pydicom-data is not installed (test extra)")

# (file, package, frames, rows, cols, channels, calibrated tissue regions, expected warning)
US_FILES = [
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "data", 1, 768, 1024, 1, 1, None),
    ("OBXXXX1A.dcm", "data", 1, 600, 800, 3, 1, FormatWarning),
    ("OBXXXX1A_2frame.dcm", "data", 2, 600, 800, 3, 1, FormatWarning),
    ("OBXXXX1A_expb.dcm", "data", 1, 600, 800, 3, 1, FormatWarning),
    ("OBXXXX1A_expb_2frame.dcm", "data", 2, 600, 800, 3, 1, FormatWarning),
    ("OBXXXX1A_rle.dcm", "data", 1, 600, 800, 3, 1, FormatWarning),
    ("OBXXXX1A_rle_2frame.dcm", "data", 2, 600, 800, 3, 1, FormatWarning),
    ("US1_J2KI.dcm", "data", 1, 480, 640, 3, 0, None),
    ("US1_J2KR.dcm", "data", 1, 480, 640, 3, 0, None),
    ("US1_UNCI.dcm", "data", 1, 480, 640, 3, 0, None),
    ("US1_UNCR.dcm", "data", 1, 480, 640, 3, 0, None),
    ("color-pl.dcm", "data", 1, 120, 256, 3, 0, None),
    ("color-px.dcm", "data", 1, 120, 256, 3, 0, None),
    ("color3d_jpeg_baseline.dcm", "data", 120, 480, 640, 3, 1, None),
    ("gdcm-US-ALOKA-16.dcm", "data", 1, 480, 640, 3, 2, None),
    ("gdcm-US-ALOKA-16_big.dcm", "data", 1, 480, 640, 3, 2, None),
    ("ExplVR_BigEnd.dcm", "test", 1, 60, 80, 3, 0, None),
    ("examples_jpeg2k.dcm", "test", 1, 480, 640, 3, 0, None),
    ("examples_palette.dcm", "test", 1, 350, 800, 3, 0, CalibrationWarning),
    ("examples_rgb_color.dcm", "test", 1, 240, 320, 3, 0, None),
    ("examples_ybr_color.dcm", "test", 30, 240, 320, 3, 0, CalibrationWarning),
]


def _path(name: str, package: str) -> Path:
    if package == "data":
        if DATA is None:
            pytest.skip("pydicom-data is not installed (test extra)")
        return DATA / name
    return pydicom_test_dir() / name


def _read(path: Path, expected_warning: type[Warning] | None) -> sonomsk.core.image.UltrasoundImage:  # type: ignore[name-defined]
    if expected_warning is None:
        return sonomsk.read(path)
    with pytest.warns(expected_warning):
        return sonomsk.read(path)


@pytest.mark.parametrize(("name", "package", "frames", "rows", "cols", "channels", "n_cal", "warn"), US_FILES)
def test_every_ultrasound_file_reads(
    name: str,
    package: str,
    frames: int,
    rows: int,
    cols: int,
    channels: int,
    n_cal: int,
    warn: type[Warning] | None,
) -> None:
    path = _path(name, package)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert (int(ds.get("NumberOfFrames", 1)), ds.Rows, ds.Columns) == (frames, rows, cols)  # header truth
    image = _read(path, warn)
    assert image.shape == (frames, rows, cols, channels)
    last = image.frame(frames - 1)
    assert last.shape == ((rows, cols, 3) if channels == 3 else (rows, cols))
    assert float(np.ptp(last)) > 0, "decoded frame is flat"
    calibrated = [r for r in image.tissue_regions if r.spacing_mm is not None]
    assert len(calibrated) == n_cal
    assert image.calibrated is (n_cal > 0)
    assert len(image.regions) == len(ds.get("SequenceOfUltrasoundRegions", []))
    assert image.provenance.sop_instance_uid == ds.SOPInstanceUID
    assert image.provenance.source_sha256 and len(image.provenance.source_sha256) == 64
    assert image.metadata["transfer_syntax"] == ds.file_meta.TransferSyntaxUID


@needs_data
def test_big_and_little_endian_decode_identically() -> None:
    assert DATA is not None
    little = sonomsk.read(DATA / "gdcm-US-ALOKA-16.dcm").frame(0)
    big = sonomsk.read(DATA / "gdcm-US-ALOKA-16_big.dcm").frame(0)
    np.testing.assert_array_equal(little, big)


@needs_data
def test_rle_and_native_decode_identically() -> None:
    assert DATA is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        native = sonomsk.read(DATA / "OBXXXX1A_2frame.dcm")
        rle = sonomsk.read(DATA / "OBXXXX1A_rle_2frame.dcm")
    np.testing.assert_array_equal(native.frame(1), rle.frame(1))


def test_planar_configurations_decode_identically() -> None:
    if DATA is None:
        pytest.skip("pydicom-data is not installed (test extra)")
    a = sonomsk.read(DATA / "color-pl.dcm").frame(0)
    b = sonomsk.read(DATA / "color-px.dcm").frame(0)
    np.testing.assert_array_equal(a, b)


@needs_data
def test_dual_pane_regions() -> None:
    assert DATA is not None
    image = sonomsk.read(DATA / "gdcm-US-ALOKA-16.dcm")
    left, right = image.tissue_regions
    assert left.box[3] == right.box[1]  # side by side
    assert image.spacing_mm(row=200, col=100) == image.spacing_mm(row=200, col=500)
    assert image.spacing_mm(row=200, col=100)[0] == pytest.approx(0.38265, rel=1e-4)


def test_region_outside_pixels_gives_no_mm() -> None:
    with pytest.warns(CalibrationWarning, match="does not fit"):
        image = sonomsk.read(pydicom_test_dir() / "examples_ybr_color.dcm")
    assert not image.calibrated
    assert image.regions[0].valid is False and "does not fit" in (image.regions[0].reason or "")
    with pytest.raises(sonomsk.core.errors.CalibrationError):  # type: ignore[attr-defined]
        image.spacing_mm()


def _caliper_cross() -> tuple[np.ndarray, np.ndarray]:
    """The scanner's hollow caliper cross: 3-px white arms with a 1-px black outline, open centre."""
    t = np.zeros((15, 16), np.float32)
    m = np.zeros_like(t)
    for r0, r1 in ((0, 5), (10, 15)):  # vertical arms, columns 7..9 white, 6 and 10 black
        t[r0:r1, 7:10] = 255
        m[r0:r1, 6:11] = 1
    for c0, c1 in ((1, 6), (11, 16)):  # horizontal arms, rows 6..8 white, 5 and 9 black
        t[6:9, c0:c1] = 255
        m[5:10, c0:c1] = 1
    m[6:9, 0] = 1
    return t, m


@needs_data
def test_burned_in_caliper_measures_3_33_cm() -> None:
    import cv2

    assert DATA is not None
    image = sonomsk.read(DATA / "JPGLosslessP14SV1_1s_1f_8b.dcm")
    frame = image.frame(0).astype(np.float32)
    template, mask = _caliper_cross()
    score = cv2.matchTemplate(frame, template, cv2.TM_SQDIFF, mask=mask)
    ys, xs = np.where(score < 1.0)
    centres = [(int(y) + 7, int(x) + 8) for y, x in zip(ys, xs, strict=True)]
    assert len(centres) == 2, centres
    (r1, c1), (r2, c2) = centres
    assert math.hypot(r2 - r1, c2 - c1) == pytest.approx(130.6, abs=0.5)
    sr, sc = image.spacing_mm(row=r1, col=c1)
    assert image.spacing_mm(row=r2, col=c2) == (sr, sc)
    length_cm = math.hypot((r2 - r1) * sr, (c2 - c1) * sc) / 10.0
    assert length_cm == pytest.approx(3.33, abs=0.05)


@needs_data
def test_cine_is_read_lazily() -> None:
    """Opening a 120-frame JPEG cine neither decodes it nor keeps its compressed bytes."""
    assert DATA is not None
    path = DATA / "color3d_jpeg_baseline.dcm"
    sonomsk.read(path).frame(1)  # warm up imports and decoder plug-ins outside the measurement
    tracemalloc.start()
    image = sonomsk.read(path)
    retained, open_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    assert isinstance(image.frames, DicomFrames)
    decoded_at_open = image.frames.decode_count
    image.frame(60)
    _, frame_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    frame_bytes = 480 * 640 * 3
    full = 120 * frame_bytes
    compressed = path.stat().st_size  # about 6 MB
    assert decoded_at_open == 1
    assert image.frames.decode_count == 2
    assert retained < 2 * frame_bytes < compressed, f"{retained} bytes kept after opening"
    assert max(open_peak, frame_peak) < full / 8, f"peak {max(open_peak, frame_peak)} bytes"
    assert image.frame_time_s == pytest.approx(0.033333)  # FrameTime 33.333 ms


@needs_data
def test_jpeg_lossless_without_gdcm_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydicom's decoder as it is when python-gdcm is not installed (its only plug-in for JPEG
    lossless here): no available plug-in. The error names the package, before any decoding."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    from sonomsk.core.errors import BackendUnavailableError

    assert DATA is not None
    decoder = get_decoder(JPEGLosslessSV1)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"gdcm": ("python-gdcm",)})
    with pytest.raises(BackendUnavailableError, match=r"python-gdcm .*sonomsk\[gdcm\]") as info:
        sonomsk.read(DATA / "JPGLosslessP14SV1_1s_1f_8b.dcm")
    assert "JPGLosslessP14SV1_1s_1f_8b.dcm" in str(info.value)
    assert isinstance(info.value, ImportError)


@needs_data
@pytest.mark.parametrize(
    ("name", "decoder"),
    [
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", "pydicom/gdcm"),
        ("OBXXXX1A_rle.dcm", "pydicom/pylibjpeg"),
        ("US1_J2KR.dcm", "pydicom/pylibjpeg"),
        ("US1_UNCR.dcm", "pydicom/native"),
    ],
)
def test_provenance_names_the_decoder_that_decoded(name: str, decoder: str) -> None:
    assert DATA is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        image = sonomsk.read(DATA / name)
    assert image.provenance.decoder == decoder
    assert image.provenance.reader == "dicom"


@needs_data
def test_every_jpeg2000_plugin_decodes_the_lossless_file_identically() -> None:
    """The plug-in order is sonomsk's choice; lossless data must not depend on it."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    from sonomsk.io.dicom import DicomFrames

    assert DATA is not None
    path = DATA / "US1_J2KR.dcm"
    image = sonomsk.read(path)
    assert isinstance(image.frames, DicomFrames)
    reference = image.frame(0)
    plugins = get_decoder(JPEG2000Lossless).available_plugins
    assert len(plugins) >= 2
    for plugin in plugins:
        frames = DicomFrames(path, image.frames._ds, 1, reference.shape, reference.dtype, plugins=(plugin,))
        np.testing.assert_array_equal(frames.get(0), reference, err_msg=plugin)
        assert frames.decoder == f"pydicom/{plugin}"


def test_plugin_fallback_when_the_first_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in that fails on a frame is skipped; the one that worked is named and tried first."""
    from pydicom import pixels

    path = pydicom_test_dir() / "examples_jpeg2k.dcm"
    real = pixels.pixel_array
    calls: list[str] = []

    def flaky(src: object, *, decoding_plugin: str = "", **kwargs: object) -> np.ndarray:
        calls.append(decoding_plugin)
        if decoding_plugin == "pylibjpeg":
            raise RuntimeError("simulated failure of one plug-in")
        return real(src, decoding_plugin=decoding_plugin, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pixels, "pixel_array", flaky)
    image = sonomsk.read(path)
    assert calls[:2] == ["pylibjpeg", "gdcm"]
    assert image.provenance.decoder == "pydicom/gdcm"
    calls.clear()
    image.frames._cache = None  # type: ignore[attr-defined]
    image.frame(0)
    assert calls == ["gdcm"]


def test_caller_spacing_only_when_uncalibrated(tmp_path: Path) -> None:
    image = sonomsk.read(pydicom_test_dir() / "examples_rgb_color.dcm", spacing_mm=0.2)
    assert image.calibrated and image.spacing_mm() == (0.2, 0.2)
    assert image.metadata["calibration_source"] == "caller"
    if DATA is not None:
        calibrated = sonomsk.read(DATA / "gdcm-US-ALOKA-16.dcm", spacing_mm=0.2)
        assert calibrated.spacing_mm(row=200, col=100) != (0.2, 0.2)
