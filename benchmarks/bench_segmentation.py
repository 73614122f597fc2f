"""Accuracy and speed of the shipped nerve/vessel model.

    python benchmarks/bench_segmentation.py [--data ../shared/data/usgra-seg] [--sim 96] [--speed-runs 40]

Accuracy is measured with the inference pipeline the product uses (ONNX backend + post-processing),
with the second look at each nerve (``onnx-unet``, the default) and without it (``onnx-unet-frame``),
on the usgra-seg images of the held-out fold that the shipped model never saw in training (the
card records them), less those that show a picture it trained on under another file name or a
second copy of a held-out picture (:mod:`sonomsk.training.duplicates`), automatically, with one click per expert nerve region
(the workstation's click-to-outline) and with one box drawn around each (exact, and with its
edges moved as a hand-drawn box's would be), and on simulated calibrated nerves of known CSA written as
DICOM and read back (seeds 5000 onwards, ``nerve`` and ``carpal-tunnel`` scenes alternately, CSA
6-18 mm2 in turn; the first 12 are the scenes of earlier sessions' figures, and the count within
5 % is also given for them and for each scene and CSA). Speed is the median time to segment and measure one 512x512 frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sonomsk.nerve.segment import segment_frame
from sonomsk.training.datasets import Sample, load_usgra_seg, split_holdout
from sonomsk.training.duplicates import independent_holdout, picture_groups, same_picture_pairs
from sonomsk.vision.backends import get_backend
from sonomsk.vision.metrics import dice, segmentation_scores, summarise_scores
from sonomsk.vision.postprocess import labels_from_probabilities

BACKENDS = ("onnx-unet", "onnx-unet-frame")


def holdout_samples(data: Path, name: str) -> tuple[list[Sample], int, int, dict[str, str]]:
    """The usgra-seg images the backend's model card says it never saw in training
    (``validation_ids``), less those that show a picture it trained on or a second copy of a
    held-out picture (:mod:`sonomsk.training.duplicates`); with the fold, the number of folds and
    why each left-out image is left out."""
    validation = get_backend(name).card.validation
    fold, n_folds = int(validation.get("holdout_fold", 0)), int(validation.get("n_folds", 5))
    samples = load_usgra_seg(data)
    held = {str(i) for i in validation.get("validation_ids") or []}
    if not held:  # an older card: the split of its fold
        _, val = split_holdout(samples, fold=fold, n_folds=n_folds)
        held = {samples[i].ident for i in val}
    groups = picture_groups([s.ident for s in samples], same_picture_pairs(samples))
    kept, dropped = independent_holdout(
        sorted(held), [s.ident for s in samples if s.ident not in held], groups
    )
    keep = set(kept)
    return [s for s in samples if s.ident in keep], fold, n_folds, dropped


def usgra_holdout(held_out: list[Sample], name: str) -> dict[str, object]:
    backend = get_backend(name)
    rows = [
        segmentation_scores(labels_from_probabilities(backend.probabilities(s.grey)), s.labels)
        for s in held_out
    ]
    return {"n_images": len(held_out), **summarise_scores(rows)}


def usgra_prompts(held_out: list[Sample], name: str, prompt: str) -> dict[str, Any]:
    """One prompt per expert nerve region of the held-out fold, as a clinician at the workstation
    would give it, and the union of the outlines against the expert nerve mask (regions under
    50 px get no prompt but stay in the truth). ``prompt`` is ``click`` (at the region's most
    interior pixel), ``box`` (its exact bounding box), ``box-jitter`` (that box with each edge
    moved in or out by a random 0-10 % of its side, seeded: a carefully drawn box) or
    ``box-loose`` (each edge moved by a random 10 % inward to 30 % outward: a quickly drawn,
    loose and off-centre box). Boxes are given as pixel indices (first and last row and column).
    Dice mean and median, and median time per prompt."""
    import numpy as np
    from scipy import ndimage

    from sonomsk.core.image import UltrasoundImage
    from sonomsk.nerve.interactive import outline_at, outline_in_box

    rng = np.random.default_rng(0)
    scores, times = [], []
    methods: dict[str, int] = {}
    for s in held_out:
        image = UltrasoundImage.from_array(np.clip(s.grey, 0, 255).astype(np.uint8))
        truth = s.labels == 1
        regions, _ = ndimage.label(truth)
        outlined = np.zeros_like(truth)
        for k, found in enumerate(ndimage.find_objects(regions), start=1):
            region = regions == k
            if found is None or region.sum() < 50:
                continue
            if prompt == "click":
                inside = ndimage.distance_transform_edt(region)
                row, col = np.unravel_index(int(np.argmax(inside)), inside.shape)
                t0 = time.perf_counter()
                contour = outline_at(image, float(row), float(col), backend=name)
            else:
                edges = np.array(
                    [found[0].start, found[1].start, found[0].stop - 1, found[1].stop - 1], float
                )
                if prompt != "box":
                    sides = np.array([edges[2] - edges[0] + 1, edges[3] - edges[1] + 1] * 2)
                    low, high = (-0.1, 0.1) if prompt == "box-jitter" else (-0.1, 0.3)
                    outward = np.array([-1.0, -1.0, 1.0, 1.0])  # top and left move up and left
                    edges += outward * rng.uniform(low, high, size=4) * sides
                t0 = time.perf_counter()
                boxed = outline_in_box(image, *edges, backend=name)
                contour = boxed.contour
                methods[boxed.method] = methods.get(boxed.method, 0) + 1
            times.append(time.perf_counter() - t0)
            outlined |= contour.to_mask(truth.shape)
        if truth.any():  # usgra-seg has a nerve in every image; guard all the same
            scores.append(dice(outlined, truth))
    return {
        "n_images": len(held_out),
        "n_prompts": len(times),
        "dice_mean": statistics.mean(scores),
        "dice_median": statistics.median(scores),
        "ms_per_prompt": 1000 * statistics.median(times),
        "methods": methods,
    }


#: simulated scene k: SIM_SCENES[k % 2] with a nerve of SIM_CSA_MM2[k % 6], seed 5000 + k
SIM_SCENES = ("nerve", "carpal-tunnel")
SIM_CSA_MM2 = (6.0, 8.0, 10.0, 12.0, 14.0, 18.0)


def simulated_csa(n: int, name: str, seed0: int = 5000) -> list[tuple[float, float]]:
    """(truth CSA, measured CSA) in mm2 of simulated nerves (seeds ``seed0`` on), through DICOM
    and sonomsk.read."""
    import sonomsk
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n):
            scene, csa = SIM_SCENES[k % 2], SIM_CSA_MM2[k % 6]
            image, truth = simulate_scene(scene, seed=seed0 + k, overrides={"csa_mm2": csa})
            path = write_dicom(image, Path(tmp) / f"s{k}.dcm")
            seg = segment_frame(sonomsk.read(path), structures=("nerve",), backend=name)
            nerve_truth = truth.nerve_vessel_labels(0) == 1
            true_csa = next(s for s in truth.structures if s.get("label_name") == "nerve")["csa_mm2_raster"]
            best = max(seg.instances, key=lambda inst: int((inst.mask & nerve_truth).sum()), default=None)
            area = (
                None
                if best is None
                else next(m.value for m in best.measurements if m.name == "area_cross_section")
            )
            measured = float("nan") if area is None else float(area)
            out.append((float(true_csa), measured))
    return out


def print_simulated_csa(pairs: list[tuple[float, float]]) -> None:
    """Relative CSA errors of :func:`simulated_csa`'s pairs: overall, for the first 12 scenes,
    and by scene and CSA (a nerve not found counts as an error above 5 %)."""
    errs = [abs(m - t) / t if m == m else float("inf") for t, m in pairs]  # NaN: no nerve found
    print("simulated nerves (truth, measured mm2):", [(round(t, 2), round(m, 2)) for t, m in pairs])
    print(
        f"simulated CSA relative error: median {100 * statistics.median(errs):.1f} %, "
        f"max {100 * max(errs):.1f} %, within 5 %: {sum(e <= 0.05 for e in errs)} of {len(errs)}"
        f" (first 12: {sum(e <= 0.05 for e in errs[:12])} of {len(errs[:12])})"
    )
    by: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for k, pair in enumerate(pairs):
        by.setdefault((SIM_SCENES[k % 2], SIM_CSA_MM2[k % 6]), []).append(pair)
    for (scene, csa), some in sorted(by.items()):
        signed = [100 * (m - t) / t for t, m in some if m == m]
        ok = sum(abs(x) <= 5 for x in signed)
        median = f"{statistics.median(signed):+.1f} %" if signed else "none found"
        print(f"  {scene} {csa:g} mm2: within 5 % {ok} of {len(some)}, signed error median {median}")


def speed(runs: int, name: str) -> float:
    from sonomsk.simulate.api import simulate_scene

    image, _ = simulate_scene("nerve", seed=1)
    segment_frame(image, backend=name)  # load the model once
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        segment_frame(image, backend=name)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("SONOMSK_DATA", "../shared/data")) / "usgra-seg"
    )
    ap.add_argument("--sim", type=int, default=96)
    ap.add_argument("--speed-runs", type=int, default=40)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name in BACKENDS:
        print(f"== backend {name}")
        held_out, fold, n_folds, dropped = holdout_samples(args.data, name)
        acc = usgra_holdout(held_out, name)
        print(
            f"usgra-seg held-out fold {fold} of {n_folds}: {acc['n_images']} images independent of the "
            f"training images ({len(dropped)} left out: {'; '.join(f'{k} {v}' for k, v in sorted(dropped.items()))})"
        )
        for cls in ("nerve", "vessel"):
            s = acc[cls]
            assert isinstance(s, dict)
            print(
                f"| {cls} | {s['n_present']} | {s['dice_mean']:.3f} "
                f"({s['dice_mean_ci95'][0]:.2f}-{s['dice_mean_ci95'][1]:.2f}) | {s['dice_median']:.3f} | "
                f"{100 * s['area_error_rel_median']:.1f} % | {s['n_false_positive_images']} of {s['n_absent']} |"
            )
        for prompt in ("click", "box", "box-jitter", "box-loose"):
            r = usgra_prompts(held_out, name, prompt)
            print(
                f"one {prompt} per nerve ({r['n_prompts']} prompts, {r['n_images']} images): nerve Dice "
                f"mean {r['dice_mean']:.3f}, median {r['dice_median']:.3f}, "
                f"{r['ms_per_prompt']:.0f} ms per prompt (median)"
                + (f"; drawn by {r['methods']}" if r["methods"] else "")
            )
        pairs = simulated_csa(args.sim, name)
        print_simulated_csa(pairs)
    for name in BACKENDS:
        print(
            f"{name}: segment + measure one 512x512 frame: median {speed(args.speed_runs, name):.1f} ms "
            f"over {args.speed_runs} runs"
        )


if __name__ == "__main__":
    main()
