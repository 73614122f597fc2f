"""Fascicle count and morphology speed on simulated nerves of known fascicle number.

    python benchmarks/bench_morphology.py [--seeds 5000:5024] [--speed-runs 20]

Each simulated transverse nerve (``simulate_scene("nerve")`` and ``"carpal-tunnel"`` on alternate
seeds; the truth lists how many fascicles were drawn) is measured inside its true outline with
:func:`sonomsk.nerve.morphology.measure_mask`, so that the count is judged apart from the
segmentation. The seeds are the benchmark's own (5000-5023): the fascicle rules were set on
6000-6023 and the tests use 7001-7010. Reported: how many nerves were resolved (a count was
given), the count error where resolved, how often a disc of speckle alone was given a count, and
the median time of ``measure_mask`` per nerve.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from sonomsk.nerve.morphology import measure_mask
from sonomsk.simulate.api import simulate_scene


def _seeds(text: str) -> range:
    lo, _, hi = text.partition(":")
    return range(int(lo), int(hi))


def nerves(seeds: range) -> list[tuple[int, str, np.ndarray, np.ndarray, int, float]]:
    """(seed, scene, grey, true mask, true fascicle count, spacing mm) of each simulated nerve."""
    out = []
    for seed in seeds:
        scene = "carpal-tunnel" if seed % 2 else "nerve"
        image, truth = simulate_scene(scene, seed=seed)
        label = next(s for s in truth.structures if s.get("label_name") == "nerve")
        mask = truth.labels[0] == 1
        out.append((seed, scene, image.grey_frame(0), mask, int(label["n_fascicles"]), truth.spacing_mm[0]))
    return out


def speckle_disc(grey: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame with the nerve replaced by speckle of the surrounding tissue's statistics."""
    import cv2

    ring = cv2.dilate(mask.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool) & ~mask
    field = cv2.GaussianBlur(rng.exponential(1.0, grey.shape), (0, 0), sigmaX=1.5, sigmaY=0.8)
    field = np.sqrt(field / field.mean())
    out = grey.astype(np.float32).copy()
    out[mask] = (field[mask] * float(grey[ring].mean())).clip(0, 255)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=_seeds, default=range(5000, 5024), help="LOW:HIGH (HIGH excluded)")
    ap.add_argument("--speed-runs", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rng = np.random.default_rng(0)
    resolved, errors, noise_counts, times = 0, [], 0, []
    cases = nerves(args.seeds)
    for seed, scene, grey, mask, true_n, spacing in cases:
        found = {m.name: m for m in measure_mask(mask, grey, spacing=(spacing, spacing))}
        count = found["count_fascicle"]
        shown = f"{count.value:.0f}" if count.ok else count.failure
        print(f"{seed} {scene}: true {true_n}, measured {shown}")
        if count.ok and count.value is not None:
            resolved += 1
            errors.append((count.value - true_n) / true_n)
        noise = {
            m.name: m for m in measure_mask(mask, speckle_disc(grey, mask, rng), spacing=(spacing, spacing))
        }
        noise_counts += int(noise["count_fascicle"].ok)
    for _ in range(args.speed_runs):
        for _seed, _scene, grey, mask, _n, spacing in cases[:4]:
            t0 = time.perf_counter()
            measure_mask(mask, grey, spacing=(spacing, spacing))
            times.append(time.perf_counter() - t0)
    n = len(cases)
    print(f"resolved (count given): {resolved} of {n}")
    if errors:
        within = sum(abs(e) <= 0.3 for e in errors)
        print(
            f"count error where resolved: median {100 * statistics.median(errors):+.0f} %, "
            f"median |error| {100 * statistics.median(abs(e) for e in errors):.0f} %, "
            f"within 30 % in {within} of {len(errors)}"
        )
    print(f"speckle-only discs given a count: {noise_counts} of {n}")
    print(f"measure_mask per nerve: median {1000 * statistics.median(times):.1f} ms over {len(times)} runs")


if __name__ == "__main__":
    main()
