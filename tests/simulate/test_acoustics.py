"""Physics of the acoustic model on tier-A canvases with known content."""

from __future__ import annotations

import numpy as np
import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.simulate import shapes
from sonomsk.simulate.acoustics import Scatterers, Settings, render
from sonomsk.simulate.probe import Probe
from sonomsk.simulate.tissues import Canvas, Tissue


def _render(canvas: Canvas, probe: Probe, settings: Settings, seed: int = 0):
    scat = Scatterers(np.random.default_rng(seed), canvas.rows, canvas.cols)
    return render(canvas, probe, settings, scat.window(), np.random.default_rng(seed + 1))


def test_fully_developed_speckle_has_rayleigh_snr() -> None:
    canvas = Canvas(256, 256, 0.05)  # uniform background tissue, density 1
    settings = Settings(tgc_db_cm_mhz=0.70, noise_db=-160)  # TGC matches the background attenuation
    snrs = []
    for seed in range(3):
        env = _render(canvas, Probe(7.5, focus_mm=6.0, aperture_mm=10.0), settings, seed).envelope
        roi = env[60:200, 40:216]
        snrs.append(roi.mean() / roi.std())
    assert 1.80 < float(np.mean(snrs)) < 2.02  # theory: 1.91


def test_bone_casts_shadow_and_fluid_enhances() -> None:
    canvas = Canvas(256, 256, 0.1)
    canvas.paint(shapes.band(canvas, 0.0, 30.0), Tissue.MUSCLE)
    canvas.paint(shapes.ellipse(canvas, 8.0, 6.0, 2.5, 1.5), Tissue.BONE)
    canvas.paint(shapes.ellipse(canvas, 8.0, 19.0, 2.5, 2.5), Tissue.FLUID)
    grey = _render(canvas, Probe(10.0, focus_mm=8.0, aperture_mm=12.0), Settings()).grey.astype(float)
    below_bone = grey[130:200, 45:75].mean()
    below_fluid = grey[130:200, 180:200].mean()
    beside = grey[130:200, 110:140].mean()
    assert below_bone < 0.3 * beside
    assert below_fluid > beside + 10


def test_higher_frequency_trades_depth_for_resolution() -> None:
    canvas = Canvas(512, 256, 0.1)
    canvas.paint(shapes.band(canvas, 0.0, 60.0), Tissue.MUSCLE)
    settings = Settings(tgc_db_cm_mhz=0.5, noise_db=-90)
    deep = {}
    for f in (5.0, 15.0):
        grey = _render(canvas, Probe(f, focus_mm=20.0, aperture_mm=20.0), settings).grey.astype(float)
        deep[f] = grey[150:250].mean()
    assert deep[15.0] < deep[5.0] - 10
    assert Probe(15.0).axial_fwhm_mm < Probe(5.0).axial_fwhm_mm
    assert float(Probe(15.0).lateral_fwhm_mm(20.0)) < float(Probe(5.0).lateral_fwhm_mm(20.0))


def test_point_target_width_follows_the_psf_model() -> None:
    canvas = Canvas(256, 256, 0.02)
    canvas.echo_mod[:] = 0.0  # no diffuse echo: only the point
    canvas.specular[128, 128] = 1.0
    probe = Probe(10.0, focus_mm=2.56, aperture_mm=8.0)
    env = _render(canvas, probe, Settings(noise_db=-160, speckle=False)).envelope
    peak_row, peak_col = np.unravel_index(np.argmax(env), env.shape)
    fwhm_lat = (env[peak_row] >= 0.5 * env.max()).sum() * canvas.spacing_mm
    fwhm_ax = (env[:, peak_col] >= 0.5 * env.max()).sum() * canvas.spacing_mm
    assert fwhm_lat == pytest.approx(float(probe.lateral_fwhm_mm(2.56)), rel=0.2)
    assert fwhm_ax == pytest.approx(probe.axial_fwhm_mm, rel=0.25)


@pytest.mark.parametrize(
    "kwargs", [{"frequency_mhz": 2.0}, {"frequency_mhz": 25.0}, {"bandwidth": 0.0}, {"focus_mm": -1.0}]
)
def test_probe_rejects_absurd_parameters(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError, match=next(iter(kwargs))):
        Probe(**kwargs)


def test_settings_reject_absurd_dynamic_range() -> None:
    with pytest.raises(InvalidParameterError, match="dynamic_range_db"):
        Settings(dynamic_range_db=5.0)
