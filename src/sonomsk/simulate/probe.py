"""The linear-array transducer and its pulse-echo point-spread function.

Axial: a Gaussian pulse of centre frequency ``f`` and fractional -6 dB bandwidth ``B``; the
pulse-echo envelope has ``sigma_z = c / (4 pi sigma_f)`` with ``sigma_f = B f / (2 sqrt(2 ln 2))``.
Lateral: a Gaussian beam with dynamic receive focusing; its pulse-echo FWHM at depth ``z`` is
``lambda * F#(z) * (1 + 0.5 |z - focus| / focus)`` with ``F#(z) = max(z / aperture, 1)`` (the receive
aperture grows with depth up to the full aperture; the last factor is the defocus of the fixed
transmit focus), and never narrower than the element pitch. Both transfer functions carry a
``cos^2`` taper to zero at the Nyquist frequency so that sub-pixel pulses do not ring.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError

#: Speed of sound assumed by the scanner, mm per microsecond (1540 m/s).
SPEED_OF_SOUND_MM_US = 1.54
_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class Probe:
    """A linear array. Frequencies in MHz, lengths in mm."""

    frequency_mhz: float = 12.0
    bandwidth: float = 0.6
    focus_mm: float = 15.0
    aperture_mm: float = 12.0
    pitch_mm: float = 0.2
    elevation_mm: float = 1.0

    def __post_init__(self) -> None:
        checks = (
            ("frequency_mhz", self.frequency_mhz, 3.0, 18.0, "MHz"),
            ("bandwidth", self.bandwidth, 0.2, 1.2, "(fraction of the centre frequency)"),
            ("focus_mm", self.focus_mm, 1.0, 200.0, "mm"),
            ("aperture_mm", self.aperture_mm, 2.0, 80.0, "mm"),
            ("pitch_mm", self.pitch_mm, 0.05, 1.0, "mm"),
            ("elevation_mm", self.elevation_mm, 0.2, 5.0, "mm"),
        )
        for name, value, lo, hi, unit in checks:
            if not (isinstance(value, int | float) and math.isfinite(value) and lo <= value <= hi):
                raise InvalidParameterError(f"{name}: expected {lo} to {hi} {unit}, got {value!r}")

    @property
    def wavelength_mm(self) -> float:
        return SPEED_OF_SOUND_MM_US / self.frequency_mhz

    @property
    def axial_sigma_mm(self) -> float:
        """Standard deviation of the pulse-echo envelope along depth (mm)."""
        sigma_f = self.bandwidth * self.frequency_mhz / _FWHM
        return SPEED_OF_SOUND_MM_US / (4.0 * math.pi * sigma_f)

    @property
    def axial_fwhm_mm(self) -> float:
        return _FWHM * self.axial_sigma_mm

    def lateral_fwhm_mm(self, depth_mm: np.ndarray | float) -> np.ndarray:
        """Pulse-echo lateral FWHM (mm) at the given depths."""
        z = np.asarray(depth_mm, np.float64)
        f_number = np.maximum(z / self.aperture_mm, 1.0)
        defocus = 1.0 + 0.5 * np.abs(z - self.focus_mm) / self.focus_mm
        return np.maximum(self.wavelength_mm * f_number * defocus, self.pitch_mm)

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["wavelength_mm"] = self.wavelength_mm
        d["axial_fwhm_mm"] = self.axial_fwhm_mm
        d["lateral_fwhm_at_focus_mm"] = float(self.lateral_fwhm_mm(self.focus_mm))
        return d


def axial_transfer(probe: Probe, rows: int, spacing_mm: float) -> np.ndarray:
    """FFT-domain transfer function (rows,) of the axial envelope (unit energy kernel)."""
    sigma_px = probe.axial_sigma_mm / spacing_mm
    k = np.fft.fftfreq(rows)
    h = np.exp(-2.0 * (math.pi * sigma_px * k) ** 2) * np.cos(math.pi * k) ** 2
    return (h / math.sqrt(np.mean(h * h))).astype(np.float32)


def lateral_transfer(probe: Probe, rows: int, cols: int, spacing_mm: float) -> np.ndarray:
    """FFT-domain transfer functions (rows, cols): one lateral Gaussian per depth (unit energy)."""
    z = np.arange(rows) * spacing_mm
    sigma_px = probe.lateral_fwhm_mm(z) / _FWHM / spacing_mm
    k = np.fft.fftfreq(cols)
    h = np.exp(-2.0 * (math.pi * sigma_px[:, None] * k[None, :]) ** 2) * (np.cos(math.pi * k) ** 2)[None, :]
    h /= np.sqrt(np.mean(h * h, axis=1, keepdims=True))
    return h.astype(np.float32)
