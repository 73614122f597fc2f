"""Train the nerve refinement model (a second look at each nerve) and export it to ONNX.

One command, fixed seed, reproducible::

    python -m sonomsk.training.train_refine --data ../shared/data/usgra-seg --out RUN --seed 0 \\
        --holdout-fold 0 --simulated 240

Each step takes windows around nerves (:func:`sonomsk.vision.refine.window_for`, with the window
factor and centre jittered so that the model copes with the whole-frame model's rough outline),
resizes them to ``--size`` and learns nerve against everything else. Real windows come from the
usgra-seg training folds, simulated ones from :mod:`sonomsk.simulate` scenes whose truth is the
area inside the epineurial rim. Writes ``<out>/nerve_refine.onnx``, ``<out>/nerve_refine.pt`` and
``<out>/metrics.json`` (Dice of held-out real windows and simulated windows of unseen seeds).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk.training.datasets import Sample, real_split, run_parser, simulated_samples
from sonomsk.vision.refine import Window, crop, window_for

#: Window geometry shared with inference (written into the model card by ``card.py``).
WINDOW_FACTOR = 2.0
MIN_SIDE = 32


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = run_parser("python -m sonomsk.training.train_refine", __doc__, size=160, batch=16, simulated=240)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument(
        "--sim-csa-range",
        type=_csa_range,
        default=None,
        help="draw simulated nerve CSAs log-uniformly from LOW,HIGH mm2 (default: each scene's own range)",
    )
    p.add_argument(
        "--real-share",
        type=_share,
        default=None,
        help="draw this fraction of each batch from real windows (default: uniformly over all windows)",
    )
    return p.parse_args(argv)


def _share(text: str) -> float:
    """A fraction strictly between 0 and 1 (argparse reports anything else in one line)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected 0 < fraction < 1, got {text!r}")
    return v


def _csa_range(text: str) -> tuple[float, float]:
    """``LOW,HIGH`` in mm2 with 0 < LOW < HIGH (argparse reports anything else in one line)."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH in mm2, got {text!r}") from None
    if not 0 < lo < hi:
        raise argparse.ArgumentTypeError(f"expected 0 < LOW < HIGH, got {text!r}")
    return lo, hi


def nerve_targets(sample: Sample) -> list[np.ndarray]:
    """The nerve masks a window may be centred on: each connected nerve region and their union."""
    from scipy import ndimage

    nerve = sample.labels == 1
    lab, n = ndimage.label(nerve)
    parts = [lab == i for i in range(1, n + 1)]
    return [*parts, nerve] if n > 1 else parts


def jittered_window(mask: np.ndarray, rng: np.random.Generator) -> Window:
    """A window as inference makes it from a rough outline: factors and centre jittered."""
    common = WINDOW_FACTOR * float(rng.uniform(0.75, 1.35))
    w = window_for(mask, common * float(rng.uniform(0.85, 1.15)), MIN_SIDE, factor_rows=common)
    assert w is not None
    shift = rng.uniform(-0.12, 0.12, size=2) * (w.height, w.width)
    return Window(w.row + round(shift[0]), w.col + round(shift[1]), w.height, w.width)


def training_pair(
    sample: Sample, mask: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    from sonomsk.training.augment import photometric
    from sonomsk.vision.preprocess import standardise

    w = jittered_window(mask, rng)
    img = np.clip(crop(sample.grey, w, size), 0, 255) / np.float32(255.0)
    lab = (crop(sample.labels, w, size, labels=True) == 1).astype(np.uint8)
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], lab[:, ::-1]
    return standardise(photometric(np.ascontiguousarray(img), rng)), np.ascontiguousarray(lab)


def window_dice(predict: Callable[[np.ndarray], np.ndarray], samples: list[Sample], size: int) -> list[float]:
    """Dice of the nerve in the nominal window of every nerve target (no jitter). ``predict``
    maps a (1, 1, size, size) float32 input to per-class scores (n_classes, size, size): the
    torch weights in training, an exported ONNX model in the benchmarks."""
    from sonomsk.vision.metrics import dice
    from sonomsk.vision.refine import model_input

    scores = []
    for s in samples:
        for mask in nerve_targets(s):
            w = window_for(mask, WINDOW_FACTOR, MIN_SIDE)
            assert w is not None
            pred = np.asarray(predict(model_input(s.grey, w, size)[None, None])).argmax(0) == 1
            truth = crop(s.labels, w, size, labels=True) == 1
            scores.append(dice(pred, truth))
    return scores


def evaluate(model: Any, samples: list[Sample], size: int) -> dict[str, Any]:
    """:func:`window_dice` of torch weights: number of windows, mean and median."""
    import torch

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(model(torch.from_numpy(x))[0].numpy())

    d = np.array(window_dice(predict, samples, size))
    return {"n_windows": int(d.size), "dice_mean": float(d.mean()), "dice_median": float(np.median(d))}


def independent_windows(run: Path, samples: list[Sample], groups: dict[str, str]) -> dict[str, Any]:
    """The run's weights (``nerve_refine.pt``) scored by :func:`evaluate` on its held-out images
    that are independent of its training images, one per picture
    (:func:`sonomsk.training.duplicates.independent_holdout`)."""
    import torch

    from sonomsk.training.duplicates import independent_holdout
    from sonomsk.training.unet import CompactUNet

    metrics = json.loads((run / "metrics.json").read_text())
    model = CompactUNet(tuple(int(w) for w in metrics["widths"]), n_classes=2)
    model.load_state_dict(torch.load(run / "nerve_refine.pt", weights_only=True))
    model.eval()
    train = [str(i) for i in metrics["train_ids"] if not str(i).startswith("sim")]
    kept, dropped = independent_holdout([str(i) for i in metrics["validation_ids"]], train, groups)
    keep = set(kept)
    return {
        "n_images": len(kept),
        "excluded": dropped,
        **evaluate(model, [s for s in samples if s.ident in keep], int(metrics["input_size"])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    import torch

    from sonomsk.training.train_nerve import save_model, train_step
    from sonomsk.training.unet import CompactUNet, count_parameters, seed_torch

    seed_torch(args.seed, args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    real, val = real_split(args.data, holdout_fold=args.holdout_fold, n_folds=args.n_folds, limit=args.limit)
    csa_range = args.sim_csa_range
    sim = simulated_samples(args.simulated, seed=args.seed, csa_range_mm2=csa_range) if args.simulated else []
    sim_val = simulated_samples(min(20, args.simulated), seed=args.seed + 7919) if args.simulated else []
    pool = [(s, m) for s in real for m in nerve_targets(s)]
    n_real = len(pool)  # real windows first, then simulated ones
    pool += [(s, m) for s in sim for m in nerve_targets(s)]
    print(
        f"windows {len(pool)} from {len(real)} real + {len(sim)} simulated images "
        f"({n_real} real windows, {n_real / max(1, len(pool)):.2f} of all)",
        flush=True,
    )
    if args.real_share is not None and not 0 < n_real < len(pool):
        raise SystemExit("--real-share needs both real and simulated windows")

    widths = tuple(int(w) for w in args.widths.split(","))
    model = CompactUNet(widths, n_classes=2)
    print(f"parameters {count_parameters(model)}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    total = 0.0
    for step in range(args.steps):
        model.train()
        if args.real_share is None:
            picks = rng.integers(0, len(pool), size=args.batch)
        else:
            from_real = rng.random(args.batch) < args.real_share
            picks = np.where(
                from_real,
                rng.integers(0, n_real, size=args.batch),
                rng.integers(n_real, len(pool), size=args.batch),
            )
        pairs = [training_pair(pool[i][0], pool[i][1], args.size, rng) for i in picks]
        total += train_step(model, opt, sched, pairs)
        if (step + 1) % 100 == 0:
            msg = f"step {step + 1}/{args.steps} loss {total / 100:.4f} t {time.time() - t0:.0f}s"
            total = 0.0
            if (step + 1) % 500 == 0 or step + 1 == args.steps:
                model.eval()
                if val:
                    msg += f" val real dice {evaluate(model, val, args.size)['dice_mean']:.3f}"
                if sim_val:
                    msg += f" val sim dice {evaluate(model, sim_val, args.size)['dice_mean']:.3f}"
            print(msg, flush=True)

    out = Path(args.out)
    onnx_path = save_model(model, out, "nerve_refine", args.size)
    metrics: dict[str, Any] = {
        "command": "python -m sonomsk.training.train_refine "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "steps": args.steps,
        "batch": args.batch,
        "input_size": args.size,
        "window_factor": WINDOW_FACTOR,
        "min_window_px": MIN_SIDE,
        "widths": list(widths),
        "parameters": count_parameters(model),
        "train_ids": [s.ident for s in real],
        "validation_ids": [s.ident for s in val],
        "simulated_scenes": len(sim),
        "real_share": args.real_share,
        "train_seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()} torch threads {args.threads}",
        "torch": torch.__version__,
    }
    if val:
        metrics["validation_real"] = evaluate(model, val, args.size)
    if sim_val:
        metrics["validation_simulated"] = evaluate(model, sim_val, args.size)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(
        json.dumps({k: metrics[k] for k in ("validation_real", "validation_simulated") if k in metrics}),
        flush=True,
    )
    print(f"wrote {onnx_path} in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
