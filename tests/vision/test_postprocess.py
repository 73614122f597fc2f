"""Clean-up of the model's label map: components kept, holes filled (``sonomsk.vision.postprocess``)."""

from __future__ import annotations

import numpy as np

from sonomsk.vision.postprocess import NERVE, VESSEL, clean_labels


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.asarray((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2)


def test_a_vessel_inside_a_nerve_stays_a_vessel() -> None:
    """A persistent median artery inside the median nerve: the nerve's hole holds a vessel, which
    must neither be erased nor counted in the nerve's area."""
    shape = (200, 200)
    nerve, vessel = _disc(shape, (100, 100), 40), _disc(shape, (100, 100), 15)
    labels = np.zeros(shape, np.uint8)
    labels[nerve] = NERVE
    labels[vessel] = VESSEL
    out = clean_labels(labels)
    assert int((out == VESSEL).sum()) == int(vessel.sum())
    assert int((out == NERVE).sum()) == int((nerve & ~vessel).sum())


def test_a_background_hole_is_filled_and_a_ring_around_a_vessel_too() -> None:
    shape = (200, 200)
    nerve = _disc(shape, (100, 100), 40)
    labels = np.zeros(shape, np.uint8)
    labels[nerve & ~_disc(shape, (100, 100), 8)] = NERVE  # a background hole
    labels[_disc(shape, (60, 160), 10)] = VESSEL  # a separate vessel
    out = clean_labels(labels)
    assert int((out == NERVE).sum()) == int(nerve.sum())
    # a vessel with a background gap between it and the nerve around it: the gap is nerve
    labels = np.zeros(shape, np.uint8)
    labels[nerve] = NERVE
    labels[_disc(shape, (100, 100), 15)] = 0
    labels[_disc(shape, (100, 100), 12)] = VESSEL
    out = clean_labels(labels)
    assert int((out == VESSEL).sum()) == int(_disc(shape, (100, 100), 12).sum())
    assert int((out == NERVE).sum()) == int((nerve & ~_disc(shape, (100, 100), 12)).sum())


def test_nerve_only_leaves_the_vessel_out_of_the_nerve() -> None:
    shape = (120, 120)
    nerve, vessel = _disc(shape, (60, 60), 30), _disc(shape, (60, 60), 10)
    labels = np.zeros(shape, np.uint8)
    labels[nerve] = NERVE
    labels[vessel] = VESSEL
    out = clean_labels(labels, ("nerve",))
    assert not (out == VESSEL).any()
    assert int((out == NERVE).sum()) == int((nerve & ~vessel).sum())


def test_stray_vessel_pixels_too_small_to_keep_are_filled_as_nerve() -> None:
    """A few pixels the model called vessel inside a nerve, too small to be kept as a vessel,
    leave no hole in the nerve."""
    from sonomsk.vision.postprocess import postprocess_parameters

    shape = (300, 300)
    nerve = _disc(shape, (150, 150), 60)
    stray = _disc(shape, (150, 150), 1.5)
    assert stray.sum() < postprocess_parameters()["min_component_fraction_of_frame"] * stray.size
    labels = np.zeros(shape, np.uint8)
    labels[nerve] = NERVE
    labels[stray] = VESSEL
    out = clean_labels(labels)
    assert int((out == NERVE).sum()) == int(nerve.sum()) and not (out == VESSEL).any()


def test_argmax3_is_argmax() -> None:
    from sonomsk.vision.postprocess import argmax3

    rng = np.random.default_rng(3)
    p = rng.random((3, 64, 80)).astype(np.float32)
    ties = np.round(p * 3) / 3  # many equal values: the first class wins, as in argmax
    for arr in (p, ties, np.zeros_like(p)):
        assert np.array_equal(argmax3(arr), arr.argmax(0).astype(np.uint8))
