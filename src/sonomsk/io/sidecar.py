"""Calibration for files without DICOM regions: a JSON sidecar, else the caller's spacing.

A sidecar is ``<file>.json`` or ``<stem>.json`` beside the image (or a path given explicitly); a
JSON object there without any sidecar key (an annotation tool's file, such as labelme's) is not
read as one, and the warnings say so::

    {"spacing_mm": [row, col]}            or  {"spacing_mm": 0.1}
    {"pixels_per_cm": 115.25}
    {"regions": [{"bbox": [x0, y0, x1, y1], "kind": "tissue", "spacing_mm": [col, row]}]}

``bbox`` is inclusive (x = column, y = row), ``spacing_mm`` inside a region is [column, row] as in
``sonomsk info``. Every value is checked; a bad sidecar is an error naming the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.image import Axis, Region, RegionKind, whole_image_region
from sonomsk.core.units import Unit, length_to_mm

_MIN_MM, _MAX_MM = 0.001, 10.0


def find_sidecar(path: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise InvalidParameterError(f"sidecar {explicit}: no such file")
        return explicit
    for candidate in _candidates(path):
        if not _foreign(candidate):
            return candidate
    return None


_SIDECAR_KEYS = ("spacing_mm", "pixels_per_cm", "regions", "source", "note")


def _candidates(path: Path) -> list[Path]:
    return [
        c
        for c in (path.with_name(path.name + ".json"), path.with_suffix(".json"))
        if c.is_file() and c != path
    ]


def _foreign(candidate: Path) -> bool:
    """A JSON object beside the image without any sidecar key (an annotation tool's file, such as
    labelme's ``<stem>.json``) is not a sidecar; unreadable JSON, or an object with one sidecar key,
    still is one, and a bad one is refused."""
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and not any(k in data for k in _SIDECAR_KEYS)


def foreign_json_notes(path: Path) -> list[str]:
    """Notes for JSON files beside ``path`` that were not read as its sidecar (no sidecar key)."""
    return [
        f"{c}: a JSON file beside the image without a sidecar key ({', '.join(_SIDECAR_KEYS)}); not read as "
        "its calibration"
        for c in _candidates(path)
        if _foreign(c)
    ]


def _spacing_value(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(f"{where}: expected a number of mm per pixel, got {value!r}")
    v = float(value)
    if not _MIN_MM <= v <= _MAX_MM:
        raise InvalidParameterError(f"{where}: expected {_MIN_MM} to {_MAX_MM} mm per pixel, got {v}")
    return v


def _pair(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, list) and len(value) == 2:
        return (_spacing_value(value[0], f"{where}[0]"), _spacing_value(value[1], f"{where}[1]"))
    v = _spacing_value(value, where)
    return (v, v)


def regions_from_sidecar(sidecar: Path, rows: int, cols: int) -> tuple[Region, ...]:
    """The calibrated regions a sidecar describes for an image of ``rows`` x ``cols`` px."""
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterError(f"sidecar {sidecar}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidParameterError(f"sidecar {sidecar}: expected a JSON object")
    known = {"spacing_mm", "pixels_per_cm", "regions", "source", "note"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidParameterError(
            f"sidecar {sidecar}: unknown key {unknown[0]!r} (expected {sorted(known)})"
        )
    if "regions" in data:
        items = data["regions"]
        if not isinstance(items, list) or not items:
            raise InvalidParameterError(f"sidecar {sidecar}: regions: expected a non-empty list")
        out = []
        for i, item in enumerate(items):
            where = f"sidecar {sidecar}: regions[{i}]"
            if not isinstance(item, dict):
                raise InvalidParameterError(f"{where}: expected an object")
            bbox = item.get("bbox")
            if not (
                isinstance(bbox, list)
                and len(bbox) == 4
                and all(isinstance(v, int) and not isinstance(v, bool) for v in bbox)
            ):
                raise InvalidParameterError(f"{where}.bbox: expected [x0, y0, x1, y1] integers, got {bbox!r}")
            x0, y0, x1, y1 = bbox
            if not (0 <= x0 <= x1 < cols and 0 <= y0 <= y1 < rows):
                raise InvalidParameterError(f"{where}.bbox: {bbox} does not fit a {cols} x {rows} px image")
            try:
                kind = RegionKind(item.get("kind", "tissue"))
            except ValueError:
                raise InvalidParameterError(
                    f"{where}.kind: expected one of {[k.value for k in RegionKind]}, got {item.get('kind')!r}"
                ) from None
            col_mm, row_mm = _pair(item.get("spacing_mm"), f"{where}.spacing_mm")
            out.append(
                Region(
                    box=(y0, x0, y1 + 1, x1 + 1),
                    kind=kind,
                    row_axis=Axis(Unit.MM.value, row_mm),
                    col_axis=Axis(Unit.MM.value, col_mm),
                )
            )
        return tuple(out)
    if "spacing_mm" in data:
        return (whole_image_region(rows, cols, _pair(data["spacing_mm"], f"sidecar {sidecar}: spacing_mm")),)
    if "pixels_per_cm" in data:
        ppc = data["pixels_per_cm"]
        if isinstance(ppc, bool) or not isinstance(ppc, int | float) or not 1 <= float(ppc) <= 10000:
            raise InvalidParameterError(f"sidecar {sidecar}: pixels_per_cm: expected 1 to 10000, got {ppc!r}")
        mm = length_to_mm(1.0, "cm") / float(ppc)
        return (whole_image_region(rows, cols, (mm, mm)),)
    raise InvalidParameterError(f"sidecar {sidecar}: expected spacing_mm, pixels_per_cm or regions")


def calibrate(
    path: Path,
    rows: int,
    cols: int,
    *,
    spacing_mm: tuple[float, float] | None,
    sidecar: Path | None,
    detect: Any = None,
) -> tuple[tuple[Region, ...], str, list[str]]:
    """Regions, the calibration source (sidecar/caller/depth_scale/none) and warnings.

    A sidecar is the image's own calibration, as DICOM regions are: it wins over the caller's
    ``spacing_mm``, which is then ignored and the warnings say so (docs/errors.md). The caller's
    spacing wins over a detected depth scale. ``detect`` (on-screen depth scale) is a callable
    returning ``(spacing_mm, note)``, where ``spacing_mm`` is None when no ruler was found and
    ``note`` then says why; the reason is kept in the warnings after ``no calibration: results in
    px``.
    """
    found = find_sidecar(path, sidecar)
    foreign = foreign_json_notes(path) if sidecar is None else []
    regions = regions_from_sidecar(found, rows, cols) if found is not None else ()
    tissue = any(r.kind is RegionKind.TISSUE and r.spacing_mm is not None for r in regions)
    if found is not None and (tissue or spacing_mm is None):
        notes = []
        if spacing_mm is not None:
            notes.append(
                f"{path}: calibration from the sidecar {found}; the caller's spacing_mm "
                f"({spacing_mm[0]} x {spacing_mm[1]} mm/px, row x col) was ignored"
            )
        return regions, "sidecar", notes
    if spacing_mm is not None:  # said, as the DICOM reader says it (docs/errors.md)
        note = (
            f"{path}: calibration supplied by the caller ({spacing_mm[0]} x {spacing_mm[1]} mm/px, row x col)"
        )
        return (*regions, whole_image_region(rows, cols, spacing_mm)), "caller", [note, *foreign]
    notes = ["no calibration: results in px", *foreign]
    if detect is not None:
        mm, note = detect()
        if mm is not None:
            return (whole_image_region(rows, cols, mm),), "depth_scale", [note]
        notes.append(note)
    return (), "none", notes


def caller_operations(source: str, regions: tuple[Region, ...]) -> tuple[str, ...]:
    """The provenance operation that records a caller-supplied calibration (none otherwise)."""
    if source != "caller" or not regions or regions[-1].spacing_mm is None:
        return ()
    r, c = regions[-1].spacing_mm  # the caller's whole-image region comes after a sidecar's
    return (f"calibration: caller-supplied spacing_mm ({r}, {c})",)
