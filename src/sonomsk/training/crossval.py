"""Pool the held-out scores of several training runs of one recipe (a cross-validation).

Each run is a folder written by :mod:`sonomsk.training.train_nerve` with ``--holdout-fold K``:
its ``metrics.json`` holds the per-image scores of the images that run held out (the network's
probabilities resized back to each frame, arg-max there, no post-processing, no refinement). The runs must share the recipe (the
command without ``--out`` and ``--holdout-fold``) and hold out different images; :func:`pool`
refuses others. Pooled figures are over images (each held-out image counts once), with the
95 % bootstrap interval of the mean the model card uses. Given the images' picture groups, only
the held-out images independent of each run's training set count (a twin of a training image
would score what the network memorised). Used by ``benchmarks/bench_crossval.py``
and by ``python -m sonomsk.training.card --crossval``.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError
from sonomsk.vision.metrics import bootstrap_mean_ci

CLASSES = ("nerve", "vessel")


def recipe(command: str) -> str:
    """The training command without the parts that differ between folds (output, fold)."""
    return re.sub(r"\s--(out|holdout-fold)\s+\S+", "", command).strip()


def fold_of(split: str) -> str:
    """The held-out fold's number from the trainer's description of its split."""
    found = re.search(r"mod \d+ == (\d+)", split)
    return found.group(1) if found else split


def load_run(run: Path) -> dict[str, Any]:
    """One run's recipe, fold, training time and per-image held-out scores."""
    path = Path(run) / "metrics.json"
    if not path.is_file():
        raise InvalidParameterError(f"{run}: no metrics.json (not a finished training run)")
    data = json.loads(path.read_text())
    return {
        "run": Path(run),
        "recipe": recipe(str(data["command"])),
        "fold": fold_of(str(data["split"])),
        "seconds": float(data.get("train_seconds", float("nan"))),
        "per_image": list(data["validation"]["per_image"]),
        "train_ids": [str(i) for i in data.get("train_ids", []) if not str(i).startswith("sim")],
    }


def check_runs(runs: list[dict[str, Any]]) -> str:
    """The runs' one recipe; an error when they differ in more than output and fold, or when an
    image is held out by two of them."""
    recipes = sorted({r["recipe"] for r in runs})
    if len(recipes) != 1:
        raise InvalidParameterError("runs: they differ in more than output and fold: " + " | ".join(recipes))
    seen: dict[str, Path] = {}
    for r in runs:
        for row in r["per_image"]:
            if row["id"] in seen:
                raise InvalidParameterError(
                    f"runs: image {row['id']} is held out by both {seen[row['id']]} and {r['run']}"
                )
            seen[row["id"]] = r["run"]
    return recipes[0]


def class_summary(rows: list[dict[str, Any]], cls: str) -> dict[str, Any]:
    """Dice (mean, 95 % bootstrap interval, median), median |area error| and near-misses of one
    class over the images where its truth has it; and the images without it in truth where the
    model drew it anyway (any pixel: false-positive images)."""
    present = [r[cls] for r in rows if r[cls]["present"]]
    absent = [r[cls] for r in rows if not r[cls]["present"]]
    dice = np.asarray([p["dice"] for p in present], dtype=float)
    false_positive = sum(1 for a in absent if a.get("area_pred_px", 0) > 0)
    if not present:
        return {
            "n_present": 0,
            "dice_mean": None,
            "dice_ci95": None,
            "dice_median": None,
            "area_error_rel_median": None,
            "dice_below_0_1": 0,
            "n_absent": len(absent),
            "false_positive_images": false_positive,
        }
    lo, hi = bootstrap_mean_ci(dice)
    return {
        "n_present": len(present),
        "dice_mean": float(dice.mean()),
        "dice_ci95": [float(lo), float(hi)],
        "dice_median": float(statistics.median(dice.tolist())),
        "area_error_rel_median": float(statistics.median(abs(p["area_error_rel"]) for p in present)),
        "dice_below_0_1": int((dice < 0.1).sum()),
        "n_absent": len(absent),
        "false_positive_images": false_positive,
    }


def independent_rows(
    run: dict[str, Any], groups: dict[str, str] | None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The run's held-out rows that are independent of its training images, one per picture
    (:func:`sonomsk.training.duplicates.independent_holdout`), and why each other one is left out.
    Without ``groups`` every row is kept."""
    if groups is None:
        return list(run["per_image"]), {}
    from sonomsk.training.duplicates import independent_holdout

    kept, dropped = independent_holdout([row["id"] for row in run["per_image"]], run["train_ids"], groups)
    keep = set(kept)
    return [row for row in run["per_image"] if row["id"] in keep], dropped


def pool(run_folders: list[Path], groups: dict[str, str] | None = None) -> dict[str, Any]:
    """Per-fold and pooled summaries of ``run_folders`` (see the module docstring). With
    ``groups`` (each image's picture, :func:`sonomsk.training.duplicates.picture_groups`), a
    held-out image whose picture the run trained on, or a second copy of a held-out picture, is
    left out, and ``excluded`` says why."""
    runs = [load_run(r) for r in run_folders]
    found = check_runs(runs)
    kept = [independent_rows(r, groups) for r in runs]
    pooled = [row for rows, _ in kept for row in rows]
    return {
        "recipe": found,
        "independent_of_training": groups is not None,
        "folds": [
            {
                "fold": r["fold"],
                "run": str(r["run"]),
                "train_seconds": r["seconds"],
                "n_images": len(rows),
                "excluded": dropped,
                **{c: class_summary(rows, c) for c in CLASSES},
            }
            for r, (rows, dropped) in zip(runs, kept, strict=True)
        ],
        "pooled": {"n_images": len(pooled), **{c: class_summary(pooled, c) for c in CLASSES}},
    }
