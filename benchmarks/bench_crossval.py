"""Held-out Dice and area error of several training runs of one recipe, per fold and pooled.

    python benchmarks/bench_crossval.py RUN [RUN ...]

Each RUN is a folder written by ``python -m sonomsk.training.train_nerve`` with
``--holdout-fold K``; :mod:`sonomsk.training.crossval` checks that the runs share the recipe and
hold out different images, and pools their per-image scores (raw arg-max at the training size,
no post-processing, no refinement). The area error is the median of |predicted - true| / true
area over the images where the class is present.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sonomsk.core.errors import SonomskError
from sonomsk.training.crossval import CLASSES, pool


def _cells(s: dict[str, Any]) -> str:
    lo, hi = s["dice_ci95"]
    return (
        f"{s['n_present']} | {s['dice_mean']:.3f} ({lo:.2f}-{hi:.2f}) | {s['dice_median']:.3f} | "
        f"{100 * s['area_error_rel_median']:.1f} %"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    try:
        found = pool(args.runs)
    except SonomskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"recipe: {found['recipe']}")
    cols = "images | Dice mean (95 % interval) | median | area error median"
    print(f"| held-out fold | training s | nerve {cols} | vessel {cols} |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for f in found["folds"]:
        print(
            f"| {f['fold']} | {f['train_seconds']:.0f} | " + " | ".join(_cells(f[c]) for c in CLASSES) + " |"
        )
    p = found["pooled"]
    print(f"| pooled, {len(found['folds'])} folds | | " + " | ".join(_cells(p[c]) for c in CLASSES) + " |")
    print(
        f"nerve Dice below 0.1 (missed or wrong structure): {p['nerve']['dice_below_0_1']} of {p['nerve']['n_present']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
