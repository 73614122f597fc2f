"""The project's code table (LOINC, SNOMED CT, UCUM, DCM, HL7) and the check of every code used.

Every code written into DICOM SR/SEG or FHIR passes :func:`code`, which refuses a code that is
not in ``data/codes.json`` or whose display differs from the table's. The table's SCT, DCM, UCUM
and LN entries are checked in the tests against pydicom's copy of DICOM PS3.16.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from sonomsk.core.errors import InvalidParameterError


@dataclass(frozen=True)
class Code:
    """One coded concept: scheme designator (SCT, LN, UCUM, DCM, HL7-...), code and display."""

    scheme: str
    code: str
    display: str

    @property
    def system(self) -> str:
        """The FHIR system URI of the scheme."""
        return str(_table()["systems"][self.scheme])

    def fhir_coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}

    def coded_concept(self) -> Any:
        """A highdicom CodedConcept (DICOM scheme designators; UCUM/SCT/DCM/LN only)."""
        from highdicom.sr import CodedConcept

        if self.scheme.startswith("HL7"):
            raise InvalidParameterError(f"code {self.code}: HL7 codes are for FHIR only")
        return CodedConcept(value=self.code, scheme_designator=self.scheme, meaning=self.display)


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files("sonomsk.report").joinpath("data/codes.json").read_text("utf-8")
    return dict(json.loads(text))


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], Code]:
    return {(c["scheme"], c["code"]): Code(c["scheme"], c["code"], c["display"]) for c in _table()["codes"]}


def all_codes() -> list[Code]:
    """Every code of the table."""
    return list(_index().values())


def code(scheme: str, value: str, display: str | None = None) -> Code:
    """The table's code ``value`` of ``scheme``; refuses codes not in the table.

    Raises
    ------
    InvalidParameterError
        When the code is not in ``data/codes.json`` or ``display`` differs from the table's.
    """
    found = _index().get((scheme, value))
    if found is None:
        raise InvalidParameterError(
            f"code: {scheme} {value!r} is not in the project's code table (codes.json)"
        )
    if display is not None and display != found.display:
        raise InvalidParameterError(
            f"code: {scheme} {value} has display {found.display!r} in the code table, got {display!r}"
        )
    return found


def check_coding(system: str, value: str, display: str | None) -> Code:
    """Check a FHIR coding (system URI, code, display) against the table."""
    schemes = {uri: name for name, uri in _table()["systems"].items()}
    if system not in schemes:
        raise InvalidParameterError(f"code: system {system!r} is not in the project's code table")
    return code(schemes[system], value, display)


def unit_code(unit: str) -> Code:
    """The UCUM code of a sonomsk unit (``mm2`` -> ``mm2``, ``px2`` -> ``{px2}``)."""
    ucum = _table()["units"].get(unit)
    if ucum is None:
        raise InvalidParameterError(f"unit: {unit!r} has no UCUM code in the code table")
    return code("UCUM", ucum)


def measurement_concept(name: str) -> Code | None:
    """The SCT concept of a measurement name (noun first: ``area_cross_section`` -> Area), or None."""
    concepts: dict[str, str] = _table()["measurement_concepts"]
    if name in concepts:
        return code("SCT", concepts[name])
    for key, value in concepts.items():
        if name.startswith(key + "_"):
            return code("SCT", value)
    return None


def structure_code(kind: str) -> Code:
    """The SCT code of a structure kind (nerve, vessel, muscle, ...)."""
    kinds: dict[str, str] = _table()["structure_kinds"]
    return code("SCT", kinds.get(kind, kinds["other"]))


def side_code(side: str | None) -> Code | None:
    """The SCT laterality code of ``left``/``right``/``bilateral``, or None."""
    if not side:
        return None
    value = _table()["sides"].get(side.lower())
    return None if value is None else code("SCT", value)
