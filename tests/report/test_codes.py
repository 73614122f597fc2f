"""The code table: every entry agrees with DICOM PS3.16 (pydicom's copy); unknown codes are refused."""

from __future__ import annotations

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.report import codes


def _pydicom_index() -> dict[tuple[str, str], str]:
    from pydicom.sr.codedict import codes as dicom_codes

    index = {}
    for scheme in ("SCT", "DCM", "UCUM", "LN"):
        sch = getattr(dicom_codes, scheme)
        for kw in sch.dir():
            c = getattr(sch, kw)
            index.setdefault((scheme, c.value), set()).add(c.meaning)
    return index


def test_every_dicom_code_matches_ps3_16() -> None:
    index = _pydicom_index()
    checked = 0
    for c in codes.all_codes():
        if c.scheme.startswith("HL7") or c.scheme == codes.LOCAL_SCHEME:
            continue  # FHIR-only codes; the local scheme (tests/report/test_sr_sites.py)
        if c.scheme == "UCUM" and c.code.startswith("{"):
            continue  # UCUM annotations ({px}, {px2}) are valid UCUM but not listed in PS3.16
        assert (c.scheme, c.code) in index, f"{c.scheme} {c.code} is not in DICOM PS3.16"
        assert c.display in index[(c.scheme, c.code)], f"{c.scheme} {c.code}: {c.display!r}"
        checked += 1
    assert checked >= 25


def test_unknown_or_mislabelled_codes_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="not in the project's code table"):
        codes.code("SCT", "123456789")
    with pytest.raises(InvalidParameterError, match="has display"):
        codes.code("SCT", "42798000", "Volume")
    with pytest.raises(InvalidParameterError, match="system"):
        codes.check_coding("http://example.org/codes", "1", None)


def test_lookups() -> None:
    assert codes.measurement_concept("area_cross_section").display == "Area"  # type: ignore[union-attr]
    assert codes.measurement_concept("thickness_muscle").display == "Length"  # type: ignore[union-attr]
    assert codes.measurement_concept("echo_intensity_mean") is None
    assert codes.unit_code("px2").code == "{px2}"
    assert codes.side_code("Right").display == "Right"  # type: ignore[union-attr]
    assert codes.side_code(None) is None
    assert codes.structure_code("planet").display == "Tissue"
    with pytest.raises(InvalidParameterError, match="unit"):
        codes.unit_code("furlong")
