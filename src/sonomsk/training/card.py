"""Write the model card of a trained nerve/vessel model from its training run's metrics.json.

    python -m sonomsk.training.card RUN_DIR [--refine REFINE_RUN_DIR] [--crossval RUN ...]
    python -m sonomsk.training.card --replace-refinement REFINE_RUN_DIR --data DATA

The second form replaces only the installed card's refinement stage (and ``nerve_refine.onnx``),
keeping its whole-frame model, validation and cross-validation as they are.
        [--data USGRA_SEG] [--install]

``--install`` copies the ONNX file(s) and writes ``nerve_unet.json`` (read by the ONNX backend) and
``nerve_unet.md`` (for people) into ``src/sonomsk/vision/models``. ``--refine`` adds the nerve
refinement model trained by :mod:`sonomsk.training.train_refine` (card key ``refinement``). Every number in the card is
read from the run's metrics.json; none is typed in.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parents[1] / "vision" / "models"
ATTRIBUTION = (
    "Trained on usgra-seg (tmkand/usgra-seg), transverse B-mode of peripheral nerves and vessels in "
    "regional-anaesthesia views, Mindray TE7 with an L14-6Ns linear probe; licence CC BY 4.0. "
    "Simulated scenes from sonomsk.simulate (synthetic, no licence restriction)."
)


def refinement_entry(metrics: dict[str, Any]) -> dict[str, Any]:
    """The card's ``refinement`` entry (window geometry the backend uses, training, validation)."""
    return {
        "input_size": metrics["input_size"],
        "window_factor": metrics["window_factor"],
        "min_window_px": metrics["min_window_px"],
        "source": "window geometry of the training run (sonomsk.training.train_refine); not clinical values",
        "training": {
            k: metrics.get(k)
            for k in ("command", "seed", "steps", "batch", "widths", "parameters", "train_seconds", "machine")
        },
        "simulated_scenes": metrics.get("simulated_scenes"),
        # an average of several runs (sonomsk.training.average) lists their training here
        "members": metrics.get("members"),
        "validation_real": metrics.get("validation_real"),
        # the held-out images independent of training, one per picture (card --data)
        "validation_real_independent": metrics.get("validation_real_independent"),
        "validation_simulated": metrics.get("validation_simulated"),
    }


def card_from_metrics(
    metrics: dict[str, Any],
    version: str,
    refine: dict[str, Any] | None = None,
    crossval: dict[str, Any] | None = None,
    independent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card of one training run (``metrics``), with its refinement stage, the
    cross-validation of its recipe (:func:`sonomsk.training.crossval.pool` over this run and the
    runs of the other folds) and the scores of its held-out images independent of its training
    images (:func:`independent_validation`) when given."""
    summary = metrics.get("validation", {}).get("summary", {})
    split = metrics.get("split", "")
    found = re.search(r"mod \d+ == (\d+)", split)
    fold = int(found.group(1)) if found else None
    validation: dict[str, Any] = {
        "method": split,
        "holdout_fold": fold,
        "n_folds": 5,
        "n_images": len(metrics.get("validation_ids", [])),
        "validation_ids": metrics.get("validation_ids", []),
    }
    for name in ("nerve", "vessel"):
        s = summary.get(name, {})
        validation[name] = {
            k: s.get(k) for k in ("n_present", "dice_mean", "dice_median", "area_error_rel_median")
        }
    validation["scoring"] = SCORING
    if independent is not None:
        validation["independent_of_training"] = independent
    card: dict[str, Any] = {
        "version": version,
        "intended_use": "Outline peripheral nerves and vessels in transverse B-mode ultrasound for "
        "cross-sectional-area measurement, as a proposal that a clinician reviews and corrects. "
        "Not a diagnostic device.",
        "input_contract": f"one grey frame (colour is converted to luma), any size; resized to "
        f"{metrics.get('input_size')}x{metrics.get('input_size')}, standardised per image; output 3-class "
        "probabilities (background, nerve, vessel) resized back to the frame",
        "input_size": metrics.get("input_size"),
        "training_data": f"usgra-seg: {len([i for i in metrics.get('train_ids', []) if not str(i).startswith('sim')])} "
        f"real images with expert masks; {metrics.get('simulated_scenes', 0)} simulated scenes",
        "attribution": ATTRIBUTION,
        "validation": validation,
        "training": {
            k: metrics.get(k)
            for k in (
                "command",
                "seed",
                "epochs",
                "widths",
                "parameters",
                "train_seconds",
                "machine",
                "torch",
            )
        },
        "graph": GRAPH,
        "limitations": "One device and probe in the real training data (Mindray TE7, L14-6Ns) and "
        "regional-anaesthesia views; other devices, presets and sites (e.g. wrist, elbow) are outside "
        "the validated range. Small nerves and fascicular detail below about 0.1 mm/px are not resolved. "
        "Every outline must be reviewed.",
    }
    if refine is not None:
        card["refinement"] = refinement_entry(refine)
    if crossval is not None:
        card["cross_validation"] = {
            "what": "the training recipe, run once per held-out fold; the shipped weights are "
            "the fold-0 run, the other folds' weights are not shipped",
            **crossval,
        }
    return card


#: the exported graph's output layer (:mod:`sonomsk.training.graph`)
GRAPH = (
    "ONNX opset 17; the closing softmax is written element-wise (ReduceMax, Sub, Exp, ReduceSum, "
    "Div; sonomsk.training.graph), which onnxruntime runs faster than its Softmax node over the "
    "channel axis, with the same probabilities to within 1e-7"
)

#: how the card's scores are computed (stated in the card itself)
SCORING = (
    "Dice and area error over the images whose expert mask has the class (an image without it "
    "counts as a false-positive image when the model draws any pixel of it); area error = "
    "|predicted - true| / true area, in frame pixels; the network's probabilities are resized "
    "back to each frame and the arg-max is taken there, without post-processing or refinement"
)


def independent_validation(metrics: dict[str, Any], groups: dict[str, str]) -> dict[str, Any]:
    """The run's held-out scores over the images independent of its training images, one per
    picture (``groups``: :func:`sonomsk.training.duplicates.picture_groups`), and why each other
    held-out image is left out."""
    from sonomsk.training.crossval import CLASSES, class_summary, independent_rows

    run = {
        "per_image": metrics["validation"]["per_image"],
        "train_ids": [str(i) for i in metrics.get("train_ids", []) if not str(i).startswith("sim")],
    }
    rows, dropped = independent_rows(run, groups)
    return {"n_images": len(rows), "excluded": dropped, **{c: class_summary(rows, c) for c in CLASSES}}


def _score_row(name: str, s: dict[str, Any]) -> str:
    """A markdown row: class, images, Dice mean (with its 95 % interval when known), median, area error."""
    ci = s.get("dice_ci95")
    fp = f" {s['false_positive_images']} of {s['n_absent']} |" if "n_absent" in s else ""
    if not s["n_present"]:
        return f"| {name} | 0 | - | - | - |" + fp
    mean = f"{s['dice_mean']:.3f}" + (f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else "")
    return (
        f"| {name} | {s['n_present']} | {mean} | {s['dice_median']:.3f} | "
        f"{100 * s['area_error_rel_median']:.1f} % |" + fp
    )


def card_markdown(card: dict[str, Any]) -> str:
    v = card["validation"]
    lines = [
        "# Model card: nerve/vessel U-Net (`onnx-unet`)",
        "",
        f"- **Version:** {card['version']}",
        f"- **Intended use:** {card['intended_use']}",
        f"- **Input:** {card['input_contract']}",
        f"- **Training data:** {card['training_data']}",
        f"- **Attribution:** {card['attribution']}",
        f"- **Training:** `{card['training']['command']}` ({card['training']['parameters']} parameters, "
        f"{card['training']['train_seconds']} s on {card['training']['machine']}, torch {card['training']['torch']})",
        *([f"- **Graph:** {card['graph']}"] if card.get("graph") else []),
        "",
        "## Validation",
        "",
        f"Scoring: {card['validation'].get('scoring', SCORING)}.",
        "",
    ]
    ind = v.get("independent_of_training")
    if ind:
        lines += [
            f"{v['method']}. Of its {v['n_images']} held-out usgra-seg images, {ind['n_images']} are "
            "independent of the training images, one per picture; the other "
            f"{len(ind['excluded'])} show a picture the model trained on, or a second copy of a "
            "held-out picture (usgra-seg holds copies of one picture under two file names; "
            "`sonomsk.training.duplicates`), and are left out. Training runs were compared on this "
            "fold before one was shipped (docs/decisions/003), so these scores are slightly optimistic.",
            "",
            "| class | images | Dice mean (95 % interval) | Dice median | area error median | false-positive images |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_score_row(name, ind[name]) for name in ("nerve", "vessel")]
        lines += [
            "",
            f"Over all {v['n_images']} held-out images, twins included: nerve Dice "
            f"{v['nerve']['dice_mean']:.3f}, vessel {v['vessel']['dice_mean']:.3f} (not a measure "
            "of unseen images).",
        ]
    else:
        lines += [
            f"{v['method']}: {v['n_images']} usgra-seg images held out of training (not checked for "
            "copies of training images). Training runs were compared on this fold before one was "
            "shipped (docs/decisions/003), so these scores are slightly optimistic.",
            "",
            "| class | images | Dice mean | Dice median | area error median |",
            "|---|---|---|---|---|",
        ]
        lines += [_score_row(name, v[name]) for name in ("nerve", "vessel")]
    cv = card.get("cross_validation")
    if cv:
        p = cv["pooled"]
        what = (
            "held-out images independent of each run's training images, one per picture"
            if cv.get("independent_of_training")
            else "every held-out image once"
        )
        lines += [
            "",
            f"**Cross-validation of the recipe** ({len(cv['folds'])} folds, {what}, "
            f"{p['n_images']} images; {cv['what']}):",
            "",
            "| class | images | Dice mean (95 % interval) | Dice median | area error median | false-positive images |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_score_row(name, p[name]) for name in ("nerve", "vessel")]
    r = card.get("refinement")
    if r:
        lines += [
            "",
            "The tables above are the whole-frame model alone (no post-processing, no "
            "refinement); `docs/benchmarks.md` measures the whole pipeline.",
            "",
            "## Refinement stage (`nerve_refine.onnx`)",
            "",
            f"Each nerve found is segmented again in a window {r['window_factor']} times its height and "
            f"width (at least {r['min_window_px']} px each), resized to {r['input_size']}x{r['input_size']}, "
            "when that shows it finer than the whole-frame model does.",
            f"Training: `{r['training']['command']}` ({r['training']['parameters']} parameters, "
            f"{r['training']['train_seconds']} s on {r['training']['machine']}; "
            f"{r['simulated_scenes']} simulated scenes plus the real training images).",
        ]
        for m in r.get("members") or []:
            lines.append(f"- Averaged member: `{m['command']}` ({m['train_seconds']} s).")
        keys = (
            (
                "validation_real_independent",
                "held-out real windows of images independent of training, one per picture,",
            ),
            (
                "validation_real",
                "held-out real windows of every held-out image (copies of training images included),"
                if r.get("validation_real_independent")
                else "held-out real windows",
            ),
            ("validation_simulated", "unseen simulated windows"),
        )
        for key, what in keys:
            v2 = r.get(key)
            if v2:
                lines.append(
                    f"- Nerve Dice in {v2['n_windows']} {what} centred on the true nerve: "
                    f"mean {v2['dice_mean']:.3f}, median {v2['dice_median']:.3f}."
                )
    lines += ["", "## Limitations", "", card["limitations"], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from sonomsk import __version__

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "run", type=Path, nargs="?", help="training output folder (nerve_unet.onnx, metrics.json)"
    )
    ap.add_argument(
        "--replace-refinement",
        type=Path,
        metavar="REFINE_RUN",
        help="replace only the installed card's refinement stage and model with this run's (needs --data)",
    )
    ap.add_argument(
        "--refine", type=Path, help="refinement training output (nerve_refine.onnx, metrics.json)"
    )
    ap.add_argument(
        "--crossval",
        type=Path,
        nargs="+",
        metavar="RUN",
        help="runs of the same recipe holding out the other folds: their pooled held-out scores "
        "(with this run's) go into the card as the recipe's cross-validation",
    )
    ap.add_argument(
        "--data",
        type=Path,
        help="usgra-seg folder: score only the held-out images independent of the training images "
        "(copies of one picture under two names are found by content)",
    )
    ap.add_argument("--install", action="store_true", help="copy the model and its card into the package")
    args = ap.parse_args(argv)
    if args.replace_refinement is not None:
        if args.data is None or args.run is not None:
            ap.error("--replace-refinement takes a refinement run and --data, and no RUN_DIR")
        return _replace_refinement(args.replace_refinement, args.data)
    if args.run is None:
        ap.error("RUN_DIR is required")
    metrics = json.loads((args.run / "metrics.json").read_text())
    refine = json.loads((args.refine / "metrics.json").read_text()) if args.refine else None
    groups = None
    if args.data:
        samples, groups = _samples_and_pictures(args.data)
    crossval = None
    if args.crossval:
        from sonomsk.training.crossval import pool

        crossval = pool([args.run, *args.crossval], groups)
        for f in crossval["folds"]:
            f["run"] = Path(f["run"]).name  # the folder name, not this machine's path
    independent = independent_validation(metrics, groups) if groups is not None else None
    if refine is not None and groups is not None and args.refine is not None:
        from sonomsk.training.train_refine import independent_windows

        refine["validation_real_independent"] = independent_windows(args.refine, samples, groups)
    card = card_from_metrics(metrics, __version__, refine, crossval, independent)
    out = MODELS if args.install else args.run
    out.mkdir(parents=True, exist_ok=True)
    if args.install:
        shutil.copyfile(args.run / "nerve_unet.onnx", out / "nerve_unet.onnx")
        if args.refine:
            shutil.copyfile(args.refine / "nerve_refine.onnx", out / "nerve_refine.onnx")
        else:
            (out / "nerve_refine.onnx").unlink(missing_ok=True)
    (out / "nerve_unet.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "nerve_unet.md").write_text(card_markdown(card))
    print(f"wrote the model card to {out}")
    return 0


def _samples_and_pictures(data: Path) -> tuple[list[Any], dict[str, str]]:
    """usgra-seg's samples and the picture each file shows (copies under two names share one)."""
    from sonomsk.training.datasets import load_usgra_seg
    from sonomsk.training.duplicates import picture_groups, same_picture_pairs

    samples = load_usgra_seg(data)
    return samples, picture_groups([s.ident for s in samples], same_picture_pairs(samples))


def _replace_refinement(run: Path, data: Path) -> int:
    """Install refinement run ``run`` into the package: its model, and the card's ``refinement``
    entry scored on held-out images independent of its training (the rest of the card is kept)."""
    from sonomsk.training.train_refine import independent_windows

    refine = json.loads((run / "metrics.json").read_text())
    samples, groups = _samples_and_pictures(data)
    refine["validation_real_independent"] = independent_windows(run, samples, groups)
    card = json.loads((MODELS / "nerve_unet.json").read_text())
    card["refinement"] = refinement_entry(refine)
    shutil.copyfile(run / "nerve_refine.onnx", MODELS / "nerve_refine.onnx")
    (MODELS / "nerve_unet.json").write_text(json.dumps(card, indent=2) + "\n")
    (MODELS / "nerve_unet.md").write_text(card_markdown(card))
    print(f"replaced the refinement stage of the model card in {MODELS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
