"""The refinement window: geometry shared by training and inference, and the paste back."""

from __future__ import annotations

import numpy as np
import pytest

from sonomsk.vision.refine import (
    Box,
    Window,
    crop,
    look_in_box,
    model_input,
    paste,
    region_at,
    region_in_box,
    search_at_click,
    window_for,
    window_for_box,
)


def _ellipse(shape: tuple[int, int], cy: float, cx: float, a: float, b: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 <= 1.0


def test_window_is_centred_and_scaled() -> None:
    m = np.zeros((300, 400), bool)
    m[100:140, 200:260] = True  # 40 x 60 px
    w = window_for(m, 2.0, 32)
    assert w == Window(80, 170, 80, 120)
    assert window_for(m, 2.0, 32, factor_rows=3.0) == Window(60, 170, 120, 120)
    assert w.scale(128) == pytest.approx(128 / np.sqrt(80 * 120))
    assert window_for(np.zeros((5, 5), bool), 2.0, 32) is None
    tiny = np.zeros((50, 50), bool)
    tiny[10, 10] = True
    assert window_for(tiny, 2.0, 32) == Window(-6, -6, 32, 32)


@pytest.mark.parametrize("size", [64, 128, 256])
@pytest.mark.parametrize("centre", [(150.0, 200.0), (12.0, 390.0), (290.0, 5.0)])
def test_crop_then_paste_returns_the_same_outline(size: int, centre: tuple[float, float]) -> None:
    m = _ellipse((300, 400), *centre, 12.0, 40.0)  # flattened: the window is not square
    w = window_for(m, 2.0, 32)
    assert w is not None
    window_mask = crop(m.astype(np.uint8), w, size, labels=True).astype(np.float32)
    prob = np.zeros((3, 300, 400), np.float32)
    prob[0] = 0.7
    prob[2] = 0.3
    paste(prob, window_mask, w)
    back = prob[1] > 0.5
    # resampling moves the edge by less than a pixel: the area agrees to within its perimeter
    assert abs(int(back.sum()) - int(m.sum())) <= 0.05 * m.sum()
    assert (back & m).sum() / m.sum() > 0.95
    assert np.allclose(prob.sum(axis=0), 1.0, atol=1e-5)
    # outside the nerve, background and vessel keep their old 70:30 share
    outside = ~back & (prob[0] + prob[2] > 0.99)
    assert np.allclose(prob[2][outside] / (prob[0][outside] + prob[2][outside]), 0.3, atol=1e-4)


def test_paste_of_a_window_outside_the_frame_changes_nothing() -> None:
    prob = np.full((3, 50, 50), 1 / 3, np.float32)
    paste(prob, np.ones((32, 32), np.float32), Window(100, 100, 32, 40))
    assert np.allclose(prob, 1 / 3)


def test_model_input_is_standardised_and_reflects_at_edges() -> None:
    rng = np.random.default_rng(0)
    grey = rng.uniform(0, 255, (100, 120)).astype(np.float32)
    x = model_input(grey, Window(-20, 90, 64, 50), 128)
    assert x.shape == (128, 128) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1.0) < 1e-3
    flat = model_input(np.full((40, 40), 7.0, np.float32), Window(0, 0, 40, 40), 32)
    assert not flat.any()


class _FakeSession:
    """Stands in for the refinement model: says 'nerve' in a centred disc of the window."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, _names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.calls += 1
        size = feeds["image"].shape[-1]
        disc = _ellipse((size, size), size / 2 - 0.5, size / 2 - 0.5, size / 8, size / 8)
        out = np.zeros((1, 2, size, size), np.float32)
        out[0, 1] = disc
        out[0, 0] = ~disc
        return [out]


def test_backend_refines_small_nerves_and_leaves_large_ones() -> None:
    from sonomsk.vision.onnx_unet import OnnxUNetBackend

    b = OnnxUNetBackend()
    b._data = {**b._data, "input_size": 256}
    b._data["refinement"] = {"input_size": 128, "window_factor": 2.0, "min_window_px": 32}
    fake = _FakeSession()
    b._refine_session = fake
    frame = np.zeros((512, 512), np.float32)

    small = np.zeros((3, 512, 512), np.float32)
    small[0] = 1.0
    nerve = _ellipse((512, 512), 200, 300, 30, 40)  # window 122 x 162 px: finer than 256/512
    small[0][nerve], small[1][nerve] = 0.0, 1.0
    b._refine(small, frame)
    assert fake.calls == 1
    # the fake model's disc (radius 1/8 of the window) replaced the whole-frame outline
    assert (small[1] > 0.5).sum() == pytest.approx(np.pi * (122 / 8) * (162 / 8), rel=0.05)

    large = np.zeros((3, 512, 512), np.float32)
    large[0] = 1.0
    big = _ellipse((512, 512), 256, 256, 60, 150)  # window 242 x 602 px: coarser, left alone
    large[0][big], large[1][big] = 0.0, 1.0
    before = large.copy()
    b._refine(large, frame)
    assert fake.calls == 1 and np.array_equal(large, before)


def _window_model(truth: np.ndarray, size: int = 96):
    """A stand-in refinement model: the true mask seen through each window (probability 0.9)."""

    def look(w: Window) -> np.ndarray:
        return crop(truth.astype(np.uint8), w, size, labels=True).astype(np.float32) * np.float32(0.9)

    return look


@pytest.mark.parametrize(("a", "b"), [(8.0, 10.0), (25.0, 60.0), (70.0, 90.0)])
def test_search_at_click_outlines_a_nerve_of_unknown_size(a: float, b: float) -> None:
    truth = _ellipse((400, 500), 200.0, 240.0, a, b)
    region = search_at_click(
        _window_model(truth),
        truth.shape,
        200,
        240,
        sides=(48, 96, 192, 384),
        factor=2.0,
        min_side=32,
        radius=12,
    )
    assert region is not None
    iou = (region & truth).sum() / (region | truth).sum()
    assert iou > 0.9


def test_search_at_click_keeps_to_the_clicked_nerve_and_finds_none_where_there_is_none() -> None:
    near = _ellipse((300, 300), 100.0, 100.0, 20.0, 20.0)
    other = _ellipse((300, 300), 100.0, 170.0, 20.0, 20.0)
    region = search_at_click(
        _window_model(near | other),
        near.shape,
        100,
        100,
        sides=(48, 96, 192),
        factor=2.0,
        min_side=32,
        radius=12,
    )
    assert region is not None and (region & near).sum() / near.sum() > 0.9 and not (region & other).any()
    empty = np.zeros((300, 300), bool)
    assert (
        search_at_click(
            _window_model(empty), empty.shape, 100, 100, sides=(48, 96), factor=2.0, min_side=32, radius=12
        )
        is None
    )


def test_region_at_takes_the_region_under_or_nearest_to_the_click() -> None:
    prob = np.zeros((60, 60), np.float32)
    prob[10:20, 10:20] = 0.9
    prob[10:20, 40:50] = 0.9
    assert region_at(prob, 15, 15, 5)[10:20, 10:20].all()  # type: ignore[index]
    near = region_at(prob, 15, 35, 6)
    assert near is not None and near[15, 45] and not near[15, 15]
    assert region_at(prob, 40, 30, 5) is None


def test_search_at_click_prefers_the_confident_look_over_a_hallucination_at_another_scale() -> None:
    """A stand-in model that is right (probability 0.9) only when the nerve fills about half of
    the window, and elsewhere sees a faint (0.6) nerve-like blob at the window's centre: the
    search keeps the confident second look, not the first or the least confident one."""
    size = 96
    truth = _ellipse((500, 500), 250.0, 250.0, 50.0, 50.0)  # 101 px across, centred on the click
    yy, xx = np.mgrid[:size, :size]
    blob = ((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 <= (size / 8) ** 2).astype(np.float32)

    def look(w: Window) -> np.ndarray:
        if 1.5 <= w.height / 101 <= 3.0 and 1.5 <= w.width / 101 <= 3.0:
            return crop(truth.astype(np.uint8), w, size, labels=True).astype(np.float32) * np.float32(0.9)
        return blob * np.float32(0.6)

    region = search_at_click(
        look, truth.shape, 250, 250, sides=(48, 96, 192, 384), factor=2.0, min_side=32, radius=12
    )
    assert region is not None
    assert (region & truth).sum() / (region | truth).sum() > 0.9


def test_a_second_look_counts_only_where_the_window_fits_what_it_shows() -> None:
    from sonomsk.vision.refine import _fits

    seen = Window(0, 0, 100, 200)
    assert _fits(Window(5, 5, 80, 250), seen, 1.5)
    assert not _fits(Window(5, 5, 60, 200), seen, 1.5)  # region much shorter than its window
    assert not _fits(Window(5, 5, 100, 320), seen, 1.5)  # much wider
    assert not _fits(None, seen, 1.5)


def _bbox(mask: np.ndarray) -> Box:
    rows, cols = np.nonzero(mask)
    return Box(int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))


@pytest.mark.parametrize(("cy", "cx", "a", "b"), [(100.0, 120.0, 9.0, 30.0), (15.0, 280.0, 40.0, 12.0)])
def test_window_of_a_box_is_the_window_of_a_nerve_with_that_bounding_box(
    cy: float, cx: float, a: float, b: float
) -> None:
    nerve = _ellipse((200, 300), cy, cx, a, b)
    for factor_rows in (None, 3.0):
        expected = window_for(nerve, 2.0, 32, factor_rows=factor_rows)
        assert window_for_box(_bbox(nerve), 2.0, 32, factor_rows=factor_rows) == expected
    # explicit numbers: pixels 10..30 x 20..60 (21 x 41 px), centre (20, 40)
    assert window_for_box(Box(10, 20, 30, 60), 2.0, 32) == Window(-1, -1, 42, 82)
    assert window_for_box(Box(10, 20, 30, 60), 2.0, 32, factor_rows=3.0) == Window(-12, -1, 63, 82)
    w = window_for_box(Box(10, 20, 11, 21), 2.0, 32)
    assert (w.height, w.width) == (32, 32)  # the minimum side
    assert w.row + w.height / 2 == pytest.approx(10.5, abs=0.5) and w.col + w.width / 2 == pytest.approx(
        20.5, abs=0.5
    )


def test_box_widened_and_mask_stay_in_the_frame() -> None:
    box = Box(2, 5, 21, 44)  # 20 x 40 px
    assert (box.height, box.width) == (20, 40)
    assert box.widened(0.1, (100, 100)) == Box(0, 1, 23, 48)
    assert box.widened(0.5, (25, 60)) == Box(0, 0, 24, 59)
    m = box.mask((30, 50))
    assert m.sum() == 20 * 40 and m[2, 5] and m[21, 44] and not m[22, 44] and not m[21, 45]


def test_region_in_box_takes_the_region_most_inside_the_box() -> None:
    prob = np.zeros((100, 100), np.float32)
    prob[10:40, 10:40] = 0.9  # large, mostly outside the box
    prob[45:60, 45:60] = 0.8  # small, wholly inside it
    box = Box(35, 35, 65, 65)
    region = region_in_box(prob, box)
    assert region is not None and region.sum() == 15 * 15 and region[50, 50]
    prob[45:60, 45:60] = 0.4  # below 0.5: no region of its own; the large one still reaches in
    region = region_in_box(prob, box)
    assert region is not None and region[20, 20] and region.sum() == 30 * 30
    assert region_in_box(prob, Box(70, 70, 90, 90)) is None
    assert region_in_box(np.zeros((50, 50), np.float32), Box(0, 0, 49, 49)) is None


def test_look_in_box_segments_the_boxed_nerve_in_the_window_of_the_box() -> None:
    nerve = _ellipse((300, 400), 150.0, 150.0, 18.0, 30.0)
    beside = _ellipse((300, 400), 150.0, 205.0, 18.0, 18.0)  # touches the window, not the box
    seen: list[Window] = []
    model = _window_model(nerve | beside)

    def look(w: Window) -> np.ndarray:
        seen.append(w)
        return model(w)

    box = _bbox(nerve)
    region = look_in_box(look, nerve.shape, box, factor=2.0, min_side=32)
    assert seen == [window_for_box(box, 2.0, 32)]
    assert region is not None
    assert (region & nerve).sum() / (region | nerve).sum() > 0.9 and not (region & beside).any()
    empty = look_in_box(_window_model(np.zeros_like(nerve)), nerve.shape, box, factor=2.0, min_side=32)
    assert empty is None
