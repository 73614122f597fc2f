"""Read the reference data files (JSON under ``sonomsk/reference/data``) and their citations.

Every file is read once and cached. Citations carry the evidence tag of
``clinical-evidence.md``; a [B] citation without a caveat is refused by
:class:`~sonomsk.core.results.Citation` itself.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Citation

__all__ = ["citation", "citation_keys", "citation_short", "load_data"]


@functools.cache
def load_data(name: str) -> dict[str, Any]:
    """The parsed content of the data file ``name`` (e.g. ``"nerve_csa.json"``).

    Returns the cached object: callers must not modify it.
    """
    try:
        text = resources.files("sonomsk.reference").joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidParameterError(f"reference data file: {name!r} does not exist") from None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise InvalidParameterError(f"reference data file {name}: expected a JSON object")
    return data


@functools.cache
def _citation_table() -> dict[str, tuple[Citation, str]]:
    table: dict[str, tuple[Citation, str]] = {}
    for key, entry in load_data("citations.json")["citations"].items():
        cit = Citation(
            text=entry["text"], evidence=entry["evidence"], doi=entry.get("doi"), caveat=entry.get("caveat")
        )
        table[key] = (cit, entry.get("short") or entry["text"])
    return table


def citation_keys() -> tuple[str, ...]:
    """Every citation id of ``citations.json``."""
    return tuple(_citation_table())


def citation(key: str) -> Citation:
    """The :class:`Citation` with id ``key`` (as used by the data files)."""
    try:
        return _citation_table()[key][0]
    except KeyError:
        raise InvalidParameterError(f"citation: unknown id {key!r}") from None


def citation_short(key: str) -> str:
    """A short label for explanations, e.g. ``"Goedee 2017"``; [B] sources are marked ``[B]``."""
    try:
        cit, short = _citation_table()[key]
    except KeyError:
        raise InvalidParameterError(f"citation: unknown id {key!r}") from None
    return f"{short} [B: {cit.caveat}]" if cit.evidence == "B" else short
