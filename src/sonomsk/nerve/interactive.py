"""Interactive segmentation: outline the nerve under a click, and re-measure a corrected outline.

This is what the workstation calls. A click inside a nerve selects the connected region of the
model's nerve probability (> 0.5) that contains the click, or the nearest one within a small
radius. When the whole-frame model sees no nerve there, the click is taken as the clinician's
word that a nerve is there: the refinement model looks at windows of several sizes centred on
the click (:func:`sonomsk.vision.refine.search_at_click`). Only when that finds nothing either
(or the backend has no refinement model) is a classical region contour around the click used.
A corrected outline (a polygon in px) is measured from scratch, so every measure follows it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.core.image import UltrasoundImage
from sonomsk.core.results import MeasurementSet
from sonomsk.nerve.segment import doppler_inputs, spacing_for
from sonomsk.vision.contours import Contour
from sonomsk.vision.refine import region_at, search_at_click

#: How far (in px) from the click a nerve region of the model may lie to be taken.
SNAP_RADIUS_PX = 12

#: Sides (px) of the square windows tried around a click where the whole-frame model sees no
#: nerve: the refinement model is trained on windows twice a nerve's size, so these cover nerves
#: of about 24 to 192 px across, and the second look at each adapts the window to what it found.
CLICK_WINDOW_SIDES_PX = (48, 96, 192, 384)


def outline_at(
    image: UltrasoundImage, row: float, col: float, *, frame: int = 0, backend: str | None = None
) -> Contour:
    """The outline of the nerve at (row, col) of a frame."""
    from scipy import ndimage

    from sonomsk.core.errors import BackendUnavailableError
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.classical import outline_classical

    r, c = round(row), round(col)
    if not (0 <= r < image.rows and 0 <= c < image.columns):
        raise InvalidParameterError(
            f"row, col: expected a pixel inside {image.rows} x {image.columns}, got ({row}, {col})"
        )
    region: np.ndarray | None = None
    try:
        model = get_backend(backend or DEFAULT_BACKEND)
        region = region_at(model.probabilities(image.frame(frame))[1], r, c, SNAP_RADIUS_PX)
        if region is None:
            region = _search_windows(model, image.grey_frame(frame), r, c)
    except BackendUnavailableError:
        region = None
    if region is not None:
        filled = ndimage.binary_fill_holes(region)
        return Contour.from_mask(np.asarray(filled, dtype=bool), "nerve")
    mask = outline_classical(image.grey_frame(frame), r, c)
    return Contour.from_mask(mask, "nerve")


def _search_windows(model: object, grey: np.ndarray, row: int, col: int) -> np.ndarray | None:
    """The refinement model's outline at a click (None when the backend has no such model)."""
    look = getattr(model, "window_nerve_probability", None)
    settings = dict(getattr(model, "refinement", {}) or {})
    if look is None or not settings:
        return None
    return search_at_click(
        lambda w: look(grey, w),
        grey.shape,
        row,
        col,
        sides=CLICK_WINDOW_SIDES_PX,
        factor=float(settings["window_factor"]),
        min_side=int(settings["min_window_px"]),
        radius=SNAP_RADIUS_PX,
    )


def measure_contour(
    image: UltrasoundImage, contour: Contour, *, structure: str = "nerve", frame: int = 0
) -> MeasurementSet:
    """Every morphology measure of the structure inside a (corrected) outline."""
    from sonomsk.nerve.morphology import measure_mask

    mask = contour.to_mask((image.rows, image.columns))
    if not mask.any():
        raise MeasurementError("outline: encloses no pixel of the image")
    rgb, doppler = doppler_inputs(image, frame)
    found = measure_mask(
        mask,
        image.grey_frame(frame),
        spacing=spacing_for(image, mask),
        structure=structure,
        rgb=rgb,
        doppler_mask=doppler,
        context={"frame": frame, "structure_kind": structure, "outline_vertices": len(contour.points)},
    )
    # The traced outline is the authority for its own size: area and perimeter come from the
    # polygon (a filled mask would add half a boundary pixel all round).
    spacing = spacing_for(image, mask)
    exact = {
        "area_cross_section": contour.area(spacing=spacing),
        "perimeter": contour.perimeter(spacing=spacing),
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
