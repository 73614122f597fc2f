"""Held-out real windows of a refinement run, counting only images independent of its training.

    python benchmarks/bench_refine_windows.py RUN [--data ../shared/data/usgra-seg]

RUN is a folder written by ``python -m sonomsk.training.train_refine`` (``nerve_refine.pt``,
``metrics.json``). The trainer's own ``validation_real`` scores every held-out image; usgra-seg
holds copies of one picture under two file names (:mod:`sonomsk.training.duplicates`), so a
held-out image may show a picture the run trained on. This scores the run's weights with the
trainer's :func:`sonomsk.training.train_refine.evaluate` (nominal window on each true nerve) on
every held-out image and on those independent of training, one per picture.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("SONOMSK_DATA", "../shared/data")) / "usgra-seg"
    )
    args = ap.parse_args(argv)
    import torch

    from sonomsk.training.datasets import load_usgra_seg
    from sonomsk.training.duplicates import picture_groups, same_picture_pairs
    from sonomsk.training.train_refine import evaluate, independent_windows
    from sonomsk.training.unet import CompactUNet

    metrics = json.loads((args.run / "metrics.json").read_text())
    samples = load_usgra_seg(args.data)
    groups = picture_groups([s.ident for s in samples], same_picture_pairs(samples))
    model = CompactUNet(tuple(int(w) for w in metrics["widths"]), n_classes=2)
    model.load_state_dict(torch.load(args.run / "nerve_refine.pt", weights_only=True))
    model.eval()
    held = {str(i) for i in metrics["validation_ids"]}
    every = evaluate(model, [s for s in samples if s.ident in held], int(metrics["input_size"]))
    independent = independent_windows(args.run, samples, groups)
    print(f"run {args.run.name}: trainer's validation_real {metrics.get('validation_real')}")
    print(f"every held-out image ({len(held)}): {every}")
    print(
        f"independent of training, one per picture ({independent['n_images']}; "
        f"{len(independent['excluded'])} left out): "
        f"{ {k: independent[k] for k in ('n_windows', 'dice_mean', 'dice_median')} }"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
