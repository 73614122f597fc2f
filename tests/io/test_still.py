"""Still images through Pillow: every common mode reads with the right shape, dtype and values;
calibration comes from the caller, a sidecar, a depth scale, or not at all (then px, warned)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sonomsk
from sonomsk.core.errors import CalibrationError, CalibrationWarning, InvalidParameterError


def ramp(rows: int = 40, cols: int = 60) -> np.ndarray:
    return (np.arange(rows * cols).reshape(rows, cols) % 251).astype(np.uint8)


def read_uncalibrated(path: Path) -> sonomsk.core.image.UltrasoundImage:  # type: ignore[name-defined]
    with pytest.warns(CalibrationWarning, match="no calibration: results in px"):
        return sonomsk.read(path)


def test_grey_png(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(ramp()).save(path)
    image = read_uncalibrated(path)
    assert image.shape == (1, 40, 60, 1)
    assert image.photometric == "MONOCHROME2"
    np.testing.assert_array_equal(image.frame(0), ramp())
    assert image.metadata["format"] == "PNG"
    assert image.metadata["calibration_source"] == "none"
    assert image.calibrated is False
    assert "no calibration: results in px" in image.warnings
    with pytest.raises(CalibrationError, match=r"grey\.png"):
        image.spacing_mm()


def test_rgb_png_keeps_colour(tmp_path: Path) -> None:
    rgb = np.stack([ramp(), 255 - ramp(), np.full((40, 60), 7, np.uint8)], axis=2)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    image = read_uncalibrated(path)
    assert image.shape == (1, 40, 60, 3) and image.photometric == "RGB"
    np.testing.assert_array_equal(image.frame(0), rgb)


def test_grey_stored_as_rgb_collapses_to_grey(tmp_path: Path) -> None:
    path = tmp_path / "grey_as_rgb.png"
    Image.fromarray(np.repeat(ramp()[..., None], 3, axis=2)).save(path)
    image = read_uncalibrated(path)
    assert image.shape == (1, 40, 60, 1) and image.photometric == "MONOCHROME2"
    np.testing.assert_array_equal(image.frame(0), ramp())


def test_palette_png_becomes_rgb(tmp_path: Path) -> None:
    index = (ramp() % 4).astype(np.uint8)
    img = Image.fromarray(index, mode="P")
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30] + [0] * (256 * 3 - 12)
    img.putpalette(palette)
    path = tmp_path / "palette.png"
    img.save(path)
    image = read_uncalibrated(path)
    assert image.shape == (1, 40, 60, 3)
    lut = np.array(palette, dtype=np.uint8).reshape(256, 3)
    np.testing.assert_array_equal(image.frame(0), lut[index])


def test_rgba_png_drops_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = ramp(), 9, 200, 255
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    image = read_uncalibrated(path)
    np.testing.assert_array_equal(image.frame(0), rgba[..., :3])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_stays_16_bit(suffix: str, tmp_path: Path) -> None:
    data = (np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)
    assert data.max() > 255
    path = tmp_path / f"deep{suffix}"
    Image.fromarray(data).save(path)
    image = read_uncalibrated(path)
    assert image.frames.dtype == np.uint16
    np.testing.assert_array_equal(image.frame(0), data)


def test_multi_page_tiff_is_a_cine(tmp_path: Path) -> None:
    pages = [np.full((30, 20), 10 * i, np.uint8) for i in range(5)]
    path = tmp_path / "pages.tif"
    Image.fromarray(pages[0]).save(path, save_all=True, append_images=[Image.fromarray(p) for p in pages[1:]])
    image = read_uncalibrated(path)
    assert image.shape == (5, 30, 20, 1)
    for i in range(5):
        assert int(image.frame(i)[0, 0]) == 10 * i


def test_jpeg_is_lossy_but_close(tmp_path: Path) -> None:
    smooth = np.tile(np.linspace(20, 220, 60), (40, 1)).astype(np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(smooth).save(path, quality=95)
    image = read_uncalibrated(path)
    assert image.metadata["format"] == "JPEG" and image.shape == (1, 40, 60, 1)
    assert float(np.abs(image.frame(0).astype(int) - smooth).max()) <= 6


def test_bmp(tmp_path: Path) -> None:
    path = tmp_path / "screen.bmp"
    Image.fromarray(ramp()).save(path)
    image = read_uncalibrated(path)
    assert image.metadata["format"] == "BMP"
    np.testing.assert_array_equal(image.frame(0), ramp())


def test_frames_are_read_only(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(ramp()).save(path)
    image = read_uncalibrated(path)
    with pytest.raises(ValueError):
        image.frame(0)[0, 0] = 1


@pytest.mark.parametrize(("given", "expected"), [(0.1, (0.1, 0.1)), ((0.2, 0.3), (0.2, 0.3))])
def test_caller_spacing(
    given: float | tuple[float, float], expected: tuple[float, float], tmp_path: Path
) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(ramp()).save(path)
    image = sonomsk.read(path, spacing_mm=given)
    assert image.calibrated and image.spacing_mm() == expected
    assert image.metadata["calibration_source"] == "caller"
    # said where the millimetres came from, as docs/errors.md and the DICOM reader say it
    (note,) = image.warnings
    assert note.endswith(
        f"calibration supplied by the caller ({expected[0]} x {expected[1]} mm/px, row x col)"
    )
    assert image.provenance.operations == (f"calibration: caller-supplied spacing_mm {expected}",)


@pytest.mark.parametrize("bad", [0.0, -0.1, 50.0, (0.1, 0.2, 0.3), float("nan")])
def test_bad_caller_spacing_names_the_parameter(bad: object, tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(ramp()).save(path)
    with pytest.raises(InvalidParameterError, match="spacing_mm"):
        sonomsk.read(path, spacing_mm=bad)  # type: ignore[arg-type]


def test_a_sidecar_beats_the_caller_spacing(tmp_path: Path) -> None:
    """A sidecar is the image's own calibration, as DICOM regions are (docs/errors.md): the
    caller's spacing is ignored and the image's warnings say so."""
    path = tmp_path / "grey.png"
    Image.fromarray(ramp()).save(path)
    (tmp_path / "grey.json").write_text('{"spacing_mm": 0.5}')
    image = sonomsk.read(path, spacing_mm=0.1)
    assert image.spacing_mm() == (0.5, 0.5)
    assert image.metadata["calibration_source"] == "sidecar" and image.provenance.operations == ()
    (note,) = image.warnings
    assert "grey.json" in note and "spacing_mm (0.1 x 0.1 mm/px, row x col) was ignored" in note


def test_detect_scale_can_be_switched_off(tmp_path: Path) -> None:
    from .test_depth_scale import draw_ruler

    path = tmp_path / "ruler.png"
    Image.fromarray(draw_ruler(period=50.0)).save(path)
    found = sonomsk.read(path)
    assert found.metadata["calibration_source"] == "depth_scale"
    with pytest.warns(CalibrationWarning):
        off = sonomsk.read(path, detect_scale=False)
    assert off.calibrated is False


def test_unlabelled_ruler_is_not_trusted_and_the_reason_is_kept(tmp_path: Path) -> None:
    from .test_depth_scale import draw_ruler

    path = tmp_path / "ticks_only.png"
    Image.fromarray(draw_ruler(period=50.0, labels=False)).save(path)
    image = read_uncalibrated(path)
    assert image.calibrated is False and image.metadata["calibration_source"] == "none"
    assert any("0.5 cm or 1 cm apart is ambiguous" in w for w in image.warnings)


def test_detected_scale_is_named_in_the_warnings(tmp_path: Path) -> None:
    from .test_depth_scale import draw_ruler

    path = tmp_path / "ruler.png"
    Image.fromarray(draw_ruler(period=40.0)).save(path)
    image = sonomsk.read(path)
    assert image.spacing_mm() == pytest.approx((0.25, 0.25), rel=0.01)
    assert image.warnings[0].startswith("calibration from detected depth scale (7 ticks)")


# -- damaged files ------------------------------------------------------------------------------


def _noise(rows: int = 120, cols: int = 160) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (rows, cols), dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["png", "jpg", "tif", "bmp"])
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_still_names_the_file(suffix: str, keep: float, tmp_path: Path) -> None:
    from sonomsk.core.errors import TruncatedDataError

    full = tmp_path / f"full.{suffix}"
    Image.fromarray(_noise()).save(full)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(TruncatedDataError, match=rf"cut\.{suffix}"):
        sonomsk.read(cut, spacing_mm=0.1)


def test_png_with_damaged_data_is_corrupt(tmp_path: Path) -> None:
    from sonomsk.core.errors import CorruptDataError

    full = tmp_path / "full.png"
    Image.fromarray(_noise()).save(full)
    data = bytearray(full.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = b"\xff" * 200
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match=r"bad\.png"):
        sonomsk.read(bad, spacing_mm=0.1)


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1 x 1 PNG whose header (with a correct CRC) claims ``width`` x ``height`` px."""
    import io
    import struct
    import zlib

    buf = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), dtype=np.uint8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize(("width", "height"), [(9000, 10), (7000, 7000), (60000, 60000)])
def test_decompression_bomb_is_refused_before_decoding(width: int, height: int, tmp_path: Path) -> None:
    from sonomsk.core.errors import ImageTooLargeError

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(width, height))
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png"):
        sonomsk.read(path, spacing_mm=0.1)


def test_multipage_tiff_with_pages_of_different_sizes(tmp_path: Path) -> None:
    from sonomsk.core.errors import CorruptDataError

    path = tmp_path / "mixed.tif"
    pages = [Image.fromarray(ramp()), Image.fromarray(ramp(20, 30))]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with pytest.raises(CorruptDataError, match=r"mixed\.tif"):
        sonomsk.read(path, spacing_mm=0.1)


# ----------------------------------------------------------------------------- 32-bit pages (PIL "I", "F")


@pytest.mark.parametrize("scale", [1.0, 1.0 / 255.0])
def test_float_tiff_keeps_its_float_values(scale: float, tmp_path: Path) -> None:
    """A float TIFF (ImageJ/MATLAB export) is read as float32 with its own values: 0-255 floats
    are not shrunk to a 16-bit scale, and 0-1 floats are not truncated to a black image."""
    data = ramp().astype(np.float32) * np.float32(scale)
    path = tmp_path / "float.tif"
    Image.fromarray(data).save(path)
    assert Image.open(path).mode == "F"
    image = read_uncalibrated(path)
    assert image.frames.dtype == np.float32 and image.photometric == "MONOCHROME2"
    np.testing.assert_array_equal(image.frame(0), data)


@pytest.mark.parametrize(("top", "dtype"), [(240, np.uint8), (4000, np.uint16), (65535, np.uint16)])
def test_32_bit_integer_tiff_keeps_its_scale(top: int, dtype: type, tmp_path: Path) -> None:
    """A 32-bit integer TIFF holding 8-bit values stays 8-bit (its full scale is 255, not 65535)."""
    data = (np.arange(40 * 60).reshape(40, 60) % (top + 1)).astype(np.int32)
    data[0, 0] = top
    path = tmp_path / "int32.tif"
    Image.fromarray(data).save(path)
    assert Image.open(path).mode == "I"
    image = read_uncalibrated(path)
    assert image.frames.dtype == dtype
    np.testing.assert_array_equal(image.frame(0), data)


@pytest.mark.parametrize(
    ("value", "dtype", "match"),
    [
        (-1.5, np.float32, "down to -1.5"),
        (float("nan"), np.float32, "NaN or infinite"),
        (float("inf"), np.float32, "NaN or infinite"),
        (-5, np.int32, "down to -5"),
        (70000, np.int32, "up to 70000"),
    ],
)
def test_32_bit_values_that_are_not_grey_levels_are_refused(
    value: float, dtype: type, match: str, tmp_path: Path
) -> None:
    from sonomsk.core.errors import UnsupportedDataError

    data = ramp().astype(dtype)
    data[3, 4] = value
    path = tmp_path / "odd.tif"
    Image.fromarray(data).save(path)
    with pytest.raises(UnsupportedDataError, match=match) as info:
        sonomsk.read(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
