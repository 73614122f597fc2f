"""Named scenes composing the tissue library, with parameters, seeds and variety.

Each scene has defaults (overridable with ``--set key=value``), a ``prepare`` step that draws
the varied anatomy/look from the seed once, and a ``draw`` step called per frame at time ``t``
with an anatomy generator re-seeded identically every frame (so static texture stays put while
moving parts move).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sonomsk.simulate import cine, library, shapes
from sonomsk.simulate.tissues import Canvas, Label, Tissue

#: Parameters every scene accepts (scanner, look and motion).
COMMON_DEFAULTS: dict[str, Any] = {
    "rows": 512,
    "cols": 512,
    "gain_db": 0.0,
    "dynamic_range_db": 60.0,
    "noise_db": -90.0,
    "tgc_db_cm_mhz": 1.0,
    "bandwidth": 0.6,
    "focus_mm": 0.0,  # 0: a third of the depth
    "aperture_mm": 0.0,  # 0: half the field width
    "smoothing_px": 0.0,
    "frame_rate_hz": 20.0,
    "probe_motion_mm": 0.0,
    "heart_rate_bpm": 70.0,
    "doppler": "none",
    "prf_hz": 0.0,  # 0: chosen from the peak velocity
    "vary": True,
}


@dataclass
class FrameState:
    """What ``draw`` reports for one frame (beyond the canvas it painted)."""

    truth: dict[str, Any] = field(default_factory=dict)
    displacement: tuple[np.ndarray, np.ndarray] | None = None


DrawFn = Callable[[Canvas, dict[str, Any], float, np.random.Generator], FrameState]
PrepareFn = Callable[[dict[str, Any], np.random.Generator], None]


@dataclass(frozen=True)
class Scene:
    name: str
    description: str
    depth_mm: float
    frequency_mhz: float
    frames: int
    defaults: dict[str, Any]
    prepare: PrepareFn
    draw: DrawFn


def _vary(p: dict[str, Any], key: str, rng: np.random.Generator, lo: float, hi: float) -> None:
    """Draw ``p[key]`` uniformly in [lo, hi] unless the user set it or variety is off."""
    value = float(rng.uniform(lo, hi))
    if p["vary"] and key not in p["_set"]:
        p[key] = value


def _prepare_look(p: dict[str, Any], rng: np.random.Generator) -> None:
    _vary(p, "gain_db", rng, -4.0, 4.0)
    _vary(p, "dynamic_range_db", rng, 50.0, 70.0)
    _vary(p, "noise_db", rng, -95.0, -85.0)
    _vary(p, "smoothing_px", rng, 0.0, 0.9)
    _vary(p, "tgc_db_cm_mhz", rng, 0.85, 1.1)


def _layers(c: Canvas, p: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    return library.draw_skin_fat(c, rng, p["skin_mm"], p["fat_mm"])


# -- nerve -------------------------------------------------------------------------------------
NERVE_DEFAULTS = {
    "skin_mm": 1.6,
    "fat_mm": 3.0,
    "csa_mm2": 10.0,
    "flattening": 1.6,
    "nerve_depth_mm": 11.0,
    "nerve_x_mm": 0.0,
    "nerve_echo": 1.0,
    "artery": True,
    "artery_radius_mm": 1.8,
    "bone_depth_mm": 24.0,
    "tumour": False,
}


def _prepare_nerve(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "skin_mm", rng, 1.2, 2.2)
    _vary(p, "fat_mm", rng, 1.5, 6.0)
    _vary(p, "csa_mm2", rng, 5.0, 16.0)
    _vary(p, "flattening", rng, 1.2, 2.6)
    _vary(p, "nerve_depth_mm", rng, p["skin_mm"] + p["fat_mm"] + 4.0, 0.55 * p["_depth"])
    _vary(p, "nerve_x_mm", rng, -0.2 * p["_width"], 0.2 * p["_width"])
    _vary(p, "artery_radius_mm", rng, 1.2, 3.0)
    _vary(p, "bone_depth_mm", rng, 0.7 * p["_depth"], 1.05 * p["_depth"])
    _vary(p, "nerve_echo", rng, 0.7, 1.3)


def _draw_nerve(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = _layers(c, p, rng)
    library.draw_fascia(c, fat_bottom, 0.5)
    bone = library.smooth_profile(c, rng, p["bone_depth_mm"], 0.8)
    cz = p["nerve_depth_mm"]
    cx = c.width_mm / 2 + p["nerve_x_mm"]
    plane = library.smooth_profile(c, rng, cz, 0.6)
    library.draw_muscle_transverse(c, rng, fat_bottom + 0.5, plane, name="muscle_superficial")
    library.draw_fascia(c, plane, 0.4)
    library.draw_muscle_transverse(c, rng, plane + 0.4, bone, name="muscle_deep", echo=0.9)
    library.draw_bone(c, bone)
    state = FrameState()
    if p["artery"]:
        r = p["artery_radius_mm"] * (1.0 + 0.06 * cine.pulse_waveform(t, p["heart_rate_bpm"]))
        side = 1.0 if p["nerve_x_mm"] < 0 else -1.0
        ax = cx + side * (math.sqrt(p["csa_mm2"] / math.pi) * p["flattening"] + r + 2.5)
        library.draw_vessel_cross(
            c,
            cz + 1.0,
            ax,
            r,
            kind="artery",
            name="artery",
            peak_velocity_cm_s=40.0 * cine.velocity_waveform(t, p["heart_rate_bpm"]),
            flow_angle_deg=70.0,
        )
        state.truth["artery_radius_mm"] = r
    if p["tumour"]:
        library.draw_tumour(c, rng, cz, cx, 4.0 * p["flattening"] ** 0.3, 3.0)
        c.labels[c.labels == Label.TUMOUR] = Label.NERVE
    else:
        library.draw_nerve_cross(
            c, rng, cz, cx, p["csa_mm2"], flattening=p["flattening"], echo=p["nerve_echo"]
        )
    return state


# -- carpal tunnel ------------------------------------------------------------------------------
CTS_DEFAULTS = {
    "skin_mm": 1.2,
    "fat_mm": 1.5,
    "csa_mm2": 10.0,
    "flattening": 2.5,
    "retinaculum_mm": 0.9,
    "nerve_x_mm": -2.0,
    "n_tendons": 7,
}


def _prepare_cts(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "skin_mm", rng, 0.9, 1.6)
    _vary(p, "fat_mm", rng, 0.8, 2.5)
    _vary(p, "csa_mm2", rng, 6.0, 18.0)
    _vary(p, "flattening", rng, 1.8, 3.5)
    _vary(p, "nerve_x_mm", rng, -4.0, 2.0)


def _draw_cts(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = _layers(c, p, rng)
    xc = c.width_mm / 2
    x = c.x[0]
    arch = fat_bottom + 0.6 + 0.02 * (x - xc) ** 2 / max(c.width_mm / 20, 1.0)
    arch = np.minimum(arch, fat_bottom + 4.0)
    library.draw_fascia(c, arch, p["retinaculum_mm"])
    floor = arch + p["retinaculum_mm"]
    bone = library.smooth_profile(c, rng, floor[c.cols // 2] + 9.0, 0.6) - 0.06 * np.abs(x - xc)
    c.paint(shapes.band(c, floor, bone), Tissue.MUSCLE, Label.MUSCLE, echo=0.8)
    library.draw_bone(c, bone, name="carpal_bones")
    b = math.sqrt(p["csa_mm2"] / (math.pi * p["flattening"]))
    cz = float(floor[c.cols // 2]) + b + 0.5
    cx = xc + p["nerve_x_mm"]
    # flexor tendons below and beside the nerve, round in cross-section
    for k in range(int(p["n_tendons"])):
        tx = xc - 7.0 + 14.0 * k / max(p["n_tendons"] - 1, 1) + rng.uniform(-0.5, 0.5)
        tz = cz + b + 2.2 + rng.uniform(0, 2.5)
        if abs(tx - cx) < 3.0 and tz < cz + b + 1.5:
            tz += 2.0
        ten = shapes.ellipse(c, tz, tx, rng.uniform(1.6, 2.4), rng.uniform(1.2, 1.7), rng.uniform(-20, 20))
        c.paint(ten, Tissue.TENDON, Label.TENDON, echo=rng.uniform(0.7, 1.0))
    library.draw_nerve_cross(
        c, rng, cz, cx, p["csa_mm2"], flattening=p["flattening"], rim_mm=0.3, name="median_nerve"
    )
    r = 1.0 * (1.0 + 0.06 * cine.pulse_waveform(t, p["heart_rate_bpm"]))
    library.draw_vessel_cross(
        c,
        float(fat_bottom[0]) + 2.0,
        c.width_mm * 0.85,
        r,
        kind="artery",
        name="ulnar_artery",
        peak_velocity_cm_s=30.0 * cine.velocity_waveform(t, p["heart_rate_bpm"]),
        flow_angle_deg=70.0,
    )
    return FrameState(truth={"ulnar_artery_radius_mm": r})


# -- muscle --------------------------------------------------------------------------------------
MUSCLE_T_DEFAULTS = {
    "skin_mm": 1.8,
    "fat_mm": 5.0,
    "muscle_echo": 1.0,
    "atrophy": 0.0,
    "bone_depth_mm": 30.0,
    "two_muscles": True,
}


def _prepare_muscle_t(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "skin_mm", rng, 1.4, 2.4)
    _vary(p, "fat_mm", rng, 2.0, 10.0)
    _vary(p, "bone_depth_mm", rng, 0.6 * p["_depth"], 0.85 * p["_depth"])
    _vary(p, "muscle_echo", rng, 0.8, 1.25)


def _draw_muscle_t(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = _layers(c, p, rng)
    library.draw_fascia(c, fat_bottom, 0.6)
    xc = c.width_mm / 2
    bone = p["bone_depth_mm"] + 0.012 * (c.x[0] - xc) ** 2
    top = fat_bottom + 0.6
    if p["two_muscles"]:
        mid = library.smooth_profile(
            c, rng, float(top.mean() + 0.45 * (p["bone_depth_mm"] - top.mean())), 1.2
        )
        library.draw_muscle_transverse(
            c, rng, top, mid, name="muscle", echo=p["muscle_echo"], atrophy=p["atrophy"]
        )
        library.draw_fascia(c, mid, 0.5)
        library.draw_muscle_transverse(
            c,
            rng,
            mid + 0.5,
            bone.astype(np.float32),
            name="muscle_deep",
            echo=p["muscle_echo"],
            atrophy=p["atrophy"],
        )
    else:
        library.draw_muscle_transverse(
            c, rng, top, bone.astype(np.float32), name="muscle", echo=p["muscle_echo"], atrophy=p["atrophy"]
        )
    library.draw_bone(c, bone.astype(np.float32))
    return FrameState()


MUSCLE_L_DEFAULTS = {
    "skin_mm": 1.8,
    "fat_mm": 4.0,
    "thickness_mm": 20.0,
    "pennation_deg": 18.0,
    "deep_apo_angle_deg": 0.0,
    "muscle_echo": 1.0,
    "atrophy": 0.0,
}


def _prepare_muscle_l(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "fat_mm", rng, 2.0, 8.0)
    _vary(p, "thickness_mm", rng, 12.0, min(26.0, 0.7 * p["_depth"] - 10.0))
    _vary(p, "pennation_deg", rng, 10.0, 28.0)
    _vary(p, "deep_apo_angle_deg", rng, -4.0, 4.0)
    _vary(p, "muscle_echo", rng, 0.8, 1.25)


def _draw_muscle_l(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = library.draw_skin_fat(c, rng, p["skin_mm"], p["fat_mm"])
    sup = float(fat_bottom.max()) + 0.2
    c.paint(shapes.band(c, fat_bottom, sup), Tissue.FAT, Label.FAT)
    library.draw_muscle_longitudinal(
        c,
        rng,
        sup,
        p["thickness_mm"],
        p["pennation_deg"],
        deep_apo_angle_deg=p["deep_apo_angle_deg"],
        echo=p["muscle_echo"],
        atrophy=p["atrophy"],
    )
    deep = sup + 0.6 + p["thickness_mm"] + 0.6
    slope = math.tan(math.radians(p["deep_apo_angle_deg"]))
    below = deep + slope * (c.x[0] - c.width_mm / 2)
    c.paint(shapes.band(c, below, c.depth_mm + 1), Tissue.MUSCLE, echo=0.9)
    return FrameState()


# -- tendon --------------------------------------------------------------------------------------
TENDON_DEFAULTS = {
    "skin_mm": 1.4,
    "fat_mm": 2.5,
    "thickness_mm": 5.0,
    "tilt_deg": 0.0,
    "tendinopathy": False,
    "calcification": False,
    "tear": False,
    "hypervascular": False,
}


def _prepare_tendon(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "fat_mm", rng, 1.5, 4.0)
    _vary(p, "thickness_mm", rng, 4.0, 6.5)
    _vary(p, "tilt_deg", rng, -4.0, 4.0)


def _draw_tendon(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = _layers(c, p, rng)
    top = float(fat_bottom.max()) + 0.8
    c.paint(shapes.band(c, fat_bottom, top), Tissue.FAT, Label.FAT)
    mask = library.draw_tendon(
        c,
        rng,
        top,
        p["thickness_mm"],
        tilt_deg=p["tilt_deg"],
        tendinopathy=p["tendinopathy"],
        calcification=p["calcification"],
        tear=p["tear"],
    )
    bottom = np.max(np.where(mask, c.z, 0), axis=0) + 0.1
    bone = np.maximum(bottom + 2.0, top + 1.6 * p["thickness_mm"] + 3.0) + 0.0 * c.x[0]
    c.paint(shapes.band(c, bottom, bone) & ~mask, Tissue.FAT, echo=1.2)
    library.draw_bone(c, bone.astype(np.float32))
    if p["hypervascular"]:
        for _ in range(8):
            vz = top + rng.uniform(0.5, p["thickness_mm"])
            vx = c.width_mm / 2 + rng.uniform(-8, 8)
            ves = shapes.segment(c, vz, vx, vz + rng.uniform(-2, 2), vx + rng.uniform(-2, 2), 0.3)
            c.velocity[ves] = rng.uniform(3, 8)
            c.flow_angle[ves] = rng.uniform(0, 60)
    return FrameState()


# -- vessel --------------------------------------------------------------------------------------
VESSEL_DEFAULTS = {
    "skin_mm": 1.6,
    "fat_mm": 3.0,
    "view": "transverse",
    "artery_radius_mm": 3.0,
    "vein_radius_mm": 4.0,
    "vessel_depth_mm": 14.0,
    "compression": 0.0,
    "compression_cycle": False,
    "tilt_deg": 15.0,
    "peak_velocity_cm_s": 60.0,
}


def _prepare_vessel(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "fat_mm", rng, 1.5, 6.0)
    _vary(p, "artery_radius_mm", rng, 2.0, 4.0)
    _vary(p, "vein_radius_mm", rng, 2.5, 5.0)
    _vary(p, "vessel_depth_mm", rng, p["skin_mm"] + p["fat_mm"] + 6.0, 0.5 * p["_depth"])
    _vary(p, "tilt_deg", rng, 8.0, 22.0)
    _vary(p, "peak_velocity_cm_s", rng, 40.0, 100.0)


def _draw_vessel(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = _layers(c, p, rng)
    library.draw_fascia(c, fat_bottom, 0.5)
    library.draw_muscle_transverse(
        c, rng, fat_bottom + 0.5, np.full(c.cols, c.depth_mm + 1, np.float32), name="muscle", echo=0.9
    )
    hr = p["heart_rate_bpm"]
    v_peak = p["peak_velocity_cm_s"] * cine.velocity_waveform(t, hr)
    state = FrameState(truth={"peak_velocity_cm_s": v_peak})
    if p["view"] == "longitudinal":
        library.draw_vessel_long(c, p["vessel_depth_mm"], p["artery_radius_mm"], p["tilt_deg"], v_peak)
        return state
    r = p["artery_radius_mm"] * (1.0 + 0.08 * cine.pulse_waveform(t, hr))
    comp = p["compression"]
    if p["compression_cycle"]:
        comp = 0.9 * 0.5 * (1 - math.cos(2 * math.pi * t / 2.0))
    cz = p["vessel_depth_mm"]
    xc = c.width_mm / 2
    library.draw_vessel_cross(
        c,
        cz,
        xc - r - 1.5,
        r,
        kind="artery",
        name="artery",
        peak_velocity_cm_s=v_peak,
        flow_angle_deg=90.0 - p["tilt_deg"],
    )
    library.draw_vessel_cross(
        c,
        cz + 0.5,
        xc + p["vein_radius_mm"] + 1.5,
        p["vein_radius_mm"],
        kind="vein",
        name="vein",
        compression=comp,
        peak_velocity_cm_s=-15.0,
        flow_angle_deg=90.0 - p["tilt_deg"],
    )
    state.truth.update({"artery_radius_mm": r, "vein_compression": comp})
    return state


# -- joint effusion ------------------------------------------------------------------------------
JOINT_DEFAULTS = {
    "skin_mm": 1.6,
    "fat_mm": 4.0,
    "effusion_depth_mm": 5.0,
    "effusion_half_width_mm": 14.0,
    "cartilage_mm": 2.0,
}


def _prepare_joint(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_look(p, rng)
    _vary(p, "fat_mm", rng, 2.0, 7.0)
    _vary(p, "effusion_depth_mm", rng, 1.5, 9.0)
    _vary(p, "effusion_half_width_mm", rng, 8.0, 16.0)


def _draw_joint(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    fat_bottom = _layers(c, p, rng)
    tendon_top = float(fat_bottom.max()) + 0.5
    c.paint(shapes.band(c, fat_bottom, tendon_top), Tissue.FAT, Label.FAT)
    library.draw_tendon(c, rng, tendon_top, 4.0)
    capsule = np.full(c.cols, tendon_top + 4.5, np.float32)
    library.draw_fascia(c, capsule, 0.5)
    fluid_top = capsule + 0.5
    xc = c.width_mm / 2
    rel = np.clip(1.0 - ((c.x[0] - xc) / p["effusion_half_width_mm"]) ** 2, 0, None)
    fat_pad_bottom = fluid_top + p["effusion_depth_mm"] * rel + 3.0
    c.paint(shapes.band(c, fluid_top, fat_pad_bottom), Tissue.FAT, echo=1.4)
    library.draw_fluid_lens(
        c, fluid_top, xc, p["effusion_half_width_mm"], p["effusion_depth_mm"], name="effusion"
    )
    cart = fat_pad_bottom
    c.paint(shapes.band(c, cart, cart + p["cartilage_mm"]), Tissue.CARTILAGE)
    library.draw_bone(c, (cart + p["cartilage_mm"]).astype(np.float32), name="femur")
    return FrameState()


# -- needles and injection -------------------------------------------------------------------------
NEEDLE_DEFAULTS = {**NERVE_DEFAULTS, "angle_deg": 30.0, "gauge": 22, "speed_mm_s": 0.0, "start_mm": 0.0}


def _prepare_needle(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_nerve(p, rng)
    if "artery" not in p["_set"]:
        p["artery"] = False
    _vary(p, "angle_deg", rng, 15.0, 45.0)
    if "nerve_x_mm" not in p["_set"]:
        p["nerve_x_mm"] = 0.15 * p["_width"]


def _inplane_geometry(c: Canvas, p: dict[str, Any]) -> tuple[float, float]:
    """(entry x, path length) in mm so that the needle path ends beside the nerve at its depth."""
    cz = p["nerve_depth_mm"]
    half_width = math.sqrt(p["csa_mm2"] * p["flattening"] / math.pi)
    target_x = c.width_mm / 2 + p["nerve_x_mm"] - half_width - 1.5
    run = cz / math.tan(math.radians(p["angle_deg"]))
    return target_x - run, math.hypot(run, cz) + 1.0


def _draw_needle_inplane(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    state = _draw_nerve(c, p, t, rng)
    entry_x, path_len = _inplane_geometry(c, p)
    # speed/start 0: start at 40 % of the path and reach the target on the last frame
    start = p["start_mm"] or 0.4 * path_len
    duration = max((p["_frames"] - 1) / p["frame_rate_hz"], 1e-6)
    speed = p["speed_mm_s"] or (path_len - 1.0 - start) / duration
    inserted = min(start + speed * t, path_len - 1.0)
    tip_z, tip_x = library.draw_needle_inplane(c, entry_x, p["angle_deg"], inserted, int(p["gauge"]))
    state.truth["needle"] = {
        "tip_mm": [tip_z, tip_x],
        "inserted_mm": inserted,
        "in_plane": True,
        "angle_deg": p["angle_deg"],
        "gauge": int(p["gauge"]),
        "visible": bool(0 <= tip_z < c.depth_mm),
    }
    return state


OOP_DEFAULTS = {**NERVE_DEFAULTS, "angle_deg": 50.0, "gauge": 22, "speed_mm_s": 0.0, "start_mm": 0.0}


def _prepare_oop(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_nerve(p, rng)
    if "artery" not in p["_set"]:
        p["artery"] = False
    _vary(p, "angle_deg", rng, 40.0, 65.0)


def _draw_oop(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    state = _draw_nerve(c, p, t, rng)
    # the needle moves in the y-z plane (y: elevation, across the image plane), aimed at a point
    # just above the nerve; it enters the skin at y = -run and advances along its axis
    a = math.radians(p["angle_deg"])
    target_z = p["nerve_depth_mm"] - math.sqrt(p["csa_mm2"] / math.pi) - 1.0
    run = target_z / math.tan(a)
    x = c.width_mm / 2 + p["nerve_x_mm"]
    # start/speed 0: begin 4 mm before the plane and end 1 mm beyond it on the last frame
    start = p["start_mm"] or max(run - 4.0, 0.0) / math.cos(a)
    duration = max((p["_frames"] - 1) / p["frame_rate_hz"], 1e-6)
    speed = p["speed_mm_s"] or ((run + 1.0) / math.cos(a) - start) / duration
    inserted = start + speed * t
    tip_z, tip_y = inserted * math.sin(a), -run + inserted * math.cos(a)
    crossed = tip_y >= -0.5 * 1.0  # the elevation half-thickness of a 1 mm beam
    visible_z = target_z if tip_y >= 0 else tip_z
    library.draw_needle_crossing(c, visible_z, x, int(p["gauge"]), visible=crossed)
    state.truth["needle"] = {
        "tip_mm": [tip_z, x],
        "tip_elevation_mm": tip_y,
        "in_plane": abs(tip_y) <= 0.5,
        "tip_beyond_plane": tip_y > 0.5,
        "visible_point_mm": [visible_z, x] if crossed else None,
        "angle_deg": p["angle_deg"],
        "gauge": int(p["gauge"]),
    }
    return state


INJECTION_DEFAULTS = {
    **NEEDLE_DEFAULTS,
    "kind": "perineural",
    "rate_ml_s": 2.0,
    "area_mm2_per_ml": 25.0,
    "speed_mm_s": 0.0,
}
_INJECTION_KINDS = ("perineural", "intramuscular", "intra-articular", "intravascular")


def _prepare_injection(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_needle(p, rng)
    if p["kind"] in ("intravascular",) and "artery" not in p["_set"]:
        p["artery"] = True


def _draw_injection(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    from sonomsk.core.errors import InvalidParameterError

    if p["kind"] not in _INJECTION_KINDS:
        raise InvalidParameterError(f"kind: expected one of {list(_INJECTION_KINDS)}, got {p['kind']!r}")
    state = _draw_nerve(c, p, 0.0 if p["kind"] != "intravascular" else t, rng)
    entry_x, path_len = _inplane_geometry(c, p)
    inserted = path_len - 1.0
    if p["kind"] == "intramuscular":
        inserted = 0.6 * path_len
    volume = p["rate_ml_s"] * t
    area = p["area_mm2_per_ml"] * volume
    ang = math.radians(p["angle_deg"])
    tip_z, tip_x = inserted * math.sin(ang), entry_x + inserted * math.cos(ang)
    nerve = c.labels == Label.NERVE
    spread = np.zeros_like(nerve)
    if area > 0 and p["kind"] == "perineural":
        # a ring around the nerve: grow the ring until its area matches the injected area
        import cv2

        ring_px = 0
        while ring_px < 200:
            ring_px += 1
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
            spread = cv2.dilate(nerve.astype(np.uint8), k).astype(bool) & ~nerve
            if spread.sum() * c.spacing_mm**2 >= area:
                break
        spread &= c.tissue != Tissue.BONE
    elif area > 0 and p["kind"] in ("intramuscular", "intra-articular"):
        r = math.sqrt(area / math.pi)
        spread = shapes.ellipse(
            c,
            tip_z,
            tip_x,
            r * (1.6 if p["kind"] == "intramuscular" else 2.2),
            r / (1.6 if p["kind"] == "intramuscular" else 2.2),
        )
        spread &= ~nerve & (c.tissue != Tissue.BONE)
    # intravascular: the injectate is carried away; no spread appears (that absence is the sign)
    echo = 1.0 if p["kind"] != "intramuscular" else 4.0
    c.paint(spread, Tissue.INJECTATE, Label.INJECTATE, echo=echo)
    library.draw_needle_inplane(c, entry_x, p["angle_deg"], inserted, int(p["gauge"]))
    state.truth["needle"] = {"tip_mm": [tip_z, tip_x], "inserted_mm": inserted, "in_plane": True}
    state.truth["injectate"] = {
        "kind": p["kind"],
        "volume_ml": volume,
        "area_mm2_model": area,
        "area_mm2_raster": float(spread.sum()) * c.spacing_mm**2,
    }
    return state


# -- fasciculation ---------------------------------------------------------------------------------
FASC_DEFAULTS = {**MUSCLE_T_DEFAULTS, "rate_per_s": 1.5, "contraction": "rest", "two_muscles": False}


def _prepare_fasc(p: dict[str, Any], rng: np.random.Generator) -> None:
    _prepare_muscle_t(p, rng)
    if "frame_rate_hz" not in p["_set"]:
        p["frame_rate_hz"] = 30.0
    z0 = p["skin_mm"] + p["fat_mm"] + 3.0
    z1 = p["bone_depth_mm"] - 3.0
    duration = p["_frames"] / p["frame_rate_hz"]
    events = cine.draw_fasciculations(rng, duration, p["rate_per_s"], (z0, z1, 3.0, p["_width"] - 3.0))
    p["_events"] = events


def _draw_fasc(c: Canvas, p: dict[str, Any], t: float, rng: np.random.Generator) -> FrameState:
    from sonomsk.core.errors import InvalidParameterError

    if p["contraction"] not in ("rest", "voluntary"):
        raise InvalidParameterError(f"contraction: expected 'rest' or 'voluntary', got {p['contraction']!r}")
    state = _draw_muscle_t(c, p, t, rng)
    contraction = 0.0
    if p["contraction"] == "voluntary":
        contraction = 1.5 * math.sin(2 * math.pi * t / 3.0) ** 2 + 0.1 * math.sin(2 * math.pi * 8.0 * t)
    events = p["_events"]
    state.displacement = cine.twitch_displacement(c.rows, c.cols, c.spacing_mm, events, t, contraction)
    active = []
    for e in events:
        if e.active(t):
            d = e.to_dict()
            d["centre_px"] = [e.centre_mm[0] / c.spacing_mm, e.centre_mm[1] / c.spacing_mm]
            d["strength"] = e.strength(t)
            active.append(d)
    state.truth["fasciculations_active"] = active
    state.truth["contraction"] = p["contraction"]
    return state


SCENES: dict[str, Scene] = {
    s.name: s
    for s in (
        Scene(
            "nerve",
            "peripheral nerve in cross-section between muscles, companion artery",
            30.0,
            12.0,
            1,
            NERVE_DEFAULTS,
            _prepare_nerve,
            _draw_nerve,
        ),
        Scene(
            "carpal-tunnel",
            "median nerve under the flexor retinaculum with flexor tendons",
            20.0,
            15.0,
            1,
            CTS_DEFAULTS,
            _prepare_cts,
            _draw_cts,
        ),
        Scene(
            "muscle-transverse",
            "muscle in transverse view over bone",
            40.0,
            10.0,
            1,
            MUSCLE_T_DEFAULTS,
            _prepare_muscle_t,
            _draw_muscle_t,
        ),
        Scene(
            "muscle-longitudinal",
            "pennate muscle between aponeuroses",
            40.0,
            10.0,
            1,
            MUSCLE_L_DEFAULTS,
            _prepare_muscle_l,
            _draw_muscle_l,
        ),
        Scene(
            "tendon",
            "tendon in longitudinal view over bone",
            20.0,
            14.0,
            1,
            TENDON_DEFAULTS,
            _prepare_tendon,
            _draw_tendon,
        ),
        Scene(
            "vessel",
            "artery and compressible vein (transverse) or tilted vessel (longitudinal)",
            30.0,
            9.0,
            1,
            VESSEL_DEFAULTS,
            _prepare_vessel,
            _draw_vessel,
        ),
        Scene(
            "joint-effusion",
            "suprapatellar recess with anechoic effusion of known depth",
            35.0,
            10.0,
            1,
            JOINT_DEFAULTS,
            _prepare_joint,
            _draw_joint,
        ),
        Scene(
            "needle-inplane",
            "needle advancing in-plane towards a nerve",
            30.0,
            12.0,
            12,
            NEEDLE_DEFAULTS,
            _prepare_needle,
            _draw_needle_inplane,
        ),
        Scene(
            "needle-outofplane",
            "needle crossing the image plane out-of-plane above a nerve",
            30.0,
            12.0,
            12,
            OOP_DEFAULTS,
            _prepare_oop,
            _draw_oop,
        ),
        Scene(
            "injection",
            "injectate spreading from the needle tip",
            30.0,
            12.0,
            12,
            INJECTION_DEFAULTS,
            _prepare_injection,
            _draw_injection,
        ),
        Scene(
            "fasciculation",
            "muscle with spontaneous twitches at rest or during contraction",
            40.0,
            10.0,
            60,
            FASC_DEFAULTS,
            _prepare_fasc,
            _draw_fasc,
        ),
    )
}
