"""Interactive segmentation: outline the nerve under a click, and re-measure a corrected outline.

This is what the workstation calls. A click inside a nerve selects the connected region of the
model's nerve probability (> 0.5) that contains the click, or the nearest one within a small
radius; when the model sees no nerve there, a classical region contour around the click is used.
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

#: How far (in px) from the click a nerve region of the model may lie to be taken.
SNAP_RADIUS_PX = 12


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
    try:
        prob = get_backend(backend or DEFAULT_BACKEND).probabilities(image.frame(frame))[1]
    except BackendUnavailableError:
        prob = None
    if prob is not None:
        lab, n = ndimage.label(prob > 0.5)
        if n:
            r0, r1 = max(0, r - SNAP_RADIUS_PX), min(image.rows, r + SNAP_RADIUS_PX + 1)
            c0, c1 = max(0, c - SNAP_RADIUS_PX), min(image.columns, c + SNAP_RADIUS_PX + 1)
            window = lab[r0:r1, c0:c1]
            ids = np.unique(window[window > 0])
            if lab[r, c] > 0:
                ids = np.array([lab[r, c]])
            if ids.size:
                yy, xx = np.nonzero(np.isin(window, ids))
                d = (yy + r0 - r) ** 2 + (xx + c0 - c) ** 2
                chosen = window[yy[np.argmin(d)], xx[np.argmin(d)]]
                region = ndimage.binary_fill_holes(lab == chosen)
                return Contour.from_mask(np.asarray(region, dtype=bool), "nerve")
    mask = outline_classical(image.grey_frame(frame), r, c)
    return Contour.from_mask(mask, "nerve")


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
