"""Interactive segmentation: outline the nerve under a click or in a drawn box, and re-measure a
corrected outline.

This is what the workstation calls. A click inside a nerve selects the connected region of the
model's nerve probability (> 0.5) that contains the click, or the nearest one within a small
radius. When the whole-frame model sees no nerve there, the click is taken as the clinician's
word that a nerve is there: the refinement model looks at windows of several sizes centred on
the click (:func:`sonomsk.vision.refine.search_at_click`). Only when that finds nothing either
(or the backend has no refinement model) is a classical region contour around the click used.
A box drawn around a nerve gives the refinement model the window it was trained on (the box
tells it where the nerve is and how large), so no search is needed; its rules are in decision
005 (:func:`outline_in_box`). A corrected outline (a polygon in px) is measured from scratch, so
every measure follows it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.core.image import UltrasoundImage
from sonomsk.core.results import MeasurementSet
from sonomsk.nerve.segment import calibration_for, doppler_inputs
from sonomsk.vision.contours import Contour, check_outline
from sonomsk.vision.postprocess import VESSEL as VESSEL_CLASS
from sonomsk.vision.postprocess import fill_holes
from sonomsk.vision.refine import Box, Window, look_in_box, region_at, region_in_box, search_at_click


def interactive_parameters() -> dict[str, Any]:
    """The click and box parameters, each with its reason, from ``nerve/data/interactive.json``."""
    from importlib import resources

    return dict(json.loads(resources.files("sonomsk.nerve").joinpath("data/interactive.json").read_text()))


_P = interactive_parameters()
#: How far (in px) from the click a nerve region of the model may lie to be taken.
SNAP_RADIUS_PX = int(_P["snap_radius_px"]["value"])
#: Sides (px) of the square windows tried around a click where the whole-frame model sees no nerve.
CLICK_WINDOW_SIDES_PX = tuple(int(x) for x in _P["click_window_sides_px"]["value"])
#: A box outline is cut to the box widened by this fraction of its height and width on each side.
BOX_MARGIN = float(_P["box_margin"]["value"])
#: The smallest box (px, each direction, after clipping to the frame) that is outlined.
MIN_BOX_PX = int(_P["min_box_px"]["value"])


@dataclasses.dataclass(frozen=True)
class ClickOutline:
    """The outline drawn at a click, which rule of decision 004 drew it, and a warning.

    ``method``: ``frame_region`` (the whole-frame model's nerve region at the click),
    ``window_search`` (the refinement model in windows around the click) or ``classical`` (the
    classical contour: no model region, or no model). ``note``: set when the whole-frame model's
    most probable class at the clicked pixel is a vessel (the click still outlines a nerve, as
    decision 004 says, but the clinician is told), or when no model was available.
    """

    contour: Contour
    method: str
    note: str | None = None


def outline_at(
    image: UltrasoundImage, row: float, col: float, *, frame: int = 0, backend: str | None = None
) -> Contour:
    """The outline of the nerve at (row, col) of a frame (:func:`click_outline` without its rule
    and note)."""
    return click_outline(image, row, col, frame=frame, backend=backend).contour


def click_outline(
    image: UltrasoundImage, row: float, col: float, *, frame: int = 0, backend: str | None = None
) -> ClickOutline:
    """The outline of the nerve at (row, col) of a frame, with the rule that drew it.

    ``row, col`` is a position in frame px as the viewer gives it: pixel (r, c) covers
    [r, r + 1) x [c, c + 1) (decision 005), so the click is on pixel (floor(row), floor(col)).
    """
    from sonomsk.core.errors import BackendUnavailableError
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.classical import outline_classical

    _check_frame(image, frame)
    if not (_is_number(row) and _is_number(col) and math.isfinite(row) and math.isfinite(col)):
        raise InvalidParameterError(f"row, col: expected finite numbers in px, got ({row!r}, {col!r})")
    r, c = math.floor(row), math.floor(col)
    if not (0 <= r < image.rows and 0 <= c < image.columns):
        raise InvalidParameterError(
            f"row, col: expected a pixel inside {image.rows} x {image.columns}, got ({row}, {col})"
        )
    region: np.ndarray | None = None
    method, note = "classical", None
    try:
        model = get_backend(backend or DEFAULT_BACKEND)
        prob = model.probabilities(image.frame(frame))
        if int(np.argmax(prob[:, r, c])) == VESSEL_CLASS:
            note = (
                f"the model sees a vessel at the click (row {r}, col {c}): check that this outline is "
                "the nerve, or drag a box around the nerve"
            )
        region, method = region_at(prob[1], r, c, SNAP_RADIUS_PX), "frame_region"
        if region is None:
            region, method = _search_windows(model, image.grey_frame(frame), r, c), "window_search"
    except BackendUnavailableError as exc:
        region, note = None, f"{exc}: outlined by the classical contour"
    if region is not None:
        filled = fill_holes(region)
        return ClickOutline(Contour.from_mask(np.asarray(filled, dtype=bool), "nerve"), method, note)
    mask = outline_classical(image.grey_frame(frame), r, c)
    return ClickOutline(Contour.from_mask(mask, "nerve"), "classical", note)


@dataclasses.dataclass(frozen=True)
class BoxOutline:
    """The outline drawn in a box and which rule of decision 005 drew it: ``refinement_window``
    (rule 2), ``automatic`` (rule 3: the automatic outline's region) or ``classical`` (rule 4)."""

    contour: Contour
    method: str


def outline_in_box(
    image: UltrasoundImage,
    top: float,
    left: float,
    bottom: float,
    right: float,
    *,
    frame: int = 0,
    backend: str | None = None,
) -> BoxOutline:
    """The outline of the nerve in a box drawn around it (decision 005).

    ``top, left, bottom, right`` are positions in frame px as the viewer gives them (pixel
    (r, c) covers [r, r + 1) x [c, c + 1)): the box holds the pixels from the one under its
    top-left corner to the one under its bottom-right corner. The refinement model segments the
    window of the box; without one, or where it sees no region inside the box, the automatic
    outline's region with the most pixels inside the box is taken; where neither has one, the
    classical contour at the box's centre. The outline is cut to the box widened by
    :data:`BOX_MARGIN` on each side; a cut that splits it keeps its largest part (an outline is
    one polygon).
    """
    from sonomsk.core.errors import BackendUnavailableError
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.classical import outline_classical

    _check_frame(image, frame)
    box = _check_box(image, top, left, bottom, right)
    shape = (image.rows, image.columns)
    grey = image.grey_frame(frame)
    region: np.ndarray | None = None
    try:
        model = get_backend(backend or DEFAULT_BACKEND)
        region, method = _look_in_box(model, grey, box), "refinement_window"
        if region is None:
            region, method = region_in_box(model.probabilities(image.frame(frame))[1], box), "automatic"
    except BackendUnavailableError:
        region = None
    if region is None:
        centre = ((box.top + box.bottom) // 2, (box.left + box.right) // 2)
        # a window about the size of the box's longer side (2 r + 1 px)
        radius = (max(box.height, box.width) + 1) // 2
        region, method = outline_classical(grey, *centre, radius_px=radius), "classical"
    # the outline is the region's outer boundary, so holes inside it are part of it
    cut = np.asarray(region, dtype=bool) & box.widened(BOX_MARGIN, shape).mask(shape)
    if not cut.any():
        raise MeasurementError("box: no outline inside it")
    return BoxOutline(Contour.from_mask(cut, "nerve"), method)


def _check_box(image: UltrasoundImage, top: float, left: float, bottom: float, right: float) -> Box:
    """The box's pixels clipped to the frame; InvalidParameterError when it is unusable."""
    values = (top, left, bottom, right)
    if not all(_is_number(v) and math.isfinite(v) for v in values):
        raise InvalidParameterError(f"box: expected finite top, left, bottom, right, got {values}")
    if top > bottom or left > right:
        raise InvalidParameterError(
            f"box: expected top <= bottom and left <= right, got ({top}, {left}, {bottom}, {right})"
        )
    drawn = [int(np.floor(v)) for v in values]
    t, lo = max(0, drawn[0]), max(0, drawn[1])
    b, r = min(image.rows - 1, drawn[2]), min(image.columns - 1, drawn[3])
    got = f"got ({top}, {left}, {bottom}, {right})"
    if b - t + 1 < MIN_BOX_PX or r - lo + 1 < MIN_BOX_PX:
        raise InvalidParameterError(
            f"box: expected at least {MIN_BOX_PX} x {MIN_BOX_PX} px inside the {image.rows} x "
            f"{image.columns} frame, {got}"
        )
    whole = (drawn[2] - drawn[0] + 1) * (drawn[3] - drawn[1] + 1)
    if 2 * (b - t + 1) * (r - lo + 1) < whole:
        raise InvalidParameterError(
            f"box: expected a box mostly inside the {image.rows} x {image.columns} frame, {got}"
        )
    return Box(t, lo, b, r)


def _is_number(value: object) -> bool:
    """A real number that is not a bool (JSON ``true`` is no coordinate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_frame(image: UltrasoundImage, frame: object) -> None:
    """Refuse a frame index outside 0..n_frames - 1 (no negative indexing from the end)."""
    if not (isinstance(frame, numbers.Integral) and not isinstance(frame, bool | np.bool_)) or not (
        0 <= int(frame) < image.n_frames
    ):
        raise InvalidParameterError(f"frame: expected 0..{image.n_frames - 1}, got {frame!r}")


def _look_in_box(model: object, grey: np.ndarray, box: Box) -> np.ndarray | None:
    """The refinement model's outline in a box (None when the backend has no such model)."""
    from sonomsk.core.errors import BackendUnavailableError

    found = _refinement(model, grey)
    if found is None:
        return None
    look, factor, min_side = found
    try:
        return look_in_box(look, grey.shape, box, factor=factor, min_side=min_side)
    except BackendUnavailableError:  # a whole-frame-only backend (onnx-unet-frame)
        return None


def _search_windows(model: object, grey: np.ndarray, row: int, col: int) -> np.ndarray | None:
    """The refinement model's outline at a click (None when the backend has no such model)."""
    found = _refinement(model, grey)
    if found is None:
        return None
    look, factor, min_side = found
    return search_at_click(
        look,
        grey.shape,
        row,
        col,
        sides=CLICK_WINDOW_SIDES_PX,
        factor=factor,
        min_side=min_side,
        radius=SNAP_RADIUS_PX,
    )


def _refinement(model: object, grey: np.ndarray) -> tuple[Callable[[Window], np.ndarray], float, int] | None:
    """The backend's refinement model as ``window -> nerve probability`` of ``grey``, with its
    window factor and minimum side (from the model card); None when the backend has none."""
    look = getattr(model, "window_nerve_probability", None)
    settings = dict(getattr(model, "refinement", {}) or {})
    if look is None or not settings:
        return None
    return (lambda w: look(grey, w)), float(settings["window_factor"]), int(settings["min_window_px"])


def measure_contour(
    image: UltrasoundImage, contour: Contour, *, structure: str = "nerve", frame: int = 0
) -> MeasurementSet:
    """Every morphology measure of the structure inside a (corrected) outline.

    The outline must lie in the frame, enclose an area and not cross itself
    (:func:`sonomsk.vision.contours.check_outline`, InvalidParameterError otherwise). The pixels
    measured (echo, fascicles, Doppler) are those whose centres lie inside the outline
    (:meth:`Contour.pixels_inside`); area comes from the polygon itself, perimeter and circularity
    from :meth:`Contour.perimeter` and :meth:`Contour.circularity`, the definition the batch path
    (:func:`sonomsk.nerve.morphology.measure_mask`) uses too. Millimetres only when one
    calibrated tissue region holds every pixel of the outline
    (:func:`sonomsk.nerve.segment.calibration_for`); otherwise px, with the reason in each
    measurement's context (``uncalibrated_reason``).
    """
    from sonomsk.nerve.morphology import grey_full_scale, measure_mask

    _check_frame(image, frame)
    check_outline(contour, (image.rows, image.columns))
    mask = contour.pixels_inside((image.rows, image.columns))
    if not mask.any():
        raise MeasurementError("outline: encloses no pixel of the image")
    spacing, why_px = calibration_for(image, mask)
    rgb, doppler = doppler_inputs(image, frame)
    context = {"frame": frame, "structure_kind": structure, "outline_vertices": len(contour.points)}
    if why_px is not None:
        context["uncalibrated_reason"] = why_px
    found = measure_mask(
        mask,
        image.grey_frame(frame),
        spacing=spacing,
        structure=structure,
        rgb=rgb,
        doppler_mask=doppler,
        context=context,
        grey_max=grey_full_scale(image),
    )
    # The traced outline is the authority for its own size and shape: area from the polygon,
    # perimeter and circularity by the one definition of vision.contours.
    exact = {
        "area_cross_section": contour.area(spacing=spacing),
        "perimeter": contour.perimeter(spacing=spacing),
        "circularity": contour.circularity(spacing=spacing),
    }
    measurements = tuple(
        dataclasses.replace(
            m, value=float(exact[m.name]), provenance={**m.provenance, "from": "outline polygon"}
        )
        if m.name in exact and m.value is not None
        else m
        for m in found
    )
    return MeasurementSet(measurements=measurements, analysis="nerve_morphology")
