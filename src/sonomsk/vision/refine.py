"""Second look at each nerve: re-segment a window around it at a finer scale.

The whole-frame model sees a 512-px frame at 256 px, so a nerve of 6 mm2 (about 25 px in radius
at 0.05 mm/px) is traced to within a network pixel, two frame pixels: some 15 % of its area. The
refinement model (trained by :mod:`sonomsk.training.train_refine`) sees a window of
``window_factor`` times the nerve's height and width, resized to its own square input, and
outlines the nerve inside the epineurial rim at that finer scale. Resizing each axis on its own
shows a flattened nerve (carpal tunnel) as roughly round, at its finest along its short axis,
where most of its area's uncertainty lies. A window whose resized pixels are, on the geometric
mean of the two axes, no finer than the whole-frame model's is left as it is.

Training and inference both call :func:`window_for` and :func:`crop`, so the geometry cannot
drift apart. A click (:func:`search_at_click`) or a box drawn around a nerve (:func:`look_in_box`)
asks the same model for one nerve where the whole-frame model may have seen none. The parameters are in the model card, ``nerve_unet.json`` under ``refinement``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sonomsk.vision.preprocess import standardise


@dataclass(frozen=True)
class Window:
    """A window of the frame: top-left (row, col), height and width in px (may overhang it)."""

    row: int
    col: int
    height: int
    width: int

    def scale(self, size: int) -> float:
        """Window pixels per frame pixel once resized to (size, size), geometric mean of the axes."""
        return float(size / np.sqrt(self.height * self.width))


def window_for(
    mask: np.ndarray,
    factor: float,
    min_side: int,
    *,
    factor_rows: float | None = None,
    origin: tuple[int, int] = (0, 0),
) -> Window | None:
    """The window centred on ``mask``'s bounding box, ``factor`` times its width and
    ``factor_rows`` (default ``factor``) times its height, each at least ``min_side``.
    ``origin`` is the frame position of ``mask``'s first pixel when it is a cut-out."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    rows, cols = rows + origin[0], cols + origin[1]
    box = Box(int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
    return window_for_box(box, factor, min_side, factor_rows=factor_rows)


@dataclass(frozen=True)
class Box:
    """A box of frame pixels: first and last row and column, inclusive."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    def widened(self, fraction: float, shape: tuple[int, int]) -> Box:
        """The box grown by ``fraction`` of its height and width on each side, within ``shape``."""
        dr, dc = round(fraction * self.height), round(fraction * self.width)
        return Box(
            max(0, self.top - dr),
            max(0, self.left - dc),
            min(shape[0] - 1, self.bottom + dr),
            min(shape[1] - 1, self.right + dc),
        )

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """A boolean mask of ``shape`` that is True inside the box."""
        out = np.zeros(shape, dtype=bool)
        out[max(0, self.top) : self.bottom + 1, max(0, self.left) : self.right + 1] = True
        return out


def window_for_box(box: Box, factor: float, min_side: int, *, factor_rows: float | None = None) -> Window:
    """The window centred on ``box``, ``factor`` times its width and ``factor_rows`` (default
    ``factor``) times its height, each at least ``min_side``: what :func:`window_for` gives a
    mask whose bounding box is ``box``."""
    height = max(round((factor_rows or factor) * box.height), min_side)
    width = max(round(factor * box.width), min_side)
    cy = (box.top + box.bottom) / 2.0
    cx = (box.left + box.right) / 2.0
    return Window(round(cy - height / 2.0), round(cx - width / 2.0), height, width)


def crop(image: np.ndarray, w: Window, size: int, *, labels: bool = False) -> np.ndarray:
    """The window of a 2-D array resized to (size, size); outside the frame is reflected (images)
    or 0 (labels). Images come back as float32 in their own grey levels, labels as uint8
    (nearest); :func:`model_input` standardises an image crop for the model."""
    import cv2

    # frame pixel centre c maps to window pixel (c - col + 0.5) * s - 0.5 (as cv2.resize)
    sx, sy = size / w.width, size / w.height
    m = np.array([[sx, 0.0, (0.5 - w.col) * sx - 0.5], [0.0, sy, (0.5 - w.row) * sy - 0.5]])
    if labels:
        out = cv2.warpAffine(
            np.asarray(image, dtype=np.uint8),
            m,
            (size, size),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return np.asarray(out, dtype=np.uint8)
    interp = cv2.INTER_AREA if min(sx, sy) < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(
        np.asarray(image, dtype=np.float32), m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(out, dtype=np.float32)


def model_input(grey: np.ndarray, w: Window, size: int) -> np.ndarray:
    """The standardised (size, size) float32 crop the refinement model takes."""
    return standardise(crop(grey, w, size))


def paste(prob: np.ndarray, nerve_prob: np.ndarray, w: Window) -> None:
    """Write a (size, size) nerve probability of window ``w`` into (3, row, col) class
    probabilities in place; background and vessel share what is left in their old proportion."""
    import cv2

    _, rows, cols = prob.shape
    r0, c0 = max(0, w.row), max(0, w.col)
    r1, c1 = min(rows, w.row + w.height), min(cols, w.col + w.width)
    if r0 >= r1 or c0 >= c1:
        return
    size = nerve_prob.shape[0]
    sx, sy = size / w.width, size / w.height
    # window pixel u maps to frame column (u + 0.5) / s - 0.5 + col, here relative to c0
    m = np.array([[1 / sx, 0.0, 0.5 / sx - 0.5 + w.col - c0], [0.0, 1 / sy, 0.5 / sy - 0.5 + w.row - r0]])
    pn = cv2.warpAffine(
        np.asarray(nerve_prob, dtype=np.float32),
        m,
        (c1 - c0, r1 - r0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    old = prob[:, r0:r1, c0:c1]
    rest = old[0] + old[2]
    share_bg = np.where(rest > 1e-6, old[0] / np.maximum(rest, 1e-6), 1.0)
    old[0] = (1.0 - pn) * share_bg
    old[2] = (1.0 - pn) * (1.0 - share_bg)
    old[1] = pn


def region_at(prob: np.ndarray, row: int, col: int, radius: int) -> np.ndarray | None:
    """The connected region of ``prob > 0.5`` that holds (row, col), else the one nearest to
    it within ``radius`` px (Chebyshev box), as a boolean mask; None when there is none."""
    from scipy import ndimage

    lab, n = ndimage.label(prob > 0.5)
    if not n:
        return None
    if lab[row, col]:
        return np.asarray(lab == lab[row, col])
    r0, c0 = max(0, row - radius), max(0, col - radius)
    near = lab[r0 : row + radius + 1, c0 : col + radius + 1]
    yy, xx = np.nonzero(near)
    if not yy.size:
        return None
    k = int(np.argmin((yy + r0 - row) ** 2 + (xx + c0 - col) ** 2))
    return np.asarray(lab == near[yy[k], xx[k]])


def region_in_box(prob: np.ndarray, box: Box) -> np.ndarray | None:
    """The connected region of ``prob > 0.5`` with the most pixels inside ``box``, as a boolean
    mask; None when no region has a pixel inside it."""
    from scipy import ndimage

    lab, n = ndimage.label(prob > 0.5)
    if not n:
        return None
    inside = lab[max(0, box.top) : box.bottom + 1, max(0, box.left) : box.right + 1]
    counts = np.bincount(inside.ravel(), minlength=n + 1)
    counts[0] = 0
    if not counts.any():
        return None
    return np.asarray(lab == int(np.argmax(counts)))


def look_in_box(
    window_probability: Callable[[Window], np.ndarray],
    shape: tuple[int, int],
    box: Box,
    *,
    factor: float,
    min_side: int,
) -> np.ndarray | None:
    """Outline the nerve in a box drawn around it with the refinement model: the window the model
    was trained on for a nerve of that bounding box (:func:`window_for_box`) is segmented, and
    the region with the most pixels inside the box is returned (boolean mask of ``shape``), or
    None when no region reaches into the box. ``window_probability(w)`` is the model's
    (size, size) nerve probability of window w."""
    w = window_for_box(box, factor, min_side)
    return region_in_box(_frame_probability(window_probability, w, shape), box)


def search_at_click(
    window_probability: Callable[[Window], np.ndarray],
    shape: tuple[int, int],
    row: int,
    col: int,
    *,
    sides: Sequence[int],
    factor: float,
    min_side: int,
    radius: int,
    fit: float = 1.5,
) -> np.ndarray | None:
    """Outline the nerve at a click with the refinement model when its size is unknown.

    For each side in ``sides``, a square window centred on the click is segmented; the region at
    the click then gives the window the model was trained on (:func:`window_for`), which is
    segmented again. That second look counts only if it shows what the model was trained on:
    a window no larger than twice the largest of ``sides``, a region that does not reach the
    window's edge (the nerve wholly in view), and a region whose own window matches the window it
    was seen in to within ``fit`` in height and in width (a nerve filling about the middle half
    of it). Of the second looks that count, the region at the click with the highest mean nerve
    probability is returned (boolean mask of ``shape``), or None when none counts.
    ``window_probability(w)`` is the model's (size, size) nerve probability of window w.
    """
    largest = 2 * max(sides)
    best: tuple[float, np.ndarray] | None = None
    for side in sides:
        first = _frame_probability(
            window_probability, Window(row - side // 2, col - side // 2, side, side), shape
        )
        region = region_at(first, row, col, radius)
        w = None if region is None else window_for(region, factor, min_side)
        if w is None or max(w.height, w.width) > largest:
            continue
        second = _frame_probability(window_probability, w, shape)
        region = region_at(second, row, col, radius)
        if (
            region is None
            or _reaches_edge(region, w)
            or not _fits(window_for(region, factor, min_side), w, fit)
        ):
            continue
        score = float(second[region].mean())
        if best is None or score > best[0]:
            best = (score, region)
    return None if best is None else best[1]


def _fits(found: Window | None, seen: Window, fit: float) -> bool:
    """Whether window ``found`` has the height and width of ``seen`` to within a factor ``fit``."""
    if found is None:
        return False
    return all(1 / fit <= a / b <= fit for a, b in ((found.height, seen.height), (found.width, seen.width)))


def _frame_probability(
    window_probability: Callable[[Window], np.ndarray], w: Window, shape: tuple[int, int]
) -> np.ndarray:
    """The nerve probability of window ``w`` placed in a frame of ``shape`` (0 outside it)."""
    prob = np.zeros((3, *shape), dtype=np.float32)
    prob[0] = 1.0
    paste(prob, window_probability(w), w)
    return prob[1]


def _reaches_edge(region: np.ndarray, w: Window) -> bool:
    """Whether ``region`` has a pixel on the outermost rows or columns of window ``w`` (edges
    that lie outside the frame do not count: the frame's own edge cuts every window there)."""
    rows, cols = region.shape
    edges = []
    if 0 <= w.row < rows:
        edges.append(region[w.row, max(0, w.col) : w.col + w.width])
    if 0 <= w.row + w.height - 1 < rows:
        edges.append(region[w.row + w.height - 1, max(0, w.col) : w.col + w.width])
    if 0 <= w.col < cols:
        edges.append(region[max(0, w.row) : w.row + w.height, w.col])
    if 0 <= w.col + w.width - 1 < cols:
        edges.append(region[max(0, w.row) : w.row + w.height, w.col + w.width - 1])
    return any(bool(e.any()) for e in edges)
