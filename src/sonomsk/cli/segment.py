"""``sonomsk segment``: batch nerve/vessel segmentation with label images and a measurement CSV.

Everything that can be checked before the batch is checked once, before any file is read or
written: the structures, the backend, ``--spacing-mm``, ``--frame``, the ``--out`` folder and the
``--csv`` file, and the inputs themselves (two inputs with the same stem would write the same
``DIR/<stem>.png``, so the run is refused). Files inside the ``--out`` folder are never inputs, so
a second run on the same folder segments the same images.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
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
from sonomsk.core.errors import InvalidParameterError, SonomskError

#: CSV columns. The contract's columns (file, structure, area_px, area_mm2, perimeter,
#: circularity, flattening ratio, mean echo, hypoechoic fraction) keep their relative order;
#: columns are only ever appended at the end.
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
    "fascicle_count",
    "fascicle_area_max_mm2",
    "vascular_fraction",
    "enclosed_other_px",
)


_DESCRIPTION = (
    "For each input (files or folders) write DIR/<stem>.png, a label image of the input's size "
    "(0 background, 1 nerve, 2 vessel), and optionally a CSV with one row per structure instance. "
    "Two inputs with the same stem are refused before any work. In folders only images are inputs "
    "(other files are skipped with a note) and files inside the --out folder are never inputs. "
    "A bad file is reported and the batch continues. A file in which a requested structure was not "
    "found gets a warning line on stderr and is counted in the summary, but it is not a failure: "
    "the file was read and segmented, and an absent structure is a valid result. "
    "Exit status: 0 when every file was read and segmented (even if some structures were not "
    "found), 1 when any file failed or nothing could be done. The CSV is replaced atomically and "
    "only when at least one file was segmented; --json prints the same rows per file. "
    "CSV columns: file, frame, structure, instance, area_px, area_mm2 (empty without calibration: "
    "no silent millimetres; everything the outline encloses), perimeter with perimeter_unit (mm, "
    "or px without calibration), circularity (4 pi area / perimeter^2), flattening_ratio (major / "
    "minor diameter), mean_echo (mean grey on a 0-255 scale), hypoechoic_fraction (fraction of the "
    "structure darker than the IsoData threshold of a window twice its size, the black margins "
    "around the scan left out), backend, fascicle_count and fascicle_area_max_mm2 (empty where "
    "the resolution does not allow them), vascular_fraction (colour Doppler pixels inside a "
    "nerve), enclosed_other_px (pixels of another structure inside the outline)."
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "segment",
        help="segment nerves and vessels in transverse images; label PNGs and a measurement CSV",
        description=_DESCRIPTION,
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


# --------------------------------------------------------------------------- checks before the batch


def _check_options(args: argparse.Namespace) -> tuple[str, ...]:
    """Structures (duplicates folded), backend, spacing and frame, validated once."""
    from sonomsk.io.read import normalise_spacing
    from sonomsk.nerve.segment import check_structures
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend

    structures = tuple(dict.fromkeys(check_structures(args.structures.split(","))))
    try:
        normalise_spacing(args.spacing_mm)
    except InvalidParameterError as exc:  # name the option as the user typed it
        raise InvalidParameterError(f"--spacing-mm: {str(exc).partition(': ')[2]}") from None
    if args.frame < 0:
        raise InvalidParameterError(f"--frame: expected a frame number of 0 or more, got {args.frame}")
    try:
        get_backend(args.backend or DEFAULT_BACKEND)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"--backend: {str(exc).partition(': ')[2]}") from None
    return structures


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


def _gather_inputs(inputs: Iterable[str], out: Path) -> list[Path]:
    """The input files: folders expanded to their image files, nothing from inside ``out``."""
    out_r = out.resolve()
    files: list[Path] = []
    seen: set[Path] = set()
    not_images: list[Path] = []
    in_out: list[Path] = []
    empty: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = expand_inputs([item])
            in_out.extend(f for f in found if _inside(f, out_r))
            images, others = split_images(f for f in found if not _inside(f, out_r))
            not_images.extend(others)
            if not images:
                empty.append(p)
        elif p.exists() and _inside(p, out_r):
            in_out.append(p)
            continue
        else:
            images = [p]  # a named file is always tried; a bad one is reported as a failure
        for f in images:
            key = f.resolve()
            if key not in seen:  # the same file named twice (or a file and its folder) is done once
                seen.add(key)
                files.append(f)
    if in_out:
        print(
            f"sonomsk: note: skipped {len(in_out)} file(s) inside the --out folder {out}: {name_list(in_out)}",
            file=sys.stderr,
        )
    if not files:
        where = ", ".join(str(p) for p in empty) or ", ".join(inputs)
        raise InvalidParameterError(
            f"INPUT: no image files found in {where}"
            + (f" (files inside the --out folder {out} are not inputs)" if in_out else "")
        )
    if not_images:
        print(
            f"sonomsk: note: skipped {len(not_images)} file(s) that are not images: {name_list(not_images)}",
            file=sys.stderr,
        )
    if empty:
        print(f"sonomsk: note: no image files in {name_list(empty)}", file=sys.stderr)
    return files


def _check_stems(files: Sequence[Path], out: Path) -> None:
    """Refuse inputs that would write the same label image (stems equal, ignoring case)."""
    first: dict[str, Path] = {}
    clashes: list[tuple[Path, Path]] = []
    for f in files:
        key = f.stem.casefold()
        if key in first:
            clashes.append((first[key], f))
        else:
            first[key] = f
    if clashes:
        a, b = clashes[0]
        more = f" ({len(clashes) - 1} more name clash(es))" if len(clashes) > 1 else ""
        raise InvalidParameterError(
            f"INPUT: {a} and {b} would both write {out / (a.stem + '.png')}{more}; "
            "rename one of them or segment them in separate runs with different --out folders"
        )


def _probe_writable(folder: Path, option: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sonomsk-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise InvalidParameterError(f"{option}: cannot write in {folder} ({exc.strerror or exc})") from None


def _check_csv(path: Path, files: Sequence[Path], out: Path) -> None:
    if path.is_dir():
        raise InvalidParameterError(
            f"--csv: {path} is a folder; expected a file name such as {path / 'measurements.csv'}"
        )
    if path.exists() and not path.is_file():
        raise InvalidParameterError(f"--csv: {path} exists and is not a regular file")
    parent = path.parent
    if not parent.is_dir() and parent.resolve() != out.resolve():  # --out is created before writing
        raise InvalidParameterError(f"--csv: the folder {parent} does not exist")
    target = path.resolve()
    if target in {f.resolve() for f in files}:
        raise InvalidParameterError(f"--csv: {path} is one of the inputs; refusing to overwrite it")
    if target in {(out / f"{f.stem}.png").resolve() for f in files}:
        raise InvalidParameterError(f"--csv: {path} is the name of a label image in {out}")


def _make_out(out: Path) -> list[Path]:
    """Create the ``--out`` folder; returns the folders created (deepest first)."""
    missing: list[Path] = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(missing)
        raise InvalidParameterError(
            f"--out: cannot create the folder {out} ({exc.strerror or exc})"
        ) from None
    try:
        _probe_writable(out, "--out")
    except SonomskError:
        _remove_empty(missing)
        raise
    return missing


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove folders this run created (deepest first) while they are empty."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            return


# --------------------------------------------------------------------------- results


def _value(by: Mapping[str, Any], name: str, digits: int, unit: str | None = None) -> Any:
    m = by.get(name)
    if m is None or not m.ok or (unit is not None and m.unit != unit):
        return ""
    return round(float(m.value), digits)


def _row(path: Path, frame: int, inst: Any, backend: str) -> dict[str, Any]:
    by = {m.name: m for m in inst.measurements}
    perimeter = by.get("perimeter")
    count = by.get("count_fascicle")
    return {
        "file": str(path),
        "frame": frame,
        "structure": inst.kind,
        "instance": inst.index,
        "area_px": int(inst.mask.sum()),
        "area_mm2": _value(by, "area_cross_section", 4, unit="mm2"),
        "perimeter": _value(by, "perimeter", 4),
        "perimeter_unit": perimeter.unit if perimeter is not None and perimeter.ok else "",
        "circularity": _value(by, "circularity", 4),
        "flattening_ratio": _value(by, "ratio_flattening", 4),
        "mean_echo": _value(by, "echo_intensity_mean", 2),
        "hypoechoic_fraction": _value(by, "fraction_hypoechoic", 4),
        "backend": backend,
        "fascicle_count": int(count.value) if count is not None and count.ok else "",
        "fascicle_area_max_mm2": _value(by, "area_fascicle_max", 4, unit="mm2"),
        "vascular_fraction": _value(by, "fraction_vascular", 4),
        # pixels of another structure inside this one's outline, counted in its area (decision 014)
        "enclosed_other_px": int(by["area_cross_section"].context.get("enclosed_other_px", 0))
        if "area_cross_section" in by
        else "",
    }


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the CSV to a temporary file beside ``path``, then replace ``path`` with it."""
    from sonomsk.io.atomic import replace_atomically

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)

    try:
        replace_atomically(path, write, keep_mode=True)
    except OSError as exc:
        raise InvalidParameterError(f"--csv: cannot write {path} ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    structures = _check_options(args)
    files = _gather_inputs(args.inputs, args.out)
    _check_stems(files, args.out)
    if args.out.exists() and not args.out.is_dir():
        raise InvalidParameterError(f"--out: {args.out} exists and is not a folder")
    if args.csv is not None:
        _check_csv(args.csv, files, args.out)
    created = _make_out(args.out)
    try:
        if args.csv is not None:
            _probe_writable(args.csv.parent, "--csv")
        return _run_batch(args, files, structures)
    finally:
        _remove_empty(created)  # only when nothing was written into it


def _drop_stale(label: Path) -> str:
    """Remove an earlier run's label image of an input that failed now; say so in its error.

    Left in place it would sit beside this run's CSV as if it were a result of this run.
    """
    try:
        label.unlink()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f" (the label image {label} of an earlier run could not be removed: {exc.strerror or exc})"
    return f" (the label image {label} of an earlier run was removed)"


def _run_batch(args: argparse.Namespace, files: Sequence[Path], structures: tuple[str, ...]) -> int:
    import cv2

    import sonomsk
    from sonomsk.nerve.segment import segment_frame

    rows: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    failed = 0
    incomplete = 0
    for path in progress(files, total=len(files), desc="segment", enabled=len(files) > 2):
        out = args.out / f"{path.stem}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = sonomsk.read(path, spacing_mm=args.spacing_mm)
            seg = segment_frame(image, frame=args.frame, backend=args.backend, structures=structures)
            if not cv2.imwrite(str(out), seg.labels.astype("uint8")):
                raise SonomskError(f"{out}: the label image could not be written")
        except Exception as exc:  # a batch records every failure with its reason and goes on
            failed += 1
            kind = (
                type(exc).__name__
                if isinstance(exc, SonomskError)
                else f"InternalError({type(exc).__name__})"
            )
            msg = " ".join(str(exc).split()) + _drop_stale(out)
            report.append({"file": str(path), "error": msg, "error_class": kind})
            print(f"sonomsk: error: {msg if str(path) in msg else f'{path}: {msg}'}", file=sys.stderr)
            continue
        found = [_row(path, args.frame, inst, seg.backend) for inst in seg.instances]
        rows.extend(found)
        kinds = {inst.kind for inst in seg.instances}
        missing = [s for s in structures if s not in kinds]
        if missing:
            incomplete += 1
            print(f"sonomsk: warning: {path}: not found: {', '.join(missing)}", file=sys.stderr)
        report.append(
            {
                "file": str(path),
                "labels": str(out),
                "structures": len(found),
                "not_found": missing,
                "calibrated": image.calibrated,
                # the CSV's rows of this file (an empty cell is null): --json holds the results too
                "instances": [
                    {k: (None if v == "" else v) for k, v in row.items() if k != "file"} for row in found
                ],
            }
        )
    ok = len(files) - failed
    if args.csv is not None and ok:
        _write_csv(args.csv, rows)
    if args.json:
        print_json(report)
    else:
        summary = f"segmented {ok} of {len(files)} file(s)"
        if incomplete:
            summary += f"; {incomplete} with a requested structure not found"
        if ok:
            summary += f"; label images in {args.out}" + (f"; CSV {args.csv}" if args.csv else "")
        else:
            summary += "; no label image" + (" or CSV" if args.csv else "") + " written"
        print(summary)
    return 1 if failed else 0
