"""Outlines and clicks that cannot be measured are refused (one-line InvalidParameterError), and
an outline gets millimetres only from the one calibrated tissue region that holds all of it."""

from __future__ import annotations

import numpy as np
import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.image import Axis, Region, RegionKind, UltrasoundImage, whole_image_region
from sonomsk.core.results import Measurement
from sonomsk.nerve import segment
from sonomsk.nerve.interactive import measure_contour, outline_at, outline_in_box
from sonomsk.vision import contours
from sonomsk.vision.contours import Contour


def _image(
    rows: int = 200, cols: int = 200, spacing: tuple[float, float] | None = (0.05, 0.05)
) -> UltrasoundImage:
    grey = np.random.default_rng(0).integers(50, 150, (rows, cols)).astype(np.uint8)
    regions = () if spacing is None else (whole_image_region(rows, cols, spacing),)
    return UltrasoundImage.from_array(grey, regions=regions)


def _by_name(image: UltrasoundImage, points: list[list[float]] | np.ndarray) -> dict[str, Measurement]:
    return {m.name: m for m in measure_contour(image, Contour(points=np.asarray(points, float))).measurements}


# --------------------------------------------------------------- finding 2: degenerate, crossing


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[168, 36], [188, 56], [198, 66.0]], "encloses no area"),  # collinear
        ([[88, 56]] * 3, "encloses no area"),  # identical points
        (
            [[68, 36], [108, 76], [68, 76], [108, 36]],
            r"edges points\[0\]-points\[1\] and points\[2\]-points\[3\] cross",
        ),
        (
            [[80, 80], [120, 120], [80, 130], [120, 70]],
            r"edges points\[0\]-points\[1\] and points\[2\]-points\[3\] cross",
        ),
    ],
    ids=["collinear", "identical", "bow-tie", "asymmetric bow-tie"],
)
def test_degenerate_and_self_crossing_outlines_are_refused(points: list[list[float]], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message) as info:
        measure_contour(_image(), Contour(points=np.asarray(points, float)))
    assert "\n" not in str(info.value)


def test_a_vertex_dragged_across_the_outline_is_refused_naming_the_edges() -> None:
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    circle = np.stack([100 + 30 * np.sin(t), 100 + 30 * np.cos(t)], axis=1)
    assert _by_name(_image(), circle)["area_cross_section"].value == pytest.approx(
        Contour(points=circle).area(spacing=(0.05, 0.05))
    )
    dragged = circle.copy()
    dragged[0] = [100, 55]  # past the far side of the nerve
    with pytest.raises(
        InvalidParameterError, match=r"edges points\[0\]-points\[1\] and points\[15\]-points\[16\] cross"
    ):
        measure_contour(_image(), Contour(points=dragged))
    swapped = circle.copy()
    swapped[[3, 4]] = swapped[[4, 3]]
    assert contours.first_crossing(swapped) == (2, 4)


def test_touching_and_closing_edges_are_not_crossings() -> None:
    # a pixel-centre trace may run out and back along a one-pixel spur: it touches, it does not cross
    spur = np.array([[0.0, 0], [0, 4], [0, 8], [0, 4], [4, 4], [4, 0]])
    assert contours.first_crossing(spur) is None
    # the closing edge points[n-1]-points[0] is tested too
    closing = np.array([[0.0, 0], [10, 10], [10, 0], [0, 10]])
    assert contours.first_crossing(closing) == (0, 2)
    assert contours.first_crossing(np.array([[0.0, 0], [0, 10], [10, 10], [10, 0]])) is None


def test_an_outline_that_crosses_itself_at_a_vertex_is_refused() -> None:
    # a figure eight whose waist is a vertex visited twice: no two edges cross inside both, but
    # the second pass runs the other way round, so the shoelace area is the lobes' difference
    eight = np.array([[60.0, 60], [60, 100], [80, 80], [100, 60], [100, 100], [80, 80]])
    assert contours.first_crossing(eight) is None
    with pytest.raises(InvalidParameterError, match=r"outline: crosses itself at points\[2\] \[80.0, 80.0\]"):
        measure_contour(_image(), Contour(points=eight))
    # a vertex inside another edge, its neighbours on either side of it
    through = np.array([[60.0, 60], [60, 100], [100, 100], [100, 80], [80, 80], [60, 80], [40, 80], [40, 50]])
    assert contours.first_crossing(through) is None
    with pytest.raises(InvalidParameterError, match=r"crosses itself at points\[5\]"):
        measure_contour(_image(), Contour(points=through))
    # touches are kept: two lobes meeting at a vertex, both the same way round, and a vertex that
    # rests on another edge from one side
    lobes = np.array([[60.0, 60], [60, 100], [80, 80], [100, 100], [100, 60], [80, 80]])
    rests = np.array([[60.0, 60], [60, 100], [100, 100], [100, 84], [60, 80], [100, 76], [100, 60]])
    assert contours.crossing_at_vertex(lobes) is None and contours.crossing_at_vertex(rests) is None
    assert _by_name(_image(), lobes)["area_cross_section"].value > 0
    assert _by_name(_image(), rests)["area_cross_section"].value > 0


# --------------------------------------------------------------- finding 6: points outside the frame


def test_an_outline_partly_outside_the_frame_is_refused() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"points\[0\]: expected a point inside 200 x 200 px, got \[-50.0, -50.0\]",
    ):
        measure_contour(_image(), Contour(points=np.array([[-50.0, -50], [-50, 60], [60, 60], [60, -50]])))
    # the frame's edge is half a pixel beyond the outer pixel centres
    contours.check_outline(
        Contour(points=np.array([[-0.5, -0.5], [-0.5, 199.5], [199.5, 199.5]])), (200, 200)
    )
    with pytest.raises(InvalidParameterError, match=r"points\[1\]"):
        contours.check_outline(
            Contour(points=np.array([[-0.5, -0.5], [-0.5, 199.6], [199.5, 199.5]])), (200, 200)
        )


# --------------------------------------------------------------- findings 5 and 10: clicks and frames


@pytest.mark.parametrize(
    ("row", "col"),
    [
        (float("nan"), 10.0),
        (float("inf"), 10.0),
        (10.0, -float("inf")),
        (True, True),
        (np.True_, 5),
        ("5", 5),
    ],
    ids=["nan", "inf", "-inf", "bool", "numpy-bool", "string"],
)
def test_a_non_finite_or_boolean_click_is_refused(row: object, col: object) -> None:
    with pytest.raises(InvalidParameterError, match="row, col: expected finite numbers in px"):
        outline_at(_image(), row, col, backend="classical")  # type: ignore[arg-type]


def test_a_click_is_on_the_pixel_under_it_and_frames_are_checked() -> None:
    rows, cols = 100, 100
    grey = np.full((rows, cols), 160, np.uint8)
    yy, xx = np.mgrid[:rows, :cols]
    grey[(yy - 99) ** 2 + (xx - 50) ** 2 <= 15**2] = 30  # a dark structure on the bottom edge
    image = UltrasoundImage.from_array(grey)
    # pixel r covers [r, r + 1): rows - 0.4 is on the last row, -0.4 is above the frame
    contour = outline_at(image, rows - 0.4, 50.0, backend="classical")
    assert contour.pixels_inside((rows, cols))[rows - 1, 50]
    with pytest.raises(InvalidParameterError, match="row, col: expected a pixel inside 100 x 100"):
        outline_at(image, -0.4, 50.0, backend="classical")
    for frame in (-1, 1, True):
        with pytest.raises(InvalidParameterError, match=r"frame: expected 0\.\.0"):
            outline_at(image, 95.0, 50.0, frame=frame, backend="classical")
        with pytest.raises(InvalidParameterError, match=r"frame: expected 0\.\.0"):
            outline_in_box(image, 80, 30, 99, 70, frame=frame, backend="classical")
    with pytest.raises(InvalidParameterError, match="box: expected finite"):
        outline_in_box(image, True, 30, 99, 70, backend="classical")


# --------------------------------------------------------------- finding 7: one calibrated region


def _banded() -> UltrasoundImage:
    """A 200 x 200 frame whose calibrated tissue region covers rows 50 to 199 only."""
    grey = np.random.default_rng(0).integers(50, 150, (200, 200)).astype(np.uint8)
    mm = Axis(unit="mm", delta=0.1)
    region = Region(box=(50, 0, 200, 200), kind=RegionKind.TISSUE, row_axis=mm, col_axis=mm)
    return UltrasoundImage.from_array(grey, regions=(region,))


def _square(r0: float, r1: float) -> list[list[float]]:
    return [[r0, 50.0], [r0, 90.0], [r1, 90.0], [r1, 50.0]]


def test_an_outline_inside_the_calibrated_region_is_in_mm() -> None:
    area = _by_name(_banded(), _square(100, 140))["area_cross_section"]
    assert area.unit == "mm2" and area.value == pytest.approx(16.0)


@pytest.mark.parametrize(
    ("r0", "r1"), [(20, 100), (0, 60), (5, 45)], ids=["mean inside", "mean outside", "outside"]
)
def test_an_outline_that_leaves_the_calibrated_region_is_in_px_with_the_reason(r0: float, r1: float) -> None:
    by = _by_name(_banded(), _square(r0, r1))
    area, perimeter = by["area_cross_section"], by["perimeter"]
    assert area.unit == "px2" and area.value == pytest.approx((r1 - r0) * 40)
    assert perimeter.unit == "px"
    assert (
        area.context["uncalibrated_reason"]
        == segment.LEAVES_REGION
        == "outline leaves the calibrated tissue region"
    )


def test_a_mask_spanning_two_calibrated_regions_has_no_spacing() -> None:
    mm = Axis(unit="mm", delta=0.1)
    left = Region(box=(0, 0, 100, 50), kind=RegionKind.TISSUE, row_axis=mm, col_axis=mm)
    right = Region(box=(0, 50, 100, 100), kind=RegionKind.TISSUE, row_axis=mm, col_axis=mm)
    image = UltrasoundImage.from_array(np.zeros((100, 100), np.uint8), regions=(left, right))
    mask = np.zeros((100, 100), bool)
    mask[40:60, 30:45] = True
    assert segment.spacing_for(image, mask) == (0.1, 0.1)
    mask[40:60, 30:70] = True
    assert segment.calibration_for(image, mask) == (None, segment.LEAVES_REGION)
    assert segment.calibration_for(_image(spacing=None), mask) == (None, "uncalibrated image")


class _DiscsBackend:
    """A whole-frame 'model' that sees two nerve discs: one inside the calibrated band, one across
    its upper edge (row 50)."""

    name = "test-two-discs"

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> None:
        return None

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        yy, xx = np.mgrid[:200, :200]
        nerve = ((yy - 130) ** 2 + (xx - 60) ** 2 <= 15**2) | ((yy - 50) ** 2 + (xx - 140) ** 2 <= 15**2)
        prob = np.zeros((3, 200, 200), np.float32)
        prob[1] = nerve
        prob[0] = 1.0 - prob[1]
        return prob


def test_segment_frame_measures_a_nerve_across_the_region_edge_in_px_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.vision import backends

    monkeypatch.setitem(backends._REGISTRY, "test-two-discs", "unused:unused")
    monkeypatch.setitem(backends._INSTANCES, "test-two-discs", _DiscsBackend())
    seg = segment.segment_frame(_banded(), structures=("nerve",), backend="test-two-discs")
    areas = {
        int(inst.mask.nonzero()[0].mean() > 90): next(
            m for m in inst.measurements if m.name == "area_cross_section"
        )
        for inst in seg.instances
    }
    inside, across = areas[1], areas[0]
    assert inside.unit == "mm2" and "uncalibrated_reason" not in inside.context
    assert across.unit == "px2"
    assert across.context["uncalibrated_reason"] == segment.LEAVES_REGION


# --------------------------------------------------------------- a click says how it was drawn


def _largest(mask: np.ndarray) -> tuple[int, int]:
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    big = lab == 1 + int(np.argmax(ndimage.sum(mask, lab, range(1, n + 1))))
    rr, cc = np.nonzero(big)
    return int(rr.mean()), int(cc.mean())


def _model_available() -> bool:
    from sonomsk.vision.backends import get_backend

    return bool(get_backend("onnx-unet").is_available())


@pytest.mark.skipif(not _model_available(), reason="the shipped ONNX model is not installed")
def test_a_click_says_which_rule_drew_it_and_warns_on_a_vessel() -> None:
    from sonomsk.nerve.interactive import click_outline
    from sonomsk.simulate.api import simulate_scene

    image, truth = simulate_scene("nerve", seed=7010)
    lab = truth.nerve_vessel_labels(0)
    on_nerve = click_outline(image, *_largest(lab == 1))
    assert on_nerve.method == "frame_region" and on_nerve.note is None
    on_vessel = click_outline(image, *_largest(lab == 2))
    assert on_vessel.note is not None and "the model sees a vessel at the click" in on_vessel.note
    assert outline_at(image, *_largest(lab == 2)).points.shape == on_vessel.contour.points.shape


def test_a_click_without_a_model_says_the_classical_contour_drew_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.core.errors import BackendUnavailableError
    from sonomsk.nerve.interactive import click_outline
    from sonomsk.vision import backends

    def unavailable(name: str) -> object:
        raise BackendUnavailableError(f"backend {name}: model file missing")

    monkeypatch.setattr(backends, "get_backend", unavailable)
    yy, xx = np.mgrid[:120, :120]
    grey = np.where((yy - 60) ** 2 + (xx - 60) ** 2 <= 20**2, 30, 140).astype(np.uint8)
    found = click_outline(UltrasoundImage.from_array(grey), 60, 60)
    assert found.method == "classical"
    assert found.note is not None and "model file missing" in found.note and "classical contour" in found.note
