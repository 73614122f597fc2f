"""Labelling and tracing within a bounding box (the frame pipeline's fast paths) give exactly
what the whole frame gave."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def _blobs(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lab = np.zeros((96, 128), dtype=np.uint8)
    for _ in range(9):
        r, c = rng.integers(0, 96), rng.integers(0, 128)
        lab[
            max(0, r - rng.integers(1, 9)) : r + rng.integers(1, 9), max(0, c - 5) : c + rng.integers(1, 12)
        ] = rng.integers(1, 3)
    return lab


@pytest.mark.parametrize("seed", range(10))
def test_contours_within_the_bounding_box_equal_the_whole_frame(seed: int) -> None:
    import cv2

    from sonomsk.vision.contours import _offset_outward, contours_from_mask

    mask = _blobs(seed) == 1
    whole, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    got = contours_from_mask(mask)
    assert len(got) == len(whole) > 0
    for c, w in zip(got, whole, strict=True):
        xy = w[:, 0, :].astype(np.float64)
        if len(xy) >= 3:
            np.testing.assert_array_equal(c.points, _offset_outward(xy)[:, ::-1])
    assert contours_from_mask(np.zeros((5, 5), dtype=bool)) == []


@pytest.mark.parametrize("seed", range(10))
def test_clean_labels_within_the_bounding_box_equal_the_whole_frame(seed: int) -> None:
    from sonomsk.vision.postprocess import clean_labels

    lab = _blobs(seed)
    for structures in (("nerve", "vessel"), ("nerve",), ("vessel",)):
        np.testing.assert_array_equal(
            clean_labels(lab, structures), _clean_labels_whole_frame(lab, structures)
        )


@pytest.mark.parametrize(("value", "n"), [(1, 6), (2, 5)])
@pytest.mark.parametrize("shift", [(1, 0), (0, 1), (1, 1), (0, 0)])
def test_components_of_equal_area_keep_the_whole_frame_choice(
    value: int, n: int, shift: tuple[int, int]
) -> None:
    """More components of one area than are kept (5 nerves, 4 vessels): which survive depends
    on their numbering, which a box starting on an odd row or column changed (review helper-83)."""
    from sonomsk.vision.postprocess import clean_labels

    lab = np.zeros((512, 512), dtype=np.uint8)
    dr, dc = shift
    lab[101 + dr : 121 + dr, 11 + dc : 31 + dc] = value  # the first in the box, off the others' row
    for k in range(1, n):
        lab[101:121, 11 + 40 * k : 31 + 40 * k] = value
    np.testing.assert_array_equal(clean_labels(lab), _clean_labels_whole_frame(lab, ("nerve", "vessel")))


def _clean_labels_whole_frame(lab: np.ndarray, structures: tuple[str, ...]) -> np.ndarray:
    """clean_labels with every class labelled over the whole frame (the code before the crop)."""
    import cv2

    from sonomsk.vision import postprocess

    def kept(lab: np.ndarray, value: int, p: dict[str, Any], min_area: float) -> Any:
        mask = (lab == value).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return None
        areas = stats[1:, cv2.CC_STAT_AREA]
        order = np.argsort(areas)[::-1]
        if value == postprocess.NERVE:
            keep = [
                int(i)
                for i in order[: p["nerve_max_components"]]
                if areas[i] >= max(min_area, p["nerve_keep_fraction_of_largest"] * areas[order[0]])
            ]
        else:
            keep = [int(i) for i in order[: p["vessel_max_components"]] if areas[i] >= min_area]
        return comp, stats, keep

    saved = postprocess._kept_components
    postprocess._kept_components = kept
    try:
        return postprocess.clean_labels(lab, structures)
    finally:
        postprocess._kept_components = saved


@pytest.mark.parametrize("seed", range(12))
def test_fill_holes_equals_scipy(seed: int) -> None:
    from scipy.ndimage import binary_fill_holes

    from sonomsk.vision.postprocess import fill_holes

    rng = np.random.default_rng(seed)
    # random speckle of several densities: holes of every shape, diagonal gaps (closed for a
    # 4-connected background) and holes touching the edge (open)
    mask = rng.random((40 + seed, 57 - seed)) < 0.35 + 0.04 * seed
    want = binary_fill_holes(mask)
    assert (want != mask).any()
    np.testing.assert_array_equal(fill_holes(mask), want)
    ring = np.zeros((9, 9), dtype=bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False
    np.testing.assert_array_equal(fill_holes(ring), binary_fill_holes(ring))
    assert fill_holes(ring)[4, 4] and not fill_holes(np.zeros((3, 3), dtype=bool)).any()
