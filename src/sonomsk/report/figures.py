"""Pictures of a report: key images with outlines and scale bars, and plots, as PNG data URIs.

Everything is drawn offline into memory and embedded in the page (``data:image/png;base64``), so
reports never fetch anything. Plots use matplotlib's Agg backend.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sonomsk.core.errors import SonomskError
from sonomsk.report.results import ImageRef, Structure

#: Outline colours per structure kind (RGB).
KIND_COLOURS = {
    "nerve": (255, 215, 0),
    "vessel": (220, 40, 40),
    "muscle": (60, 200, 90),
    "tendon": (80, 160, 255),
    "bone": (230, 230, 230),
    "needle": (0, 230, 230),
    "injectate": (255, 120, 230),
    "other": (255, 160, 40),
}
#: Scale-bar lengths tried, in mm; the longest that fits in a quarter of the width is drawn.
_SCALE_BARS_MM = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def load_frame(image: ImageRef) -> tuple[np.ndarray | None, str | None]:
    """The key frame of an image as uint8 (row, col[, 3]), or (None, reason) when unavailable."""
    if not image.path:
        return None, "pixels not available (no path)"
    try:
        import sonomsk

        img = sonomsk.read(image.path)
        frame = np.asarray(img.frame(image.frame))
    except (SonomskError, ImportError, OSError) as exc:
        return None, f"pixels not available ({type(exc).__name__}: {exc})"
    if frame.dtype != np.uint8:
        lo, hi = float(frame.min()), float(frame.max())
        frame = ((frame - lo) / (hi - lo or 1.0) * 255.0).astype(np.uint8)
    return frame, None


def scale_bar_mm(cols: int, spacing_col_mm: float) -> float | None:
    """Length in mm of the scale bar for an image ``cols`` px wide, or None if none fits."""
    width_mm = cols * spacing_col_mm
    fitting = [b for b in _SCALE_BARS_MM if b <= width_mm / 4.0]
    return fitting[-1] if fitting else None


def overlay_png(
    image: ImageRef,
    structures: Sequence[Structure],
    *,
    frame: np.ndarray | None = None,
    max_width: int = 900,
) -> bytes:
    """A PNG of the key frame with each structure's outline and label, and a mm scale bar.

    Without pixels, the outlines are drawn on a grey canvas of the image's size. Without
    calibration, no scale bar is drawn and the image is marked "uncalibrated (px)".
    """
    from PIL import Image, ImageDraw, ImageFont

    if frame is None:
        canvas = np.full((image.rows, image.cols, 3), 40, dtype=np.uint8)
    elif frame.ndim == 2:
        canvas = np.repeat(frame[..., None], 3, axis=2)
    else:
        canvas = np.ascontiguousarray(frame[..., :3])
    pil = Image.fromarray(canvas, "RGB")
    scale = min(1.0, max_width / pil.width)
    if scale < 1.0:
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)))
    draw = ImageDraw.Draw(pil)
    font = _font(ImageFont, max(11, pil.width // 45))
    for s in structures:
        colour = KIND_COLOURS.get(s.kind.value, KIND_COLOURS["other"])
        if s.contour:
            pts = [(c * scale, r * scale) for r, c in s.contour]
            draw.line([*pts, pts[0]], fill=colour, width=2)
            top = min(pts, key=lambda p: p[1])
            draw.text((top[0] + 4, max(0, top[1] - 16)), s.label, fill=colour, font=font)
    if image.spacing_mm is not None:
        bar = scale_bar_mm(image.cols, image.spacing_mm[1])
        if bar is not None:
            length = bar / image.spacing_mm[1] * scale
            x1, y = pil.width - 12, pil.height - 14
            draw.line([(x1 - length, y), (x1, y)], fill=(255, 255, 255), width=3)
            for x in (x1 - length, x1):
                draw.line([(x, y - 5), (x, y + 5)], fill=(255, 255, 255), width=2)
            draw.text((x1 - length, y - 20), f"{bar:g} mm", fill=(255, 255, 255), font=font)
    else:
        draw.text((8, pil.height - 20), "uncalibrated (px)", fill=(255, 80, 80), font=font)
    buf = io.BytesIO()
    pil.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _font(image_font: Any, size: int) -> Any:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return image_font.truetype(name, size)
        except OSError:
            continue
    return image_font.load_default()


def _figure(width_in: float = 6.5, height_in: float = 2.8) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=130)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_csa_along_nerves(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """CSA per site along each nerve (and side), with each site's limit as a dashed marker.

    ``rows`` need ``site`` and ``csa``; ``nerve``, ``side``, ``limit`` and ``unit`` are used when
    present. Returns None when there is nothing to plot.
    """
    from sonomsk.report.results import row_csa, row_limit, row_nerve_site

    pts = []
    for r in rows:
        nerve, level = row_nerve_site(r)
        csa = row_csa(r)
        if csa is not None and level is not None:
            pts.append(
                {"nerve": nerve, "level": level, "side": r.get("side"), "csa": csa, "limit": row_limit(r)}
            )
    if not pts:
        return None
    fig, ax = _figure()
    sites: list[str] = []
    for p in pts:
        if p["level"] not in sites:
            sites.append(str(p["level"]))
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in pts:
        groups.setdefault(f"{p['nerve'] or 'nerve'} {p['side'] or ''}".strip(), []).append(p)
    for name, grp in groups.items():
        xs = [sites.index(p["level"]) for p in grp]
        (line,) = ax.plot(xs, [p["csa"] for p in grp], "o-", label=name)
        lim = [(sites.index(p["level"]), p["limit"]) for p in grp if p["limit"] is not None]
        if lim:
            lx, ly = [x for x, _ in lim], [v for _, v in lim]
            ax.plot(lx, ly, "_", markersize=22, markeredgewidth=2, color=line.get_color(), linestyle="none")
            ax.plot(lx, ly, ":", color=line.get_color(), alpha=0.7, label=f"{name} limit")
    unit = next((str(r.get("unit")) for r in rows if r.get("unit")), "mm2")
    ax.set_xticks(range(len(sites)), sites)
    ax.set_ylabel(f"CSA ({unit.replace('mm2', 'mm²').replace('px2', 'px²')})")
    ax.set_title("Nerve cross-sectional area along each nerve against its limit")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_muscle_z(rows: Sequence[dict[str, Any]], threshold: float | None) -> bytes | None:
    """Z-scores by muscle (bars grouped by side), with the abnormality threshold when given."""
    pts = [r for r in rows if _num(r.get("z")) is not None]
    if not pts:
        return None
    muscles: list[str] = []
    for r in pts:
        if str(r.get("muscle")) not in muscles:
            muscles.append(str(r.get("muscle")))
    sides = sorted({str(r.get("side") or "") for r in pts})
    fig, ax = _figure(height_in=max(2.4, 0.45 * len(muscles) * len(sides) + 1.0))
    h = 0.8 / max(len(sides), 1)
    for k, side in enumerate(sides):
        ys = [muscles.index(str(r.get("muscle"))) + k * h for r in pts if str(r.get("side") or "") == side]
        zs = [float(r["z"]) for r in pts if str(r.get("side") or "") == side]
        ax.barh(ys, zs, height=h, label=side or "side not given")
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle="--", label=f"threshold z = {threshold:g}")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks([i + h * (len(sides) - 1) / 2 for i in range(len(muscles))], muscles)
    ax.set_xlabel("z-score")
    ax.set_title("Muscle z-scores by muscle and side")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def plot_series(
    points: Sequence[tuple[float, float]], *, xlabel: str, ylabel: str, title: str
) -> bytes | None:
    """A line plot of (x, y) points (e.g. injectate area over time)."""
    pts = [(float(x), float(y)) for x, y in points if math.isfinite(float(x)) and math.isfinite(float(y))]
    if not pts:
        return None
    fig, ax = _figure(height_in=2.4)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _png(fig)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None
