"""Echo measures of a nerve read only its grey pixels (Doppler colour is not echo), and the mean
echo is on one scale (8-bit display levels) whatever the stored bit depth."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomsk.core.image import RegionKind, UltrasoundImage
from sonomsk.core.results import Measurement
from sonomsk.nerve.morphology import measure_mask, morphology_parameters
from sonomsk.nerve.segment import doppler_inputs
from sonomsk.simulate.api import simulate_scene

RED = (220, 30, 20)  # the reviewer's colour (luma 87)
YELLOW = (250, 230, 20)  # a much brighter colour (luma 212)


def _by_name(measurements: Iterable[Measurement]) -> dict[str, Measurement]:
    return {m.name: m for m in measurements}


@pytest.fixture(scope="module")
def nerve() -> tuple[UltrasoundImage, np.ndarray]:
    """A simulated grey (uint8) nerve whose fascicles are resolved, and its true mask."""
    image, truth = simulate_scene("nerve", seed=6000)
    return image, truth.labels[0] == 1


def _colour_image(
    image: UltrasoundImage, mask: np.ndarray, paint: np.ndarray | None, colour: tuple
) -> UltrasoundImage:
    """The grey frame as RGB (R = G = B) with ``paint`` pixels set to ``colour``, and a colour
    Doppler region 10 px around the nerve (as the reviewer's mkvasc.py built it)."""
    rgb = np.repeat(np.asarray(image.frame(0))[..., None], 3, axis=2)
    if paint is not None:
        rgb[paint] = colour
    rows, cols = np.nonzero(mask)
    tissue = next(r for r in image.regions if r.kind is RegionKind.TISSUE)
    box = (int(rows.min()) - 10, int(cols.min()) - 10, int(rows.max()) + 11, int(cols.max()) + 11)
    doppler = dataclasses.replace(tissue, box=box, kind=RegionKind.COLOR_DOPPLER)
    return UltrasoundImage.from_array(rgb, photometric="RGB", regions=(tissue, doppler))


def _measure(image: UltrasoundImage, mask: np.ndarray) -> dict[str, Measurement]:
    """The measures the batch path takes (segment_frame without the segmentation)."""
    rgb, doppler = doppler_inputs(image, 0)
    spacing = next(r for r in image.regions if r.kind is RegionKind.TISSUE).spacing_mm
    return _by_name(measure_mask(mask, image.grey_frame(0), spacing=spacing, rgb=rgb, doppler_mask=doppler))


def _stripes(mask: np.ndarray, period: int, width: int) -> np.ndarray:
    """Vertical stripes inside the mask: ``width`` of every ``period`` columns."""
    return mask & ((np.arange(mask.shape[1])[None, :] % period) < width)


# ------------------------------------------------------------------------ colour is not echo


def test_colour_painted_over_a_quarter_of_the_nerve_does_not_change_its_echo(nerve) -> None:
    image, mask = nerve
    paint = _stripes(mask, 8, 2)
    assert 0.2 < paint.sum() / mask.sum() < 0.3
    plain = _measure(_colour_image(image, mask, None, RED), mask)
    red = _measure(_colour_image(image, mask, paint, RED), mask)
    yellow = _measure(_colour_image(image, mask, paint, YELLOW), mask)
    grey = np.asarray(image.frame(0), dtype=np.float64)
    # the mean echo is that of the unpainted (grey) pixels, whatever the colour's brightness
    for painted in (red, yellow):
        assert painted["echo_intensity_mean"].value == pytest.approx(grey[mask & ~paint].mean(), abs=1e-3)
        assert painted["echo_intensity_mean"].context["pixels_coloured"] == int(paint.sum())
    assert red["fraction_hypoechoic"].value == pytest.approx(yellow["fraction_hypoechoic"].value, abs=1e-12)
    # the stripes sample the nerve evenly: the grey part is as hypoechoic as the whole nerve
    assert red["fraction_hypoechoic"].value == pytest.approx(plain["fraction_hypoechoic"].value, abs=0.03)
    assert red["echo_intensity_mean"].value == pytest.approx(plain["echo_intensity_mean"].value, abs=2.0)
    # fascicles: colour over a quarter of the nerve breaks the honeycomb
    for name in ("count_fascicle", "area_fascicle_max"):
        assert not red[name].ok
        assert red[name].failure.startswith("not resolved: colour Doppler covers 25% of the nerve")
    assert red["fraction_vascular"].value == pytest.approx(paint.sum() / mask.sum())


def test_a_small_colour_spot_leaves_the_fascicle_count_resolved(nerve) -> None:
    """A coloured patch under ``fascicles.max_coloured_fraction`` of the nerve is left out of it;
    the count stays resolved and near that of the grey nerve, whatever the colour."""
    image, mask = nerve
    rows, cols = np.nonzero(mask)
    centre = int(rows.mean()), int(cols.mean())
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    spot = mask & ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= 6**2)
    share = spot.sum() / mask.sum()
    assert 0 < share < morphology_parameters()["fascicles"]["max_coloured_fraction"]
    plain = _measure(_colour_image(image, mask, None, RED), mask)["count_fascicle"]
    counts = [_measure(_colour_image(image, mask, spot, c), mask)["count_fascicle"] for c in (RED, YELLOW)]
    assert plain.ok and all(c.ok for c in counts)
    assert counts[0].value == counts[1].value
    assert abs(counts[0].value - plain.value) <= 1


def test_colour_over_most_of_the_nerve_fails_the_echo_measures_with_the_coloured_fraction(nerve) -> None:
    image, mask = nerve
    paint = _stripes(mask, 10, 6)  # 60 % of the nerve coloured, 40 % grey
    share = paint.sum() / mask.sum()
    assert share > 1 - morphology_parameters()["echo"]["min_grey_fraction"]
    by = _measure(_colour_image(image, mask, paint, RED), mask)
    for name in ("echo_intensity_mean", "fraction_hypoechoic"):
        assert not by[name].ok and by[name].value is None
        assert by[name].failure.startswith(f"colour covers {share:.0%} of the nerve")
    assert by["area_cross_section"].ok and by["fraction_vascular"].ok  # the rest is still measured


def test_a_grey_image_gives_exactly_the_former_numbers(nerve) -> None:
    """Values of the code before colour was left out (simulate_scene('nerve', seed=6000), true
    mask), for the grey frame and for the same pixels as an RGB image with a Doppler region."""
    image, mask = nerve
    before = {
        "area_cross_section": 14.670181274414062,
        "perimeter": 13.926885318661853,
        "circularity": 0.950722122992806,
        "diameter_major": 5.147459233262655,
        "diameter_minor": 3.630418826839369,
        "ratio_flattening": 1.4178692538744948,
        "echo_intensity_mean": 84.29627990722656,
        "fraction_hypoechoic": 0.2649192604727358,
        "count_fascicle": 7.0,
        "area_fascicle_max": 0.8342742919921875,
    }
    spacing = image.regions[0].spacing_mm
    as_grey = _by_name(measure_mask(mask, image.grey_frame(0), spacing=spacing))
    as_rgb = _measure(_colour_image(image, mask, None, RED), mask)
    for by in (as_grey, as_rgb):
        # to rounding (the last bit differs between numpy/OpenCV releases), not to any tolerance that
        # a change of method could hide in
        assert {k: by[k].value for k in before} == pytest.approx(before, rel=1e-12, abs=0)
        assert by["echo_intensity_mean"].context["pixels_coloured"] == 0
        assert by["echo_intensity_mean"].context["grey_max"] == 255.0


# ------------------------------------------------------------------------ one grey scale


def test_sixteen_and_eight_bit_copies_give_the_same_mean_echo_on_the_8_bit_scale(nerve) -> None:
    from sonomsk.nerve.morphology import grey_full_scale

    image, mask = nerve
    spacing = image.regions[0].spacing_mm
    eight = np.asarray(image.frame(0))
    sixteen = eight.astype(np.uint16) * 257  # 255 -> 65535: the same picture at 16 bits
    by8 = _by_name(measure_mask(mask, eight, spacing=spacing))
    by16 = _by_name(measure_mask(mask, sixteen, spacing=spacing))
    img16 = UltrasoundImage.from_array(sixteen, regions=image.regions)
    assert grey_full_scale(img16) == 65535.0
    by16f = _by_name(
        measure_mask(mask, img16.grey_frame(0), spacing=spacing, grey_max=grey_full_scale(img16))
    )
    for by in (by16, by16f):
        assert by["echo_intensity_mean"].value == pytest.approx(by8["echo_intensity_mean"].value, rel=1e-6)
        assert by["echo_intensity_mean"].unit == "grey"
        assert by["echo_intensity_mean"].context["grey_max"] == 65535.0
        assert by["fraction_hypoechoic"].value == pytest.approx(by8["fraction_hypoechoic"].value, abs=1e-9)
    assert by8["echo_intensity_mean"].context["grey_max"] == 255.0
    # float grey values beyond 0-255 without a stated scale: no number on an unknown scale
    unknown = _by_name(measure_mask(mask, img16.grey_frame(0), spacing=spacing))["echo_intensity_mean"]
    assert not unknown.ok and unknown.failure.startswith("grey scale unknown")


def test_segment_csv_puts_sixteen_and_eight_bit_pngs_on_one_scale(nerve, tmp_path: Path) -> None:
    from sonomsk.cli.main import main
    from sonomsk.vision.backends import get_backend

    if not get_backend("onnx-unet").is_available():
        pytest.skip("the ONNX model is not installed")
    image, _ = nerve
    eight = np.asarray(image.frame(0))
    Image.fromarray(eight).save(tmp_path / "eight.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")  # mode I;16
    table = tmp_path / "m.csv"
    inputs = [str(tmp_path / "eight.png"), str(tmp_path / "sixteen.png")]
    argv = ["segment", *inputs, "--out", str(tmp_path / "o"), "--csv", str(table), "--structures", "nerve"]
    rc = main(argv)
    assert rc == 0
    with open(table, newline="") as fh:
        rows = {Path(r["file"]).stem: r for r in csv.DictReader(fh)}
    assert set(rows) == {"eight", "sixteen"}
    echo8, echo16 = float(rows["eight"]["mean_echo"]), float(rows["sixteen"]["mean_echo"])
    assert 0 < echo8 < 255
    assert echo16 == pytest.approx(echo8, abs=1.0)  # the outlines may differ by a few pixels


def test_a_12_bit_dicom_and_the_workstation_path_use_the_8_bit_scale(nerve, tmp_path: Path) -> None:
    """A 12-bit grey DICOM (stored in 16 bits): its full scale is 4095, not 65535; the click and
    correction path (measure_contour) reports the same mean echo as the 8-bit original."""
    import pydicom

    import sonomsk
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.nerve.interactive import measure_contour
    from sonomsk.vision.contours import Contour

    image, mask = nerve
    eight = write_dicom(image, tmp_path / "eight.dcm")
    ds = pydicom.dcmread(eight)
    twelve_bit = (ds.pixel_array.astype(np.uint32) * 4095 // 255).astype(np.uint16)  # 0-4095
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = twelve_bit.tobytes()
    ds.save_as(tmp_path / "twelve.dcm", enforce_file_format=True)
    img8, img12 = sonomsk.read(eight), sonomsk.read(tmp_path / "twelve.dcm")
    assert img12.metadata["bits_stored"] == 12 and img8.metadata["bits_stored"] == 8
    contour = Contour.from_mask(mask, "nerve")
    echo = [
        _by_name(measure_contour(img, contour, structure="nerve", frame=0).measurements)[
            "echo_intensity_mean"
        ]
        for img in (img8, img12)
    ]
    assert echo[0].value is not None and echo[1].value is not None, [e.failure for e in echo]
    assert echo[1].value == pytest.approx(echo[0].value, abs=0.2)
    assert echo[1].context["grey_max"] == 4095


def test_float_grey_values_within_0_1_leave_the_mean_echo_unknown() -> None:
    """A 0-1 normalised float image and a nearly black 8-bit one cannot be told apart: the mean
    echo is a failure with that reason, not a number 255 times too small. Floats above 1 within
    0-255 are still 8-bit levels, and the hypoechoic fraction needs no scale."""
    rng = np.random.default_rng(3)
    grey = rng.uniform(40, 200, size=(64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), dtype=bool)
    mask[20:40, 20:44] = True
    eight = {m.name: m for m in measure_mask(mask, grey, spacing=None)}
    unit = {m.name: m for m in measure_mask(mask, grey / np.float32(255), spacing=None)}
    assert eight["echo_intensity_mean"].value == pytest.approx(float(grey[mask].mean()), rel=1e-5)
    assert unit["echo_intensity_mean"].value is None
    assert "float grey values within 0-1" in str(unit["echo_intensity_mean"].failure)
    assert unit["fraction_hypoechoic"].value == pytest.approx(eight["fraction_hypoechoic"].value)
