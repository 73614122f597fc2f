"""Closed contours (polygons in px, row/column order) and their conversion to and from masks.

Perimeter (one definition for every path)
-----------------------------------------
A polygon traced along the pixels of a mask (:func:`contours_from_mask`) is a staircase of 1 and
sqrt(2) px steps. Its length is that of the staircase, not of the boundary it samples: 6 to 10 %
longer for a digital disc, whatever the pixel size, so that 4 pi A / P^2 of a disc is 0.85 to 0.89.
:meth:`Contour.perimeter` is therefore the length of :func:`measured_polygon`: runs of edges
shorter than ``LENGTH_SCALE_PX / 2`` (the pixel staircase: its steps are at most about 1.7 px)
are replaced by their chords about :data:`LENGTH_SCALE_PX` apart along arc length, and vertices
of edges at least ``LENGTH_SCALE_PX / 2`` long (drawn by hand, or the workstation's stored
outline, one vertex per about 4 px) are kept as drawn. A chord measures the displacement along
the boundary, so the +-0.5 px quantisation of its ends adds only about (0.5 / 4)^2 / 2 < 1 % to
its length, and cutting the curve of a boundary of radius R removes about
LENGTH_SCALE_PX^2 / (24 R^2) (0.7 % at R = 10 px). Measured: digital discs of radius 10 to 60 px
have a perimeter within 1 % of 2 pi r and a circularity of 0.98 to 0.99; a mask and its stored
outline agree within 1 % once the outline is 64 px long (shorter ones are stored with 16
vertices closer than 4 px and differ by up to 3 %). Circularity is 4 pi A / P^2 of that same
polygon (:meth:`Contour.circularity`), so it is at most 1 (the isoperimetric inequality) and
near 1 only for a circle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonomsk.core.errors import InvalidParameterError, MeasurementError

#: Scale (px) at which the length of an outline is measured (:func:`measured_polygon`): the
#: vertex spacing of the outlines the workstation stores, so that a stored outline is measured
#: as drawn and a traced mask at the same scale.
LENGTH_SCALE_PX = 4.0


@dataclass(frozen=True)
class Contour:
    """A closed polygon: ``points`` (N, 2) float (row, col) in px of the frame; ``label`` names
    the structure (``nerve``, ``vessel``)."""

    points: np.ndarray
    label: str = "nerve"

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
            raise InvalidParameterError(
                f"contour points: expected (N >= 3, 2) (row, col) in px, got shape {pts.shape}"
            )
        if not np.all(np.isfinite(pts)):
            raise InvalidParameterError("contour points: expected finite (row, col) values in px")
        pts.flags.writeable = False
        object.__setattr__(self, "points", pts)

    @classmethod
    def from_mask(cls, mask: np.ndarray, label: str = "nerve") -> Contour:
        """Outline of the largest connected part of a boolean mask (pixel-centre polygon)."""
        contours = contours_from_mask(mask, label)
        if not contours:
            raise MeasurementError(f"mask: no {label} pixels to outline")
        return max(contours, key=lambda c: c.area(spacing=None))

    def to_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean (row, col) mask of the polygon and its boundary pixels."""
        import cv2

        mask = np.zeros(shape, dtype=np.uint8)
        xy = np.round(self.points[:, ::-1] * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        cv2.fillPoly(mask, [xy], 1, lineType=cv2.LINE_8, shift=4)
        return mask.astype(bool)

    def pixels_inside(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean (row, col) mask of the pixels whose centres lie inside the outline.

        The inverse of :func:`contours_from_mask` (whose polygon runs along the outer edges of the
        boundary pixels), so a mask outlined and filled again is the same mask; :meth:`to_mask`
        also takes every pixel the edge touches, which grows a mask by a ring of pixels. An
        outline too thin to hold a pixel centre falls back to the pixels its edge touches.
        """
        from skimage.draw import polygon

        mask = np.zeros(shape, dtype=bool)
        rr, cc = polygon(self.points[:, 0], self.points[:, 1], shape=shape)
        mask[rr, cc] = True
        return mask if mask.any() else self.to_mask(shape)

    def area(self, *, spacing: tuple[float, float] | None) -> float:
        """Polygon area (shoelace) in mm2 with ``spacing`` (row, col) in mm, else in px2."""
        return _shoelace(_scaled(self.points, spacing))

    def perimeter(self, *, spacing: tuple[float, float] | None) -> float:
        """Length of the outline measured at :data:`LENGTH_SCALE_PX` (:func:`measured_polygon`)
        in mm with ``spacing`` (row, col) in mm, else in px."""
        return _length(_scaled(measured_polygon(self.points), spacing))

    def circularity(self, *, spacing: tuple[float, float] | None) -> float:
        """4 pi A / P^2 of :func:`measured_polygon` (A its area, P its length; 1 for a circle)."""
        pts = _scaled(measured_polygon(self.points), spacing)
        perimeter = _length(pts)
        return 4 * np.pi * _shoelace(pts) / perimeter**2 if perimeter > 0 else 0.0

    def measured_area(self, *, spacing: tuple[float, float] | None) -> float:
        """Area of :func:`measured_polygon` (the A of :meth:`circularity`), mm2 or px2."""
        return _shoelace(_scaled(measured_polygon(self.points), spacing))

    def measured_length_and_area(self, *, spacing: tuple[float, float] | None) -> tuple[float, float]:
        """:meth:`perimeter` and :meth:`measured_area` from one :func:`measured_polygon`."""
        pts = _scaled(measured_polygon(self.points), spacing)
        return _length(pts), _shoelace(pts)


def _shoelace(pts: np.ndarray) -> float:
    r, c = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(r, np.roll(c, 1)) - np.dot(c, np.roll(r, 1))) / 2.0)


def _length(pts: np.ndarray) -> float:
    return float(np.sum(np.hypot(*(np.roll(pts, -1, axis=0) - pts).T)))


def measured_polygon(points: np.ndarray, scale_px: float = LENGTH_SCALE_PX) -> np.ndarray:
    """The polygon whose length is an outline's perimeter (see the module docstring).

    Vertices at either end of an edge at least ``scale_px / 2`` long are kept; each run of
    shorter edges between two kept vertices becomes ``max(1, round(length / scale_px))`` chords
    of equal arc length. A polygon with no such edge (a traced mask) is resampled as a whole at
    ``max(3, round(length / scale_px))`` points from its first vertex.
    """
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    seg = np.hypot(*(np.roll(pts, -1, axis=0) - pts).T)  # seg[i]: points[i] -> points[i + 1]
    long = seg >= scale_px / 2
    if long.all():
        return pts
    keep = long | np.roll(long, 1)  # vertex i starts or ends a long edge
    if not keep.any():
        return _resample_closed(pts, seg, max(3, round(float(seg.sum()) / scale_px)))
    start = int(np.flatnonzero(keep)[0])
    order = np.roll(np.arange(n), -start)
    out: list[np.ndarray] = []
    run: list[int] = [order[0]]
    for k in range(1, n + 1):
        i = int(order[k % n])
        run.append(i)
        if keep[i]:
            out.append(pts[run[0]][None, :])
            if len(run) > 2:  # a run of short edges: chords of equal arc length
                path = pts[run]
                steps = np.hypot(*np.diff(path, axis=0).T)
                total = float(steps.sum())
                m = max(1, round(total / scale_px))
                if m > 1 and total > 0:
                    s = np.concatenate([[0.0], np.cumsum(steps)])
                    at = np.linspace(0.0, total, m + 1)[1:-1]
                    out.append(np.stack([np.interp(at, s, path[:, 0]), np.interp(at, s, path[:, 1])], axis=1))
            run = [i]
    return np.concatenate(out, axis=0)


def _resample_closed(pts: np.ndarray, seg: np.ndarray, m: int) -> np.ndarray:
    closed = np.vstack([pts, pts[:1]])
    s = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.linspace(0.0, float(s[-1]), m, endpoint=False)
    return np.stack([np.interp(at, s, closed[:, 0]), np.interp(at, s, closed[:, 1])], axis=1)


def check_outline(contour: Contour, shape: tuple[int, int]) -> None:
    """Refuse an outline that cannot be measured in a frame of ``shape`` (rows, cols).

    Every point must lie in the frame ([-0.5, rows - 0.5] x [-0.5, cols - 0.5]: pixel centres
    are integers), the polygon must enclose a non-zero area, and no two edges may cross (a
    crossing polygon's shoelace area is the difference of its lobes, not the area drawn).
    Edges that only touch or overlap along a line are not crossings. O(n^2) in the vertices.

    Raises
    ------
    InvalidParameterError
        Naming the first point outside, or the first pair of crossing edges.
    """
    pts = contour.points
    rows, cols = shape
    inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= rows - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= cols - 0.5)
    if not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        got = [float(pts[i, 0]), float(pts[i, 1])]
        raise InvalidParameterError(f"points[{i}]: expected a point inside {rows} x {cols} px, got {got!r}")
    crossing = first_crossing(pts)
    if crossing is not None:
        i, j = crossing
        n = len(pts)
        raise InvalidParameterError(
            f"outline: edges points[{i}]-points[{(i + 1) % n}] and points[{j}]-points[{(j + 1) % n}] cross"
        )
    at = crossing_at_vertex(pts)
    if at is not None:
        raise InvalidParameterError(
            f"outline: crosses itself at points[{at}] {[float(pts[at, 0]), float(pts[at, 1])]!r} "
            "(it passes through that point twice, once on each side)"
        )
    span = float(np.ptp(pts, axis=0).max())
    if _shoelace(pts) <= 1e-9 * max(span, 1.0) ** 2:
        raise InvalidParameterError("outline: encloses no area (its points are collinear or identical)")


def first_crossing(points: np.ndarray, block: int = 256) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, of edges points[i]-points[i+1] and points[j]-points[j+1]
    (closing edge included) that cross at a point inside both, or None."""
    a = np.asarray(points, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    n = len(a)

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.sign(
            (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1])
            - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        )

    for i0 in range(0, n, block):
        i = np.arange(i0, min(n, i0 + block))
        ai, bi = a[i][:, None, :], b[i][:, None, :]
        aj, bj = a[None, :, :], b[None, :, :]
        cross = (orient(ai, bi, aj) * orient(ai, bi, bj) < 0) & (orient(aj, bj, ai) * orient(aj, bj, bi) < 0)
        cross &= np.arange(n)[None, :] > i[:, None]
        if cross.any():
            r, c = np.argwhere(cross)[0]
            return int(i[r]), int(c)
    return None


def _orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.sign(
        (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
    )


def crossing_at_vertex(points: np.ndarray, block: int = 256) -> int | None:
    """The first vertex k where the outline crosses itself through a point it visits twice, or None.

    :func:`first_crossing` finds edges that cross at a point inside both. An outline can also
    cross at one of its vertices: the vertex lies inside another edge, or on another vertex,
    and the outline's two passes through that point swap sides (a figure eight whose waist is a
    vertex). A touch, where both passes stay on their own side (a spur traced out and back, two
    lobes meeting at a point), is not a crossing; passes that overlap along a line are left as
    touches too.
    """
    a = np.asarray(points, dtype=np.float64)
    n = len(a)
    prev, nxt = np.roll(a, 1, axis=0), np.roll(a, -1, axis=0)
    c, d = a, nxt  # edge j runs c[j] -> d[j]
    # 1. vertex k strictly inside edge j: its neighbours on opposite sides of that edge's line
    e = d - c
    for k0 in range(0, n, block):
        k = np.arange(k0, min(n, k0 + block))
        rel = a[k][:, None, :] - c[None]
        kk, jj = np.nonzero(
            e[None, :, 0] * rel[..., 1] - e[None, :, 1] * rel[..., 0] == 0
        )  # on edge j's line
        pk, cj, dj = a[k][kk], c[jj], d[jj]
        inside = (np.sum((pk - cj) * (dj - cj), axis=-1) > 0) & (np.sum((pk - dj) * (cj - dj), axis=-1) > 0)
        sides = _orient(cj, dj, prev[k][kk]) * _orient(cj, dj, nxt[k][kk])
        hit = np.flatnonzero(inside & (sides < 0))
        if hit.size:
            return int(k[kk[hit[0]]])
    # 2. two vertices at one point: the second pass's neighbours split the first pass's angle
    keys: dict[tuple[float, float], list[int]] = {}
    for i, (r, col) in enumerate(a):
        keys.setdefault((float(r), float(col)), []).append(i)
    for same in keys.values():
        for x, i in enumerate(same):
            for j in same[x + 1 :]:
                if _passes_cross(a[i], (prev[i], nxt[i]), (prev[j], nxt[j])):
                    return min(i, j)
    return None


def _passes_cross(
    p: np.ndarray, first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
) -> bool:
    """Whether two passes through ``p`` (each given by its previous and next point) cross there."""
    rays = [q - p for q in (*first, *second)]
    if any(float(np.hypot(*v)) == 0.0 for v in rays):
        return False  # a repeated point: no direction to judge by
    ang = [float(np.arctan2(v[1], v[0])) % (2 * np.pi) for v in rays]
    if len(set(ang)) < 4:
        return False  # the passes share a direction: they overlap along a line (a touch)
    lo, span = ang[0], (ang[1] - ang[0]) % (2 * np.pi)

    def within(t: float) -> bool:
        return 0 < (t - lo) % (2 * np.pi) < span

    return within(ang[2]) != within(ang[3])


def _scaled(points: np.ndarray, spacing: tuple[float, float] | None) -> np.ndarray:
    if spacing is None:
        return points
    return points * np.asarray(spacing, dtype=np.float64)[None, :]


def _offset_outward(points: np.ndarray, distance: float = 0.5) -> np.ndarray:
    """Move every vertex ``distance`` px outward along its normal (the side that grows the area)."""
    tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)

    grown = points + distance * normal
    return grown if _shoelace(grown) >= _shoelace(points) else points - distance * normal


def contours_from_mask(mask: np.ndarray, label: str = "nerve") -> list[Contour]:
    """One outer contour per connected part (8-connected) of a boolean (row, col) mask.

    The polygon follows the outer edges of the boundary pixels (the pixel-centre trace moved out
    by half a pixel), so its area matches the mask's pixel count to about 1 % instead of falling
    short by half a pixel all round.
    """
    import cv2

    m = np.asarray(mask)
    if m.ndim != 2:
        raise InvalidParameterError(f"mask: expected a 2-D (row, col) array, got shape {m.shape}")
    from sonomsk.vision.postprocess import bounding_box

    found = bounding_box(m)
    if found is None:
        return []
    # traced within the mask's bounding box plus a 1-px ring (clipped at the frame): the same
    # contours, point for point, as over the whole frame, at a fraction of the cost
    r0, c0 = max(0, found[0] - 1), max(0, found[2] - 1)
    r1, c1 = found[1] + 2, found[3] + 2
    box = np.ascontiguousarray(m[r0:r1, c0:c1]).astype(np.uint8)
    cnts, _ = cv2.findContours(box, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE, offset=(c0, r0))
    out = []
    for c in cnts:
        xy = c[:, 0, :].astype(np.float64)
        if len(xy) < 3:  # one- or two-pixel parts: make a tiny square around them
            r, cc = xy[:, 1].mean(), xy[:, 0].mean()
            xy = np.array(
                [[cc - 0.5, r - 0.5], [cc + 0.5, r - 0.5], [cc + 0.5, r + 0.5], [cc - 0.5, r + 0.5]]
            )
        else:
            xy = _offset_outward(xy)
        out.append(Contour(points=xy[:, ::-1].copy(), label=label))
    return out
