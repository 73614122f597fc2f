"""Accuracy and speed of the shipped nerve/vessel model.

    python benchmarks/bench_segmentation.py [--data ../shared/data/usgra-seg] [--sim 12] [--speed-runs 40]

Accuracy is measured with the inference pipeline the product uses (ONNX backend + post-processing),
with the second look at each nerve (``onnx-unet``, the default) and without it (``onnx-unet-frame``),
on the usgra-seg images of the held-out fold that the shipped model never saw in training (the
fold is recorded in the model card), and on simulated calibrated nerves of known CSA written as
DICOM and read back. Speed is the median time to segment and measure one 512x512 frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from sonomsk.nerve.segment import segment_frame
from sonomsk.training.datasets import load_usgra_seg, split_holdout
from sonomsk.vision.backends import get_backend
from sonomsk.vision.metrics import segmentation_scores, summarise_scores
from sonomsk.vision.postprocess import labels_from_probabilities

BACKENDS = ("onnx-unet", "onnx-unet-frame")


def usgra_holdout(data: Path, name: str) -> dict[str, object]:
    backend = get_backend(name)
    fold = backend.card.validation.get("holdout_fold", 0)
    n_folds = backend.card.validation.get("n_folds", 5)
    samples = load_usgra_seg(data)
    _, val = split_holdout(samples, fold=int(fold), n_folds=int(n_folds))
    rows = []
    for i in val:
        s = samples[i]
        pred = labels_from_probabilities(backend.probabilities(s.grey))
        rows.append(segmentation_scores(pred, s.labels))
    return {"n_images": len(val), "fold": fold, "n_folds": n_folds, **summarise_scores(rows)}


def simulated_csa(n: int, name: str) -> list[tuple[float, float]]:
    """(truth CSA, measured CSA) in mm2 of simulated nerves, through DICOM and sonomsk.read."""
    import sonomsk
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n):
            scene = "carpal-tunnel" if k % 2 else "nerve"
            csa = [6.0, 8.0, 10.0, 12.0, 14.0, 18.0][k % 6]
            image, truth = simulate_scene(scene, seed=5000 + k, overrides={"csa_mm2": csa})
            path = write_dicom(image, Path(tmp) / f"s{k}.dcm")
            seg = segment_frame(sonomsk.read(path), structures=("nerve",), backend=name)
            nerve_truth = truth.nerve_vessel_labels(0) == 1
            true_csa = next(s for s in truth.structures if s.get("label_name") == "nerve")["csa_mm2_raster"]
            best = max(seg.instances, key=lambda inst: int((inst.mask & nerve_truth).sum()), default=None)
            measured = (
                float("nan")
                if best is None
                else float(next(m.value for m in best.measurements if m.name == "area_cross_section"))
            )
            out.append((float(true_csa), measured))
    return out


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
    ap.add_argument("--sim", type=int, default=12)
    ap.add_argument("--speed-runs", type=int, default=40)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name in BACKENDS:
        print(f"== backend {name}")
        acc = usgra_holdout(args.data, name)
        print(f"usgra-seg held-out fold {acc['fold']} of {acc['n_folds']}: {acc['n_images']} images")
        for cls in ("nerve", "vessel"):
            s = acc[cls]
            assert isinstance(s, dict)
            print(
                f"| {cls} | {s['n_present']} | {s['dice_mean']:.3f} | {s['dice_median']:.3f} | "
                f"{100 * s['area_error_rel_median']:.1f} % | {s['n_false_positive_images']} of {s['n_absent']} |"
            )
        pairs = simulated_csa(args.sim, name)
        errs = [abs(m - t) / t for t, m in pairs]
        print("simulated nerves (truth, measured mm2):", [(round(t, 2), round(m, 2)) for t, m in pairs])
        print(
            f"simulated CSA relative error: median {100 * statistics.median(errs):.1f} %, "
            f"max {100 * max(errs):.1f} %, within 5 %: {sum(e <= 0.05 for e in errs)} of {len(errs)}"
        )
    for name in BACKENDS:
        print(
            f"{name}: segment + measure one 512x512 frame: median {speed(args.speed_runs, name):.1f} ms "
            f"over {args.speed_runs} runs"
        )


if __name__ == "__main__":
    main()
