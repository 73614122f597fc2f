"""Average refinement models of several training runs into one ONNX graph and validate it.

One command::

    python -m sonomsk.training.average RUN_A RUN_B --out OUT --data ../shared/data/usgra-seg

Each ``RUN`` is an output folder of :mod:`sonomsk.training.train_refine` (``nerve_refine.pt``,
``metrics.json``); the runs must share the window geometry, the network widths and the held-out
images. ``OUT/nerve_refine.onnx`` takes one window and returns the mean of the runs' class
probabilities; ``OUT/metrics.json`` has the shape of a training run's (so that
``python -m sonomsk.training.card RUN --refine OUT`` writes its card) with the members' training
and the average's own validation on the runs' held-out real images and unseen simulated scenes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SAME = ("input_size", "window_factor", "min_window_px", "widths", "validation_ids")
MEMBER_KEYS = ("command", "seed", "steps", "batch", "parameters", "train_seconds", "machine")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sonomsk.training.average", description=__doc__)
    p.add_argument("runs", type=Path, nargs="+", help="train_refine output folders (two or more)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", type=Path, help="usgra-seg folder: validate on the runs' held-out images")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if len(args.runs) < 2:
        p.error("give two or more runs to average")
    return args


def read_runs(runs: Sequence[Path]) -> list[dict[str, Any]]:
    """Each run's metrics; raises ValueError naming the first key on which the runs disagree."""
    metrics = []
    for run in runs:
        path = run / "metrics.json"
        if not path.is_file() or not (run / "nerve_refine.pt").is_file():
            raise ValueError(f"{run}: not a train_refine output (metrics.json and nerve_refine.pt)")
        metrics.append(json.loads(path.read_text()))
    for key in SAME:
        if any(m.get(key) != metrics[0].get(key) for m in metrics[1:]):
            raise ValueError(f"the runs differ in {key}; only runs of one recipe can be averaged")
    return metrics


def mean_model(runs: Sequence[Path], widths: Sequence[int]) -> Any:
    """A torch module returning the log of the runs' mean class probabilities."""
    import torch

    from sonomsk.training.unet import CompactUNet

    nets = []
    for run in runs:
        net = CompactUNet(tuple(widths), n_classes=2)
        net.load_state_dict(torch.load(run / "nerve_refine.pt", weights_only=True))
        nets.append(net.eval())

    class _Mean(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.nets = torch.nn.ModuleList(nets)

        def forward(self, x: Any) -> Any:
            p = torch.stack([torch.softmax(n(x), dim=1) for n in self.nets]).mean(0)
            # the exported graph applies a softmax, which turns these logits back into p
            return torch.log(p.clamp_min(1e-7))

    return _Mean().eval()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    import torch

    from sonomsk.training.datasets import real_split, simulated_samples
    from sonomsk.training.train_nerve import export_onnx
    from sonomsk.training.train_refine import evaluate

    t0 = time.time()
    try:
        members = read_runs(args.runs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    first = members[0]
    model = mean_model(args.runs, first["widths"])
    args.out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, args.out / "nerve_refine.onnx", first["input_size"])
    metrics: dict[str, Any] = {
        "command": "python -m sonomsk.training.average "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        **{k: first[k] for k in SAME},
        "members": [{k: m.get(k) for k in MEMBER_KEYS} for m in members],
        "parameters": sum(int(m["parameters"]) for m in members),
        "train_seconds": round(sum(float(m["train_seconds"]) for m in members), 1),
        "machine": first.get("machine"),
        "simulated_scenes": first.get("simulated_scenes"),
    }
    if args.data is not None and first.get("validation_ids"):
        held = set(first["validation_ids"])
        val = [s for s in real_split(args.data, holdout_fold=None)[0] if s.ident in held]
        if len(val) != len(held):
            print(f"error: {args.data} lacks some of the runs' held-out images", file=sys.stderr)
            return 2
        metrics["validation_real"] = evaluate(model, val, first["input_size"])
    if first.get("simulated_scenes"):
        # the unseen simulated scenes of the first run's own validation
        sim_val = simulated_samples(min(20, int(first["simulated_scenes"])), seed=int(first["seed"]) + 7919)
        metrics["validation_simulated"] = evaluate(model, sim_val, first["input_size"])
    metrics["average_seconds"] = round(time.time() - t0, 1)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps({k: metrics.get(k) for k in ("validation_real", "validation_simulated")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
