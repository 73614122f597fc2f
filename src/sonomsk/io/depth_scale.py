"""Detecting an on-screen depth ruler to calibrate screen captures and videos.

Scanners draw a depth ruler beside the image: a column of short horizontal tick marks, the
major ones (longer) one centimetre apart and labelled with the depth in cm. The rule used here:

1. In the outer 15 % of the frame on each side, bright thin horizontal marks (1-5 px high,
   4-20 px long, brighter than 100 of 255) are candidate ticks; taller blobs (focus markers,
   text) are not ticks.
2. The longest ticks that share one column are the major ticks. At least 4 of them must be
   evenly spaced (relative spread of the gaps under 3 %), else no ruler is reported.
3. Major ticks are taken as 1 cm apart only when they carry labels (a digit-sized mark within
   40 px beside at least half of them, on either side): labelled major ticks are centimetre
   numbers. Unlabelled regular ticks could be 0.5 or 1 cm (or, as on some scanners, only the
   first and last tick carry a number, e.g. ``0`` and ``50`` mm); then nothing is reported
   rather than a guess, and :func:`find_depth_scale` says why.
4. Pixels per cm is the mean spacing of the major ticks (first to last); pixels are taken as
   square (the ruler measures depth, i.e. rows; scan conversion makes columns the same size).

A detection never overrides a DICOM calibration, the caller or a sidecar; it is recorded as
``calibration_source: depth_scale`` with a note, so the user can see where millimetres came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sonomsk.core.units import length_to_mm

#: Detection parameters (documented above; none is tuned to a particular data set's answer).
BRIGHT = 100
TICK_MAX_HEIGHT = 5
TICK_MIN_LENGTH = 4
TICK_MAX_LENGTH = 20
MARGIN_FRACTION = 0.15
MIN_MAJOR_TICKS = 4
MAX_GAP_SPREAD = 0.03
PLAUSIBLE_MM_PER_PX = (0.01, 1.0)
LABEL_REACH = 40


@dataclass(frozen=True)
class DepthScale:
    """A detected ruler: rows of the major ticks, their column, and the pixels per cm."""

    tick_rows: tuple[float, ...]
    column: float
    pixels_per_cm: float
    labelled: int

    @property
    def mm_per_px(self) -> float:
        return length_to_mm(1.0, "cm") / self.pixels_per_cm


def _thin_horizontal(band: np.ndarray) -> np.ndarray:
    """Bright pixels with dark pixels above and below (marks at most TICK_MAX_HEIGHT px high)."""
    k = TICK_MAX_HEIGHT + 1
    up = np.zeros_like(band)
    down = np.zeros_like(band)
    up[k:] = band[:-k]
    down[:-k] = band[k:]
    return band & ~up & ~down


def _ticks(band: np.ndarray) -> list[tuple[float, float, int, int]]:
    """(row, col centre, length, x0) of thin horizontal marks in a boolean band."""
    import cv2

    thin = _thin_horizontal(band)
    n, _labels, stats, cents = cv2.connectedComponentsWithStats(thin.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, _y, w, h, _area = stats[i]
        if h <= TICK_MAX_HEIGHT and TICK_MIN_LENGTH <= w <= TICK_MAX_LENGTH:
            out.append((float(cents[i][1]), float(x + w / 2), int(w), int(x)))
    return out


def _labels_near(mask: np.ndarray, rows: list[float], x_left: int, x_right: int) -> int:
    """How many tick rows have a digit-sized blob within 40 px beside the ruler (either side)."""
    import cv2

    best = 0
    for lo, hi in (
        (max(0, x_left - LABEL_REACH), x_left),
        (x_right, min(mask.shape[1], x_right + LABEL_REACH)),
    ):
        sub = mask[:, lo:hi]
        if sub.size == 0:
            continue
        n, _l, stats, cents = cv2.connectedComponentsWithStats(sub.astype(np.uint8), connectivity=8)
        blobs = [float(cents[i][1]) for i in range(1, n) if 6 <= stats[i][3] <= 30 and 2 <= stats[i][2] <= 25]
        best = max(best, sum(1 for r in rows if any(abs(b - r) <= 15 for b in blobs)))
    return best


#: Why no ruler was reported, from the earliest to the latest stage of the rule above.
_STAGES = (
    "no tick-like marks at the left or right edge",
    f"fewer than {MIN_MAJOR_TICKS} aligned major ticks",
    "major ticks not evenly spaced",
    "major ticks without depth labels: 0.5 cm or 1 cm apart is ambiguous",
    "tick spacing gives an implausible pixel size",
)


def find_depth_scale(frame: np.ndarray) -> tuple[DepthScale | None, str]:
    """The depth ruler of a frame and a one-line reason when there is none (or it is ambiguous).

    Parameters
    ----------
    frame
        One frame, (row, col) grey or (row, col, 3) colour, any integer or float dtype.

    Returns
    -------
    (DepthScale or None, str)
        The ruler (pixels per cm from the mean spacing of labelled major ticks) and ``""``, or
        None and the reason from the furthest stage of the rule that either edge reached.
    """
    grey = frame.max(axis=2) if frame.ndim == 3 else frame
    if grey.dtype != np.uint8:
        top = float(grey.max(initial=0)) or 1.0
        grey = (grey.astype(np.float32) * (255.0 / top)).astype(np.uint8)
    _rows, cols = grey.shape
    mask = grey > BRIGHT
    margin = max(8, int(cols * MARGIN_FRACTION))
    best: DepthScale | None = None
    stage = 0
    for x0 in (cols - margin, 0):
        band = mask[:, x0 : x0 + margin]
        ticks = _ticks(band)
        if len(ticks) < MIN_MAJOR_TICKS:
            continue
        stage = max(stage, 1)
        longest = max(t[2] for t in ticks)
        major = [t for t in ticks if t[2] >= longest - 1]
        # one column: right ends (or left ends) aligned within 2 px
        ends = np.array([t[3] + t[2] for t in major], dtype=float)
        col_end = float(np.median(ends))
        major = [t for t, e in zip(major, ends, strict=True) if abs(e - col_end) <= 2]
        if len(major) < MIN_MAJOR_TICKS:
            continue
        stage = max(stage, 2)
        tick_rows = sorted(t[0] for t in major)
        gaps = np.diff(tick_rows)
        period = float(np.median(gaps))
        if period < 10 or float(np.max(np.abs(gaps - period))) > MAX_GAP_SPREAD * period:
            continue
        stage = max(stage, 3)
        ruler_left = x0 + int(min(t[3] for t in major))
        ruler_right = x0 + int(max(t[3] + t[2] for t in major))
        labelled = _labels_near(mask, tick_rows[1:], ruler_left, ruler_right)
        if labelled < max(2, (len(tick_rows) - 1) // 2):
            continue
        stage = max(stage, 4)
        # the mean spacing over the whole ruler (first to last major tick)
        period = (tick_rows[-1] - tick_rows[0]) / (len(tick_rows) - 1)
        mm = length_to_mm(1.0, "cm") / period
        if not PLAUSIBLE_MM_PER_PX[0] <= mm <= PLAUSIBLE_MM_PER_PX[1]:
            continue
        found = DepthScale(tuple(tick_rows), x0 + float(np.median([t[1] for t in major])), period, labelled)
        if best is None or len(found.tick_rows) > len(best.tick_rows):
            best = found
    return best, ("" if best is not None else _STAGES[stage])


def detect_depth_scale(frame: np.ndarray) -> DepthScale | None:
    """The depth ruler of a screen capture, or None when there is none (or it is ambiguous)."""
    return find_depth_scale(frame)[0]


def detector_for(frame: np.ndarray) -> Callable[[], tuple[tuple[float, float] | None, str]]:
    """A deferred detector for :func:`sonomsk.io.sidecar.calibrate`.

    The detector returns ((row, col) spacing in mm, note) for a ruler, else (None, reason).
    Pixels are taken as square: the ruler measures depth (rows); B-mode scan conversion makes
    columns the same size.
    """

    def detect() -> tuple[tuple[float, float] | None, str]:
        scale, reason = find_depth_scale(frame)
        if scale is None:
            return None, f"no depth scale detected: {reason}"
        mm = scale.mm_per_px
        note = (
            f"calibration from detected depth scale ({len(scale.tick_rows)} ticks) at "
            f"{scale.pixels_per_cm:.2f} px/cm, 1 cm per labelled major tick, square pixels "
            "assumed: check it against the screen"
        )
        return (mm, mm), note

    return detect
