"""Pool the held-out scores of several training runs of one recipe (a cross-validation).

Each run is a folder written by :mod:`sonomsk.training.train_nerve` with ``--holdout-fold K``:
its ``metrics.json`` holds the per-image scores of the images that run held out (raw arg-max at
the training size, no post-processing, no refinement). The runs must share the recipe (the
command without ``--out`` and ``--holdout-fold``) and hold out different images; :func:`pool`
refuses others. Pooled figures are over images (each held-out image counts once), with the
95 % bootstrap interval of the mean the model card uses. Used by ``benchmarks/bench_crossval.py``
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
    class over the images where it is present."""
    present = [r[cls] for r in rows if r[cls]["present"]]
    dice = np.asarray([p["dice"] for p in present], dtype=float)
    lo, hi = bootstrap_mean_ci(dice)
    return {
        "n_present": len(present),
        "dice_mean": float(dice.mean()),
        "dice_ci95": [float(lo), float(hi)],
        "dice_median": float(statistics.median(dice.tolist())),
        "area_error_rel_median": float(statistics.median(abs(p["area_error_rel"]) for p in present)),
        "dice_below_0_1": int((dice < 0.1).sum()),
    }


def pool(run_folders: list[Path]) -> dict[str, Any]:
    """Per-fold and pooled summaries of ``run_folders`` (see the module docstring)."""
    runs = [load_run(r) for r in run_folders]
    found = check_runs(runs)
    pooled = [row for r in runs for row in r["per_image"]]
    return {
        "recipe": found,
        "folds": [
            {
                "fold": r["fold"],
                "run": str(r["run"]),
                "train_seconds": r["seconds"],
                **{c: class_summary(r["per_image"], c) for c in CLASSES},
            }
            for r in runs
        ],
        "pooled": {"n_images": len(pooled), **{c: class_summary(pooled, c) for c in CLASSES}},
    }
