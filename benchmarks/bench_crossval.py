"""Held-out Dice and area error of several training runs of one recipe, per fold and pooled.

    python benchmarks/bench_crossval.py RUN [RUN ...] [--data ../shared/data/usgra-seg]

Each RUN is a folder written by ``python -m sonomsk.training.train_nerve`` with
``--holdout-fold K``; :mod:`sonomsk.training.crossval` checks that the runs share the recipe and
hold out different images, and pools their per-image scores (probabilities resized back to the
frame, arg-max there, no post-processing, no refinement). The area error is the median of
|predicted - true| / true area over the images where the class is present; Dice and area error
leave out the images whose truth lacks the class, which are counted as false-positive images
when the model drew any pixel of it. With ``--data``, only held-out images independent of each
run's training set count (:mod:`sonomsk.training.duplicates`), and the table of every held-out
image follows for comparison.
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


def _table(found: dict[str, Any]) -> None:
    cols = "images | Dice mean (95 % interval) | median | area error median"
    print(
        f"| held-out fold | training s | images | nerve {cols} | vessel {cols} | vessel false-positive images |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in found["folds"]:
        fp = f"{f['vessel']['false_positive_images']} of {f['vessel']['n_absent']}"
        print(
            f"| {f['fold']} | {f['train_seconds']:.0f} | {f['n_images']} | "
            + " | ".join(_cells(f[c]) for c in CLASSES)
            + f" | {fp} |"
        )
    p = found["pooled"]
    fp = f"{p['vessel']['false_positive_images']} of {p['vessel']['n_absent']}"
    print(
        f"| pooled, {len(found['folds'])} folds | | {p['n_images']} | "
        + " | ".join(_cells(p[c]) for c in CLASSES)
        + f" | {fp} |"
    )
    print(
        f"nerve Dice below 0.1 (missed or wrong structure): {p['nerve']['dice_below_0_1']} of {p['nerve']['n_present']}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument(
        "--data", type=Path, help="usgra-seg folder: count only held-out images independent of training"
    )
    args = ap.parse_args(argv)
    try:
        groups = None
        if args.data:
            from sonomsk.training.datasets import load_usgra_seg
            from sonomsk.training.duplicates import picture_groups, same_picture_pairs

            samples = load_usgra_seg(args.data)
            pairs = same_picture_pairs(samples)
            groups = picture_groups([s.ident for s in samples], pairs)
            print(f"same-picture pairs in {args.data}: {len(pairs)}")
        found = pool(args.runs, groups)
        everything = pool(args.runs) if groups is not None else None
    except SonomskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"recipe: {found['recipe']}")
    if groups is not None:
        print("held-out images independent of each run's training images, one per picture:")
    _table(found)
    for f in found["folds"]:
        for ident, why in sorted(f["excluded"].items()):
            print(f"  fold {f['fold']}: {ident} left out: {why}")
    if everything is not None:
        print("every held-out image (a twin of a training image included):")
        _table(everything)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
