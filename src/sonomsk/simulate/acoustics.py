"""The acoustic model: scatterers -> attenuation and shadowing -> PSF -> TGC -> envelope -> log.

A convolution model on the image grid (see ``docs/simulator.md``): random complex Gaussian
scatterers weighted by each tissue's echo amplitude and density, plus coherent specular echoes at
impedance interfaces (weighted by ``cos^n`` of the angle between the interface normal and the
beam); a round-trip frequency-dependent attenuation integrated along depth through the tissue map,
with the transmission loss ``1 - R^2`` of every interface (so bone and calcification cast shadows
and fluid gives posterior enhancement); a separable depth-dependent PSF applied in the Fourier
domain; thermal noise; time-gain compensation; envelope; log compression with gain and dynamic
range; uint8 grey levels.

Clutter (reverberation in the superficial layers and side lobes) is a separate component, added
after attenuation and before the PSF: see :func:`clutter_field`. It is on by default and switched
off with ``Settings(clutter=False)`` (and whenever ``speckle`` is off).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError
from sonomsk.simulate.probe import Probe, axial_transfer, lateral_transfer
from sonomsk.simulate.tissues import Canvas, ClutterParams, clutter_params, tissue_table

#: Envelope amplitude shown at the top of the dynamic range with 0 dB gain (model units:
#: a tissue of echo 1 has an rms speckle amplitude of 1).
REFERENCE_AMPLITUDE = 100.0
#: Scale of coherent (specular) echoes relative to diffuse scatter.
SPECULAR_GAIN = 60.0


@dataclass(frozen=True)
class Settings:
    """Scanner settings. dB values; ``tgc_db_cm_mhz`` is the attenuation the TGC compensates."""

    gain_db: float = 0.0
    dynamic_range_db: float = 60.0
    tgc_db_cm_mhz: float = 1.0
    noise_db: float = -90.0
    speckle: bool = True
    clutter: bool = True

    def __post_init__(self) -> None:
        checks = (
            ("gain_db", self.gain_db, -40.0, 40.0),
            ("dynamic_range_db", self.dynamic_range_db, 20.0, 120.0),
            ("tgc_db_cm_mhz", self.tgc_db_cm_mhz, 0.0, 3.0),
            ("noise_db", self.noise_db, -160.0, 0.0),
        )
        for name, value, lo, hi in checks:
            if not (isinstance(value, int | float) and math.isfinite(value) and lo <= value <= hi):
                raise InvalidParameterError(f"{name}: expected {lo} to {hi} dB, got {value!r}")

    def describe(self) -> dict[str, Any]:
        return asdict(self)


class Scatterers:
    """A tissue-anchored random scatterer field, wider than the image to allow probe motion.

    ``field`` is complex Gaussian (unit variance) and ``occupancy`` uniform in [0, 1): a cell holds
    a scatterer when ``occupancy < density`` of its tissue.
    """

    def __init__(self, rng: np.random.Generator, rows: int, cols: int, pad_cols: int = 0) -> None:
        shape = (rows, cols + 2 * pad_cols)
        g = rng.standard_normal((2, *shape), dtype=np.float32) * np.float32(math.sqrt(0.5))
        self.pad = pad_cols
        self.cols = cols
        self.data = np.stack([g[0], g[1], rng.random(shape, dtype=np.float32)], axis=-1)

    def window(
        self, offset_px: int = 0, displacement: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """(rows, cols, 3) real, imaginary, occupancy for a probe shifted by ``offset_px`` columns.

        ``displacement`` (d_row, d_col) in pixels moves tissue: the scatterer now at a pixel came
        from ``pixel - displacement``.
        """
        c0 = int(np.clip(self.pad + offset_px, 0, 2 * self.pad))
        win = self.data[:, c0 : c0 + self.cols]
        if displacement is None:
            return win
        import cv2

        rows, cols = win.shape[:2]
        rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float32)
        map_r = rr - displacement[0].astype(np.float32)
        map_c = cc - displacement[1].astype(np.float32) + c0
        return cv2.remap(
            self.data, map_c, map_r, interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
        )


@dataclass(frozen=True)
class Rendered:
    """One rendered frame: uint8 grey, the envelope (after TGC, before log) and the IQ power."""

    grey: np.ndarray
    envelope: np.ndarray


def _fft_module() -> Any:
    import scipy.fft

    return scipy.fft


_TRANSFER_CACHE: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}


def _transfers(probe: Probe, rows: int, cols: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    key = (probe, rows, cols, round(spacing, 9))
    if key not in _TRANSFER_CACHE:
        if len(_TRANSFER_CACHE) > 16:
            _TRANSFER_CACHE.clear()
        _TRANSFER_CACHE[key] = (
            axial_transfer(probe, rows, spacing)[:, None],
            lateral_transfer(probe, rows, cols, spacing),
        )
    return _TRANSFER_CACHE[key]


def render(
    canvas: Canvas,
    probe: Probe,
    settings: Settings,
    scatter: np.ndarray,
    rng: np.random.Generator,
) -> Rendered:
    """Render one B-mode frame of ``canvas``.

    Parameters
    ----------
    canvas
        Tissue, echo and specular maps on the image grid (square pixels of ``canvas.spacing_mm``).
    probe, settings
        Transducer and scanner settings.
    scatter
        (rows, cols, 3) real, imaginary and occupancy of the scatterers (see :class:`Scatterers`).
    rng
        Source of the thermal noise of this frame.
    """
    import cv2

    fft = _fft_module()
    table = tissue_table()
    rows, cols, s = canvas.rows, canvas.cols, canvas.spacing_mm
    tissue = canvas.tissue
    f = probe.frequency_mhz

    # diffuse scatter
    echo = table.echo[tissue] * canvas.echo_mod
    if settings.speckle:
        density = table.density[tissue]
        occ = scatter[..., 2]
        amp = np.where(occ < density, echo / np.sqrt(density), 0.0).astype(np.float32)
        field = (scatter[..., 0] + 1j * scatter[..., 1]).astype(np.complex64)
        field *= amp
    else:
        field = echo.astype(np.complex64)

    # specular interfaces from the impedance map
    ln_z = cv2.GaussianBlur(np.log(table.impedance[tissue]), (0, 0), 0.7)
    gz = cv2.Sobel(ln_z, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    gx = cv2.Sobel(ln_z, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    grad = np.sqrt(gz * gz + gx * gx)
    refl = np.minimum(0.5 * grad, 0.95)
    cos_inc = np.abs(gz) / (grad + 1e-12)
    specular = refl * cos_inc ** table.specular_exponent[tissue] + canvas.specular
    field += SPECULAR_GAIN * specular

    # round-trip attenuation and interface transmission loss, accumulated along depth
    att = table.attenuation[tissue] * np.float32(2.0 * f * s / 10.0)
    att += -20.0 * np.log10(1.0 - refl * refl)
    loss = np.cumsum(att, axis=0) - 0.5 * att
    lateral_sigma = float(probe.lateral_fwhm_mm(probe.focus_mm)) / 2.355 / s
    loss = cv2.GaussianBlur(loss, (0, 0), sigmaX=max(lateral_sigma, 0.5), sigmaY=0.1)
    field *= (10.0 ** (-loss / 20.0)).astype(np.float32)

    # reverberation and side-lobe clutter (a separate, speckle-like component)
    if settings.clutter and settings.speckle:
        field += clutter_field(field, scatter, s, f)

    # thermal noise (before the receive filter)
    noise_amp = np.float32(10.0 ** (settings.noise_db / 20.0) * math.sqrt(0.5))
    noise = rng.standard_normal((2, rows, cols), dtype=np.float32) * noise_amp
    field += noise[0] + 1j * noise[1]

    # PSF: axial then depth-dependent lateral, in the Fourier domain
    # (zero padding keeps the circular convolution from wrapping the skin echo onto the bottom)
    pad_r = fft.next_fast_len(rows + int(4 * probe.axial_sigma_mm / s) + 4)
    pad_c = fft.next_fast_len(cols + int(2 * float(probe.lateral_fwhm_mm(rows * s)) / s) + 4)
    h_ax, h_lat = _transfers(probe, pad_r, pad_c, s)
    spec = fft.fft(field, n=pad_r, axis=0, workers=2, overwrite_x=True)
    spec *= h_ax
    field = fft.ifft(spec, axis=0, workers=2, overwrite_x=True)[:rows]
    spec = fft.fft(field, n=pad_c, axis=1, workers=2, overwrite_x=True)
    spec *= h_lat[:rows]
    iq = fft.ifft(spec, axis=1, workers=2, overwrite_x=True)[:, :cols]

    # TGC and envelope
    z_cm = np.arange(rows, dtype=np.float32) * (s / 10.0)
    tgc = (10.0 ** (2.0 * f * settings.tgc_db_cm_mhz * z_cm / 20.0)).astype(np.float32)[:, None]
    envelope = np.abs(iq).astype(np.float32) * tgc
    grey = log_compress(envelope, settings)
    return Rendered(grey=grey, envelope=envelope)


def clutter_field(
    field: np.ndarray,
    scatter: np.ndarray,
    spacing_mm: float,
    frequency_mhz: float,
    params: ClutterParams | None = None,
) -> np.ndarray:
    """Reverberation and side-lobe clutter for an attenuated echo ``field`` (rows, cols) complex.

    The clutter power at a pixel is a fixed fraction of the echo power that produces it:
    ``10^(reverberation_db/10)`` times the echo power above it, weighted by an exponential
    extra path of mean ``reverberation_decay_mm`` (multi-path echoes arrive later, so appear
    deeper; the extra travel, twice the extra depth, is attenuated by
    ``reverberation_path_attenuation_db_cm_mhz`` at ``frequency_mhz``) and spread laterally by ``reverberation_lateral_mm``; plus ``10^(sidelobe_db/10)``
    times the echo power beside it, spread laterally by ``sidelobe_width_mm`` (Gaussian sigmas).
    Its phase comes from the scatterers of the point-mirrored position (real echoes from
    elsewhere, hence decorrelated from the local speckle and anchored to the tissue). In a
    homogeneous medium the sum of speckle and clutter is still circular Gaussian, so the envelope
    stays Rayleigh (SNR 1.91); in an anechoic lumen it leaves a speckled haze instead of black.

    Returns the complex64 clutter field, to be added to ``field`` before the PSF.
    """
    import cv2
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import lfilter

    p = params or clutter_params()
    rows, cols = field.shape
    power = (field.real * field.real + field.imag * field.imag).astype(np.float32)
    k = max(1, round(0.25 / spacing_mm))  # the clutter power is smooth: 0.25 mm cells
    small = cv2.resize(power, (max(cols // k, 1), max(rows // k, 1)), interpolation=cv2.INTER_AREA)
    step_r = spacing_mm * rows / small.shape[0]
    step_c = spacing_mm * cols / small.shape[1]
    path_db = p.reverberation_path_attenuation_db_cm_mhz * frequency_mhz * 2.0 * step_r / 10.0
    arrive = math.exp(-step_r / p.reverberation_decay_mm)  # exponential extra depth ...
    a = arrive * 10.0 ** (-path_db / 10.0)  # ... attenuated along the extra travel
    rev = lfilter([1.0 - arrive], [1.0, -a], small, axis=0)
    rev = gaussian_filter1d(rev, p.reverberation_lateral_mm / step_c, axis=1, mode="nearest")
    side = gaussian_filter1d(small, p.sidelobe_width_mm / step_c, axis=1, mode="nearest")
    clutter_power = 10.0 ** (p.reverberation_db / 10.0) * rev + 10.0 ** (p.sidelobe_db / 10.0) * side
    amp = cv2.resize(np.sqrt(clutter_power).astype(np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR)
    out = np.empty((rows, cols), np.complex64)
    out.real = amp * scatter[::-1, ::-1, 0]
    out.imag = amp * scatter[::-1, ::-1, 1]
    return out


def log_compress(envelope: np.ndarray, settings: Settings) -> np.ndarray:
    """uint8 grey = 255 * (1 + (20 log10(env / ref) + gain) / dynamic range), clipped."""
    db = 20.0 * np.log10(np.maximum(envelope, 1e-12) / REFERENCE_AMPLITUDE) + settings.gain_db
    grey = 255.0 * (1.0 + db / settings.dynamic_range_db)
    return np.clip(grey, 0, 255).astype(np.uint8)
