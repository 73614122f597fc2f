"""Clutter and muscle texture: separate, physically parameterised components (tier A)."""

from __future__ import annotations

import numpy as np

from sonomsk.simulate import shapes
from sonomsk.simulate.acoustics import Scatterers, Settings, clutter_field, render
from sonomsk.simulate.probe import Probe
from sonomsk.simulate.texture import lognormal_echo, oriented_field
from sonomsk.simulate.tissues import Canvas, Tissue, clutter_params


def _lumen_phantom() -> Canvas:
    canvas = Canvas(256, 256, 0.08)
    canvas.paint(shapes.band(canvas, 0.0, 21.0), Tissue.MUSCLE)
    canvas.paint(shapes.band(canvas, 3.0, 3.5), Tissue.SEPTUM)  # a bright fascia above the lumen
    canvas.paint(shapes.ellipse(canvas, 10.0, 10.0, 4.0, 4.0), Tissue.BLOOD)
    return canvas


def _envelope(canvas: Canvas, clutter: bool) -> np.ndarray:
    scat = Scatterers(np.random.default_rng(3), canvas.rows, canvas.cols)
    settings = Settings(noise_db=-160, clutter=clutter)
    probe = Probe(10.0, focus_mm=10.0, aperture_mm=12.0)
    return render(canvas, probe, settings, scat.window(), np.random.default_rng(4)).envelope


def test_clutter_fills_the_lumen_but_not_the_tissue() -> None:
    canvas = _lumen_phantom()
    lumen = shapes.ellipse(canvas, 10.0, 10.0, 3.0, 3.0)
    tissue = shapes.band(canvas, 15.0, 19.0)
    off, on = _envelope(canvas, False), _envelope(canvas, True)
    # the lumen gains more than 6 dB of haze; the surrounding tissue changes by well under 1 dB
    assert 20 * np.log10(np.median(on[lumen]) / np.median(off[lumen])) > 6.0
    assert abs(20 * np.log10(np.mean(on[tissue]) / np.mean(off[tissue]))) < 1.0
    # the haze stays far below the tissue (reverberation -20 dB, side lobes -30 dB)
    assert 20 * np.log10(np.median(on[lumen]) / np.median(on[tissue])) < -10.0


def test_clutter_power_follows_the_configured_level_in_homogeneous_tissue() -> None:
    rows, cols = 1024, 128  # 51 mm deep: evaluated more than 6 decay lengths below the top
    scat = Scatterers(np.random.default_rng(0), rows, cols).window()
    field = (scat[..., 0] + 1j * scat[..., 1]).astype(np.complex64)  # unit-power speckle, no decay
    p = clutter_params()
    clutter = clutter_field(field, scat, 0.05, 0.0, p)  # 0 MHz: no extra-path attenuation
    ratio_db = 10 * np.log10(np.mean(np.abs(clutter[650:1000]) ** 2))
    expected = 10 * np.log10(10 ** (p.reverberation_db / 10) + 10 ** (p.sidelobe_db / 10))
    assert abs(ratio_db - expected) < 0.5
    # decorrelated from the local scatterers
    corr = np.abs(np.vdot(field[650:1000], clutter[650:1000])) / np.sqrt(
        np.vdot(field[650:1000], field[650:1000]).real * np.vdot(clutter[650:1000], clutter[650:1000]).real
    )
    assert corr < 0.05


def test_speckle_stays_rayleigh_with_clutter_on() -> None:
    canvas = Canvas(256, 256, 0.05)
    settings = Settings(tgc_db_cm_mhz=0.70, noise_db=-160, clutter=True)
    snrs = []
    for seed in range(3):
        scat = Scatterers(np.random.default_rng(seed), 256, 256)
        env = render(
            canvas,
            Probe(7.5, focus_mm=6.0, aperture_mm=10.0),
            settings,
            scat.window(),
            np.random.default_rng(9),
        ).envelope[60:200, 40:216]
        snrs.append(env.mean() / env.std())
    assert 1.80 < float(np.mean(snrs)) < 2.02  # theory 1.91


def test_oriented_field_is_unit_gaussian_elongated_and_anchored_to_the_world() -> None:
    canvas = Canvas(256, 256, 0.1)
    f = oriented_field(canvas, np.random.default_rng(1), 6.0, 1.0, 0.0)
    assert abs(float(f.mean())) < 0.3 and 0.6 < float(f.std()) < 1.4
    # correlation 2 mm along (horizontal) is much higher than 2 mm across (vertical)
    along = np.corrcoef(f[:, :-20].ravel(), f[:, 20:].ravel())[0, 1]
    across = np.corrcoef(f[:-20].ravel(), f[20:].ravel())[0, 1]
    assert along > 0.7 and across < 0.3
    # a probe moved by 3 mm sees the same field 30 columns further
    moved = Canvas(256, 256, 0.1, x_offset_mm=3.0)
    g = oriented_field(moved, np.random.default_rng(1), 6.0, 1.0, 0.0)
    assert np.allclose(g[:, :-30], f[:, 30:], atol=1e-4)


def test_lognormal_echo_has_unit_mean_power_and_the_stated_spread() -> None:
    g = np.random.default_rng(0).standard_normal(200_000)
    m = lognormal_echo(g, 3.0)
    assert abs(float(np.mean(m.astype(np.float64) ** 2)) - 1.0) < 0.02
    assert abs(float(np.std(20 * np.log10(m))) - 3.0) < 0.05
