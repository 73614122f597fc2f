"""``sonomsk info PATH... [--json]``: what each file is and how it is calibrated."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from sonomsk.cli._common import (
    add_common_options,
    expand_inputs,
    name_list,
    print_json,
    progress,
    split_images,
)
from sonomsk.core.errors import SonomskError
from sonomsk.core.image import Region, UltrasoundImage


def register(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="describe images: format, size, transfer syntax, calibration regions, warnings",
        description="Describe ultrasound files (DICOM, video, still images). Folders are searched "
        "recursively. A bad file is reported and the rest continue; the exit code is 1 if any failed.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (at least one)")
    p.add_argument(
        "--spacing-mm",
        nargs="+",
        metavar="MM",
        help="pixel size for uncalibrated inputs: one value, or row and col (paths may follow)",
    )
    add_common_options(p)
    p.set_defaults(func=run, parser=p)


def _split_spacing(args: argparse.Namespace) -> list[float] | None:
    """The one or two numbers after ``--spacing-mm``; what follows them are paths (``info
    --spacing-mm 0.1 scan.png`` reads scan.png at 0.1 mm/px)."""
    tokens = list(args.spacing_mm or [])
    values: list[float] = []
    while tokens and len(values) < 2:
        try:
            number = float(tokens[0])
        except ValueError:
            break
        if values and Path(tokens[0]).exists():  # a second number that is also a file: ambiguous
            args.parser.error(
                f"--spacing-mm: {tokens[0]!r} is a number and a file; write --spacing-mm=MM or put the paths first"
            )
        values.append(number)
        tokens.pop(0)
    if args.spacing_mm and not values:
        args.parser.error(f"--spacing-mm: expected a number in mm, got {args.spacing_mm[0]!r}")
    args.paths = [*args.paths, *tokens]
    return values or None


def region_dict(region: Region) -> dict[str, Any]:
    """``bbox`` is [x0, y0, x1, y1] in inclusive pixel coordinates (as DICOM stores it)."""
    r0, c0, r1, c1 = region.box
    spacing = region.spacing_mm
    return {
        "bbox": [c0, r0, c1 - 1, r1 - 1],
        "kind": region.kind.value,
        "spacing_mm": None if spacing is None else [spacing[1], spacing[0]],
        "units": [region.col_axis.unit, region.row_axis.unit],
        "valid": region.valid,
        "reason": region.reason,
    }


def describe(image: UltrasoundImage, path: Path) -> dict[str, Any]:
    md = image.metadata
    return {
        "path": str(path),
        "format": md.get("format"),
        "frames": image.n_frames,
        "rows": image.rows,
        "columns": image.columns,
        "channels": image.channels,
        "photometric_interpretation": md.get("photometric_stored") or image.photometric,
        "transfer_syntax": md.get("transfer_syntax"),
        "transfer_syntax_name": md.get("transfer_syntax_name"),
        "manufacturer": md.get("manufacturer"),
        "model": md.get("model"),
        "frame_time_s": image.frame_time_s,
        "calibrated": image.calibrated,
        "calibration_source": md.get("calibration_source"),
        "regions": [region_dict(r) for r in image.regions],
        "warnings": list(image.warnings),
        "sop_instance_uid": image.provenance.sop_instance_uid,
        "sha256": image.provenance.source_sha256,
    }


def _text(entry: dict[str, Any]) -> str:
    lines = [
        f"{entry['path']}",
        f"  format {entry['format']}, {entry['frames']} frame(s), {entry['rows']} x {entry['columns']} px, "
        f"{entry['channels']} channel(s), {entry['photometric_interpretation']}",
    ]
    if entry.get("transfer_syntax"):
        lines.append(f"  transfer syntax {entry['transfer_syntax_name']} ({entry['transfer_syntax']})")
    if entry.get("manufacturer") or entry.get("model"):
        lines.append(f"  device {entry.get('manufacturer') or '?'} {entry.get('model') or ''}".rstrip())
    lines.append(f"  calibrated: {'yes' if entry['calibrated'] else 'no (results in px)'}")
    for i, r in enumerate(entry["regions"], 1):
        sp = (
            "no mm"
            if r["spacing_mm"] is None
            else f"{r['spacing_mm'][0]:.4f} x {r['spacing_mm'][1]:.4f} mm/px (col x row)"
        )
        bad = "" if r["valid"] else f"  [rejected: {r['reason']}]"
        lines.append(f"  region {i}: {r['kind']} bbox {r['bbox']} {sp}{bad}")
    for w in entry["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sonomsk

    spacing = _split_spacing(args)
    if not args.paths:
        args.parser.error("give at least one file or folder")
    files: list[Path] = []
    skipped: list[Path] = []
    for item in args.paths:  # in folders only images, as `sonomsk segment` takes them; named files always
        if Path(item).is_dir():
            images, others = split_images(expand_inputs([item]))
            files += images
            skipped += others
        else:
            files.append(Path(item))
    if skipped:
        print(
            f"sonomsk: note: skipped {len(skipped)} file(s) that are not images: {name_list(skipped)}",
            file=sys.stderr,
        )
    if not files:
        print("sonomsk: error: no input files", file=sys.stderr)
        return 1
    results: list[dict[str, Any]] = []
    failed = 0
    for path in progress(files, total=len(files), desc="info", enabled=len(files) > 3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = sonomsk.read(
                    path,
                    spacing_mm=spacing[0] if spacing and len(spacing) == 1 else spacing,
                )
            entry = describe(image, path)
        except SonomskError as exc:
            failed += 1
            entry = {
                "path": str(path),
                "error": " ".join(str(exc).split()),
                "error_class": type(exc).__name__,
            }
            # one line per bad file on stderr in both modes (stdout stays pure JSON with --json)
            print(f"sonomsk: error: {entry['error']}", file=sys.stderr)
        results.append(entry)
        if not args.json and "error" not in entry:
            print(_text(entry))
    if args.json:
        print_json(results)
    return 1 if failed else 0
