"""``simulate_scene``: render a named scene to an :class:`UltrasoundImage` with its :class:`Truth`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.image import Axis, Provenance, Region, RegionKind, UltrasoundImage, whole_image_region
from sonomsk.core.units import Unit
from sonomsk.simulate import doppler as dop
from sonomsk.simulate.acoustics import Scatterers, Settings, render
from sonomsk.simulate.probe import Probe
from sonomsk.simulate.scenes import COMMON_DEFAULTS, SCENES, Scene
from sonomsk.simulate.tissues import Canvas, Label
from sonomsk.simulate.truth import Truth

MAX_FRAMES = 2000


def scene_names() -> list[str]:
    return list(SCENES)


def get_scene(name: str) -> Scene:
    try:
        return SCENES[name]
    except KeyError:
        raise InvalidParameterError(f"scene: expected one of {sorted(SCENES)}, got {name!r}") from None


def parse_value(key: str, text: str, default: Any) -> Any:
    """Convert ``--set key=text`` to the type of the default."""
    try:
        if isinstance(default, bool):
            low = text.strip().lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return low in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
    except ValueError:
        raise InvalidParameterError(
            f"--set {key}: expected a {type(default).__name__}, got {text!r}"
        ) from None
    return text


def _merge(scene: Scene, overrides: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {**COMMON_DEFAULTS, **scene.defaults}
    for key, value in overrides.items():
        if key not in params:
            raise InvalidParameterError(
                f"--set {key}: not a parameter of scene {scene.name!r} (have {', '.join(sorted(params))})"
            )
        params[key] = parse_value(key, value, params[key]) if isinstance(value, str) else value
    params["_set"] = set(overrides)
    return params


def simulate_scene(
    name: str,
    *,
    seed: int = 0,
    frames: int | None = None,
    frequency_mhz: float | None = None,
    depth_mm: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[UltrasoundImage, Truth]:
    """Render scene ``name`` and return the calibrated image and its exact truth.

    Parameters
    ----------
    name
        One of :func:`scene_names` (``nerve``, ``carpal-tunnel``, ``vessel``, ...).
    seed
        Seed of every random choice (anatomy, look, speckle, noise): same seed, same pixels.
    frames
        Number of frames (a cine when > 1); the scene's default when None.
    frequency_mhz
        Centre frequency, 3 to 18 MHz; the scene's default when None.
    depth_mm
        Imaging depth (rows x row spacing) in mm, 5 to 120; the scene's default when None.
    overrides
        Scene and scanner parameters (``csa_mm2``, ``gain_db``, ``doppler`` ...); strings are
        converted to the default's type. Setting a parameter stops its random variety.

    Returns
    -------
    (UltrasoundImage, Truth)
        uint8 grey frames (RGB when Doppler is on) with one calibrated tissue region (and a
        Doppler region), square pixels of ``depth_mm / rows`` mm; the truth in mm and px.
    """
    scene = get_scene(name)
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"seed: expected a non-negative integer, got {seed!r}")
    n_frames = scene.frames if frames is None else frames
    if not isinstance(n_frames, int | np.integer) or not 1 <= n_frames <= MAX_FRAMES:
        raise InvalidParameterError(f"frames: expected 1 to {MAX_FRAMES}, got {n_frames!r}")
    depth = scene.depth_mm if depth_mm is None else float(depth_mm)
    if not 5.0 <= depth <= 120.0:
        raise InvalidParameterError(f"depth_mm: expected 5 to 120 mm, got {depth_mm!r}")
    freq = scene.frequency_mhz if frequency_mhz is None else float(frequency_mhz)
    p = _merge(scene, overrides or {})
    rows, cols = int(p["rows"]), int(p["cols"])
    if not (32 <= rows <= 2048 and 32 <= cols <= 2048):
        raise InvalidParameterError(f"rows/cols: expected 32 to 2048 px, got {rows} x {cols}")
    if p["doppler"] not in ("none", "color", "power"):
        raise InvalidParameterError(f"doppler: expected 'none', 'color' or 'power', got {p['doppler']!r}")
    spacing = depth / rows
    p["_depth"], p["_width"], p["_frames"] = depth, cols * spacing, int(n_frames)

    root = np.random.SeedSequence(int(seed))
    look_seed, anatomy_seed, speckle_seed, noise_seed = root.spawn(4)
    scene.prepare(p, np.random.default_rng(look_seed))
    probe = Probe(
        frequency_mhz=freq,
        bandwidth=float(p["bandwidth"]),
        focus_mm=float(p["focus_mm"]) or depth / 3.0,
        aperture_mm=float(p["aperture_mm"]) or min(cols * spacing / 2.0, 40.0),
    )
    settings = Settings(
        gain_db=float(p["gain_db"]),
        dynamic_range_db=float(p["dynamic_range_db"]),
        tgc_db_cm_mhz=float(p["tgc_db_cm_mhz"]),
        noise_db=float(p["noise_db"]),
    )
    frame_rate = float(p["frame_rate_hz"])
    if not 1.0 <= frame_rate <= 500.0:
        raise InvalidParameterError(f"frame_rate_hz: expected 1 to 500 Hz, got {frame_rate}")
    motion = float(p["probe_motion_mm"])
    pad = math.ceil(abs(motion) / spacing) + 1
    scat = Scatterers(np.random.default_rng(speckle_seed), rows, cols, pad)
    noise_rng = np.random.default_rng(noise_seed)

    out_frames: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    frame_truth: list[dict[str, Any]] = []
    structures: list[dict[str, Any]] = []
    velocity0: np.ndarray | None = None
    doppler_info: dict[str, Any] | None = None
    for i in range(int(n_frames)):
        t = i / frame_rate
        from sonomsk.simulate.cine import probe_offset_mm

        offset = probe_offset_mm(t, motion) if motion else 0.0
        offset_px = round(offset / spacing)
        canvas = Canvas(rows, cols, spacing, x_offset_mm=offset_px * spacing)
        state = scene.draw(canvas, p, t, np.random.default_rng(anatomy_seed))
        scatter = scat.window(offset_px, state.displacement)
        frame = render(canvas, probe, settings, scatter, noise_rng).grey
        if p["smoothing_px"] > 0.05:
            import cv2

            frame = cv2.GaussianBlur(frame, (0, 0), float(p["smoothing_px"]))
        if p["doppler"] != "none":
            frame, doppler_info, vel = _apply_doppler(canvas, frame, p, probe, noise_rng)
            if velocity0 is None:
                velocity0 = vel
        out_frames.append(frame)
        labels.append(canvas.labels.copy())
        ft = {
            "index": i,
            "time_s": t,
            "probe_offset_mm": canvas.x_offset_mm,
            **_px_truth(state.truth, canvas),
        }
        frame_truth.append(ft)
        if i == 0:
            structures = [
                _structure_truth(s.name, s.label, s.params, s.mask, spacing) for s in canvas.structures
            ]

    array = np.stack(out_frames)
    regions: list[Region] = [whole_image_region(rows, cols, (spacing, spacing))]
    if doppler_info is not None:
        r0, c0, r1, c1 = doppler_info["box_px"]
        kind = RegionKind.COLOR_DOPPLER if p["doppler"] == "color" else RegionKind.POWER_DOPPLER
        mm = Axis(unit=Unit.MM.value, delta=spacing)
        regions.append(
            Region(
                box=(r0, c0, r1, c1),
                kind=kind,
                row_axis=mm,
                col_axis=mm,
                attributes={"nyquist_velocity_cm_s": doppler_info["nyquist_velocity_cm_s"]},
            )
        )
    image = UltrasoundImage.from_array(
        array,
        regions=tuple(regions),
        photometric="RGB" if array.ndim == 4 else "MONOCHROME2",
        frame_time_s=(1.0 / frame_rate) if n_frames > 1 else None,
        provenance=Provenance(reader="simulate", operations=(f"simulate_scene({name!r}, seed={int(seed)})",)),
        metadata={"simulated": True, "scene": name, "frequency_mhz": freq, "depth_mm": depth},
    )
    truth = Truth(
        scene=name,
        seed=int(seed),
        spacing_mm=(spacing, spacing),
        shape=(rows, cols),
        parameters={k: v for k, v in p.items() if not k.startswith("_")} | {"frames": int(n_frames)},
        probe=probe.describe(),
        settings=settings.describe(),
        labels=np.stack(labels),
        structures=structures,
        frames=frame_truth,
        velocity_axial_cm_s=velocity0,
        doppler=doppler_info,
    )
    if "_events" in p:
        truth.parameters["fasciculation_events"] = [
            e.to_dict() | {"centre_px": [e.centre_mm[0] / spacing, e.centre_mm[1] / spacing]}
            for e in p["_events"]
        ]
    return image, truth


def _apply_doppler(
    canvas: Canvas, grey: np.ndarray, p: dict[str, Any], probe: Probe, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    v_ax = dop.axial_velocity(canvas.velocity, canvas.flow_angle)
    flow = canvas.velocity != 0
    box = dop.default_box(flow if flow.any() else canvas.labels == Label.VESSEL, canvas.rows, canvas.cols)
    peak = float(np.abs(v_ax).max(initial=0.0))
    prf = float(p["prf_hz"]) or max(500.0, 4.0 * probe.frequency_mhz * 1e6 * 1.25 * max(peak, 5.0) / 1.54e5)
    v_nyq = dop.nyquist_velocity_cm_s(prf, probe.frequency_mhz)
    rgb, _ = dop.colour_overlay(grey, v_ax, box, mode=str(p["doppler"]), v_nyquist=v_nyq, rng=rng)
    info = {
        "mode": p["doppler"],
        "box_px": list(box),
        "prf_hz": prf,
        "nyquist_velocity_cm_s": v_nyq,
        "peak_axial_velocity_cm_s": peak,
        "aliased": bool(peak > v_nyq),
    }
    return rgb, info, v_ax


def _px_truth(truth: dict[str, Any], canvas: Canvas) -> dict[str, Any]:
    """Add pixel coordinates beside every ``*_mm`` point of the frame truth."""
    out: dict[str, Any] = {}
    for key, value in truth.items():
        if isinstance(value, dict):
            out[key] = _px_truth(value, canvas)
        elif (
            (key.endswith("point_mm") or key == "tip_mm")
            and isinstance(value, list | tuple)
            and len(value) == 2
        ):
            out[key] = list(value)
            row, col = canvas.to_px(float(value[0]), float(value[1]))
            out[key.replace("_mm", "_px")] = [row, col]
        else:
            out[key] = value
    return out


def _structure_truth(
    name: str, label: Label, params: dict[str, Any], mask: np.ndarray | None, spacing: float
) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "label": int(label), "label_name": label.name.lower(), **params}
    if mask is not None:
        n = int(mask.sum())
        d["area_px"] = n
        d["area_mm2_raster"] = n * spacing * spacing
        if n:
            rr, cc = np.nonzero(mask)
            d["centroid_px"] = [float(rr.mean()), float(cc.mean())]
            d["centroid_mm"] = [float(rr.mean()) * spacing, float(cc.mean()) * spacing]
    return d
