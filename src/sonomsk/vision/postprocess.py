"""From class probabilities to a clean label map: argmax, small components removed, holes filled.

Parameters live in ``vision/data/postprocess.json`` with their source.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError

NERVE = 1
VESSEL = 2


@cache
def postprocess_parameters() -> dict[str, Any]:
    """The post-processing parameters (with their source) from the package data file."""
    text = resources.files("sonomsk.vision").joinpath("data/postprocess.json").read_text()
    return dict(json.loads(text))


def clean_labels(labels: np.ndarray, structures: tuple[str, ...] = ("nerve", "vessel")) -> np.ndarray:
    """Keep sensible components of a (row, col) label map (0 bg, 1 nerve, 2 vessel), fill holes.

    Nerve: components of at least ``nerve_keep_fraction_of_largest`` of the largest nerve
    component (at most ``nerve_max_components``). Vessel: the largest ``vessel_max_components``
    components. Both: components smaller than ``min_component_fraction_of_frame`` of the frame
    are dropped. Structures not in ``structures`` are removed.
    """
    import cv2
    from scipy import ndimage

    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise InvalidParameterError(f"labels: expected a 2-D (row, col) array, got shape {lab.shape}")
    for s in structures:
        if s not in ("nerve", "vessel"):
            raise InvalidParameterError(f"structures: expected 'nerve' and/or 'vessel', got {s!r}")
    p = postprocess_parameters()
    min_area = p["min_component_fraction_of_frame"] * lab.size
    out = np.zeros(lab.shape, dtype=np.uint8)
    for name, value in (("nerve", NERVE), ("vessel", VESSEL)):
        if name not in structures:
            continue
        mask = (lab == value).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            continue
        areas = stats[1:, cv2.CC_STAT_AREA]
        order = np.argsort(areas)[::-1]
        if name == "nerve":
            keep = [
                i
                for i in order[: p["nerve_max_components"]]
                if areas[i] >= max(min_area, p["nerve_keep_fraction_of_largest"] * areas[order[0]])
            ]
        else:
            keep = [i for i in order[: p["vessel_max_components"]] if areas[i] >= min_area]
        for i in keep:
            # within the component's bounding box plus a 1-px ring: the same holes as the whole
            # frame (everything outside the box is background), at a fraction of the cost
            x, y, w, h = (int(v) for v in stats[i + 1, :4])
            r0, c0 = max(0, y - 1), max(0, x - 1)
            r1, c1 = min(lab.shape[0], y + h + 1), min(lab.shape[1], x + w + 1)
            comp_mask = comp[r0:r1, c0:c1] == i + 1
            if p["fill_holes"]:
                padded = np.pad(comp_mask, 1)
                filled = ndimage.binary_fill_holes(padded)[1:-1, 1:-1]
                # a hole is filled where the model saw background, never over the other structure:
                # a vessel inside a nerve (a persistent median artery) stays a vessel and out of
                # the nerve's area
                other = lab[r0:r1, c0:c1] == (VESSEL if value == NERVE else NERVE)
                comp_mask = comp_mask | (filled & ~other)
            window = out[r0:r1, c0:c1]
            window[comp_mask & (window == 0)] = value
    return out


def labels_from_probabilities(
    prob: np.ndarray, structures: tuple[str, ...] = ("nerve", "vessel")
) -> np.ndarray:
    """Argmax of (class, row, col) probabilities followed by :func:`clean_labels`."""
    arr = np.asarray(prob)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise InvalidParameterError(f"prob: expected shape (3, row, col), got {arr.shape}")
    return clean_labels(arr.argmax(0).astype(np.uint8), structures)
