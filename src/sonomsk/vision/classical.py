"""Classical (non-learned) kernels: a vessel-only fallback backend and a click outliner.

Parameters live in ``vision/data/classical.json`` with their source.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.vision.backends import ModelCard
from sonomsk.vision.postprocess import fill_holes
from sonomsk.vision.preprocess import to_grey


@cache
def classical_parameters() -> dict[str, Any]:
    from importlib import resources

    return dict(json.loads(resources.files("sonomsk.vision").joinpath("data/classical.json").read_text()))


def _smooth(grey: np.ndarray) -> np.ndarray:
    import cv2

    sigma = classical_parameters()["smoothing_sigma_px"]
    return cv2.GaussianBlur(grey.astype(np.float32), (0, 0), sigma)


def dark_compact_regions(grey: np.ndarray) -> np.ndarray:
    """Boolean mask of anechoic, compact (convex) blobs: vessel candidates of a grey frame."""
    import cv2

    p = classical_parameters()
    g = _smooth(grey)
    thr = float(np.quantile(g, p["vessel_dark_quantile"]))
    dark = np.asarray(
        cv2.morphologyEx((g <= thr).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    )
    n, comp, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    out = np.zeros(g.shape, dtype=bool)
    lo, hi = p["vessel_min_fraction_of_frame"] * g.size, p["vessel_max_fraction_of_frame"] * g.size
    rows, cols = g.shape
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if not lo <= area <= hi or x == 0 or y == 0 or x + w >= cols or y + h >= rows:
            continue  # too small/large, or touching the border (shadow, outside the sector)
        m = (comp[y : y + h, x : x + w] == i).astype(np.uint8)
        cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.contourArea(cv2.convexHull(max(cnts, key=cv2.contourArea)))
        if hull > 0 and area / hull >= p["vessel_min_solidity"]:
            out[y : y + h, x : x + w] |= m.astype(bool)
    return out


class ClassicalBackend:
    """Vessel-only fallback: anechoic compact blobs. Nerves are not detected automatically
    (nerve probability 0); outline nerves with a click (:func:`outline_classical`)."""

    name = "classical"

    @property
    def card(self) -> ModelCard:
        return ModelCard(
            name=self.name,
            version="1",
            intended_use="Fallback when the learned model is unavailable: candidate vessels in "
            "transverse B-mode. Not a diagnostic tool.",
            input_contract="One grey or RGB frame (row, col[, 3]) of any size; no calibration needed.",
            training_data="None (rule-based; parameters in vision/data/classical.json).",
            attribution="",
            validation={"note": "not validated against expert masks; expect false positives"},
            limitations="Nerves get probability 0 (use the click outliner); shadows and dark "
            "fat lobules can be taken for vessels.",
        )

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        grey = to_grey(frame)
        vessel = dark_compact_regions(grey).astype(np.float32)
        prob = np.zeros((3, *grey.shape), dtype=np.float32)
        prob[2] = vessel
        prob[0] = 1.0 - vessel
        return prob


def outline_classical(grey: np.ndarray, row: int, col: int, *, radius_px: int | None = None) -> np.ndarray:
    """Outline the structure under (row, col) with a morphological Chan-Vese contour in a window.

    Returns a boolean (row, col) mask of the frame's size holding the connected region that
    contains the click (holes filled). Raises MeasurementError when nothing sensible is found.
    """
    import cv2
    from scipy import ndimage
    from skimage.segmentation import morphological_chan_vese

    g = to_grey(grey)
    rows, cols = g.shape
    if not (0 <= row < rows and 0 <= col < cols):
        raise InvalidParameterError(f"row, col: expected a pixel inside {rows} x {cols}, got ({row}, {col})")
    p = classical_parameters()
    r = radius_px or max(16, int(p["outline_window_fraction"] * max(rows, cols)))
    r0, r1 = max(0, row - r), min(rows, row + r + 1)
    c0, c1 = max(0, col - r), min(cols, col + r + 1)
    if float(np.ptp(g[r0:r1, c0:c1])) == 0.0:
        raise MeasurementError(f"outline at ({row}, {col}): the image is flat around it, nothing to outline")
    win = _smooth(g[r0:r1, c0:c1])
    win = (win - win.min()) / max(float(np.ptp(win)), 1e-6)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    init = (yy - row) ** 2 + (xx - col) ** 2 <= (r / 3) ** 2
    seg = morphological_chan_vese(
        win, num_iter=int(p["outline_iterations"]), init_level_set=init, smoothing=2
    )
    seg = seg.astype(bool)
    if not seg[row - r0, col - c0]:
        seg = ~seg
    lab, _ = ndimage.label(seg)
    region = lab == lab[row - r0, col - c0]
    region = fill_holes(
        cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    )
    if not region[row - r0, col - c0] or region.sum() < 9:
        raise MeasurementError(f"no structure found at pixel (row {row}, col {col})")
    out = np.zeros((rows, cols), dtype=bool)
    out[r0:r1, c0:c1] = region
    return out
