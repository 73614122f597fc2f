"""Train the compact nerve/vessel U-Net and export it to ONNX.

One command, fixed seed, reproducible::

    python -m sonomsk.training.train_nerve --data /work/shared/data/usgra-seg --out /tmp/run --seed 0

``--holdout-fold K`` trains on the other folds and reports Dice and area error on fold K
(grouped interleaved split, see :func:`sonomsk.training.datasets.split_holdout`); without it the
model is trained on every image. Writes ``<out>/nerve_unet.onnx`` and ``<out>/metrics.json``;
progress goes to stdout (redirect it to /tmp, not the repository).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk.training.datasets import Sample, real_split, run_parser, simulated_samples

CLASSES = ("background", "nerve", "vessel")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = run_parser("python -m sonomsk.training.train_nerve", __doc__, size=256, batch=8, simulated=0)
    p.add_argument("--epochs", type=int, default=60)
    return p.parse_args(argv)


def _dice_loss(logits: Any, target: Any) -> Any:
    import torch

    prob = torch.softmax(logits, dim=1)
    onehot = torch.nn.functional.one_hot(target, num_classes=prob.shape[1]).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return 1.0 - dice[1:].mean()


def predict_probabilities(model: Any, grey: np.ndarray, size: int) -> np.ndarray:
    """Class probabilities (class, row, col) at the input's size, from the torch model."""
    import cv2
    import torch

    from sonomsk.vision.preprocess import prepare_input

    x = torch.from_numpy(prepare_input(grey, size))[None, None]
    with torch.no_grad():
        prob = torch.softmax(model(x), dim=1)[0].numpy()
    rows, cols = grey.shape
    return np.stack([cv2.resize(p, (cols, rows), interpolation=cv2.INTER_LINEAR) for p in prob])


def evaluate(model: Any, samples: list[Sample], size: int) -> dict[str, Any]:
    """Per-image Dice and relative area error (raw argmax, no post-processing)."""
    from sonomsk.vision.metrics import segmentation_scores

    rows = []
    for s in samples:
        pred = predict_probabilities(model, s.grey, size).argmax(0).astype(np.uint8)
        rows.append({"id": s.ident, **segmentation_scores(pred, s.labels)})
    from sonomsk.vision.metrics import summarise_scores

    return {"per_image": rows, "summary": summarise_scores(rows)}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    import torch

    from sonomsk.training.augment import augment
    from sonomsk.training.unet import CompactUNet, count_parameters, seed_torch

    seed_torch(args.seed, args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    train, val = real_split(args.data, holdout_fold=args.holdout_fold, n_folds=args.n_folds, limit=args.limit)
    sim_used = 0
    if args.simulated:
        try:
            sim = simulated_samples(args.simulated, seed=args.seed)
        except (ImportError, AttributeError) as exc:
            print(f"simulated scenes unavailable ({exc}); training on usgra-seg only", flush=True)
        else:
            train += sim
            sim_used = len(sim)
    print(f"train {len(train)} (simulated {sim_used}), validation {len(val)}", flush=True)

    widths = tuple(int(w) for w in args.widths.split(","))
    model = CompactUNet(widths)
    print(f"parameters {count_parameters(model)}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = max(1, len(train) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.1
    )
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for step in range(steps_per_epoch):
            batch = [train[i] for i in order[step * args.batch : (step + 1) * args.batch]]
            pairs = [augment(s.grey, s.labels, args.size, rng) for s in batch]
            total += train_step(model, opt, sched, pairs)
        msg = f"epoch {epoch + 1}/{args.epochs} loss {total / steps_per_epoch:.4f} t {time.time() - t0:.0f}s"
        if val and ((epoch + 1) % 10 == 0 or epoch + 1 == args.epochs):
            model.eval()
            s = evaluate(model, val, args.size)["summary"]
            msg += f" val dice nerve {s['nerve']['dice_mean']:.3f} vessel {s['vessel']['dice_mean']:.3f}"
        print(msg, flush=True)

    out = Path(args.out)
    onnx_path = save_model(model, out, "nerve_unet", args.size)
    metrics: dict[str, Any] = {
        "command": "python -m sonomsk.training.train_nerve "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "epochs": args.epochs,
        "input_size": args.size,
        "widths": list(widths),
        "parameters": count_parameters(model),
        "train_ids": [s.ident for s in train],
        "validation_ids": [s.ident for s in val],
        "simulated_scenes": sim_used,
        "split": (
            f"grouped interleaved hold-out: blocks of 10 file numbers, block index mod {args.n_folds} == "
            f"{args.holdout_fold} held out; images of one picture kept in one fold "
            "(sonomsk.training.duplicates)"
            if args.holdout_fold is not None
            else "all images used for training"
        ),
        "train_seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''} torch threads {args.threads}".strip(),
        "torch": torch.__version__,
    }
    if val:
        metrics["validation"] = evaluate(model, val, args.size)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics.get("validation", {}).get("summary", {}), indent=2), flush=True)
    print(f"wrote {onnx_path} in {time.time() - t0:.0f}s", flush=True)
    return 0


def train_step(model: Any, opt: Any, sched: Any, pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """One optimiser step on (image, labels) pairs with cross-entropy plus Dice loss."""
    import torch

    x = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
    y = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y) + _dice_loss(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


def save_model(model: Any, out: Path, name: str, size: int) -> Path:
    """``out/<name>.onnx`` (for inference) and ``out/<name>.pt`` (torch weights); the ONNX path."""
    import torch

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / f"{name}.onnx"
    export_onnx(model, onnx_path, size)
    torch.save(model.state_dict(), out / f"{name}.pt")
    return onnx_path


def export_onnx(model: Any, path: Path, size: int) -> None:
    """Export ``model`` followed by a softmax: input ``image`` (N, 1, size, size) standardised
    grey, output ``prob`` (N, 3, size, size) class probabilities. The softmax is written
    element-wise (:func:`sonomsk.training.graph.explicit_softmax`)."""
    import torch

    class _WithSoftmax(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return torch.softmax(self.inner(x), dim=1)

    wrapped = _WithSoftmax(model).eval()
    dummy = torch.zeros(1, 1, size, size)
    # The TorchScript exporter is chosen on purpose: the torch.export one needs onnxscript and
    # gives the same graph for this plain convolutional model.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        _export(torch, wrapped, dummy, path)
    # onnxruntime's channel Softmax transposes the tensor twice; the element-wise form is faster
    from sonomsk.training.graph import rewrite_file

    rewrite_file(path, path)


def _export(torch: Any, wrapped: Any, dummy: Any, path: Path) -> None:
    torch.onnx.export(
        wrapped,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["prob"],
        dynamic_axes={"image": {0: "batch"}, "prob": {0: "batch"}},
        opset_version=17,
        dynamo=False,
        external_data=False,
    )


if __name__ == "__main__":
    raise SystemExit(main())
