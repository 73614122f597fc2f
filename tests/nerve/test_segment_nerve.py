"""Automatic and interactive nerve segmentation on simulated calibrated DICOM of known CSA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import sonomsk
from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.io.dicom_write import write_dicom
from sonomsk.nerve.interactive import BOX_MARGIN, measure_contour, outline_at, outline_in_box
from sonomsk.nerve.segment import segment_frame
from sonomsk.simulate.api import simulate_scene
from sonomsk.vision.backends import get_backend
from sonomsk.vision.contours import Contour
from sonomsk.vision.refine import Box, Window

needs_model = pytest.mark.skipif(
    not get_backend("onnx-unet").is_available(), reason="the ONNX model is not installed"
)


def _simulated(
    tmp_path: Path, scene: str, seed: int, csa: float
) -> tuple[sonomsk.core.image.UltrasoundImage, np.ndarray, float]:  # type: ignore[name-defined]
    image, truth = simulate_scene(scene, seed=seed, overrides={"csa_mm2": csa})
    path = write_dicom(image, tmp_path / f"{scene}-{seed}.dcm")
    read = sonomsk.read(path)
    assert read.calibrated and read.spacing_mm() == pytest.approx(truth.spacing_mm)
    nerve = next(s for s in truth.structures if s.get("label_name") == "nerve")
    return read, truth.nerve_vessel_labels(0) == 1, float(nerve["csa_mm2_raster"])


@needs_model
@pytest.mark.parametrize(
    ("scene", "seed", "csa"),
    [
        ("nerve", 7001, 8.0),
        ("nerve", 7002, 12.0),
        ("carpal-tunnel", 7003, 10.0),
        ("carpal-tunnel", 7004, 15.0),
    ],
)
def test_automatic_csa_of_simulated_nerves_within_5_percent(
    tmp_path: Path, scene: str, seed: int, csa: float
) -> None:
    image, truth_mask, true_csa = _simulated(tmp_path, scene, seed, csa)
    seg = segment_frame(image, structures=("nerve",))
    best = max(seg.instances, key=lambda inst: int((inst.mask & truth_mask).sum()))
    area = next(m for m in best.measurements if m.name == "area_cross_section")
    assert area.unit == "mm2"
    assert area.value == pytest.approx(true_csa, rel=0.05)


@needs_model
def test_click_outlines_the_nerve(tmp_path: Path) -> None:
    image, truth_mask, _ = _simulated(tmp_path, "nerve", 7010, 11.0)
    rows, cols = np.nonzero(truth_mask)
    contour = outline_at(image, float(rows.mean()), float(cols.mean()))
    mask = contour.to_mask((image.rows, image.columns))
    iou = (mask & truth_mask).sum() / (mask | truth_mask).sum()
    assert iou > 0.8


@needs_model
def test_click_csa_within_10_percent(tmp_path: Path) -> None:
    image, truth_mask, true_csa = _simulated(tmp_path, "nerve", 7010, 11.0)
    rows, cols = np.nonzero(truth_mask)
    contour = outline_at(image, float(rows.mean()), float(cols.mean()))
    area = measure_contour(image, contour).by_name("area_cross_section")[0]
    assert area.unit == "mm2" and area.value == pytest.approx(true_csa, rel=0.1)


def test_corrected_outline_is_measured_from_scratch() -> None:
    from sonomsk.core.image import UltrasoundImage, whole_image_region

    pixels = np.random.default_rng(1).integers(60, 120, (200, 240), dtype=np.uint8)
    image = UltrasoundImage.from_array(pixels, regions=(whole_image_region(200, 240, (0.05, 0.05)),))
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    contour = Contour(points=np.stack([100 + 40 * np.sin(t), 120 + 60 * np.cos(t)], axis=1))
    before = measure_contour(image, contour).by_name("area_cross_section")[0]
    centre = contour.points.mean(axis=0)
    shrunk = Contour(points=centre + 0.8 * (contour.points - centre), label="nerve")
    after = measure_contour(image, shrunk).by_name("area_cross_section")[0]
    assert after.value is not None and before.value is not None
    assert after.value == pytest.approx(0.64 * before.value, rel=0.01)


def test_measure_contour_of_an_analytic_ellipse_and_uncalibrated_px() -> None:
    from sonomsk.core.image import UltrasoundImage, whole_image_region

    rng = np.random.default_rng(0)
    pixels = rng.integers(60, 120, (200, 240), dtype=np.uint8)
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    pts = np.stack([100 + 30 * np.sin(t), 120 + 50 * np.cos(t)], axis=1)  # semi-axes 30 and 50 px
    contour = Contour(points=pts)
    calibrated = UltrasoundImage.from_array(pixels, regions=(whole_image_region(200, 240, (0.05, 0.05)),))
    area = measure_contour(calibrated, contour).by_name("area_cross_section")[0]
    assert area.unit == "mm2" and area.value == pytest.approx(np.pi * 30 * 50 * 0.0025, rel=0.02)
    plain = UltrasoundImage.from_array(pixels)
    area_px = measure_contour(plain, contour).by_name("area_cross_section")[0]
    assert area_px.unit == "px2" and area_px.value == pytest.approx(np.pi * 30 * 50, rel=0.02)


def test_bad_clicks_and_outlines() -> None:
    from sonomsk.core.image import UltrasoundImage

    image = UltrasoundImage.from_array(np.zeros((50, 50), np.uint8))
    with pytest.raises(InvalidParameterError, match="row, col"):
        outline_at(image, 80, 10, backend="classical")
    far = Contour(points=np.array([[500.0, 500.0], [500.0, 510.0], [510.0, 505.0]]))
    with pytest.raises(MeasurementError, match="no pixel"):
        measure_contour(image, far)


class _NoNerveInTheFrame:
    """A backend whose whole-frame model sees no nerve but whose refinement model sees a disc."""

    name = "test-window-only"

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth
        self.refinement = {"input_size": 96, "window_factor": 2.0, "min_window_px": 32}

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> None:
        return None

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        prob = np.zeros((3, *frame.shape[:2]), np.float32)
        prob[0] = 1.0
        return prob

    def window_nerve_probability(self, grey: np.ndarray, w: Window) -> np.ndarray:
        from sonomsk.vision.refine import crop

        return crop(self.truth.astype(np.uint8), w, 96, labels=True).astype(np.float32)


def test_click_where_the_frame_model_sees_no_nerve_asks_the_refinement_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.core.image import UltrasoundImage
    from sonomsk.vision import backends

    yy, xx = np.mgrid[:300, :300]
    disc = (yy - 150) ** 2 + (xx - 120) ** 2 <= 30**2
    monkeypatch.setitem(backends._REGISTRY, "test-window-only", "unused:unused")
    monkeypatch.setitem(backends._INSTANCES, "test-window-only", _NoNerveInTheFrame(disc))
    image = UltrasoundImage.from_array(np.full((300, 300), 90, np.uint8))  # flat: no classical edge
    contour = outline_at(image, 150, 125, backend="test-window-only")
    mask = contour.to_mask((300, 300))
    assert (mask & disc).sum() / (mask | disc).sum() > 0.9


def test_click_falls_back_to_the_classical_contour_where_no_window_shows_a_nerve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.core.image import UltrasoundImage
    from sonomsk.vision import backends
    from sonomsk.vision.classical import outline_classical

    monkeypatch.setitem(backends._REGISTRY, "test-window-only", "unused:unused")
    monkeypatch.setitem(
        backends._INSTANCES, "test-window-only", _NoNerveInTheFrame(np.zeros((300, 300), bool))
    )
    yy, xx = np.mgrid[:300, :300]
    pixels = np.where((yy - 150) ** 2 + (xx - 120) ** 2 <= 40**2, 30, 160).astype(np.uint8)  # a dark disc
    image = UltrasoundImage.from_array(pixels)
    contour = outline_at(image, 150, 120, backend="test-window-only")
    expected = Contour.from_mask(outline_classical(image.grey_frame(0), 150, 120), "nerve")
    assert np.array_equal(contour.to_mask((300, 300)), expected.to_mask((300, 300)))


@needs_model
def test_box_outlines_the_nerve(tmp_path: Path) -> None:
    image, truth_mask, true_csa = _simulated(tmp_path, "carpal-tunnel", 7011, 13.0)
    rows, cols = np.nonzero(truth_mask)
    contour = outline_in_box(image, rows.min(), cols.min(), rows.max(), cols.max())
    mask = contour.to_mask((image.rows, image.columns))
    assert (mask & truth_mask).sum() / (mask | truth_mask).sum() > 0.85
    area = measure_contour(image, contour).by_name("area_cross_section")[0]
    assert area.unit == "mm2" and area.value == pytest.approx(true_csa, rel=0.1)


class _FrameOnly(_NoNerveInTheFrame):
    """A backend with a whole-frame model (which sees ``frame_truth``) and no refinement model."""

    def __init__(self, frame_truth: np.ndarray) -> None:
        super().__init__(np.zeros_like(frame_truth))
        self.frame_truth = frame_truth

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        prob = np.zeros((3, *frame.shape[:2]), np.float32)
        prob[1] = self.frame_truth
        prob[0] = 1.0 - prob[1]
        return prob

    def window_nerve_probability(self, grey: np.ndarray, w: Window) -> np.ndarray:
        from sonomsk.core.errors import BackendUnavailableError

        raise BackendUnavailableError("whole-frame model only")


def _use(monkeypatch: pytest.MonkeyPatch, backend: object) -> str:
    from sonomsk.vision import backends

    monkeypatch.setitem(backends._REGISTRY, "test-box", "unused:unused")
    monkeypatch.setitem(backends._INSTANCES, "test-box", backend)
    return "test-box"


def test_box_asks_the_refinement_model_where_the_frame_model_sees_no_nerve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.core.image import UltrasoundImage

    yy, xx = np.mgrid[:300, :300]
    disc = (yy - 150) ** 2 + (xx - 120) ** 2 <= 30**2
    name = _use(monkeypatch, _NoNerveInTheFrame(disc))
    image = UltrasoundImage.from_array(np.full((300, 300), 90, np.uint8))  # flat: no classical edge
    mask = outline_in_box(image, 118, 88, 182, 152, backend=name).to_mask((300, 300))
    assert (mask & disc).sum() / (mask | disc).sum() > 0.9


def test_box_takes_the_frame_model_without_a_refinement_model_and_cuts_it_to_the_box(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.core.image import UltrasoundImage

    band = np.zeros((300, 300), bool)
    band[140:160, 20:280] = True  # a region that runs far beyond the box on both sides
    name = _use(monkeypatch, _FrameOnly(band))
    image = UltrasoundImage.from_array(np.full((300, 300), 90, np.uint8))
    box = Box(130, 100, 169, 199)  # 40 x 100 px
    mask = outline_in_box(image, box.top, box.left, box.bottom, box.right, backend=name).to_mask((300, 300))
    allowed = box.widened(BOX_MARGIN, (300, 300)).mask((300, 300))
    # the outline polygon runs along pixel edges: its raster may hold one more pixel at a side
    assert mask.any() and not (mask & ~ndimage.binary_dilation(allowed)).any()
    assert (mask & band).sum() / mask.sum() > 0.95
    cols = np.nonzero(mask.any(axis=0))[0]
    assert cols.min() <= 95 and cols.max() >= 204  # up to the margin of 10 px each side


def test_box_falls_back_to_the_classical_contour_at_its_centre(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.core.image import UltrasoundImage
    from sonomsk.vision.classical import outline_classical

    name = _use(monkeypatch, _FrameOnly(np.zeros((300, 300), bool)))
    yy, xx = np.mgrid[:300, :300]
    pixels = np.where((yy - 150) ** 2 + (xx - 120) ** 2 <= 40**2, 30, 160).astype(np.uint8)
    image = UltrasoundImage.from_array(pixels)
    mask = outline_in_box(image, 105, 75, 195, 165, backend=name).to_mask((300, 300))
    expected = outline_classical(image.grey_frame(0), 150, 120, radius_px=91)
    expected &= Box(105, 75, 195, 165).widened(BOX_MARGIN, (300, 300)).mask((300, 300))
    assert mask.any()
    assert (mask & expected).sum() / (mask | expected).sum() > 0.95


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((40.0, 10.0, 20.0, 30.0), "top <= bottom"),
        ((10.0, 30.0, 20.0, 10.0), "left <= right"),
        ((float("nan"), 10.0, 20.0, 30.0), "finite"),
        ((10.0, 10.0, 11.0, 40.0), "at least 3 x 3"),
        ((60.0, 60.0, 90.0, 90.0), "at least 3 x 3"),  # wholly outside the 50 x 50 frame
    ],
)
def test_bad_boxes(box: tuple[float, float, float, float], message: str) -> None:
    from sonomsk.core.image import UltrasoundImage

    image = UltrasoundImage.from_array(np.zeros((50, 50), np.uint8))
    with pytest.raises(InvalidParameterError, match=message):
        outline_in_box(image, *box, backend="classical")
