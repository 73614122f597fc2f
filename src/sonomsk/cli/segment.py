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
    "notes",
)

#: The columns a measurement fills: (column, measurement name, unit the value must have or None).
_MEASURED = (
    ("area_mm2", "area_cross_section", "mm2"),
    ("perimeter", "perimeter", None),
    ("circularity", "circularity", None),
    ("flattening_ratio", "ratio_flattening", None),
    ("mean_echo", "echo_intensity_mean", None),
    ("hypoechoic_fraction", "fraction_hypoechoic", None),
    ("fascicle_count", "count_fascicle", None),
    ("fascicle_area_max_mm2", "area_fascicle_max", "mm2"),
    ("vascular_fraction", "fraction_vascular", None),
)
#: Measures made for nerves only; their cells are empty in a vessel's row.
_NERVE_ONLY = frozenset({"count_fascicle", "area_fascicle_max", "fraction_vascular"})
#: The PNG text key of a label image that names the input it was written from.
SOURCE_KEY = "sonomsk:source"


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
    "the resolution does not allow them; nerves only), vascular_fraction (colour Doppler pixels "
    "inside a nerve), enclosed_other_px (pixels of another structure inside the outline), notes (why each "
    "empty cell is empty: 'column: reason' items separated by '; ', columns with the same reason "
    "named together, e.g. 'area_mm2: outline leaves the calibrated tissue region'; --json rows "
    "carry the same items as a list). "
    "--spacing-mm calibrates only inputs without a calibration of their own: a DICOM file's "
    "ultrasound regions and a still image's or video's JSON sidecar win, and a note on stderr "
    "names each file whose calibration was kept. Each label image records its input in the PNG "
    "text key 'sonomsk:source' (a hash of its absolute path, never the path itself); a note on stderr names a label image that is replaced by one of "
    "another input. When this run writes label images, the label image of an earlier run for an "
    "input that fails now is removed (it would sit beside results that do not describe it) and "
    "counted in the summary; a run that writes nothing removes nothing."
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


def _why_empty(by: Mapping[str, Any], name: str, kind: str) -> str:
    """Why the cell of measurement ``name`` is empty in a row of structure ``kind``."""
    m = by.get(name)
    if m is None:
        return f"nerves only, not measured for a {kind}" if name in _NERVE_ONLY else "not measured"
    if not m.ok:
        return str(m.failure or "not measured")
    # made, but in another unit than the column's (px2 instead of mm2)
    return str(m.context.get("uncalibrated_reason") or "uncalibrated image")


def _notes(row: Mapping[str, Any], by: Mapping[str, Any], kind: str) -> list[str]:
    """'column: reason' for every empty measured cell of ``row``; columns with one reason together."""
    reasons: dict[str, list[str]] = {}
    for column, name, _unit in _MEASURED:
        if row[column] == "":
            why = " ".join(_why_empty(by, name, kind).replace(";", ",").split())
            reasons.setdefault(why, []).append(column)
    if row["enclosed_other_px"] == "":
        reasons.setdefault("not measured", []).append("enclosed_other_px")
    return [f"{', '.join(columns)}: {why}" for why, columns in reasons.items()]


def _row(path: Path, frame: int, inst: Any, backend: str) -> dict[str, Any]:
    """The CSV row of one structure instance; ``notes`` gives the reasons for its empty cells
    (:func:`_notes`, joined by '; ')."""
    by = {m.name: m for m in inst.measurements}
    perimeter = by.get("perimeter")
    count = by.get("count_fascicle")
    row = {
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
    row["notes"] = "; ".join(_notes(row, by, inst.kind))
    return row


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


def _drop_stale(stale: Sequence[tuple[Path, Path, dict[str, Any]]]) -> int:
    """Remove the earlier runs' label images of inputs that failed in this run; the number removed.

    Called only when this run writes label images (and its CSV): left in place, such a label image
    would sit beside this run's results as if it were one of them. A run that writes nothing
    removes nothing. Each removal is a note on stderr and ``removed_label`` in the file's --json
    entry.
    """
    removed = 0
    for path, label, entry in stale:
        try:
            label.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            print(
                f"sonomsk: note: {path}: the label image {label} of an earlier run could not be removed "
                f"({exc.strerror or exc}); it does not describe this run's results",
                file=sys.stderr,
            )
            continue
        removed += 1
        entry["removed_label"] = str(label)
        print(
            f"sonomsk: note: {path}: the label image {label} of an earlier run was removed "
            "(this input failed in this run)",
            file=sys.stderr,
        )
    return removed


def _source_of(label: Path) -> str | None:
    """The input recorded in an existing label image (PNG text key :data:`SOURCE_KEY`), or None."""
    from PIL import Image

    try:
        with Image.open(label) as img:
            text = getattr(img, "text", {})
            value = text.get(SOURCE_KEY) if isinstance(text, dict) else None
    except Exception:  # not a readable PNG: its source is unknown
        return None
    return value if isinstance(value, str) else None


def _source_text(path: Path) -> str:
    """A key of the input for the label PNG: the SHA-256 of its absolute path (first 16 hex
    digits). A path may hold a patient's name; the key only tells whether two label images come
    from the same input, and reveals nothing of it."""
    import hashlib

    raw = str(path.resolve()).encode("utf-8", "surrogateescape")
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def _write_labels(out: Path, labels: Any, path: Path) -> None:
    """Write the label PNG with its input's path in the text key :data:`SOURCE_KEY`; a note on
    stderr when it replaces the label image of another input."""
    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    source = _source_text(path)
    if out.exists():
        earlier = _source_of(out)
        if earlier is None:
            print(
                f"sonomsk: note: {out}: replaced; the earlier file records no source input",
                file=sys.stderr,
            )
        elif earlier != source:
            print(
                f"sonomsk: note: {out}: replaced; it held the labels of another input, now those of {path}",
                file=sys.stderr,
            )
    info = PngInfo()
    info.add_itxt(SOURCE_KEY, source)
    try:
        Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8)).save(out, format="PNG", pnginfo=info)
    except (OSError, ValueError) as exc:
        raise SonomskError(f"{out}: the label image could not be written ({exc})") from None


_CALIBRATED_BY = {"dicom_regions": "its DICOM ultrasound regions", "sidecar": "its JSON sidecar"}


def _run_batch(args: argparse.Namespace, files: Sequence[Path], structures: tuple[str, ...]) -> int:
    import sonomsk
    from sonomsk.nerve.segment import segment_frame

    rows: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    stale: list[tuple[Path, Path, dict[str, Any]]] = []
    failed = 0
    incomplete = 0
    for path in progress(files, total=len(files), desc="segment", enabled=len(files) > 2):
        out = args.out / f"{path.stem}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = sonomsk.read(path, spacing_mm=args.spacing_mm)
            source = image.metadata.get("calibration_source")
            if args.spacing_mm is not None and source != "caller" and image.calibrated:
                print(
                    f"sonomsk: note: {path}: --spacing-mm {args.spacing_mm} ignored: the image is "
                    f"calibrated by {_CALIBRATED_BY.get(str(source), f'its {source}')}",
                    file=sys.stderr,
                )
            seg = segment_frame(image, frame=args.frame, backend=args.backend, structures=structures)
            _write_labels(out, seg.labels, path)
        except Exception as exc:  # a batch records every failure with its reason and goes on
            failed += 1
            kind = (
                type(exc).__name__
                if isinstance(exc, SonomskError)
                else f"InternalError({type(exc).__name__})"
            )
            msg = " ".join(str(exc).split())
            entry = {"file": str(path), "error": msg, "error_class": kind}
            report.append(entry)
            if out.exists():
                stale.append((path, out, entry))
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
                # the CSV's rows of this file (an empty cell is null, and ``notes`` lists why):
                # --json holds the results too
                "instances": [
                    {
                        **{k: (None if v == "" else v) for k, v in row.items() if k not in ("file", "notes")},
                        "notes": row["notes"].split("; ") if row["notes"] else [],
                    }
                    for row in found
                ],
            }
        )
    ok = len(files) - failed
    removed = 0
    if ok:  # this run writes label images (and its CSV): no earlier result may sit beside them
        if args.csv is not None:
            _write_csv(args.csv, rows)
        removed = _drop_stale(stale)
    if args.json:
        print_json(report)
    else:
        summary = f"segmented {ok} of {len(files)} file(s)"
        if incomplete:
            summary += f"; {incomplete} with a requested structure not found"
        if ok:
            summary += f"; label images in {args.out}" + (f"; CSV {args.csv}" if args.csv else "")
            if removed:
                summary += f"; removed {removed} label image(s) of earlier runs whose input failed now"
        else:
            summary += "; no label image" + (" or CSV" if args.csv else "") + " written"
            if stale:
                summary += f"; {len(stale)} earlier label image(s) kept"
        print(summary)
    return 1 if failed else 0
