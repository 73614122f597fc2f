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
    with pytest.raises(MeasurementError, match="flat"):  # nothing to outline on a blank frame
        outline_at(image, 25, 25, backend="classical")
    far = Contour(points=np.array([[500.0, 500.0], [500.0, 510.0], [510.0, 505.0]]))
    with pytest.raises(InvalidParameterError, match=r"points\[0\]: expected a point inside 50 x 50 px"):
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
    found = outline_in_box(image, rows.min(), cols.min(), rows.max(), cols.max())
    assert found.method == "refinement_window"
    mask = found.contour.to_mask((image.rows, image.columns))
    assert (mask & truth_mask).sum() / (mask | truth_mask).sum() > 0.85
    area = measure_contour(image, found.contour).by_name("area_cross_section")[0]
    assert area.unit == "mm2" and area.value == pytest.approx(true_csa, rel=0.1)


class _Fake(_NoNerveInTheFrame):
    """A backend whose whole-frame model sees ``frame_truth`` and whose refinement model sees
    ``window_truth`` (or the dark pixels of the frame it is given, with ``dark=True``; or none,
    with ``window_truth=None``); it records the windows it is asked for."""

    def __init__(
        self, frame_truth: np.ndarray, window_truth: np.ndarray | None, *, dark: bool = False
    ) -> None:
        super().__init__(np.zeros_like(frame_truth) if window_truth is None else window_truth)
        self.frame_truth, self.has_window, self.dark = frame_truth, window_truth is not None, dark
        self.windows: list[Window] = []

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        prob = np.zeros((3, *frame.shape[:2]), np.float32)
        prob[1] = self.frame_truth
        prob[0] = 1.0 - prob[1]
        return prob

    def window_nerve_probability(self, grey: np.ndarray, w: Window) -> np.ndarray:
        from sonomsk.core.errors import BackendUnavailableError
        from sonomsk.vision.refine import crop

        self.windows.append(w)
        if not self.has_window:
            raise BackendUnavailableError("whole-frame model only")
        if self.dark:
            return (crop(grey, w, 96) < 50).astype(np.float32)
        return super().window_nerve_probability(grey, w)


def _use(monkeypatch: pytest.MonkeyPatch, backend: object) -> str:
    from sonomsk.vision import backends

    monkeypatch.setitem(backends._REGISTRY, "test-box", "unused:unused")
    monkeypatch.setitem(backends._INSTANCES, "test-box", backend)
    return "test-box"


def _disc(cy: float, cx: float, r: float, shape: tuple[int, int] = (300, 300)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.asarray((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2)


def _flat(value: int = 90) -> sonomsk.core.image.UltrasoundImage:  # type: ignore[name-defined]
    from sonomsk.core.image import UltrasoundImage

    return UltrasoundImage.from_array(np.full((300, 300), value, np.uint8))


def test_box_asks_the_refinement_model_first_in_the_window_of_the_box(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.vision.refine import window_for_box

    window_disc = _disc(150, 120, 30)
    frame_disc = _disc(150, 130, 20)  # the automatic outline: another region in the same box
    fake = _Fake(frame_disc, window_disc)
    found = outline_in_box(_flat(), 118, 88, 182, 152, backend=_use(monkeypatch, fake))
    mask = found.contour.to_mask((300, 300))
    assert found.method == "refinement_window"
    assert (mask & window_disc).sum() / (mask | window_disc).sum() > 0.9
    # the card's geometry (factor 2, at least 32 px) around the box's pixels 118..182 x 88..152
    assert fake.windows == [window_for_box(Box(118, 88, 182, 152), 2.0, 32)]
    assert fake.windows[0] == Window(85, 55, 130, 130)  # 2 x 65 px, centred on (150, 120)


def test_box_fills_the_holes_of_the_outline(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = _disc(150, 150, 40) & ~_disc(150, 150, 15)
    found = outline_in_box(_flat(), 105, 105, 195, 195, backend=_use(monkeypatch, _Fake(ring, ring)))
    mask = found.contour.to_mask((300, 300))
    assert mask[150, 150] and abs(int(mask.sum()) - int(_disc(150, 150, 40).sum())) < 0.05 * mask.sum()


def test_box_takes_the_automatic_outline_without_a_refinement_model_and_cuts_it_to_the_box(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    band = np.zeros((300, 300), bool)
    band[140:160, 20:280] = True  # a region that runs far beyond the box on both sides
    found = outline_in_box(_flat(), 130, 100, 169, 199, backend=_use(monkeypatch, _Fake(band, None)))
    assert found.method == "automatic"
    mask = found.contour.to_mask((300, 300))
    # the box (40 x 100 px) widened by 10 % on each side: rows 126..173, cols 90..209; the
    # outline polygon runs along pixel edges, so its raster may hold one more pixel at a side
    allowed = np.zeros((300, 300), bool)
    allowed[126:174, 90:210] = True
    assert mask.any() and not (mask & ~ndimage.binary_dilation(allowed)).any()
    cols = np.nonzero(mask.any(axis=0))[0]
    assert cols.min() <= 91 and cols.max() >= 208
    assert BOX_MARGIN == 0.1  # decision 005


def test_box_takes_the_automatic_outline_where_the_window_shows_nothing_in_the_box(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame_disc = _disc(150, 120, 25)
    elsewhere = _disc(40, 40, 10)  # the refinement model sees a region, but not in the box
    fake = _Fake(frame_disc, elsewhere)
    found = outline_in_box(_flat(), 118, 88, 182, 152, backend=_use(monkeypatch, fake))
    assert found.method == "automatic" and len(fake.windows) == 1
    mask = found.contour.to_mask((300, 300))
    assert (mask & frame_disc).sum() / (mask | frame_disc).sum() > 0.9


def test_box_outlines_the_frame_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.core.image import UltrasoundImage

    cine = np.full((2, 300, 300), 160, np.uint8)
    cine[0][_disc(80, 80, 25)] = 20  # frame 0: a dark disc top left
    cine[1][_disc(200, 200, 25)] = 20  # frame 1: one bottom right
    image = UltrasoundImage.from_array(cine)
    fake = _Fake(np.zeros((300, 300), bool), np.zeros((300, 300), bool), dark=True)
    found = outline_in_box(image, 170, 170, 230, 230, frame=1, backend=_use(monkeypatch, fake))
    mask = found.contour.to_mask((300, 300))
    assert found.method == "refinement_window"
    assert (mask & _disc(200, 200, 25)).sum() / (mask | _disc(200, 200, 25)).sum() > 0.9


def test_box_falls_back_to_the_classical_contour_at_its_centre(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.core.image import UltrasoundImage
    from sonomsk.nerve import interactive
    from sonomsk.vision import classical

    asked: list[tuple[int, int, int | None]] = []
    real = classical.outline_classical

    def spy(grey: np.ndarray, row: int, col: int, *, radius_px: int | None = None) -> np.ndarray:
        asked.append((row, col, radius_px))
        return real(grey, row, col, radius_px=radius_px)

    monkeypatch.setattr(classical, "outline_classical", spy)
    name = _use(monkeypatch, _Fake(np.zeros((300, 300), bool), None))
    pixels = np.where(_disc(150, 120, 40), 30, 160).astype(np.uint8)  # a dark disc
    found = interactive.outline_in_box(UltrasoundImage.from_array(pixels), 105, 75, 195, 165, backend=name)
    assert found.method == "classical"
    # at the centre of the box's pixels 105..195 x 75..165, in a window about its longer side (91 px)
    assert len(asked) == 1 and asked[0][:2] == (150, 120)
    assert asked[0][2] is not None and 91 <= 2 * asked[0][2] + 1 <= 93
    mask = found.contour.to_mask((300, 300))
    assert (mask & _disc(150, 120, 40)).sum() / (mask | _disc(150, 120, 40)).sum() > 0.9


def test_box_on_a_blank_frame_outlines_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    name = _use(monkeypatch, _Fake(np.zeros((300, 300), bool), np.zeros((300, 300), bool)))
    with pytest.raises(MeasurementError, match="flat"):
        outline_in_box(_flat(0), 100, 100, 149, 179, backend=name)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10.2, 10.2, 20.7, 20.7), Box(10, 10, 20, 20)),  # the pixels under its corners
        ((-3.5, 5.0, 20.0, 30.9), Box(0, 5, 20, 30)),  # clipped at the top
        ((40.0, 45.0, 49.99, 52.0), Box(40, 45, 49, 49)),  # clipped at the bottom and right
    ],
)
def test_box_pixels(box: tuple[float, float, float, float], expected: Box) -> None:
    from sonomsk.core.image import UltrasoundImage
    from sonomsk.nerve.interactive import _check_box

    image = UltrasoundImage.from_array(np.zeros((50, 50), np.uint8))
    assert _check_box(image, *box) == expected


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((40.0, 10.0, 20.0, 30.0), "top <= bottom"),
        ((10.0, 30.0, 20.0, 10.0), "left <= right"),
        ((float("nan"), 10.0, 20.0, 30.0), "finite"),
        ((10.0, 10.0, 11.0, 40.0), "at least 3 x 3"),
        ((60.0, 60.0, 90.0, 90.0), "at least 3 x 3"),  # wholly outside the 50 x 50 frame
        ((-1e300, -1e300, 1e300, 1e300), "mostly inside"),
        ((0.0, 0.0, 49.0, 120.0), "mostly inside"),
    ],
)
def test_bad_boxes(box: tuple[float, float, float, float], message: str) -> None:
    from sonomsk.core.image import UltrasoundImage

    image = UltrasoundImage.from_array(np.zeros((50, 50), np.uint8))
    with pytest.raises(InvalidParameterError, match=message):
        outline_in_box(image, *box, backend="classical")
