"""The measurement's fast kernels give exactly what the slower ones gave: h-minima by repeated
erosion against scikit-image's, the scan's margins by one flood fill against labelling every
black run."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.morphology import h_minima as sk_h_minima


def _smooth_field(seed: int, shape: tuple[int, int], levels: int | None = None) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.normal(100, 30, shape).astype(np.float32), (0, 0), 2.5)
    if levels is not None:  # quantised: wide plateaus and exact ties
        img = np.round(img / (np.ptp(img) / levels)).astype(np.float32)
    return img


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("levels", [None, 6])
def test_h_minima_equals_scikit_image(seed: int, levels: int | None) -> None:
    from sonomsk.nerve.morphology import h_minima

    img = _smooth_field(seed, (70 + 7 * seed, 120 - 3 * seed), levels)
    h = 0.6 * float(img.std())
    want = sk_h_minima(img, h).astype(bool)
    assert want.any()  # the comparison is about real minima
    np.testing.assert_array_equal(h_minima(img, h), want)
    # cut off after two passes: scikit-image's reconstruction finishes from where it stopped
    np.testing.assert_array_equal(h_minima(img, h, max_passes=2), want)


def test_h_minima_edge_cases_follow_scikit_image() -> None:
    from sonomsk.nerve.morphology import h_minima

    img = _smooth_field(3, (40, 50))
    assert not h_minima(img, float(np.ptp(img)) + 1).any()
    with pytest.raises(ValueError):
        h_minima(img, 0.0)
    # a minimum exactly h deep is kept, as scikit-image keeps it despite float rounding
    step = np.full((9, 9), 10.0, dtype=np.float32)
    step[3:6, 3:6] = 7.5
    np.testing.assert_array_equal(h_minima(step, 2.5), sk_h_minima(step, 2.5).astype(bool))
    assert h_minima(step, 2.5)[4, 4]
    for bad in (-1.0, float("nan"), float("inf")):  # scikit-image refuses or fails on these
        with pytest.raises(ValueError, match="h: expected"):
            h_minima(img, bad)
    ints = np.round(img).astype(np.int32)  # not float32: scikit-image itself
    np.testing.assert_array_equal(h_minima(ints, 5), sk_h_minima(ints, 5).astype(bool))


def _margins_by_labelling(grey: np.ndarray) -> np.ndarray:
    """The black pixels 4-connected to the frame's edge, by labelling every black run."""
    import cv2

    n, labels = cv2.connectedComponents((grey <= 0).astype(np.uint8), connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    lut = np.zeros(n, dtype=bool)
    lut[edge[edge > 0]] = True
    return np.asarray(lut[labels])


@pytest.mark.parametrize("seed", range(8))
def test_scan_margins_by_flood_fill_equal_labelling(seed: int) -> None:
    from sonomsk.nerve import morphology

    rng = np.random.default_rng(seed)
    grey = rng.integers(1, 255, (60 + seed, 80)).astype(np.float32)
    grey[rng.random(grey.shape) < 0.3] = 0.0  # speckle zeros: many runs, some touch the edge
    grey[:, : 5 + seed] = 0.0  # a margin
    grey[20:30, 30:40] = 0.0  # an anechoic structure inside
    grey[19, 29] = 0.0  # joined to it diagonally only: not 4-connected
    morphology._OUTSIDE.clear()
    got = morphology._outside_scan(grey)
    want = _margins_by_labelling(grey)
    assert want.any() and (grey <= 0).sum() > want.sum()
    np.testing.assert_array_equal(got, want)
