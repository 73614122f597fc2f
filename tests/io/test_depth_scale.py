"""On-screen depth ruler detection: a synthetic labelled ruler gives its exact pixels per cm, an
unlabelled one gives nothing; on real data the known 115.25 px/cm is found and images without a
ruler are never calibrated by accident."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from sonomsk.io.depth_scale import detect_depth_scale, detector_for, find_depth_scale

TIMTRACK2_PX_PER_CM = 115.25  # given with the data set (shared/data/README.md)


def draw_ruler(
    period: float = 50.0,
    rows: int | None = None,
    cols: int = 400,
    labels: bool = True,
    n_ticks: int = 7,
    top: int = 30,
) -> np.ndarray:
    """A dark B-mode-like frame with a depth ruler at the right edge: major ticks ``period`` px
    apart (12 px long), minor ticks between them (6 px), depth numbers left of the major ticks."""
    rows = rows or round(2 * top + (n_ticks - 1) * period)
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 60, (rows, cols), dtype=np.uint8)  # speckle below the threshold
    x_end = cols - 10
    for k in range(n_ticks):
        y = round(top + k * period)
        cv2.line(frame, (x_end - 12, y), (x_end, y), 255, 1)
        half = round(top + (k + 0.5) * period)
        if k < n_ticks - 1:
            cv2.line(frame, (x_end - 6, half), (x_end, half), 255, 1)
        if labels and k > 0:
            cv2.putText(frame, str(k), (x_end - 30, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 255, 1)
    return frame


@pytest.mark.parametrize("period", [38.0, 50.0, 73.0])
def test_labelled_ruler_gives_its_period(period: float) -> None:
    scale = detect_depth_scale(draw_ruler(period=period))
    assert scale is not None
    assert scale.pixels_per_cm == pytest.approx(period, rel=0.01)
    assert scale.mm_per_px == pytest.approx(10.0 / period, rel=0.01)
    assert len(scale.tick_rows) == 7


def test_colour_frame_is_handled() -> None:
    grey = draw_ruler()
    scale = detect_depth_scale(np.repeat(grey[..., None], 3, axis=2))
    assert scale is not None and scale.pixels_per_cm == pytest.approx(50.0, rel=0.01)


def test_unlabelled_ticks_give_nothing() -> None:
    """Regular ticks without numbers could be 0.5 or 1 cm apart: no guess."""
    assert detect_depth_scale(draw_ruler(labels=False)) is None


def test_too_few_ticks_give_nothing() -> None:
    assert detect_depth_scale(draw_ruler(n_ticks=3)) is None


def _irregular_ruler() -> np.ndarray:
    frame = draw_ruler(period=50.0)
    x_end = frame.shape[1] - 10
    y = round(30 + 3 * 50.0)
    frame[y, x_end - 12 : x_end + 1] = 0  # move the 4th major tick by 9 px
    cv2.line(frame, (x_end - 12, y + 9), (x_end, y + 9), 255, 1)
    return frame


def test_irregular_ticks_give_nothing() -> None:
    assert detect_depth_scale(_irregular_ruler()) is None


def test_plain_speckle_gives_nothing() -> None:
    rng = np.random.default_rng(5)
    assert detect_depth_scale(rng.integers(0, 256, (300, 300), dtype=np.uint8)) is None


def test_detector_for_returns_spacing_and_a_note() -> None:
    spacing, note = detector_for(draw_ruler(period=50.0))()
    assert spacing == pytest.approx((0.2, 0.2), rel=0.01)
    assert note.startswith("calibration from detected depth scale (7 ticks)") and "px/cm" in note
    spacing, note = detector_for(draw_ruler(labels=False))()
    assert spacing is None and "ambiguous" in note


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (np.zeros((300, 300), dtype=np.uint8), "no tick-like marks"),
        (draw_ruler(n_ticks=3), "fewer than 4 aligned major ticks"),
        (draw_ruler(labels=False), "without depth labels: 0.5 cm or 1 cm apart is ambiguous"),
        (_irregular_ruler(), "not evenly spaced"),
    ],
)
def test_find_depth_scale_says_why_there_is_none(frame: np.ndarray, reason: str) -> None:
    scale, why = find_depth_scale(frame)
    assert scale is None and reason in why


def test_ruler_at_the_left_edge_with_labels_on_its_right() -> None:
    mirrored = np.ascontiguousarray(draw_ruler(period=61.0)[:, ::-1])
    scale, why = find_depth_scale(mirrored)
    assert scale is not None and why == ""
    assert scale.pixels_per_cm == pytest.approx(61.0, rel=0.01)
    assert scale.column < mirrored.shape[1] * 0.15


def test_sixteen_bit_frame_is_rescaled() -> None:
    frame = draw_ruler(period=44.0).astype(np.uint16) * 257
    scale = detect_depth_scale(frame)
    assert scale is not None and scale.pixels_per_cm == pytest.approx(44.0, rel=0.01)


# -- real data (tier C) ----------------------------------------------------------------------


def _frames(paths: list[Path]) -> list[tuple[Path, np.ndarray]]:
    return [(p, np.asarray(Image.open(p).convert("RGB"))) for p in paths]


def test_timtrack_dataset2_rulers_found_within_one_percent(shared_data: Path) -> None:
    paths = sorted((shared_data / "timtrack" / "dataset2").rglob("*.png"))
    if len(paths) != 56:
        pytest.skip(f"timtrack/dataset2 holds {len(paths)} PNG files, expected 56")
    misses = []
    for path, frame in _frames(paths):
        scale = detect_depth_scale(frame)
        if scale is None or abs(scale.pixels_per_cm / TIMTRACK2_PX_PER_CM - 1) > 0.01:
            misses.append((path.name, None if scale is None else scale.pixels_per_cm))
    assert not misses, misses


@pytest.mark.parametrize(
    "pattern",
    [
        "usgra-seg/images/*.png",
        "dltrack/apo/images/*.png",
        "dltrack/fasc/images/*.png",
        "timtrack/dataset1/**/*.png",
    ],
)
def test_no_false_calibration_on_images_without_a_ruler(pattern: str, shared_data: Path) -> None:
    paths = sorted(shared_data.glob(pattern))
    if not paths:
        pytest.skip(f"no files match {pattern} under {shared_data}")
    found = [p.name for p, frame in _frames(paths) if detect_depth_scale(frame) is not None]
    assert found == []
