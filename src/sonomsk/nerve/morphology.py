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
    Length of the outer boundary polygon (through boundary pixel centres, 8-connected chain).
circularity
    4 pi A / P^2 with A the area enclosed by that same polygon (1 for a circle).
ratio_flattening
    Major / minor axis of the moment-equivalent ellipse (``flattening.method``).
fraction_hypoechoic
    Fraction of the region's pixels darker than the IsoData threshold of a window around it.
count_fascicle, area_fascicle_max
    Hypoechoic parts inside the nerve, only when spacing <= ``fascicles.max_spacing_mm``.
fraction_vascular
    Fraction of the region's pixels inside a colour/power Doppler region that are coloured.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.core.results import Measurement, Method
from sonomsk.core.units import Unit, area_unit, length_unit

_METHOD_VERSION = "1"


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


def hypoechoic_threshold(grey: np.ndarray, mask: np.ndarray) -> float:
    """IsoData threshold of a window ``window_scale`` times the mask's bounding box."""
    rows, cols = np.nonzero(mask)
    scale = morphology_parameters()["hypoechoic"]["window_scale"]
    rc, cc = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    hr = (rows.max() - rows.min() + 1) * scale / 2
    hc = (cols.max() - cols.min() + 1) * scale / 2
    r0, r1 = int(max(0, rc - hr)), int(min(grey.shape[0], rc + hr + 1))
    c0, c1 = int(max(0, cc - hc)), int(min(grey.shape[1], cc + hc + 1))
    return isodata_threshold(grey[r0:r1, c0:c1])


def shape_measures(mask: np.ndarray, *, spacing: tuple[float, float] | None) -> dict[str, float]:
    """Area, perimeter, enclosed polygon area, ellipse axes and flattening of a boolean mask."""
    from sonomsk.vision.contours import contours_from_mask

    m = np.asarray(mask, dtype=bool)
    n = int(m.sum())
    if n == 0:
        raise MeasurementError("mask: empty, nothing to measure")
    sp = _check_spacing(spacing)
    sr, sc = sp if sp is not None else (1.0, 1.0)
    contours = contours_from_mask(m)
    perimeter = sum(c.perimeter(spacing=sp) for c in contours)
    poly_area = sum(c.area(spacing=sp) for c in contours)
    rows, cols = np.nonzero(m)
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
        The colour frame (row, col, 3) when the image has a colour/power Doppler region.
    doppler_mask
        Boolean (row, col) mask of the Doppler region(s) of the frame.
    """
    m = np.asarray(mask, dtype=bool)
    g = np.asarray(grey, dtype=np.float32)
    if m.shape != g.shape:
        raise InvalidParameterError(f"mask: expected shape {g.shape} like the grey frame, got {m.shape}")
    if structure not in ("nerve", "vessel"):
        raise InvalidParameterError(f"structure: expected 'nerve' or 'vessel', got {structure!r}")
    sp = _check_spacing(spacing)
    calibrated = sp is not None
    ctx = {"calibrated": calibrated, **(context or {})}
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
        meas("echo_intensity_mean", float(g[m].mean()), Unit.GREY, "measure_mask"),
    ]
    thr = hypoechoic_threshold(g, m)
    hypo = m & (g < thr)
    out.append(meas("fraction_hypoechoic", hypo.sum() / m.sum(), Unit.RATIO, "hypoechoic_threshold"))
    if structure == "nerve":
        out.extend(_fascicles(m, hypo, sp, meas, backend, ctx))
        out.append(_vascularity(m, rgb, doppler_mask, meas, backend, ctx))
    return out


def _fascicles(
    m: np.ndarray,
    hypo: np.ndarray,
    sp: tuple[float, float] | None,
    meas: Any,
    backend: str | None,
    ctx: dict[str, Any],
) -> list[Measurement]:
    import cv2

    p = morphology_parameters()["fascicles"]
    limit = p["max_spacing_mm"]
    if sp is None or max(sp) > limit:
        why = "uncalibrated" if sp is None else f"spacing {max(sp):.3g} mm/px > {limit} mm/px"
        reason = f"not resolved: {why}"
        return [
            Measurement.failed(
                "count_fascicle", reason, _method("fascicles", backend), label="nerve", context=ctx
            ),
            Measurement.failed(
                "area_fascicle_max", reason, _method("fascicles", backend), label="nerve", context=ctx
            ),
        ]
    k = 2 * int(p["erode_rim_px"]) + 1
    inner = cv2.erode(m.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    _n, _, stats, _ = cv2.connectedComponentsWithStats((hypo & inner).astype(np.uint8), connectivity=4)
    areas = [int(a) for a in stats[1:, cv2.CC_STAT_AREA] if a >= p["min_area_px"]]
    largest = max(areas) * sp[0] * sp[1] if areas else 0.0
    return [
        meas("count_fascicle", len(areas), Unit.COUNT, "fascicles"),
        meas("area_fascicle_max", largest, Unit.MM2, "fascicles"),
    ]


def _vascularity(
    m: np.ndarray,
    rgb: np.ndarray | None,
    doppler_mask: np.ndarray | None,
    meas: Any,
    backend: str | None,
    ctx: dict[str, Any],
) -> Measurement:
    method = _method("vascularity", backend)
    if rgb is None or doppler_mask is None:
        return Measurement.failed(
            "fraction_vascular",
            "no colour/power Doppler region in the image",
            method,
            label="nerve",
            context=ctx,
        )
    inside = m & np.asarray(doppler_mask, dtype=bool)
    if not inside.any():
        return Measurement.failed(
            "fraction_vascular",
            "the nerve lies outside the Doppler region",
            method,
            label="nerve",
            context=ctx,
        )
    c = np.asarray(rgb)[..., :3].astype(np.int16)
    chroma = c.max(axis=-1) - c.min(axis=-1)
    coloured = inside & (chroma > morphology_parameters()["vascularity"]["min_chroma"])
    return meas("fraction_vascular", coloured.sum() / inside.sum(), Unit.RATIO, "vascularity")
