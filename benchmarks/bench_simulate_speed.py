"""Speed of the sonomsk phantom lab, and a same-run comparison with PyMUST.

Run: ``nice python benchmarks/bench_simulate_speed.py``; prints JSON (medians in ms) that goes
into the ``simulate`` block of docs/benchmarks.md.

Comparability: both simulators image the same phantom (a 20 x 20 mm block of soft tissue at
10-30 mm depth with a 4 mm anechoic cyst, L11-5v-like probe at 7.6 MHz) and produce a B-mode
envelope image of the same size (128 x 128 px). PyMUST does it the physical way (SIMUS: RF of
every element for one plane-wave transmit from point scatterers, then IQ demodulation and
delay-and-sum beamforming); sonomsk convolves a scatterer grid with an analytic PSF. The ratio
is therefore a ratio of methods at equal output, not of equal physics.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from sonomsk.simulate import shapes
from sonomsk.simulate.acoustics import Scatterers, Settings, render
from sonomsk.simulate.api import simulate_scene
from sonomsk.simulate.probe import Probe
from sonomsk.simulate.tissues import Canvas, Tissue


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def bench_render(size: int, repeats: int = 15) -> float:
    canvas = Canvas(size, size, 40.0 / size)
    canvas.paint(shapes.band(canvas, 0, 40), Tissue.MUSCLE)
    canvas.paint(shapes.ellipse(canvas, 15, 20, 3, 3), Tissue.FLUID)
    canvas.paint(shapes.band(canvas, 32, 41), Tissue.BONE)
    probe, settings = Probe(10.0, focus_mm=15, aperture_mm=20), Settings()
    scat = Scatterers(np.random.default_rng(0), size, size)
    rng = np.random.default_rng(1)
    return _median_ms(lambda: render(canvas, probe, settings, scat.window(), rng), repeats)


def bench_scene(name: str, frames: int) -> float:
    """Milliseconds per frame of a whole scene (anatomy drawing + render), 512 x 512."""
    simulate_scene(name, seed=0, frames=1)
    t0 = time.perf_counter()
    simulate_scene(name, seed=0, frames=frames)
    return 1000.0 * (time.perf_counter() - t0) / frames


def bench_pymust(size: int = 128, n_scat: int = 2000) -> dict[str, float]:
    import pymust

    param = pymust.getparam("L11-5v")
    rng = np.random.default_rng(0)
    x = rng.uniform(-10e-3, 10e-3, n_scat)
    z = rng.uniform(10e-3, 30e-3, n_scat)
    rc = rng.standard_normal(n_scat)
    rc[(x**2 + (z - 20e-3) ** 2) < (2e-3) ** 2] = 0.0
    txdel = np.zeros((1, param["Nelements"]))
    xi, zi = np.meshgrid(np.linspace(-10e-3, 10e-3, size), np.linspace(10e-3, 30e-3, size))
    t0 = time.perf_counter()
    rf = pymust.simus(x, z, rc, txdel, param)[0]
    t1 = time.perf_counter()
    iq = pymust.rf2iq(rf, param)
    m = pymust.dasmtx(iq, xi, zi, txdel, param)
    biq = (m @ iq.flatten(order="F")).reshape(xi.shape, order="F")
    np.abs(biq)
    t2 = time.perf_counter()
    return {"simus_s": t1 - t0, "beamform_s": t2 - t1, "total_s": t2 - t0, "scatterers": n_scat}


def bench_sonomsk_same_phantom(size: int = 128, repeats: int = 15) -> float:
    canvas = Canvas(size, size, 20.0 / size)
    canvas.paint(shapes.band(canvas, 0, 20), Tissue.BACKGROUND)
    canvas.paint(shapes.ellipse(canvas, 10, 10, 2, 2), Tissue.FLUID)
    probe, settings = Probe(7.6, bandwidth=0.77, focus_mm=18, aperture_mm=38.4), Settings()
    scat = Scatterers(np.random.default_rng(0), size, size)
    rng = np.random.default_rng(1)
    return _median_ms(lambda: render(canvas, probe, settings, scat.window(), rng), repeats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-pymust", action="store_true")
    args = ap.parse_args()
    res: dict[str, object] = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} CPU cores (shared)"
    }
    res["render_512_ms"] = bench_render(512)
    res["render_256_ms"] = bench_render(256)
    res["scene_nerve_512_ms_per_frame"] = bench_scene("nerve", 10)
    cine_ms = bench_scene("fasciculation", 30)
    res["cine_fasciculation_512_ms_per_frame"] = cine_ms
    res["cine_fasciculation_512_fps"] = 1000.0 / cine_ms
    same_ms = bench_sonomsk_same_phantom()
    res["sonomsk_same_phantom_128_ms"] = same_ms
    if not args.skip_pymust:
        pm = bench_pymust()
        res["pymust_same_phantom_128"] = pm
        res["speed_ratio_pymust_over_sonomsk"] = 1000.0 * pm["total_s"] / float(same_ms)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
