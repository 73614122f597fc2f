"""A refinement run against the shipped refinement model, on the three measures of decision 003's
shipping rule (twelfth and thirteenth sessions).

    python benchmarks/bench_refine_candidate.py RUN [--data ../shared/data/usgra-seg] [--sim 96]

RUN is a folder written by ``python -m sonomsk.training.train_refine --holdout-fold 0`` (the
grouped split). Both models are run with onnxruntime, as the product runs them:

1. simulated CSA within 5 % on seeds 9000-9095 (``--sim`` scenes, the product pipeline through
   DICOM and ``sonomsk.read``, as ``bench_segmentation.py`` does on seeds 5000+);
2. Dice of the nominal window on each nerve of the usgra-seg images held out by both models'
   training (the shipped one's ungrouped fold 0 and the run's grouped fold 0) and independent of
   both training sets, one per picture;
3. the product pipeline's nerve Dice on the whole-frame model's held-out images
   (``bench_segmentation.holdout_samples``), less any that show a picture the run trained on.

Writes ``RUN/eval_vs_shipped.json`` and prints the three criteria of the rule.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _windows_dice(model: bytes, samples: list[Any], keep: set[str]) -> tuple[int, float]:
    import onnxruntime as ort

    from sonomsk.training.train_refine import window_dice

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    size = int(session.get_inputs()[0].shape[-1])
    scores = window_dice(
        lambda x: session.run(None, {"image": x})[0][0], [s for s in samples if s.ident in keep], size
    )
    return len(scores), float(np.mean(scores))


def _simulated_csa(seed0: int, n: int) -> tuple[int, float]:
    """Scenes within 5 % and the median relative error of ``bench_segmentation.simulated_csa``
    (a nerve not found counts as an error above 5 %)."""
    import bench_segmentation as bs

    errs = [abs(m - t) / t if m == m else float("inf") for t, m in bs.simulated_csa(n, "onnx-unet", seed0)]
    return sum(e <= 0.05 for e in errs), statistics.median(errs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("SONOMSK_DATA", "../shared/data")) / "usgra-seg"
    )
    ap.add_argument("--sim", type=int, default=96)
    args = ap.parse_args(argv)

    import bench_segmentation as bs
    from sonomsk.training.datasets import load_usgra_seg, split_holdout
    from sonomsk.training.duplicates import independent_holdout, picture_groups, same_picture_pairs
    from sonomsk.vision import backends, onnx_unet

    shipped = onnx_unet._model_bytes(onnx_unet.REFINE_NAME)
    assert shipped is not None, "the package ships no refinement model"
    candidate = (args.run / "nerve_refine.onnx").read_bytes()
    metrics = json.loads((args.run / "metrics.json").read_text())
    samples = load_usgra_seg(args.data)
    groups = picture_groups([s.ident for s in samples], same_picture_pairs(samples))
    ids = [s.ident for s in samples]
    old_train, old_val = split_holdout(samples, fold=0, n_folds=5, pairs=[])  # the shipped run's split
    new_train, new_val = split_holdout(samples, fold=0, n_folds=5)
    run_train = [str(i) for i in metrics["train_ids"]]
    if set(run_train) != {ids[i] for i in new_train}:
        raise SystemExit("the run was not trained with --holdout-fold 0 of the grouped split")
    kept, _ = independent_holdout(
        sorted({ids[i] for i in old_val} & {ids[i] for i in new_val}),
        [ids[i] for i in old_train] + run_train,
        groups,
    )
    print(f"real windows: {len(kept)} images independent of both refinement models' training", flush=True)
    run_pictures = {groups.get(t, t) for t in run_train}
    original = onnx_unet._model_bytes
    res: dict[str, dict[str, Any]] = {}
    for name, model in (("shipped", shipped), ("candidate", candidate)):
        n_windows, real = _windows_dice(model, samples, set(kept))

        def patched(which: str = onnx_unet.MODEL_NAME, model: bytes = model) -> bytes | None:
            return model if which == onnx_unet.REFINE_NAME else original(which)

        onnx_unet._model_bytes = patched  # type: ignore[assignment]
        backends._INSTANCES.clear()
        held, _, _, _ = bs.holdout_samples(args.data, "onnx-unet")
        held = [s for s in held if groups.get(s.ident, s.ident) not in run_pictures]
        pipeline = bs.usgra_holdout(held, "onnx-unet")["nerve"]
        assert isinstance(pipeline, dict)
        within, median = _simulated_csa(9000, args.sim)
        res[name] = {
            "real_windows": n_windows,
            "real_dice": real,
            "pipeline_images": len(held),
            "pipeline_nerve_dice": pipeline["dice_mean"],
            "sim_scenes": args.sim,
            "sim_within_5pct": within,
            "sim_median_error": median,
        }
        print(name, json.dumps(res[name]), flush=True)
    onnx_unet._model_bytes = original
    backends._INSTANCES.clear()
    (args.run / "eval_vs_shipped.json").write_text(json.dumps(res, indent=2))
    s, c = res["shipped"], res["candidate"]
    rule = {
        "1 sim: at least 5 more within 5 %": c["sim_within_5pct"] >= s["sim_within_5pct"] + 5,
        "2 real windows: at most 0.01 lower": c["real_dice"] >= s["real_dice"] - 0.01,
        "3 pipeline fold 0: at most 0.01 lower": c["pipeline_nerve_dice"] >= s["pipeline_nerve_dice"] - 0.01,
    }
    print("rule:", json.dumps(rule), "ship" if all(rule.values()) else "do not ship")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
