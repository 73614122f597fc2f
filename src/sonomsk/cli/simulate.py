"""``sonomsk simulate SCENE --out FILE --truth TRUTH.json``: render a phantom with exact truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from sonomsk.cli._common import add_common_options, print_json
from sonomsk.core.errors import InvalidParameterError


def register(subparsers: argparse._SubParsersAction) -> None:
    from sonomsk.simulate.scenes import SCENES

    parser = subparsers.add_parser(
        "simulate",
        help="render a simulated ultrasound scene with exact ground truth",
        description="Render a named phantom scene (B-mode, Doppler, cine) to DICOM, PNG or MP4 and write "
        "its ground truth (parameters, label masks, per-frame truth) as JSON.",
    )
    parser.add_argument("scene", choices=sorted(SCENES), help="scene name")
    parser.add_argument("--out", required=True, help="output image: .dcm, .png or .mp4")
    parser.add_argument("--truth", required=True, help="truth JSON (masks are written beside it)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--frames", type=int, default=None, help="number of frames (cine when > 1)")
    parser.add_argument("--frequency-mhz", type=float, default=None, help="centre frequency, 3 to 18 MHz")
    parser.add_argument("--depth-mm", type=float, default=None, help="imaging depth in mm")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="scene parameter (repeatable)"
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> int:
    from sonomsk.simulate.api import simulate_scene
    from sonomsk.simulate.output import sidecar_path, write_image

    out, truth_path = Path(args.out), Path(args.truth)
    if truth_path.suffix.lower() != ".json":
        raise InvalidParameterError(f"--truth {truth_path}: expected a .json file")
    if truth_path.resolve() in (sidecar_path(out).resolve(), out.resolve()):
        raise InvalidParameterError(f"--truth {truth_path}: must differ from the output and its sidecar")
    image, truth = simulate_scene(
        args.scene,
        seed=args.seed,
        frames=args.frames,
        frequency_mhz=args.frequency_mhz,
        depth_mm=args.depth_mm,
        overrides=_parse_sets(args.set),
    )
    written = write_image(image, out)
    truth.write(truth_path)
    summary = {
        "scene": args.scene,
        "seed": args.seed,
        "frames": image.n_frames,
        "shape": [image.rows, image.columns],
        "spacing_mm": list(truth.spacing_mm),
        "files": [str(p) for p in written],
        "truth": str(truth_path),
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"{args.scene}: {image.n_frames} frame(s) {image.rows}x{image.columns} px at "
            f"{truth.spacing_mm[0]:.4f} mm/px -> {out}; truth -> {truth_path}"
        )
    return 0
