"""Held-out Dice of several training runs of one recipe, per fold and pooled over folds.

    python benchmarks/bench_crossval.py RUN [RUN ...]

Each RUN is a folder written by ``python -m sonomsk.training.train_nerve`` (its ``metrics.json``
holds the per-image scores of the images that run held out: raw arg-max at the training size,
no post-processing, no refinement). The runs must share the recipe (everything in the command
but ``--out`` and ``--holdout-fold``) and hold out different images; the script refuses others.
Pooled figures are over images (each held-out image counts once), with the same 95 % bootstrap
interval of the mean as the model card.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

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
    path = run / "metrics.json"
    if not path.is_file():
        raise SystemExit(f"{run}: no metrics.json (not a finished training run)")
    data = json.loads(path.read_text())
    return {
        "run": run,
        "recipe": recipe(str(data["command"])),
        "fold": fold_of(str(data["split"])),
        "seconds": float(data.get("train_seconds", float("nan"))),
        "per_image": list(data["validation"]["per_image"]),
    }


def dice_values(rows: list[dict[str, Any]], cls: str) -> np.ndarray:
    return np.asarray([r[cls]["dice"] for r in rows if r[cls]["present"]], dtype=float)


def summary(rows: list[dict[str, Any]], cls: str) -> str:
    d = dice_values(rows, cls)
    lo, hi = bootstrap_mean_ci(d)
    return f"{len(d)} | {d.mean():.3f} ({lo:.2f}-{hi:.2f}) | {statistics.median(d.tolist()):.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    runs = [load_run(r) for r in args.runs]
    recipes = {r["recipe"] for r in runs}
    if len(recipes) != 1:
        print(
            "error: the runs differ in more than output and fold:\n  " + "\n  ".join(sorted(recipes)),
            file=sys.stderr,
        )
        return 2
    seen: dict[str, Path] = {}
    for r in runs:
        for row in r["per_image"]:
            if row["id"] in seen:
                print(
                    f"error: image {row['id']} is held out by both {seen[row['id']]} and {r['run']}",
                    file=sys.stderr,
                )
                return 2
            seen[row["id"]] = r["run"]
    print(f"recipe: {recipes.pop()}")
    head = "| held-out fold | training s | nerve images | Dice mean (95 % interval) | median "
    print(head + "| vessel images | Dice mean (95 % interval) | median |")
    print("|---|---|---|---|---|---|---|---|")
    pooled: list[dict[str, Any]] = []
    for r in runs:
        pooled += r["per_image"]
        print(
            f"| {r['fold']} | {r['seconds']:.0f} | "
            + " | ".join(summary(r["per_image"], c) for c in CLASSES)
            + " |"
        )
    print(f"| pooled, {len(runs)} folds | | " + " | ".join(summary(pooled, c) for c in CLASSES) + " |")
    near_zero = int((dice_values(pooled, "nerve") < 0.1).sum())
    print(
        f"nerve Dice below 0.1 (missed or wrong structure): {near_zero} of {len(dice_values(pooled, 'nerve'))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
