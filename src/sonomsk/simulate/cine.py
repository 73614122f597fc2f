"""Time in the phantom: pulsation, probe motion, needle advance, injectate growth, fasciculations."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def pulse_waveform(t_s: float, heart_rate_bpm: float) -> float:
    """Arterial distension waveform in [0, 1]: a fast systolic upstroke and a slower decay."""
    phase = (t_s * heart_rate_bpm / 60.0) % 1.0
    if phase < 0.15:
        return math.sin(0.5 * math.pi * phase / 0.15)
    return math.exp(-(phase - 0.15) / 0.25)


def velocity_waveform(t_s: float, heart_rate_bpm: float) -> float:
    """Arterial peak-velocity factor in [0.1, 1]: systolic peak, diastolic run-off."""
    return 0.1 + 0.9 * pulse_waveform(t_s, heart_rate_bpm)


def probe_offset_mm(t_s: float, amplitude_mm: float, period_s: float = 4.0) -> float:
    """Lateral probe sweep (mm): a slow sinusoid."""
    return amplitude_mm * math.sin(2 * math.pi * t_s / period_s)


@dataclass(frozen=True)
class Fasciculation:
    """A brief spontaneous local twitch: onset and duration in s, centre in mm, radius and amplitude in mm."""

    onset_s: float
    duration_s: float
    centre_mm: tuple[float, float]
    radius_mm: float
    amplitude_mm: float

    def active(self, t_s: float) -> bool:
        return self.onset_s <= t_s < self.onset_s + self.duration_s

    def strength(self, t_s: float) -> float:
        if not self.active(t_s):
            return 0.0
        return math.sin(math.pi * (t_s - self.onset_s) / self.duration_s)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["centre_mm"] = list(self.centre_mm)
        return d


def draw_fasciculations(
    rng: np.random.Generator,
    duration_s: float,
    rate_per_s: float,
    zone: tuple[float, float, float, float],
) -> list[Fasciculation]:
    """Random twitch events (Poisson in time) inside ``zone`` = (z0, z1, x0, x1) in mm.

    Durations 0.2-0.5 s and radii 2-6 mm are simulation choices; amplitudes 0.3-1.0 mm.
    """
    n = int(rng.poisson(rate_per_s * duration_s))
    events = []
    for _ in range(n):
        dur = float(rng.uniform(0.2, 0.5))
        onset = float(rng.uniform(0.0, max(duration_s - dur, 0.01)))
        z0, z1, x0, x1 = zone
        events.append(
            Fasciculation(
                onset_s=onset,
                duration_s=dur,
                centre_mm=(float(rng.uniform(z0, z1)), float(rng.uniform(x0, x1))),
                radius_mm=float(rng.uniform(2.0, 6.0)),
                amplitude_mm=float(rng.uniform(0.3, 1.0)),
            )
        )
    return sorted(events, key=lambda e: e.onset_s)


def twitch_displacement(
    rows: int,
    cols: int,
    spacing_mm: float,
    events: list[Fasciculation],
    t_s: float,
    contraction_mm: float = 0.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(d_row, d_col) pixel displacement of tissue at time ``t_s``.

    Each active twitch pushes tissue radially outwards with a Gaussian profile (radius = sigma) and
    a sine time course; ``contraction_mm`` adds a uniform depth-proportional bulge (voluntary
    contraction) on top.
    """
    active = [e for e in events if e.active(t_s)]
    if not active and contraction_mm == 0.0:
        return None
    z = (np.arange(rows, dtype=np.float32) * spacing_mm)[:, None]
    x = (np.arange(cols, dtype=np.float32) * spacing_mm)[None, :]
    dz = np.zeros((rows, cols), np.float32)
    dx = np.zeros((rows, cols), np.float32)
    for e in active:
        rz, rx = z - e.centre_mm[0], x - e.centre_mm[1]
        r2 = rz * rz + rx * rx
        g = np.exp(-r2 / (2 * e.radius_mm**2)) * (e.amplitude_mm * e.strength(t_s) / e.radius_mm)
        dz += g * rz
        dx += g * rx
    if contraction_mm:
        dz += contraction_mm * z / (rows * spacing_mm)
    return dz / spacing_mm, dx / spacing_mm
