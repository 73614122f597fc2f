"""The one place where physical units are named and converted.

Canonical units: mm, mm2, s, cm/s, degrees, Hz. Everything entering sonomsk in another unit is
converted here; nothing else multiplies by 10 to turn centimetres into millimetres.
"""

from __future__ import annotations

from enum import StrEnum

from sonomsk.core.errors import InvalidParameterError


class Unit(StrEnum):
    """Units an axis or a measurement can carry."""

    MM = "mm"
    MM2 = "mm2"
    PX = "px"
    PX2 = "px2"
    S = "s"
    CM_PER_S = "cm/s"
    DEGREE = "deg"
    HZ = "Hz"
    DB = "dB"
    PERCENT = "%"
    RATIO = "1"
    COUNT = "count"
    GREY = "grey"
    NONE = "none"


SPATIAL_UNITS = frozenset({Unit.MM})

_LENGTH_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3, "µm": 1e-3, "in": 25.4}
_TIME_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_VELOCITY_TO_CM_S = {"cm/s": 1.0, "m/s": 100.0, "mm/s": 0.1}


def length_to_mm(value: float, unit: str) -> float:
    """Convert a length in ``unit`` (mm, cm, m, um, in) to millimetres."""
    try:
        return float(value) * _LENGTH_TO_MM[unit]
    except KeyError:
        raise InvalidParameterError(f"unit: expected one of {sorted(_LENGTH_TO_MM)}, got {unit!r}") from None


def time_to_s(value: float, unit: str) -> float:
    """Convert a duration in ``unit`` (s, ms, us) to seconds."""
    try:
        return float(value) * _TIME_TO_S[unit]
    except KeyError:
        raise InvalidParameterError(f"unit: expected one of {sorted(_TIME_TO_S)}, got {unit!r}") from None


def velocity_to_cm_s(value: float, unit: str) -> float:
    """Convert a velocity in ``unit`` (cm/s, m/s, mm/s) to cm/s."""
    try:
        return float(value) * _VELOCITY_TO_CM_S[unit]
    except KeyError:
        raise InvalidParameterError(
            f"unit: expected one of {sorted(_VELOCITY_TO_CM_S)}, got {unit!r}"
        ) from None


def area_unit(spatial: bool) -> Unit:
    """Unit of an area: mm2 when calibrated, px2 otherwise."""
    return Unit.MM2 if spatial else Unit.PX2


def length_unit(spatial: bool) -> Unit:
    """Unit of a length: mm when calibrated, px otherwise."""
    return Unit.MM if spatial else Unit.PX
