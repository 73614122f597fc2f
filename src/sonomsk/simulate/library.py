"""The tissue library: anatomical structures painted on a :class:`Canvas`, each with its truth.

Every function paints tissue (acoustics) and labels (truth) and records a
:class:`~sonomsk.simulate.tissues.Structure` with its parameters in mm / mm2 / degrees.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

import numpy as np

from sonomsk.core.errors import InvalidParameterError
from sonomsk.simulate import shapes
from sonomsk.simulate.texture import lognormal_echo, muscle_texture, oriented_field
from sonomsk.simulate.tissues import Canvas, Label, Tissue


def smooth_profile(canvas: Canvas, rng: np.random.Generator, mean_mm: float, amp_mm: float) -> np.ndarray:
    """A gently undulating depth profile (mm per column) around ``mean_mm``."""
    x = canvas.x[0]
    phase = rng.uniform(0, 2 * math.pi, 2)
    wl = rng.uniform(25.0, 60.0, 2)
    prof = mean_mm + amp_mm * (
        np.sin(2 * math.pi * x / wl[0] + phase[0]) + 0.5 * np.sin(2 * math.pi * x / wl[1] + phase[1])
    )
    return prof.astype(np.float32)


def draw_skin_fat(canvas: Canvas, rng: np.random.Generator, skin_mm: float, fat_mm: float) -> np.ndarray:
    """Skin (hyperechoic) and subcutaneous fat with thin septa; returns the fat bottom (mm per column)."""
    skin = np.full(canvas.cols, skin_mm, np.float32)
    fat_bottom = smooth_profile(canvas, rng, skin_mm + fat_mm, 0.1 * fat_mm)
    canvas.paint(shapes.band(canvas, 0.0, skin), Tissue.SKIN, Label.SKIN)
    fat = shapes.band(canvas, skin, fat_bottom)
    canvas.paint(fat, Tissue.FAT, Label.FAT)
    for _ in range(int(canvas.width_mm / 10)):
        z0 = rng.uniform(skin_mm, skin_mm + fat_mm)
        x0 = canvas.x_offset_mm + rng.uniform(0, canvas.width_mm)
        ang = math.radians(rng.uniform(-35, 35))
        length = rng.uniform(2, 6)
        pts = np.array([[z0, x0], [z0 + length * math.sin(ang), x0 + length * math.cos(ang)]])
        canvas.paint(shapes.polyline_mask(canvas, pts) & fat, Tissue.SEPTUM, echo=0.6)
    canvas.add_structure("skin", Label.SKIN, {"thickness_mm": skin_mm}, None)
    canvas.add_structure("subcutaneous_fat", Label.FAT, {"thickness_mm_mean": fat_mm}, None)
    return fat_bottom


def draw_fascia(canvas: Canvas, depth: np.ndarray, thickness_mm: float = 0.5) -> None:
    canvas.paint(shapes.band(canvas, depth, depth + thickness_mm), Tissue.SEPTUM, Label.APONEUROSIS)


def _paint_septa(
    canvas: Canvas,
    within: np.ndarray,
    segments: list[tuple[np.ndarray, float, float]],
) -> None:
    """Paint perimysial septa, each (points (z, x) mm, thickness mm, echo), inside ``within``.

    All segments are drawn with OpenCV into one mask and one echo image, then painted at once.
    """
    import cv2

    if not segments:
        return
    hit = np.zeros((canvas.rows, canvas.cols), np.uint8)
    echo = np.zeros((canvas.rows, canvas.cols), np.float32)
    for pts_mm, thick_mm, value in segments:
        pts = np.stack(
            [(pts_mm[:, 1] - canvas.x_offset_mm) / canvas.spacing_mm, pts_mm[:, 0] / canvas.spacing_mm],
            axis=1,
        )
        poly = [np.round(pts).astype(np.int32)]
        width = max(1, round(thick_mm / canvas.spacing_mm))
        cv2.polylines(hit, poly, False, 1, thickness=width)
        cv2.polylines(echo, poly, False, float(value), thickness=width)
    mask = hit.astype(bool) & within
    canvas.paint(mask, Tissue.SEPTUM, echo=echo)


def _septum_look(rng: np.random.Generator, mean_echo: float) -> tuple[float, float]:
    """(thickness mm, echo) of one septum: uniform thickness, log-normal brightness."""
    tex = muscle_texture()
    thick = float(rng.uniform(*tex.septum_thickness_mm))
    echo = mean_echo * float(lognormal_echo(np.array(rng.standard_normal()), tex.septum_sigma_db))
    return thick, echo


def _bundle_echo(
    canvas: Canvas, rng: np.random.Generator, angle_deg: float, *, transverse: bool = False
) -> np.ndarray:
    """Log-normal backscatter multiplier of fascicle bundles (unit mean power)."""
    tex = muscle_texture()
    length = tex.bundle_width_mm * 1.5 if transverse else tex.bundle_length_mm
    field = oriented_field(canvas, rng, length, tex.bundle_width_mm, angle_deg)
    return lognormal_echo(field, tex.bundle_sigma_db)


def draw_muscle_transverse(
    canvas: Canvas,
    rng: np.random.Generator,
    top: np.ndarray,
    bottom: np.ndarray,
    *,
    name: str = "muscle",
    echo: float = 1.0,
    atrophy: float = 0.0,
    septa_per_cm2: float = 8.0,
) -> np.ndarray:
    """Muscle in transverse view: speckle with short hyperechoic perimysial septa ("starry night").

    ``atrophy`` (0..1) replaces that fraction of the muscle with fatty/fibrotic tissue (raising
    echo intensity and attenuation) and is recorded in the truth with ``echo``.
    """
    mask = shapes.band(canvas, top, bottom)
    bundles = _bundle_echo(canvas, rng, float(rng.uniform(-90, 90)), transverse=True)
    canvas.paint(mask, Tissue.MUSCLE, Label.MUSCLE, echo=echo * (1.0 + 1.5 * atrophy) * bundles)
    area_cm2 = float(mask.sum()) * canvas.spacing_mm**2 / 100.0
    n = int(septa_per_cm2 * area_cm2)
    septa = []
    for _ in range(n):
        col = rng.integers(0, canvas.cols)
        z0 = rng.uniform(float(top[col]), float(bottom[col]))
        x0 = float(canvas.x[0, col])
        ang = rng.uniform(-0.6, 0.6) + (0 if rng.random() < 0.7 else math.pi / 2)
        length = rng.uniform(1.0, 4.0)
        bend = rng.uniform(-0.4, 0.4)
        t = np.linspace(0, 1, 5)
        pts = np.stack(
            [z0 + length * t * np.sin(ang + bend * t), x0 + length * t * np.cos(ang + bend * t)], axis=1
        )
        septa.append((pts, *_septum_look(rng, 1.0)))
    _paint_septa(canvas, mask, septa)
    if atrophy > 0:
        n_blobs = int(atrophy * area_cm2 * 40)
        for _ in range(n_blobs):
            col = rng.integers(0, canvas.cols)
            cz = rng.uniform(float(top[col]), float(bottom[col]))
            blob = shapes.ellipse(
                canvas, cz, float(canvas.x[0, col]), rng.uniform(0.3, 1.2), rng.uniform(0.2, 0.6)
            )
            canvas.paint(blob & mask, Tissue.FIBROSIS, echo=rng.uniform(0.7, 1.2))
    thick = bottom - top
    canvas.add_structure(
        name,
        Label.MUSCLE,
        {
            "view": "transverse",
            "echo_relative": echo,
            "atrophy_fraction": atrophy,
            "thickness_mm_centre": float(thick[canvas.cols // 2]),
            "thickness_mm_mean": float(thick.mean()),
        },
        mask,
    )
    return mask


def draw_muscle_longitudinal(
    canvas: Canvas,
    rng: np.random.Generator,
    sup_apo_mm: float,
    thickness_mm: float,
    pennation_deg: float,
    *,
    deep_apo_angle_deg: float = 0.0,
    apo_mm: float = 0.6,
    fascicle_spacing_mm: float = 1.2,
    echo: float = 1.0,
    atrophy: float = 0.0,
) -> None:
    """Pennate muscle between superficial and deep aponeuroses (longitudinal view).

    Thickness is the distance between the inner edges of the aponeuroses at the image centre;
    the pennation angle is the angle between fascicles and the deep aponeurosis.
    """
    if not 0.0 < pennation_deg < 60.0:
        raise InvalidParameterError(f"pennation_deg: expected 0 to 60 degrees, got {pennation_deg}")
    x = canvas.x[0]
    xc = canvas.x_offset_mm + canvas.width_mm / 2
    slope = math.tan(math.radians(deep_apo_angle_deg))
    sup_bottom = np.full(canvas.cols, sup_apo_mm + apo_mm, np.float32)
    deep_top = (sup_apo_mm + apo_mm + thickness_mm + slope * (x - xc)).astype(np.float32)
    canvas.paint(shapes.band(canvas, sup_apo_mm, sup_bottom), Tissue.SEPTUM, Label.APONEUROSIS)
    belly = shapes.band(canvas, sup_bottom, deep_top)
    # fascicles rise from the deep aponeurosis at the pennation angle (plus the aponeurosis tilt)
    ang = math.radians(pennation_deg + deep_apo_angle_deg)
    bundles = _bundle_echo(canvas, rng, -math.degrees(ang))
    canvas.paint(belly, Tissue.MUSCLE, Label.MUSCLE, echo=echo * (1.0 + 1.5 * atrophy) * bundles)
    canvas.paint(shapes.band(canvas, deep_top, deep_top + apo_mm), Tissue.SEPTUM, Label.APONEUROSIS)
    # perimysial septa along the fascicles: fragments of random length, thickness and brightness
    # (they leave the image plane), at a jittered spacing
    tex = muscle_texture()
    step = fascicle_spacing_mm / math.sin(ang)
    length = (thickness_mm + 4 * apo_mm) / math.sin(ang)
    direction = np.array([-math.sin(ang), math.cos(ang)])
    septa = []
    x_start = canvas.x_offset_mm - length
    while x_start < canvas.x_offset_mm + canvas.width_mm + length:
        xs = x_start + rng.uniform(-0.3, 0.3) * step
        zs = float(sup_apo_mm + apo_mm + thickness_mm + slope * (xs - xc))
        pos = -rng.uniform(0.0, tex.septum_segment_mm[1])
        while pos < length:
            seg = rng.uniform(*tex.septum_segment_mm)
            a, b = max(pos, 0.0), min(pos + seg, length)
            if b > a:
                bend = rng.uniform(-0.05, 0.05)
                t = np.linspace(a, b, 4)[:, None]
                pts = (
                    np.array([zs, xs])
                    + t * direction
                    + bend * (t - a) ** 2 / max(b - a, 1e-6) * direction[::-1]
                )
                septa.append((pts, *_septum_look(rng, 0.8)))
            pos += seg + rng.uniform(0.5, 4.0)
        x_start += step * rng.uniform(0.6, 1.4)
    _paint_septa(canvas, belly, septa)
    if atrophy > 0:
        for _ in range(int(atrophy * 300)):
            cx = canvas.x_offset_mm + rng.uniform(0, canvas.width_mm)
            cz = rng.uniform(sup_apo_mm, sup_apo_mm + thickness_mm)
            blob = shapes.ellipse(canvas, cz, cx, rng.uniform(0.3, 1.2), rng.uniform(0.2, 0.6))
            canvas.paint(blob & belly, Tissue.FIBROSIS, echo=rng.uniform(0.7, 1.2))
    canvas.add_structure(
        "muscle",
        Label.MUSCLE,
        {
            "view": "longitudinal",
            "thickness_mm": thickness_mm,
            "pennation_angle_deg": pennation_deg,
            "deep_aponeurosis_angle_deg": deep_apo_angle_deg,
            "fascicle_angle_to_horizontal_deg": pennation_deg + deep_apo_angle_deg,
            "superficial_aponeurosis_inner_edge_mm": sup_apo_mm + apo_mm,
            "deep_aponeurosis_inner_edge_mm_at_centre": sup_apo_mm + apo_mm + thickness_mm,
            "echo_relative": echo,
            "atrophy_fraction": atrophy,
        },
        belly,
    )


def draw_nerve_cross(
    canvas: Canvas,
    rng: np.random.Generator,
    cz: float,
    cx: float,
    csa_mm2: float,
    *,
    flattening: float = 1.5,
    angle_deg: float = 0.0,
    rim_mm: float = 0.35,
    fascicle_fraction: float = 0.55,
    echo: float = 1.0,
    name: str = "nerve",
) -> np.ndarray:
    """A nerve in cross-section: hypoechoic fascicles (honeycomb) in a hyperechoic epineurium.

    The truth mask and CSA are the area inside the epineurial rim (the clinical tracing). The
    semi-axes are chosen so that the *rasterised* area equals ``csa_mm2`` to within one pixel;
    the truth reports both the rasterised and the analytic ellipse area.
    """
    if not 0.5 <= csa_mm2 <= 400.0:
        raise InvalidParameterError(f"csa_mm2: expected 0.5 to 400 mm2, got {csa_mm2}")
    if not 1.0 <= flattening <= 6.0:
        raise InvalidParameterError(f"flattening: expected a ratio of 1 to 6, got {flattening}")
    mask, a, b = shapes.ellipse_of_area(canvas, cz, cx, csa_mm2, flattening, angle_deg)
    outer = shapes.ellipse(canvas, cz, cx, a + rim_mm, b + rim_mm, angle_deg)
    canvas.paint(outer, Tissue.EPINEURIUM, echo=echo)
    canvas.paint(mask, Tissue.EPINEURIUM, Label.NERVE, echo=echo * 0.8)
    # fascicles: non-overlapping small ellipses packed by rejection sampling
    target = fascicle_fraction * csa_mm2
    placed: list[tuple[float, float, float]] = []
    area = 0.0
    t = math.radians(angle_deg)
    r_mean = max(0.18, 0.32 * min(a, b))
    for _ in range(2000):
        if area >= target:
            break
        r = r_mean * rng.uniform(0.6, 1.3)
        u, v = rng.uniform(-1, 1, 2)
        if u * u + v * v > 1:
            continue
        du, dv = u * max(a - r - 0.05, 0), v * max(b - r - 0.05, 0)
        fx = cx + du * math.cos(t) - dv * math.sin(t)
        fz = cz + du * math.sin(t) + dv * math.cos(t)
        if any((fx - px) ** 2 + (fz - pz) ** 2 < (r + pr + 0.08) ** 2 for px, pz, pr in placed):
            continue
        placed.append((fx, fz, r))
        area += math.pi * r * r
        fasc = shapes.ellipse(canvas, fz, fx, r * 1.1, r * 0.9, rng.uniform(0, 180)) & mask
        canvas.paint(fasc, Tissue.FASCICLE, echo=echo * rng.uniform(0.8, 1.2))
    px_area = canvas.spacing_mm**2
    canvas.add_structure(
        name,
        Label.NERVE,
        {
            "view": "transverse",
            "centre_mm": [cz, cx],
            "csa_mm2_target": csa_mm2,
            "csa_mm2_raster": float(mask.sum()) * px_area,
            "csa_mm2_analytic": math.pi * a * b,
            "semi_axes_mm": [a, b],
            "flattening_ratio": a / b,
            "angle_deg": angle_deg,
            "epineurial_rim_mm": rim_mm,
            "n_fascicles": len(placed),
            "echo_relative": echo,
        },
        mask,
    )
    return mask


def draw_nerve_long(
    canvas: Canvas, rng: np.random.Generator, cz: float, thickness_mm: float, *, name: str = "nerve"
) -> None:
    """A nerve in longitudinal view: parallel hypoechoic fascicles between hyperechoic lines."""
    top = smooth_profile(canvas, rng, cz - thickness_mm / 2, 0.15)
    bottom = top + thickness_mm
    inner = shapes.band(canvas, top, bottom)
    canvas.paint(shapes.band(canvas, top - 0.35, bottom + 0.35), Tissue.EPINEURIUM)
    canvas.paint(inner, Tissue.EPINEURIUM, Label.NERVE, echo=0.8)
    n = max(2, int(thickness_mm / 0.8))
    for k in range(n):
        zf = top + (k + 0.5) * thickness_mm / n
        half = 0.25 * thickness_mm / n
        canvas.paint(shapes.band(canvas, zf - half, zf + half) & inner, Tissue.FASCICLE)
    canvas.add_structure(
        name, Label.NERVE, {"view": "longitudinal", "thickness_mm": thickness_mm, "depth_mm": cz}, inner
    )


def draw_vessel_cross(
    canvas: Canvas,
    cz: float,
    cx: float,
    radius_mm: float,
    *,
    kind: str = "artery",
    compression: float = 0.0,
    wall_mm: float | None = None,
    peak_velocity_cm_s: float = 0.0,
    flow_angle_deg: float = 90.0,
    name: str | None = None,
) -> np.ndarray:
    """An artery (round, thick wall) or vein (oval, thin wall, ``compression`` 0..0.95 flattens it)."""
    wall = wall_mm if wall_mm is not None else (0.5 if kind == "artery" else 0.2)
    b = radius_mm * (1.0 - compression) if kind == "vein" else radius_mm
    a = radius_mm * (1.0 + 0.5 * compression) if kind == "vein" else radius_mm
    b = max(b, 0.05)
    outer = shapes.ellipse(canvas, cz, cx, a + wall, b + wall)
    lumen = shapes.ellipse(canvas, cz, cx, a, b)
    canvas.paint(outer, Tissue.VESSEL_WALL)
    canvas.paint(lumen, Tissue.BLOOD, Label.VESSEL)
    if peak_velocity_cm_s:
        rr = ((canvas.x - cx) / a) ** 2 + ((canvas.z - cz) / b) ** 2
        prof = np.clip(1.0 - rr, 0.0, 1.0) * peak_velocity_cm_s
        canvas.velocity[lumen] = prof[lumen]
        canvas.flow_angle[lumen] = flow_angle_deg
    canvas.add_structure(
        name or kind,
        Label.VESSEL,
        {
            "view": "transverse",
            "kind": kind,
            "centre_mm": [cz, cx],
            "lumen_semi_axes_mm": [a, b],
            "lumen_area_mm2_raster": float(lumen.sum()) * canvas.spacing_mm**2,
            "lumen_area_mm2_analytic": math.pi * a * b,
            "compression": compression,
            "peak_velocity_cm_s": peak_velocity_cm_s,
        },
        lumen,
    )
    return lumen


def draw_vessel_long(
    canvas: Canvas,
    cz: float,
    radius_mm: float,
    angle_deg: float,
    peak_velocity_cm_s: float,
    *,
    name: str = "artery",
) -> np.ndarray:
    """A vessel along the image, tilted by ``angle_deg``, with a parabolic flow profile."""
    xc = canvas.x_offset_mm + canvas.width_mm / 2
    centre = cz + math.tan(math.radians(angle_deg)) * (canvas.x[0] - xc)
    half = radius_mm / math.cos(math.radians(angle_deg))
    canvas.paint(shapes.band(canvas, centre - half - 0.5, centre + half + 0.5), Tissue.VESSEL_WALL)
    lumen = shapes.band(canvas, centre - half, centre + half)
    canvas.paint(lumen, Tissue.BLOOD, Label.VESSEL)
    rel = np.clip(1.0 - ((canvas.z - centre[None, :]) / half) ** 2, 0.0, 1.0)
    canvas.velocity[lumen] = (rel * peak_velocity_cm_s)[lumen]
    # flow along the vessel axis; beam vertical: angle between flow and beam = 90 - tilt
    canvas.flow_angle[lumen] = 90.0 - angle_deg
    canvas.add_structure(
        name,
        Label.VESSEL,
        {
            "view": "longitudinal",
            "depth_mm": cz,
            "radius_mm": radius_mm,
            "tilt_deg": angle_deg,
            "peak_velocity_cm_s": peak_velocity_cm_s,
            "doppler_angle_deg": 90.0 - angle_deg,
        },
        lumen,
    )
    return lumen


def draw_bone(canvas: Canvas, surface: np.ndarray, *, name: str = "bone") -> np.ndarray:
    """Bone below a surface profile (mm per column): a bright cortex and an acoustic shadow."""
    mask = shapes.band(canvas, surface, canvas.depth_mm + 1)
    canvas.paint(mask, Tissue.BONE, Label.BONE)
    canvas.add_structure(
        name, Label.BONE, {"surface_depth_mm_centre": float(surface[canvas.cols // 2])}, mask
    )
    return mask


def draw_fluid_lens(
    canvas: Canvas,
    top: np.ndarray,
    cx: float,
    half_width_mm: float,
    depth_mm: float,
    *,
    name: str = "effusion",
) -> np.ndarray:
    """Anechoic fluid (bursa or effusion) of maximal depth ``depth_mm`` below ``top``, lens shaped."""
    x = canvas.x[0]
    rel = np.clip(1.0 - ((x - cx) / half_width_mm) ** 2, 0.0, None)
    bottom = top + depth_mm * rel
    mask = shapes.band(canvas, top, bottom) & (rel > 0)[None, :]
    canvas.paint(mask, Tissue.FLUID, Label.FLUID)
    col = int(np.argmax(bottom - top))
    depth_raster = float(mask[:, col].sum()) * canvas.spacing_mm
    canvas.add_structure(
        name,
        Label.FLUID,
        {
            "depth_mm": depth_mm,
            "depth_mm_raster": depth_raster,
            "half_width_mm": half_width_mm,
            "area_mm2_raster": float(mask.sum()) * canvas.spacing_mm**2,
        },
        mask,
    )
    return mask


def draw_tumour(
    canvas: Canvas, rng: np.random.Generator, cz: float, cx: float, a: float, b: float
) -> np.ndarray:
    """A nerve sheath tumour: ovoid, hypoechoic, heterogeneous, well defined, with a thin capsule."""
    canvas.paint(shapes.ellipse(canvas, cz, cx, a + 0.3, b + 0.3), Tissue.EPINEURIUM)
    mask = shapes.ellipse(canvas, cz, cx, a, b)
    canvas.paint(mask, Tissue.TUMOUR, Label.TUMOUR)
    for _ in range(6):
        cyst = shapes.ellipse(
            canvas,
            cz + rng.uniform(-b, b) * 0.5,
            cx + rng.uniform(-a, a) * 0.5,
            rng.uniform(0.3, 0.9),
            rng.uniform(0.3, 0.8),
        )
        canvas.paint(cyst & mask, Tissue.FLUID)
    canvas.add_structure(
        "tumour",
        Label.TUMOUR,
        {
            "kind": "nerve_sheath_tumour",
            "centre_mm": [cz, cx],
            "semi_axes_mm": [a, b],
            "area_mm2_raster": float(mask.sum()) * canvas.spacing_mm**2,
        },
        mask,
    )
    return mask


def draw_tendon(
    canvas: Canvas,
    rng: np.random.Generator,
    top_mm: float,
    thickness_mm: float,
    *,
    tilt_deg: float = 0.0,
    tendinopathy: bool = False,
    calcification: bool = False,
    tear: bool = False,
) -> np.ndarray:
    """A tendon in longitudinal view: fibrillar and hyperechoic, darkening with tilt (anisotropy).

    Tendinopathy thickens the tendon by 60 % and adds a hypoechoic zone; ``calcification`` adds a
    bright focus with a shadow; ``tear`` an anechoic partial-thickness cleft.
    """
    thick = thickness_mm * (1.6 if tendinopathy else 1.0)
    xc = canvas.x_offset_mm + canvas.width_mm / 2
    slope = math.tan(math.radians(tilt_deg))
    top = (top_mm + slope * (canvas.x[0] - xc)).astype(np.float32)
    if tendinopathy:
        swell = 0.6 * thickness_mm * np.exp(-(((canvas.x[0] - xc) / 8.0) ** 2))
        bottom = top + thickness_mm + swell
    else:
        bottom = top + thick
    mask = shapes.band(canvas, top, bottom)
    anisotropy = math.cos(math.radians(tilt_deg)) ** 8
    fibrils = 1.0 + 0.6 * np.sin(2 * math.pi * (canvas.z - top[None, :]) / 0.45)
    canvas.paint(mask, Tissue.TENDON, Label.TENDON, echo=(anisotropy * fibrils).astype(np.float32))
    extra: dict[str, object] = {}
    if tendinopathy:
        hypo = shapes.ellipse(canvas, top_mm + thick * 0.55, xc, 7.0, thick * 0.3) & mask
        canvas.paint(hypo, Tissue.TENDON, Label.TENDON, echo=0.25 * anisotropy)
        extra["hypoechoic_area_mm2"] = float(hypo.sum()) * canvas.spacing_mm**2
    if calcification:
        cal = shapes.ellipse(canvas, top_mm + thick * 0.4, xc - 6.0, 1.2, 0.5)
        canvas.paint(cal, Tissue.CALCIFICATION, Label.CALCIFICATION)
        canvas.add_structure(
            "calcification",
            Label.CALCIFICATION,
            {"centre_mm": [top_mm + thick * 0.4, xc - 6.0], "size_mm": [2.4, 1.0]},
            cal,
        )
    if tear:
        cleft = shapes.ellipse(canvas, top_mm + 0.5 * thick / 2, xc + 6.0, 2.5, 0.45 * thick / 2) & mask
        canvas.paint(cleft, Tissue.FLUID, Label.FLUID)
        extra["tear_area_mm2"] = float(cleft.sum()) * canvas.spacing_mm**2
    canvas.add_structure(
        "tendon",
        Label.TENDON,
        {
            "view": "longitudinal",
            "thickness_mm_normal": thickness_mm,
            "thickness_mm_max": float((bottom - top).max()),
            "tilt_deg": tilt_deg,
            "anisotropy_echo_factor": anisotropy,
            "tendinopathy": tendinopathy,
            **extra,
        },
        mask,
    )
    return mask


@lru_cache(maxsize=1)
def needle_diameters() -> dict[str, float]:
    text = resources.files("sonomsk.simulate").joinpath("data/needles.json").read_text("utf-8")
    return {k: float(v) for k, v in json.loads(text)["outer_diameter_mm"].items()}


def needle_diameter_mm(gauge: int) -> float:
    table = needle_diameters()
    if str(gauge) not in table:
        raise InvalidParameterError(f"gauge: expected one of {sorted(table, key=int)}, got {gauge!r}")
    return table[str(gauge)]


def draw_needle_inplane(
    canvas: Canvas, entry_x_mm: float, angle_deg: float, inserted_mm: float, gauge: int
) -> tuple[float, float]:
    """An in-plane needle entering at the skin at ``entry_x_mm`` and ``angle_deg`` below the horizontal.

    Shaft brightness follows ``cos(angle)^16`` (specular), scaled by the gauge; the bevelled tip
    scatters diffusely and stays visible; reverberations repeat below at the needle diameter.
    Returns the tip (z, x) in mm.
    """
    d = needle_diameter_mm(gauge)
    t = math.radians(angle_deg)
    tip_z, tip_x = inserted_mm * math.sin(t), entry_x_mm + inserted_mm * math.cos(t)
    shaft = shapes.segment(canvas, 0.0, entry_x_mm, tip_z, tip_x, d)
    canvas.paint(shaft, Tissue.NEEDLE, Label.NEEDLE)
    strength = 0.9 * math.cos(t) ** 16 * math.sqrt(d / 0.72) + 0.02
    wall = shapes.segment(
        canvas, -d / 2 / math.cos(t), entry_x_mm, tip_z - d / 2 / math.cos(t), tip_x, canvas.spacing_mm * 1.5
    )
    canvas.specular[wall] += strength
    for k in range(1, 7):
        off = k * d / math.cos(t)
        rev = shapes.segment(canvas, off, entry_x_mm, tip_z + off, tip_x, canvas.spacing_mm * 1.5)
        canvas.specular[rev & ~shaft] += strength * 0.45**k
    tip = shapes.ellipse(canvas, tip_z, tip_x, max(d, 0.4), max(d / 2, 0.25), angle_deg)
    canvas.specular[tip] += 0.15 * math.sqrt(d / 0.72)
    return tip_z, tip_x


def draw_needle_crossing(canvas: Canvas, z_mm: float, x_mm: float, gauge: int, *, visible: bool) -> None:
    """The cross-section of an out-of-plane needle where its shaft crosses the image plane.

    A bright dot with a comet tail of reverberations at the diameter spacing below it.
    """
    if not visible:
        return
    d = needle_diameter_mm(gauge)
    dot = shapes.ellipse(canvas, z_mm, x_mm, d / 2, d / 2)
    canvas.paint(dot, Tissue.NEEDLE, Label.NEEDLE)
    strength = 0.6 * math.sqrt(d / 0.72)
    canvas.specular[dot] += strength
    for k in range(1, 10):
        tail = shapes.ellipse(canvas, z_mm + k * d, x_mm, d / 2 * (1 - 0.06 * k), 0.12)
        canvas.specular[tail] += strength * 0.6**k
