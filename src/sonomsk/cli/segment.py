"""``sonomsk segment``: batch nerve/vessel segmentation with label images and a measurement CSV."""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path
from typing import Any

from sonomsk.cli._common import add_common_options, expand_inputs, print_json, progress
from sonomsk.core.errors import InvalidParameterError, SonomskError

CSV_COLUMNS = (
    "file",
    "frame",
    "structure",
    "instance",
    "area_px",
    "area_mm2",
    "perimeter",
    "perimeter_unit",
    "circularity",
    "flattening_ratio",
    "mean_echo",
    "hypoechoic_fraction",
    "backend",
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "segment",
        help="segment nerves and vessels in transverse images; label PNGs and a measurement CSV",
        description="For each input (files or folders) write DIR/<stem>.png, a label image of the input's "
        "size (0 background, 1 nerve, 2 vessel), and optionally a CSV with one row per structure. "
        "A bad file is reported and the batch continues; the exit code is 1 if any failed.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--out", type=Path, required=True, help="folder for the label images")
    p.add_argument(
        "--structures", default="nerve,vessel", help="comma-separated: nerve,vessel (default both)"
    )
    p.add_argument("--csv", type=Path, help="write one row per structure instance to this CSV")
    p.add_argument("--backend", help="segmentation backend (default: the shipped ONNX U-Net)")
    p.add_argument("--frame", type=int, default=0, help="frame of a cine to segment (default 0)")
    p.add_argument("--spacing-mm", type=float, help="pixel size for uncalibrated inputs (mm)")
    add_common_options(p)
    p.set_defaults(func=run)


def _row(path: Path, frame: int, inst: Any, backend: str) -> dict[str, Any]:
    by = {m.name: m for m in inst.measurements}
    area = by["area_cross_section"]
    calibrated = area.unit == "mm2"
    area_px = int(inst.mask.sum())
    perimeter = by.get("perimeter")
    return {
        "file": str(path),
        "frame": frame,
        "structure": inst.kind,
        "instance": inst.index,
        "area_px": area_px,
        "area_mm2": round(float(area.value), 4) if calibrated else "",
        "perimeter": round(float(perimeter.value), 4) if perimeter else "",
        "perimeter_unit": perimeter.unit if perimeter else "",
        "circularity": round(float(by["circularity"].value), 4) if "circularity" in by else "",
        "flattening_ratio": round(float(by["ratio_flattening"].value), 4) if "ratio_flattening" in by else "",
        "mean_echo": round(float(by["echo_intensity_mean"].value), 2) if "echo_intensity_mean" in by else "",
        "hypoechoic_fraction": round(float(by["fraction_hypoechoic"].value), 4)
        if "fraction_hypoechoic" in by
        else "",
        "backend": backend,
    }


def run(args: argparse.Namespace) -> int:
    import cv2

    import sonomsk
    from sonomsk.nerve.segment import check_structures, segment_frame

    structures = check_structures(args.structures.split(","))
    files = expand_inputs(args.inputs)
    if not files:
        raise InvalidParameterError("INPUT: no files found")
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    failed = 0
    stems: set[str] = set()
    for path in progress(files, total=len(files), desc="segment", enabled=len(files) > 2):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = sonomsk.read(path, spacing_mm=args.spacing_mm)
            seg = segment_frame(image, frame=args.frame, backend=args.backend, structures=structures)
            stem = path.stem if path.stem not in stems else f"{path.stem}_{len(stems)}"
            stems.add(stem)
            out = args.out / f"{stem}.png"
            if not cv2.imwrite(str(out), seg.labels.astype("uint8")):
                raise SonomskError(f"{out}: the label image could not be written")
            found = [_row(path, args.frame, inst, seg.backend) for inst in seg.instances]
            rows.extend(found)
            report.append(
                {
                    "file": str(path),
                    "labels": str(out),
                    "structures": len(found),
                    "calibrated": image.calibrated,
                }
            )
        except Exception as exc:  # a batch records every failure with its reason and goes on
            failed += 1
            kind = (
                type(exc).__name__
                if isinstance(exc, SonomskError)
                else f"InternalError({type(exc).__name__})"
            )
            msg = " ".join(str(exc).split())
            report.append({"file": str(path), "error": msg, "error_class": kind})
            print(f"sonomsk: error: {msg if str(path) in msg else f'{path}: {msg}'}", file=sys.stderr)
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
    if args.json:
        print_json(report)
    else:
        ok = len(files) - failed
        print(
            f"segmented {ok} of {len(files)} file(s); label images in {args.out}"
            + (f"; CSV {args.csv}" if args.csv else "")
        )
    return 1 if failed else 0
