"""Rasterised shapes on a :class:`~sonomsk.simulate.tissues.Canvas` (boolean masks, pixel centres)."""

from __future__ import annotations

import math

import numpy as np

from sonomsk.simulate.tissues import Canvas


def _bbox(canvas: Canvas, z0: float, z1: float, x0: float, x1: float) -> tuple[int, int, int, int]:
    s = canvas.spacing_mm
    r0 = max(0, math.floor(z0 / s) - 1)
    r1 = min(canvas.rows, math.ceil(z1 / s) + 2)
    c0 = max(0, math.floor((x0 - canvas.x_offset_mm) / s) - 1)
    c1 = min(canvas.cols, math.ceil((x1 - canvas.x_offset_mm) / s) + 2)
    return r0, r1, c0, c1


def ellipse(canvas: Canvas, cz: float, cx: float, a: float, b: float, angle_deg: float = 0.0) -> np.ndarray:
    """Pixels whose centre lies inside the ellipse (centre (cz, cx) mm, semi-axes a along x, b along z).

    ``angle_deg`` turns the a-axis from the horizontal towards depth.
    """
    mask = np.zeros((canvas.rows, canvas.cols), bool)
    r = max(a, b)
    r0, r1, c0, c1 = _bbox(canvas, cz - r, cz + r, cx - r, cx + r)
    if r0 >= r1 or c0 >= c1:
        return mask
    s = canvas.spacing_mm
    zz = (np.arange(r0, r1, dtype=np.float64) * s - cz)[:, None]
    xx = (np.arange(c0, c1, dtype=np.float64) * s + canvas.x_offset_mm - cx)[None, :]
    t = math.radians(angle_deg)
    u = xx * math.cos(t) + zz * math.sin(t)
    v = -xx * math.sin(t) + zz * math.cos(t)
    mask[r0:r1, c0:c1] = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return mask


def ellipse_of_area(
    canvas: Canvas, cz: float, cx: float, area_mm2: float, ratio: float, angle_deg: float = 0.0
) -> tuple[np.ndarray, float, float]:
    """An ellipse of aspect ``ratio`` (a/b >= 1) whose *rasterised* area is closest to ``area_mm2``.

    The semi-axes are scaled by bisection so that pixel count x pixel area matches the target to
    within one pixel; returns (mask, a, b) with the final analytic semi-axes in mm.
    """
    px_area = canvas.spacing_mm**2
    b0 = math.sqrt(area_mm2 / (math.pi * ratio))
    lo, hi = 0.8, 1.25
    best: tuple[float, np.ndarray, float] | None = None
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        mask = ellipse(canvas, cz, cx, ratio * b0 * mid, b0 * mid, angle_deg)
        area = float(mask.sum()) * px_area
        err = abs(area - area_mm2)
        if best is None or err < best[0]:
            best = (err, mask, mid)
        if err < 0.5 * px_area:
            break
        if area < area_mm2:
            lo = mid
        else:
            hi = mid
    assert best is not None
    _, mask, mid = best
    return mask, ratio * b0 * mid, b0 * mid


def band(canvas: Canvas, top: np.ndarray | float, bottom: np.ndarray | float) -> np.ndarray:
    """Pixels whose depth lies in [top, bottom); ``top``/``bottom`` are mm per column or scalars."""
    z = canvas.z
    t = np.broadcast_to(np.asarray(top, np.float32).reshape(1, -1), (1, canvas.cols))
    b = np.broadcast_to(np.asarray(bottom, np.float32).reshape(1, -1), (1, canvas.cols))
    return (z >= t) & (z < b)


def segment(canvas: Canvas, z0: float, x0: float, z1: float, x1: float, thickness_mm: float) -> np.ndarray:
    """Pixels within ``thickness_mm / 2`` of the segment (z0, x0)-(z1, x1) (mm)."""
    mask = np.zeros((canvas.rows, canvas.cols), bool)
    h = 0.5 * thickness_mm
    r0, r1, c0, c1 = _bbox(canvas, min(z0, z1) - h, max(z0, z1) + h, min(x0, x1) - h, max(x0, x1) + h)
    if r0 >= r1 or c0 >= c1:
        return mask
    s = canvas.spacing_mm
    zz = (np.arange(r0, r1, dtype=np.float64) * s)[:, None]
    xx = (np.arange(c0, c1, dtype=np.float64) * s + canvas.x_offset_mm)[None, :]
    dz, dx = z1 - z0, x1 - x0
    length2 = dz * dz + dx * dx
    t = np.clip(((zz - z0) * dz + (xx - x0) * dx) / max(length2, 1e-12), 0.0, 1.0)
    d2 = (zz - z0 - t * dz) ** 2 + (xx - x0 - t * dx) ** 2
    mask[r0:r1, c0:c1] = d2 <= h * h
    return mask


def polyline_mask(canvas: Canvas, points_mm: np.ndarray, thickness_px: int = 1) -> np.ndarray:
    """A thin polyline through (z, x) points in mm, drawn with OpenCV (fast, for texture)."""
    import cv2

    img = np.zeros((canvas.rows, canvas.cols), np.uint8)
    pts = np.stack(
        [(points_mm[:, 1] - canvas.x_offset_mm) / canvas.spacing_mm, points_mm[:, 0] / canvas.spacing_mm],
        axis=1,
    )
    cv2.polylines(img, [np.round(pts).astype(np.int32)], False, 1, thickness=thickness_px)
    return img.astype(bool)
