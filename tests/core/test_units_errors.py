from __future__ import annotations

import pytest

from sonomsk.core import errors
from sonomsk.core.units import Unit, area_unit, length_to_mm, length_unit, time_to_s, velocity_to_cm_s


def test_conversions() -> None:
    assert length_to_mm(3.3, "cm") == pytest.approx(33.0)
    assert time_to_s(40, "ms") == pytest.approx(0.04)
    assert velocity_to_cm_s(0.5, "m/s") == pytest.approx(50.0)
    assert area_unit(False) is Unit.PX2 and length_unit(True) is Unit.MM


@pytest.mark.parametrize("fn", [length_to_mm, time_to_s, velocity_to_cm_s])
def test_unknown_unit(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.InvalidParameterError, match="unit"):
        fn(1.0, "furlong")


@pytest.mark.parametrize("cls", errors.ERROR_CLASSES)
def test_every_error_is_a_sonomsk_error(cls: type[errors.SonomskError]) -> None:
    with pytest.raises(errors.SonomskError):
        raise cls("message")


def test_python_compatible_bases() -> None:
    assert issubclass(errors.InvalidParameterError, ValueError)
    assert issubclass(errors.BackendUnavailableError, ImportError)
    assert issubclass(errors.NotUltrasoundError, errors.UnsupportedDataError)
    assert issubclass(errors.TruncatedDataError, errors.CorruptDataError)
    for w in (errors.CalibrationWarning, errors.QualityWarning, errors.FormatWarning):
        with pytest.warns(w):
            import warnings

            warnings.warn("x", w, stacklevel=1)
