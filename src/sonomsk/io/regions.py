"""Calibration from DICOM's Sequence of Ultrasound Regions (0018,6011).

Each item becomes a :class:`~sonomsk.core.image.Region` with its pixel box, kind and the physical
unit and size of a pixel per axis. A region is checked before it is trusted: a box that does not
fit the pixels (for example a region copied from the image before it was downsampled) or a
tissue/Doppler region whose units are not lengths gives no millimetres, ``valid=False`` with the
reason, and a :class:`~sonomsk.core.errors.CalibrationWarning`. DICOM's X/Y appear only here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from sonomsk.core.errors import CalibrationWarning, FormatWarning
from sonomsk.core.image import Axis, Region, RegionKind
from sonomsk.core.units import Unit, length_to_mm

#: Physical Units X/Y Direction (0018,6024/6026), PS3.3 C.8.5.5.1.15: code -> (unit, factor).
PHYSICAL_UNITS: dict[int, tuple[str, float]] = {
    0x0000: (Unit.NONE.value, 1.0),
    0x0001: (Unit.PERCENT.value, 1.0),
    0x0002: (Unit.DB.value, 1.0),
    0x0003: (Unit.MM.value, 10.0),  # cm -> mm
    0x0004: (Unit.S.value, 1.0),
    0x0005: (Unit.HZ.value, 1.0),
    0x0006: ("dB/s", 1.0),
    0x0007: (Unit.CM_PER_S.value, 1.0),
    0x0008: ("cm2", 1.0),
    0x0009: ("cm2/s", 1.0),
    0x000A: ("cm3", 1.0),
    0x000B: ("cm3/s", 1.0),
    0x000C: (Unit.DEGREE.value, 1.0),
}
#: Plausible pixel sizes of a 2-D ultrasound image, in mm (1 um to 5 mm).
PLAUSIBLE_SPACING_MM = (0.001, 5.0)

_SPATIAL_KINDS = frozenset({RegionKind.TISSUE, RegionKind.COLOR_DOPPLER, RegionKind.POWER_DOPPLER})


def region_kind(spatial_format: int, data_type: int) -> RegionKind:
    """Kind from Region Spatial Format (0018,6012) and Region Data Type (0018,6014)."""
    if spatial_format == 0x0002:
        return RegionKind.M_MODE
    if data_type in (0x0003, 0x0004) or spatial_format == 0x0003:
        return RegionKind.SPECTRAL_DOPPLER
    if data_type == 0x0001 and spatial_format in (0x0001, 0x0000):
        return RegionKind.TISSUE
    if data_type == 0x0002:
        return RegionKind.COLOR_DOPPLER
    return RegionKind.OTHER


def _axis(units_code: Any, delta: Any) -> Axis:
    try:
        code = int(units_code)
    except (TypeError, ValueError):
        return Axis(unit=Unit.NONE.value, delta=None)
    unit, factor = PHYSICAL_UNITS.get(code, (f"code-{code:#06x}", 1.0))
    try:
        value = float(delta)
    except (TypeError, ValueError):
        return Axis(unit=unit, delta=None)
    if not math.isfinite(value):
        return Axis(unit=unit, delta=None)
    return Axis(unit=unit, delta=abs(value) * factor)


def parse_regions(ds: Any, rows: int, cols: int, *, source: str) -> tuple[list[Region], list[str]]:
    """Regions of a dataset and the warnings their checks produced (also issued as warnings)."""
    items = ds.get("SequenceOfUltrasoundRegions") or []
    regions: list[Region] = []
    notes: list[str] = []
    for n, item in enumerate(items):
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            note = f"{source}: ultrasound region {n + 1} has no usable location; ignored"
            notes.append(note)
            continue
        kind = region_kind(
            int(item.get("RegionSpatialFormat", 0) or 0), int(item.get("RegionDataType", 0) or 0)
        )
        col_axis = _axis(item.get("PhysicalUnitsXDirection"), item.get("PhysicalDeltaX"))
        row_axis = _axis(item.get("PhysicalUnitsYDirection"), item.get("PhysicalDeltaY"))
        box = (min(y0, y1), min(x0, x1), max(y0, y1) + 1, max(x0, x1) + 1)
        reason = None
        over_rows, over_cols = box[2] - rows, box[3] - cols
        if box[0] >= 0 and box[1] >= 0 and max(over_rows, over_cols) == 1 and min(over_rows, over_cols) <= 1:
            # A maximum of X1 = Columns (one past the last pixel) is a common vendor off-by-one:
            # clip it, and say so (lenient when reading, never silently).
            box = (box[0], box[1], min(box[2], rows), min(box[3], cols))
            note = f"{source}: region {n + 1} ends 1 px beyond the image; clipped to the image edge"
            notes.append(note)
            warnings.warn(note, FormatWarning, stacklevel=3)
        if not (0 <= box[0] < box[2] <= rows and 0 <= box[1] < box[3] <= cols):
            reason = (
                f"region {n + 1} box x {x0}..{x1}, y {y0}..{y1} does not fit the {cols} x {rows} px image "
                "(it may belong to the image before resizing)"
            )
        elif kind in _SPATIAL_KINDS:
            if not (row_axis.unit == Unit.MM.value and col_axis.unit == Unit.MM.value):
                reason = (
                    f"region {n + 1} ({kind.value}) has non-spatial units ({col_axis.unit}, {row_axis.unit})"
                )
            else:
                lo, hi = PLAUSIBLE_SPACING_MM
                for axis in (row_axis, col_axis):
                    if axis.delta is None or not lo <= axis.delta <= hi:
                        reason = f"region {n + 1} pixel size {axis.delta} mm is outside {lo}..{hi} mm"
        ref = [item.get("ReferencePixelX0"), item.get("ReferencePixelY0")]
        attrs: dict[str, Any] = {
            "index": n,
            "reference_pixel": [None if v is None else int(v) for v in ref],
            "data_type": int(item.get("RegionDataType", 0) or 0),
            "spatial_format": int(item.get("RegionSpatialFormat", 0) or 0),
        }
        regions.append(
            Region(
                box=box,
                kind=kind,
                row_axis=row_axis,
                col_axis=col_axis,
                valid=reason is None,
                reason=reason,
                attributes=attrs,
            )
        )
        if reason is not None:
            note = f"{source}: {reason}: no millimetres from this region"
            notes.append(note)
            warnings.warn(note, CalibrationWarning, stacklevel=3)
    return regions, notes


def cm_to_mm(value: float) -> float:
    """Centimetres to millimetres through the units module (used by tests and io)."""
    return length_to_mm(value, "cm")
