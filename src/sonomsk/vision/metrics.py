"""Segmentation accuracy: Dice and relative area error per class, and their summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Label values of the nerve/vessel models.
LABELS = {"nerve": 1, "vessel": 2}


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two boolean masks; 1.0 when both are empty."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    denom = int(p.sum()) + int(t.sum())
    return 1.0 if denom == 0 else 2.0 * int(np.logical_and(p, t).sum()) / denom


def segmentation_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Per-class Dice, areas (px) and relative area error |pred - truth| / truth of one image."""
    out: dict[str, Any] = {}
    for name, value in LABELS.items():
        p = pred == value
        t = truth == value
        ta, pa = int(t.sum()), int(p.sum())
        out[name] = {
            "present": ta > 0,
            "dice": dice(p, t),
            "area_truth_px": ta,
            "area_pred_px": pa,
            "area_error_rel": abs(pa - ta) / ta if ta else None,
        }
    return out


def bootstrap_mean_ci(values: np.ndarray, *, resamples: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile-bootstrap interval of the mean of ``values`` (images resampled with
    replacement, fixed seed so that a benchmark repeats); [nan, nan] when there are none."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summarise_scores(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean/median Dice (with a 95 % bootstrap interval of the mean) and area error over images
    where the class is present in the truth; false-positive images (class predicted where the
    truth has none) counted separately."""
    summary: dict[str, Any] = {}
    for name in LABELS:
        present = [r[name] for r in rows if r[name]["present"]]
        absent = [r[name] for r in rows if not r[name]["present"]]
        d = np.array([c["dice"] for c in present], dtype=float)
        e = np.array([c["area_error_rel"] for c in present], dtype=float)
        summary[name] = {
            "n_present": len(present),
            "dice_mean": float(d.mean()) if d.size else float("nan"),
            "dice_median": float(np.median(d)) if d.size else float("nan"),
            "dice_mean_ci95": bootstrap_mean_ci(d),
            "area_error_rel_mean": float(e.mean()) if e.size else float("nan"),
            "area_error_rel_median": float(np.median(e)) if e.size else float("nan"),
            "n_absent": len(absent),
            "n_false_positive_images": sum(1 for c in absent if c["area_pred_px"] > 0),
        }
    return summary
