"""The project's code table (LOINC, SNOMED CT, UCUM, DCM, HL7) and the check of every code used.

Every code written into DICOM SR/SEG or FHIR passes :func:`code`, which refuses a code that is
not in ``data/codes.json`` or whose display differs from the table's. The table's SCT, DCM, UCUM
and LN entries are checked in the tests against pydicom's copy of DICOM PS3.16.

Where PS3.16 has no code (the specific nerves, the level measured on a nerve, the area of the
largest fascicle) the table uses the project's local scheme ``99SONOMSK`` (:data:`LOCAL_SCHEME`;
a DICOM private coding scheme, identified in every SR that uses it). A nerve site of the
workstation's vocabulary (``median_wrist``...) maps to its nerve, level and body region by
:func:`nerve_site`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from sonomsk.core.errors import InvalidParameterError

#: the project's local coding scheme (DICOM private: designators starting with 99 are local)
LOCAL_SCHEME = "99SONOMSK"


@dataclass(frozen=True)
class Code:
    """One coded concept: scheme designator (SCT, LN, UCUM, DCM, HL7-...), code and display."""

    scheme: str
    code: str
    display: str

    @property
    def system(self) -> str:
        """The FHIR system URI of the scheme."""
        systems = _table()["systems"]
        if self.scheme not in systems:
            raise InvalidParameterError(f"code {self.code}: scheme {self.scheme} has no FHIR system URI")
        return str(systems[self.scheme])

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


def _ref(value: str) -> Code:
    """A table reference ``SCHEME:code`` (a bare code is SCT)."""
    scheme, _, c = value.rpartition(":")
    return code(scheme or "SCT", c)


def measurement_concept(name: str) -> Code | None:
    """The concept of a measurement name (noun first: ``area_cross_section`` -> Area), or None.

    An exact entry wins over a prefix: ``area_fascicle_max`` (the largest fascicle) has its own
    concept, so that it is never taken for the nerve's cross-sectional area."""
    concepts: dict[str, str] = _table()["measurement_concepts"]
    if name in concepts:
        return _ref(concepts[name])
    for key, value in concepts.items():
        if name.startswith(key + "_"):
            return _ref(value)
    return None


def measurement_derivation(name: str) -> Code | None:
    """How a measurement's value was derived (DICOM "Derivation", CID 7464), or None."""
    value = _table().get("measurement_derivations", {}).get(name)
    return None if value is None else _ref(str(value))


@dataclass(frozen=True)
class NerveSite:
    """Where on which nerve a measurement was made: ``site`` (the vocabulary's name), ``nerve``,
    ``level`` (the place on that nerve) and ``region`` (the body region, when PS3.16 codes it)."""

    site: str
    nerve: Code
    level: Code
    region: Code | None
    region_level: Code | None = None  # a plexus trunk's declared level (the trunk takes ``level``)


def nerve_site(
    site: str | None, nerve: str | None = None, *, level: str | None = None, trunk: str | None = None
) -> NerveSite | None:
    """The codes of a nerve site: ``median_wrist``, or ``wrist`` with ``nerve="median"``; None
    when the site is not in the vocabulary (free text, a muscle site, no site). A declared
    ``level`` (interscalene, foraminal, ...) replaces the site's general level; a plexus ``trunk``
    takes the level's place and the declared level then qualifies the body region."""
    if not site:
        return None
    sites: dict[str, Any] = _table()["nerve_sites"]
    key = site.strip().lower().replace(" ", "_")
    if key not in sites and nerve:
        key = f"{nerve.strip().lower().replace(' ', '_')}_{key}"
    entry = sites.get(key)
    if key.startswith("_") or not isinstance(entry, dict):
        return None
    region = entry.get("region")
    levels: dict[str, str] = _table().get("nerve_site_levels", {})
    trunks: dict[str, str] = _table().get("nerve_site_trunks", {})
    declared = levels.get(level) if level and not level.startswith("_") else None
    trunk_code = trunks.get(trunk.lower()) if trunk else None
    where = _ref(entry["level"])
    region_level = None
    if trunk_code is not None:
        where, region_level = _ref(trunk_code), None if declared is None else _ref(declared)
    elif declared is not None:
        where = _ref(declared)
    return NerveSite(
        site=key,
        nerve=_ref(entry["nerve"]),
        level=where,
        region=None if region is None else _ref(region),
        region_level=region_level,
    )


def nerve_site_names() -> list[str]:
    """Every site the table codes."""
    return [k for k in _table()["nerve_sites"] if not k.startswith("_")]


def local_schemes() -> dict[str, dict[str, str]]:
    """The local coding schemes (designator -> name, organization, version)."""
    return dict(_table().get("local_schemes", {}))


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
