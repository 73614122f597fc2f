"""Colour and power Doppler over a box, from the velocity truth of the canvas.

A parametric model, not an ensemble simulation: the estimated axial velocity is the true axial
component ``v cos(angle)`` plus estimator noise, aliased into the Nyquist range of the pulse
repetition frequency; pixels below a wall-filter velocity or a power threshold show B-mode.
"""

from __future__ import annotations

import numpy as np

from sonomsk.simulate.probe import SPEED_OF_SOUND_MM_US


def nyquist_velocity_cm_s(prf_hz: float, frequency_mhz: float) -> float:
    """Aliasing velocity c * PRF / (4 f0) in cm/s."""
    c_cm_s = SPEED_OF_SOUND_MM_US * 1e5  # mm/us -> cm/s
    return c_cm_s * prf_hz / (4.0 * frequency_mhz * 1e6)


def axial_velocity(velocity: np.ndarray, flow_angle_deg: np.ndarray) -> np.ndarray:
    """True velocity component along the beam (cm/s; positive = towards the probe)."""
    return (velocity * np.cos(np.radians(flow_angle_deg))).astype(np.float32)


def colour_overlay(
    grey: np.ndarray,
    velocity_axial: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    mode: str,
    v_nyquist: float,
    rng: np.random.Generator,
    noise_fraction: float = 0.08,
    wall_fraction: float = 0.06,
) -> tuple[np.ndarray, np.ndarray]:
    """RGB frame with colour (red towards, blue away) or power (orange) Doppler inside ``box``.

    Returns (rgb uint8, estimated velocity cm/s within the box, NaN where no flow is shown).
    """
    r0, c0, r1, c1 = box
    rgb = np.repeat(grey[..., None], 3, axis=2)
    v = velocity_axial[r0:r1, c0:c1]
    est = v + rng.normal(0.0, noise_fraction * v_nyquist, v.shape).astype(np.float32) * (v != 0)
    est = (est + v_nyquist) % (2 * v_nyquist) - v_nyquist
    shown = np.abs(v) > wall_fraction * v_nyquist
    sub = rgb[r0:r1, c0:c1]
    if mode == "power":
        power = np.clip(np.abs(v) / v_nyquist, 0, 1) ** 0.5
        sub[shown] = np.stack([200 + 55 * power, 80 + 150 * power, 20 + 0 * power], axis=-1)[shown].astype(
            np.uint8
        )
    else:
        mag = np.clip(np.abs(est) / v_nyquist, 0, 1)
        red = np.stack([120 + 135 * mag, 40 * mag, 0 * mag], axis=-1)
        blue = np.stack([0 * mag, 60 * mag, 120 + 135 * mag], axis=-1)
        colour = np.where((est >= 0)[..., None], red, blue).astype(np.uint8)
        sub[shown] = colour[shown]
    # outline the box (the colour box is visible on real screens)
    rgb[r0, c0:c1] = rgb[r1 - 1, c0:c1] = 200
    rgb[r0:r1, c0] = rgb[r0:r1, c1 - 1] = 200
    out_est = np.where(shown, est, np.nan).astype(np.float32)
    return rgb, out_est


def default_box(
    labels_vessel: np.ndarray, rows: int, cols: int, margin_px: int = 20
) -> tuple[int, int, int, int]:
    """A box around the flow pixels (or the central half of the image when there are none)."""
    rr, cc = np.nonzero(labels_vessel)
    if rr.size == 0:
        return (rows // 4, cols // 4, 3 * rows // 4, 3 * cols // 4)
    return (
        max(0, int(rr.min()) - margin_px),
        max(0, int(cc.min()) - margin_px),
        min(rows, int(rr.max()) + margin_px + 1),
        min(cols, int(cc.max()) + margin_px + 1),
    )
