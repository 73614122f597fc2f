"""Nerve (and vessel) morphology from a mask: CSA, perimeter, circularity, flattening,
echogenicity, fascicles and intraneural vascularity.

Kernels take ``spacing=`` (row, col) in mm as a required keyword; ``None`` means uncalibrated and
every length/area is then reported in px/px2 (never silent millimetres). Method parameters live
in ``nerve/data/morphology.json`` with their source.

Definitions
-----------
area_cross_section
    Pixel count of the traced region times the pixel area (the region is the area *inside* the
    traced outline; the shipped model follows the usgra-seg expert outlines).
perimeter
    Length of the outer boundary polygon measured at 4 px (:meth:`sonomsk.vision.contours.Contour.perimeter`:
    the pixel staircase is replaced by its chords about 4 px apart, so a digital disc's
    perimeter is within about 1 % of 2 pi r instead of 6 to 10 % above it). The same definition
    measures a drawn or stored outline (:func:`sonomsk.nerve.interactive.measure_contour`).
circularity
    4 pi A / P^2 with A the area enclosed by that same measured polygon (at most 1, and 1 for a
    circle; a digital disc of radius 10 px or more gives at least 0.97).
ratio_flattening
    Major / minor axis of the moment-equivalent ellipse (``flattening.method``).
fraction_hypoechoic
    Fraction of the region's pixels darker than the IsoData threshold of a window around it.
count_fascicle, area_fascicle_max
    Dark parts of the speckle-smoothed nerve of at least a few speckle cells and significant
    contrast, only when resolution allows (spacing, nerve size in speckle cells, structure above
    speckle: :func:`speckle_cell`, :func:`structure_ratio`); otherwise a failure "not resolved:
    <why>".
fraction_doppler_coverage, fraction_vascular
    Fraction of the nerve inside the colour/power Doppler region(s); fraction of the covered
    pixels that are coloured, reported only when the coverage is at least
    ``vascularity.min_coverage`` (otherwise a failure naming the coverage).

Colour pixels are not echo
--------------------------
A pixel is *coloured* when max(R, G, B) - min(R, G, B) exceeds ``vascularity.min_chroma`` (8-bit
levels): one rule (:func:`coloured_pixels`) for the vascularity and for the echo measures. The
echo measures (``echo_intensity_mean``, ``fraction_hypoechoic``, and the speckle cell, structure
test and fascicles) read only the grey (uncoloured) pixels: the luma of a Doppler colour is not
tissue echo. The IsoData window of ``fraction_hypoechoic`` leaves the coloured pixels out too.
When fewer than ``echo.min_grey_fraction`` of a structure's pixels are grey, the two echo
measures are failures naming the coloured fraction (a mean of the few grey pixels left would
describe a part chosen by the flow, not the structure); otherwise the context records
``pixels_coloured``, the number of the structure's pixels left out (0 on a grey image).

Fascicles need the whole honeycomb: a coloured pixel inside the nerve is neither fascicle nor
septum, and a colour blob can hide a fascicle or join two. Decision: when more than
``fascicles.max_coloured_fraction`` of the nerve is coloured, ``count_fascicle`` and
``area_fascicle_max`` are "not resolved: colour Doppler covers N % of the nerve". Below it the
coloured pixels are left out of the nerve's interior (counted neither dark nor bright) and, for
the smoothing and the speckle cell only, given the mean of the nerve's grey pixels, a neutral
value that makes neither a dark nor a bright spot. A grey image (no coloured pixel) takes exactly
the former path and gives the same numbers.

Grey scale of the echo
----------------------
``echo_intensity_mean`` is reported on the 8-bit display scale (0-255, unit ``grey``) whatever
the stored depth: the mean of the grey pixels times 255 / ``grey_max``, with ``grey_max`` the
full-scale value of the source (255 for 8-bit, 65535 for a 16-bit PNG, 2**BitsStored - 1 when
the reader states it; :func:`grey_full_scale`). Muscle and nerve echo-intensity practice reads
8-bit grey values of the displayed image, and one CSV column must not hold a 16-bit value of one
file beside an 8-bit value of another. The context records ``grey_max`` (the source's scale),
so the source's own value is ``value * grey_max / 255``. A float frame without a stated scale is
taken as 8-bit only when its values lie within 0-255 and are not all within 0-1 (a 0-1 image
and a nearly black 8-bit one cannot be told apart); otherwise the mean echo is a failure ("grey
scale unknown") rather than a number on an unknown scale. ``fraction_hypoechoic`` needs
no scale: its IsoData threshold is computed from the grey values of a window around the
structure, so it is relative to the image (the same fraction at any linear scaling), and the
fascicle and speckle measures are ratios of grey values as well.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.core.results import Measurement, Method
from sonomsk.core.units import Unit, area_unit, length_unit

if TYPE_CHECKING:
    from sonomsk.core.image import UltrasoundImage

_METHOD_VERSION = "1"

#: The display scale on which ``echo_intensity_mean`` is reported (8-bit grey levels).
DISPLAY_MAX = 255.0


@cache
def morphology_parameters() -> dict[str, Any]:
    """The method parameters (with sources) from ``nerve/data/morphology.json``."""
    from importlib import resources

    return dict(json.loads(resources.files("sonomsk.nerve").joinpath("data/morphology.json").read_text()))


def _method(function: str, backend: str | None) -> Method:
    return Method(function=f"sonomsk.nerve.morphology.{function}", version=_METHOD_VERSION, backend=backend)


def _check_spacing(spacing: tuple[float, float] | None) -> tuple[float, float] | None:
    if spacing is None:
        return None
    try:
        sr, sc = (float(v) for v in spacing)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"spacing: expected (row, col) in mm or None, got {spacing!r}") from None
    if not (sr > 0 and sc > 0 and np.isfinite(sr) and np.isfinite(sc)):
        raise InvalidParameterError(f"spacing: expected positive (row, col) in mm, got {spacing!r}")
    return (sr, sc)


def isodata_threshold(values: np.ndarray) -> float:
    """IsoData (Ridler-Calvard) threshold of grey values (ImageJ's default binarisation)."""
    from skimage.filters import threshold_isodata

    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or float(np.ptp(v)) == 0.0:
        return float(v.mean()) if v.size else 0.0
    return float(threshold_isodata(v))


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """First and last row, first and last column of a non-empty mask
    (:func:`sonomsk.vision.postprocess.bounding_box`)."""
    from sonomsk.vision.postprocess import bounding_box

    found = bounding_box(mask)
    if found is None:
        raise MeasurementError("mask: empty, nothing to measure")
    return found


def hypoechoic_threshold(grey: np.ndarray, mask: np.ndarray, excluded: np.ndarray | None = None) -> float:
    """IsoData threshold of a window ``window_scale`` times the mask's bounding box, leaving out
    the ``excluded`` (coloured) pixels of the window when given."""
    rmin, rmax, cmin, cmax = _bbox(mask)
    scale = morphology_parameters()["hypoechoic"]["window_scale"]
    rc, cc = (rmin + rmax) / 2, (cmin + cmax) / 2
    hr = (rmax - rmin + 1) * scale / 2
    hc = (cmax - cmin + 1) * scale / 2
    r0, r1 = int(max(0, rc - hr)), int(min(grey.shape[0], rc + hr + 1))
    c0, c1 = int(max(0, cc - hc)), int(min(grey.shape[1], cc + hc + 1))
    window = grey[r0:r1, c0:c1]
    drop = None if excluded is None else excluded[r0:r1, c0:c1]
    if window.size and float(window.min()) <= 0.0:
        # black outside the scan (the frame's margins) is not tissue: with it, the threshold
        # falls to the black/tissue edge and a nerve beside the margin reads 0 % hypoechoic
        outside = _outside_scan(grey)[r0:r1, c0:c1]
        drop = outside if drop is None else drop | outside
    if drop is not None:
        keep = ~drop
        if keep.any():
            window = window[keep]
    return isodata_threshold(window)


_OUTSIDE: list[tuple[np.ndarray, float, np.ndarray]] = []  # the last frame, its sum, its margins


def _outside_scan(grey: np.ndarray) -> np.ndarray:
    """The black (<= 0) pixels connected to the frame's edge through black pixels (4-connected):
    the margins around the scan, not an anechoic structure inside it.

    Every structure of a frame asks for the same frame, so the last answer is kept (about 1 ms
    per 760 x 630 frame), for the same array with the same sum (an array refilled with the next
    frame of a cine is computed again).
    """
    import cv2

    total = float(np.sum(grey, dtype=np.float64))
    cached = _OUTSIDE[0] if _OUTSIDE else None
    if cached is not None and cached[0] is grey and cached[1] == total:
        return cached[2]
    # a ring of black around the frame joins every black run that reaches its edge, so one
    # 4-connected flood fill from the ring finds them all (2: reached)
    black = np.ones((grey.shape[0] + 2, grey.shape[1] + 2), dtype=np.uint8)
    black[1:-1, 1:-1] = grey <= 0.0
    cv2.floodFill(black, None, (0, 0), 2, flags=4)
    out = black[1:-1, 1:-1] == 2
    _OUTSIDE[:] = [(grey, total, out)]
    return out


def coloured_pixels(rgb: np.ndarray, grey_max: float = DISPLAY_MAX) -> np.ndarray:
    """Boolean (row, col) mask of the coloured pixels of a colour frame (row, col, 3[+]).

    A pixel is coloured when max(R, G, B) - min(R, G, B), in 8-bit levels (``grey_max`` is the
    full scale of the frame's samples), exceeds ``vascularity.min_chroma``: the one rule for the
    vascularity and for leaving colour out of the echo measures.
    """
    c = np.asarray(rgb)[..., :3].astype(np.int32)
    chroma = c.max(axis=-1) - c.min(axis=-1)
    limit = morphology_parameters()["vascularity"]["min_chroma"]
    if grey_max != DISPLAY_MAX:
        return np.asarray(chroma * (DISPLAY_MAX / grey_max) > limit)
    return np.asarray(chroma > limit)


def grey_full_scale(image: UltrasoundImage) -> float | None:
    """Full-scale grey value of an image's samples: ``2**bits_stored - 1`` when the reader states
    ``bits_stored`` in the metadata, else the maximum of the integer sample type (255 for 8-bit,
    65535 for 16-bit); None for floating-point samples (scale unknown)."""
    bits = image.metadata.get("bits_stored")
    if isinstance(bits, int) and 1 <= bits <= 32:
        return float(2**bits - 1)
    dtype = np.dtype(image.frames.dtype)
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    if dtype.kind == "b":
        return 1.0
    return None


def shape_measures(mask: np.ndarray, *, spacing: tuple[float, float] | None) -> dict[str, float]:
    """Area, perimeter, enclosed polygon area, ellipse axes and flattening of a boolean mask.

    ``perimeter`` and ``polygon_area`` (the A of circularity) are those of the outer boundary
    polygons measured at :data:`sonomsk.vision.contours.LENGTH_SCALE_PX` (summed over the parts).
    """
    from sonomsk.vision.contours import contours_from_mask

    m = np.asarray(mask, dtype=bool)
    n = int(m.sum())
    if n == 0:
        raise MeasurementError("mask: empty, nothing to measure")
    sp = _check_spacing(spacing)
    sr, sc = sp if sp is not None else (1.0, 1.0)
    contours = contours_from_mask(m)
    # one perimeter definition for the batch and the outline paths (vision.contours)
    measured = [c.measured_length_and_area(spacing=sp) for c in contours]
    perimeter = sum(length for length, _ in measured)
    poly_area = sum(area for _, area in measured)
    r0, r1, c0, c1 = _bbox(m)
    rows, cols = np.nonzero(m[r0 : r1 + 1, c0 : c1 + 1])  # the covariance ignores the offset
    coords = np.stack([rows * sr, cols * sc])
    if n >= 3:
        cov = np.cov(coords)
        ev = np.sort(np.linalg.eigvalsh(cov))[::-1]
        ev = np.maximum(ev, 1e-12)
    else:
        ev = np.array([1e-12, 1e-12])
    # a uniform ellipse of semi-axes a, b has variances a^2/4, b^2/4 (pixel size added back)
    major = 4.0 * np.sqrt(ev[0] + (sr * sc) / 12.0)
    minor = 4.0 * np.sqrt(ev[1] + (sr * sc) / 12.0)
    return {
        "area": n * sr * sc,
        "perimeter": perimeter,
        "polygon_area": poly_area,
        "diameter_major": float(major),
        "diameter_minor": float(minor),
        "flattening": float(major / minor),
    }


def measure_mask(
    mask: np.ndarray,
    grey: np.ndarray,
    *,
    spacing: tuple[float, float] | None,
    structure: str = "nerve",
    rgb: np.ndarray | None = None,
    doppler_mask: np.ndarray | None = None,
    backend: str | None = None,
    context: dict[str, Any] | None = None,
    grey_max: float | None = None,
) -> list[Measurement]:
    """Every morphology measure of one structure instance.

    Parameters
    ----------
    mask
        Boolean (row, col) mask of the structure.
    grey
        The grey frame (row, col), same shape, for echogenicity and fascicles.
    spacing
        (row, col) pixel size in mm, or None (results in px / px2).
    structure
        ``nerve`` or ``vessel`` (fascicles and vascularity only for nerves).
    rgb
        The colour frame (row, col, 3) of a colour image: its coloured pixels
        (:func:`coloured_pixels`) are left out of the echo measures, and with ``doppler_mask``
        it gives the vascularity.
    doppler_mask
        Boolean (row, col) mask of the Doppler region(s) of the frame.
    grey_max
        Full-scale value of ``grey`` (255 for 8-bit, 65535 for 16-bit; :func:`grey_full_scale`).
        ``echo_intensity_mean`` is reported as mean * 255 / ``grey_max``. None: 255 for 8-bit
        integer input or float values within 0-255, the integer type's maximum for other
        integers, else the mean echo is a failure (scale unknown).
    """
    m = np.asarray(mask, dtype=bool)
    g_in = np.asarray(grey)
    g = np.asarray(g_in, dtype=np.float32)
    if m.shape != g.shape:
        raise InvalidParameterError(f"mask: expected shape {g.shape} like the grey frame, got {m.shape}")
    if structure not in ("nerve", "vessel"):
        raise InvalidParameterError(f"structure: expected 'nerve' or 'vessel', got {structure!r}")
    if rgb is not None and np.shape(rgb)[:2] != m.shape:
        raise InvalidParameterError(
            f"rgb: expected shape {m.shape} + (3,) like the mask, got {np.shape(rgb)}"
        )
    sp = _check_spacing(spacing)
    scale = _grey_scale(g_in, m, grey_max)
    coloured = None if rgb is None else coloured_pixels(rgb, scale or DISPLAY_MAX)
    if coloured is not None and not coloured.any():
        coloured = None  # a grey image takes exactly the path of an image without colour
    grey_px = m if coloured is None else m & ~coloured
    n_px, n_grey = int(m.sum()), int(grey_px.sum())
    calibrated = sp is not None
    ctx = {
        "calibrated": calibrated,
        **(context or {}),
        "grey_max": scale,
        "pixels_coloured": n_px - n_grey if n_px else 0,
    }
    prov = {"sonomsk": __version__, "spacing_mm": list(sp) if sp else None}

    def meas(name: str, value: float, unit: Unit | str, fn: str) -> Measurement:
        return Measurement(
            name=name,
            value=float(value),
            unit=Unit(unit).value,
            method=_method(fn, backend),
            label=structure,
            context=ctx,
            provenance=prov,
        )

    s = shape_measures(m, spacing=sp)
    out = [
        meas("area_cross_section", s["area"], area_unit(calibrated), "shape_measures"),
        meas("perimeter", s["perimeter"], length_unit(calibrated), "shape_measures"),
        meas(
            "circularity",
            4 * np.pi * s["polygon_area"] / s["perimeter"] ** 2 if s["perimeter"] > 0 else 0.0,
            Unit.RATIO,
            "shape_measures",
        ),
        meas("diameter_major", s["diameter_major"], length_unit(calibrated), "shape_measures"),
        meas("diameter_minor", s["diameter_minor"], length_unit(calibrated), "shape_measures"),
        meas("ratio_flattening", s["flattening"], Unit.RATIO, "shape_measures"),
    ]
    min_grey = float(morphology_parameters()["echo"]["min_grey_fraction"])
    if n_grey < min_grey * n_px:
        reason = (
            f"colour covers {1 - n_grey / n_px:.0%} of the {structure} ({n_px - n_grey} of {n_px} px): "
            f"fewer than {min_grey:.0%} of its pixels are grey, echo not measured"
        )
        for name, fn in (
            ("echo_intensity_mean", "measure_mask"),
            ("fraction_hypoechoic", "hypoechoic_threshold"),
        ):
            out.append(Measurement.failed(name, reason, _method(fn, backend), label=structure, context=ctx))
    else:
        if scale is None:
            top = float(g[grey_px].max())
            reason = (
                f"grey scale unknown: float grey values within 0-1 (up to {top:.6g}): a 0-1 and a 0-255 scale "
                "cannot be told apart, and no grey_max was given"
                if top <= 1.0
                else f"grey scale unknown: float grey values up to {top:.6g} exceed 0-255 and no grey_max was given"
            )
            out.append(
                Measurement.failed(
                    "echo_intensity_mean",
                    reason,
                    _method("measure_mask", backend),
                    label=structure,
                    context=ctx,
                )
            )
        else:
            mean = float(g[grey_px].mean())
            if scale != DISPLAY_MAX:
                mean *= DISPLAY_MAX / scale
            out.append(meas("echo_intensity_mean", mean, Unit.GREY, "measure_mask"))
        thr = hypoechoic_threshold(g, m, coloured)
        hypo = grey_px & (g < thr)
        out.append(meas("fraction_hypoechoic", hypo.sum() / n_grey, Unit.RATIO, "hypoechoic_threshold"))
    if structure == "nerve":
        out.extend(_fascicles(m, g, sp, meas, backend, ctx, coloured))
        out.extend(_vascularity(m, rgb, doppler_mask, meas, backend, ctx, scale or DISPLAY_MAX))
    return out


def _grey_scale(grey: np.ndarray, mask: np.ndarray, grey_max: float | None) -> float | None:
    """The full scale of the grey frame (see :func:`measure_mask`), or None when unknown."""
    if grey_max is not None:
        try:
            value = float(grey_max)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"grey_max: expected a positive number, got {grey_max!r}") from None
        if not (np.isfinite(value) and value > 0):
            raise InvalidParameterError(f"grey_max: expected a positive number, got {grey_max!r}")
        return value
    if grey.dtype.kind in "ui":
        return float(np.iinfo(grey.dtype).max)
    if grey.dtype.kind == "b":
        return 1.0
    if not mask.any():
        return DISPLAY_MAX
    values = grey[mask]
    if float(values.max()) <= 1.0:
        return None  # a 0-1 float image and a nearly black 8-bit one cannot be told apart
    if float(values.min()) >= 0.0 and float(values.max()) <= DISPLAY_MAX:
        return DISPLAY_MAX
    return None


def speckle_cell(grey: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Speckle (resolution) cell of the image around a structure: the full width at half maximum
    (px, row then col) of the autocorrelation of the grey values in a window twice the mask's
    bounding box, after removing the local mean (a Gaussian of ``speckle_highpass_sigma_px``) so
    that anatomy wider than the speckle does not widen it."""
    import cv2

    sigma = float(morphology_parameters()["fascicles"]["speckle_highpass_sigma_px"])
    rmin, rmax, cmin, cmax = _bbox(mask)
    h, w = rmax - rmin + 1, cmax - cmin + 1
    rc, cc = (rmin + rmax) // 2, (cmin + cmax) // 2
    win = np.asarray(grey[max(0, rc - h) : rc + h + 1, max(0, cc - w) : cc + w + 1], dtype=np.float64)
    if min(win.shape) < 4:
        return float("inf"), float("inf")
    win = win - cv2.GaussianBlur(win, (0, 0), sigma)
    win -= win.mean()
    energy = float((win * win).sum())
    if not energy > 0:
        return float("inf"), float("inf")

    def fwhm(a: np.ndarray) -> float:
        """Full width at half maximum of the autocorrelation along axis 0 of ``a`` (px): the
        lagged products are summed directly, lag by lag, until the correlation falls below 0.5
        (the same values as the zero-padded FFT autocorrelation, without computing every lag)."""
        before = 1.0
        for lag in range(1, a.shape[0]):
            now = float((a[lag:] * a[:-lag]).sum()) / energy
            if now < 0.5:
                return float(2 * (lag - 1 + (before - 0.5) / (before - now)))
            before = now
        return float("inf")

    return fwhm(win), fwhm(win.T)


def structure_ratio(grey: np.ndarray, inner: np.ndarray, cell: tuple[float, float]) -> float:
    """How much more the grey values inside ``inner`` vary at a scale of ``structure_scale``
    speckle cells than uniform speckle of that cell would (about 1 for speckle or noise alone).

    For a field with a Gaussian autocorrelation of s.d. ``a`` (per axis) smoothed by a Gaussian
    of s.d. ``k``, the variance falls by ``a / sqrt(a^2 + 2 k^2)`` per axis.
    """
    import cv2

    p = morphology_parameters()["fascicles"]
    scale = float(p["structure_scale"])
    g = np.asarray(grey, dtype=np.float32)
    raw = float(g[inner].var())
    if raw <= 0:
        return 0.0
    a_r, a_c = cell[0] / _FWHM, cell[1] / _FWHM
    # Smoothing normalised to the inside (pixels outside the nerve carry no weight): the bright
    # rim and the tissue around must not pass for structure inside a uniform nerve.
    weight = inner.astype(np.float32)
    blur = {"sigmaX": scale * a_c, "sigmaY": scale * a_r}
    num = cv2.GaussianBlur(g * weight, (0, 0), **blur)
    den = cv2.GaussianBlur(weight, (0, 0), **blur)
    # where the kernel lies mostly inside, so that its variance is that of a full kernel
    core = inner & (den >= p["structure_min_kernel_inside"])
    if core.sum() < 2:
        return float("nan")
    smooth = num[core] / den[core]
    expected = 1.0 / (1.0 + 2.0 * scale**2)  # (1 / sqrt(1 + 2 s^2)) per axis, two axes
    return float(smooth.var()) / raw / expected


_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _fascicles(
    m: np.ndarray,
    g: np.ndarray,
    sp: tuple[float, float] | None,
    meas: Any,
    backend: str | None,
    ctx: dict[str, Any],
    coloured: np.ndarray | None = None,
) -> list[Measurement]:
    import cv2

    p = morphology_parameters()["fascicles"]
    limit = p["max_spacing_mm"]

    def unresolved(why: str) -> list[Measurement]:
        reason = f"not resolved: {why}"
        method = _method("fascicles", backend)
        return [
            Measurement.failed("count_fascicle", reason, method, label="nerve", context=ctx),
            Measurement.failed("area_fascicle_max", reason, method, label="nerve", context=ctx),
        ]

    if sp is None:  # on a calibrated image the caller says why this outline is in px
        why = ctx.get("uncalibrated_reason")
        return unresolved(str(why) if why and why != "uncalibrated image" else "uncalibrated")
    if max(sp) > limit:
        return unresolved(f"spacing {max(sp):.3g} mm/px > {limit} mm/px")
    if coloured is not None:
        inside = m & coloured
        share = float(inside.sum()) / float(m.sum())
        if share > p["max_coloured_fraction"]:
            return unresolved(
                f"colour Doppler covers {share:.0%} of the nerve > {p['max_coloured_fraction']:.0%}"
            )
        grey_inside = m & ~coloured
        # neutral value for the smoothing and the speckle cell: neither a dark nor a bright spot
        g = np.where(coloured, np.float32(g[grey_inside].mean()), g).astype(np.float32)
    cell = speckle_cell(g, m)
    cell_px = float(np.pi / 4.0 * cell[0] * cell[1])
    if np.isfinite(cell_px):  # smoothing and splitting need only the nerve and a blur's reach
        margin = int(np.ceil(3 * p["structure_scale"] * max(cell) / _FWHM)) + 2
        if coloured is not None:
            coloured = _crop(m, coloured, margin=margin)[1]
        m, g = _crop(m, g, margin=margin)
    k = 2 * int(p["erode_rim_px"]) + 1
    inner = cv2.erode(m.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    if coloured is not None:
        inner &= ~coloured  # neither fascicle nor septum
    n_px = int(m.sum())
    if n_px < p["min_nerve_px"] or not inner.any():
        return unresolved(f"nerve of {n_px} px < {p['min_nerve_px']} px")
    if not np.isfinite(cell_px) or n_px < p["min_nerve_cells"] * cell_px:
        return unresolved(
            f"nerve spans {n_px / cell_px:.0f} speckle cells of {cell_px:.1f} px < {p['min_nerve_cells']}"
        )
    ratio = structure_ratio(g, inner, cell)
    if not np.isfinite(ratio):
        return unresolved("nerve too small to test its inside against speckle")
    if ratio < p["min_structure_ratio"]:
        return unresolved(
            f"no structure above speckle inside the nerve (structure ratio {ratio:.2f} "
            f"< {p['min_structure_ratio']})"
        )
    areas = _fascicle_areas(g, inner, cell, p)
    if not areas:
        return unresolved("no dark part inside the nerve of fascicle size and contrast")
    return [
        meas("count_fascicle", len(areas), Unit.COUNT, "fascicles"),
        meas("area_fascicle_max", max(areas) * sp[0] * sp[1], Unit.MM2, "fascicles"),
    ]


def _crop(m: np.ndarray, g: np.ndarray, *, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """The mask and a frame of its shape (grey, or coloured pixels) cut to the mask's bounding
    box widened by ``margin`` px."""
    rmin, rmax, cmin, cmax = _bbox(m)
    r0, c0 = max(0, rmin - margin), max(0, cmin - margin)
    r1, c1 = rmax + margin + 1, cmax + margin + 1
    return m[r0:r1, c0:c1], g[r0:r1, c0:c1]


def h_minima(image: np.ndarray, h: float, *, max_passes: int | None = None) -> np.ndarray:
    """Boolean mask of the minima of a float image deeper than ``h``: the same pixels as
    ``skimage.morphology.h_minima(image, h)`` (8-connected), computed by repeated geodesic
    erosion with OpenCV (3-4 times faster on a nerve's window, where a few dozen passes reach
    the reconstruction). After ``max_passes`` (default: the image's perimeter in px) without
    settling, scikit-image's sorted-queue reconstruction finishes the job.
    """
    import cv2

    img = np.asarray(image)
    if img.dtype != np.float32 or img.ndim != 2:
        from skimage.morphology import h_minima as sk_h_minima

        return np.asarray(sk_h_minima(img, h), dtype=bool)
    if not (np.isfinite(h) and h >= 0):  # scikit-image refuses a negative h (and fails on NaN)
        raise ValueError(f"h: expected a finite depth >= 0, got {h!r}")
    if h > np.ptp(img):
        return np.zeros(img.shape, dtype=bool)
    if h == 0:
        raise ValueError("h = 0 is ambiguous")
    # as scikit-image does: a minimum exactly h deep must not be lost to float rounding
    marker = img + h + 2 * np.finfo(img.dtype).resolution * np.abs(img)
    kernel = np.ones((3, 3), np.uint8)
    limit = max_passes if max_passes is not None else 2 * sum(img.shape)
    for _ in range(limit):
        # erosion's border is +inf: pixels outside the image never lower a marker
        nxt = np.maximum(cv2.erode(marker, kernel), img)
        if np.array_equal(nxt, marker):
            return np.asarray((marker - img) >= h)
        marker = nxt
    from skimage.morphology import reconstruction

    return np.asarray((reconstruction(marker, img, method="erosion") - img) >= h)


def _fascicle_areas(
    g: np.ndarray, inner: np.ndarray, cell: tuple[float, float], p: dict[str, Any]
) -> list[int]:
    """Areas (px) of the fascicles: dark parts of the speckle-smoothed nerve, split at their
    separate minima (h-minima watershed), each at least ``min_area_cells`` speckle cells and
    darker than the rest of the nerve by ``min_contrast_z`` standard errors."""
    import cv2
    from scipy import ndimage
    from skimage.segmentation import watershed

    smooth = cv2.GaussianBlur(
        np.asarray(g, dtype=np.float32), (0, 0), sigmaX=cell[1] / _FWHM, sigmaY=cell[0] / _FWHM
    )
    dark = inner & (smooth < isodata_threshold(smooth[inner]))
    if not dark.any() or dark.all():
        return []
    depth = p["split_depth_sd"] * float(smooth[inner].std())
    markers, _ = ndimage.label(h_minima(smooth, depth) & dark)
    labels = watershed(smooth, markers, mask=dark)
    index = np.arange(1, int(labels.max()) + 1)
    if index.size == 0:
        return []
    areas = np.asarray(ndimage.sum(dark, labels, index))
    means = np.asarray(ndimage.mean(g, labels, index))
    bright = inner & ~dark
    spread = float(g[inner].std())
    cell_px = np.pi / 4.0 * cell[0] * cell[1]
    cells = areas / cell_px
    z = (float(g[bright].mean()) - means) / max(spread, 1e-6) * np.sqrt(cells)
    keep = (cells >= p["min_area_cells"]) & (z >= p["min_contrast_z"])
    return [int(a) for a in areas[keep]]


def _vascularity(
    m: np.ndarray,
    rgb: np.ndarray | None,
    doppler_mask: np.ndarray | None,
    meas: Any,
    backend: str | None,
    ctx: dict[str, Any],
    grey_max: float = DISPLAY_MAX,
) -> list[Measurement]:
    """``fraction_doppler_coverage`` (the part of the nerve inside the Doppler region) and
    ``fraction_vascular`` (coloured part of the nerve), the latter only when the coverage reaches
    ``vascularity.min_coverage``: flow in the uncovered part is unknown."""
    method = _method("vascularity", backend)
    if rgb is None or doppler_mask is None:
        return [
            Measurement.failed(
                "fraction_vascular",
                "no colour/power Doppler region in the image",
                method,
                label="nerve",
                context=ctx,
            )
        ]
    p = morphology_parameters()["vascularity"]
    inside = m & np.asarray(doppler_mask, dtype=bool)
    coverage = float(inside.sum()) / float(m.sum())
    out = [meas("fraction_doppler_coverage", coverage, Unit.RATIO, "vascularity")]
    if not inside.any():
        reason = "the nerve lies outside the Doppler region"
        return [*out, Measurement.failed("fraction_vascular", reason, method, label="nerve", context=ctx)]
    coloured = inside & coloured_pixels(rgb, grey_max)
    covered = float(coloured.sum()) / float(inside.sum())
    if coverage < p["min_coverage"]:
        reason = (
            f"incomplete Doppler coverage: {coverage:.0%} of the nerve inside the Doppler region "
            f"< {p['min_coverage']:.0%} (coloured fraction of the covered part {covered:.3f})"
        )
        return [*out, Measurement.failed("fraction_vascular", reason, method, label="nerve", context=ctx)]
    return [*out, meas("fraction_vascular", covered, Unit.RATIO, "vascularity")]
