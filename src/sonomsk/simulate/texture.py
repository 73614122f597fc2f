"""Tissue-anchored random texture fields: larger-scale echogenicity heterogeneity.

Real muscle is not a homogeneous scatterer: fascicle bundles differ in packing, connective
tissue and fat, so the backscatter varies over millimetres, elongated along the fascicles. This
module draws such a field once per scene from the anatomy generator, in world millimetres (so it
stays with the tissue when the probe moves) and returns it on the canvas grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from sonomsk.simulate.tissues import Canvas


@dataclass(frozen=True)
class MuscleTexture:
    """Muscle texture parameters (``muscle_texture`` of ``tissues.json``; rationale there)."""

    bundle_sigma_db: float
    bundle_length_mm: float
    bundle_width_mm: float
    septum_sigma_db: float
    septum_thickness_mm: tuple[float, float]
    septum_segment_mm: tuple[float, float]


@lru_cache(maxsize=1)
def muscle_texture() -> MuscleTexture:
    import json

    text = resources.files("sonomsk.simulate").joinpath("data/tissues.json").read_text("utf-8")
    t = json.loads(text)["muscle_texture"]
    return MuscleTexture(
        bundle_sigma_db=float(t["bundle_sigma_db"]),
        bundle_length_mm=float(t["bundle_length_mm"]),
        bundle_width_mm=float(t["bundle_width_mm"]),
        septum_sigma_db=float(t["septum_sigma_db"]),
        septum_thickness_mm=(float(t["septum_thickness_mm"][0]), float(t["septum_thickness_mm"][1])),
        septum_segment_mm=(float(t["septum_segment_mm"][0]), float(t["septum_segment_mm"][1])),
    )


def oriented_field(
    canvas: Canvas,
    rng: np.random.Generator,
    length_mm: float,
    width_mm: float,
    angle_deg: float = 0.0,
) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field (rows, cols) float32 on the canvas.

    Gaussian-correlated with sigma ``length_mm`` along the direction ``angle_deg`` (from the
    horizontal towards depth) and ``width_mm`` across it. Drawn on a coarse grid in world mm
    (independent of the probe offset) covering twice the image width, then sampled bilinearly.
    """
    import cv2

    step = max(width_mm / 2.0, canvas.spacing_mm)
    half = 0.5 * math.hypot(canvas.depth_mm, 2.0 * canvas.width_mm) + 2.0 * length_mm
    n = math.ceil(2.0 * half / step) + 1
    white = rng.standard_normal((n, n)).astype(np.float32)  # axis 0: across (v), axis 1: along (u)
    noise = np.asarray(
        cv2.GaussianBlur(white, (0, 0), sigmaX=length_mm / step, sigmaY=width_mm / step), np.float32
    )
    noise /= max(float(noise.std()), 1e-12)
    t = math.radians(angle_deg)
    z = canvas.z - 0.5 * canvas.depth_mm
    x = canvas.x - 0.5 * canvas.width_mm
    u = (x * math.cos(t) + z * math.sin(t) + half) / step
    v = (-x * math.sin(t) + z * math.cos(t) + half) / step
    return cv2.remap(
        noise,
        np.ascontiguousarray(u, np.float32),
        np.ascontiguousarray(v, np.float32),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )


def lognormal_echo(field: np.ndarray, sigma_db: float) -> np.ndarray:
    """Amplitude multiplier ``10^(sigma_db * field / 20)`` normalised to unit mean power."""
    s = sigma_db * math.log(10.0) / 20.0
    return np.exp(s * field - s * s).astype(np.float32)  # E[exp(2 s g)] = exp(2 s^2)
