"""Choose the one CSA per site and side that enters the assessment: the largest measured.

A study may hold several images (or several outlines) of the same nerve at the same site and
side; the assessment takes one value per (site, side). Both the command-line demo
(:func:`sonomsk.report.assemble.nerve_csa_by_site`) and the workstation
(:func:`sonomsk.server.workflow_nerve.choose_csa`) use :func:`choose_largest_csa`, so a study
analysed either way is assessed on the same values.

Example
-------
>>> from sonomsk.nerve.choose import choose_largest_csa
>>> [c.csa_mm2 for c in choose_largest_csa([("median_wrist", "right", 10.0, "a"),
...                                          ("median_wrist", "right", 12.5, "b")])]
[12.5]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sonomsk.core.errors import InvalidParameterError

__all__ = ["ChosenCsa", "choose_largest_csa"]

R = TypeVar("R")


@dataclass(frozen=True)
class ChosenCsa(Generic[R]):
    """The largest CSA (mm2) of one site and side and the references it was chosen among.

    ``references`` are every item's reference of this site and side, in input order;
    ``reference`` is the one that gave ``csa_mm2`` (the first of them on a tie).
    """

    site: str
    side: str
    csa_mm2: float
    reference: R
    references: tuple[R, ...]


def choose_largest_csa(items: Iterable[tuple[str | None, str | None, float | None, R]]) -> list[ChosenCsa[R]]:
    """Per (site, side), the largest CSA in mm2 and the references it was chosen among.

    Parameters
    ----------
    items
        ``(site, side, csa_mm2, reference)`` tuples; ``reference`` is anything that names where
        the value came from (an instance id, an image id). Items without a site, a side or a CSA
        (None or empty) are skipped: they cannot be assessed. The caller passes calibrated areas
        in mm2 only.

    Returns
    -------
    list of ChosenCsa
        One per (site, side), sorted by site then side. On a tie the first item in input order
        gives ``reference``; ``references`` keep input order.

    Raises
    ------
    InvalidParameterError
        When a CSA is not a finite number >= 0 (mm2).
    """
    values: dict[tuple[str, str], list[tuple[float, R]]] = {}
    for i, (site, side, csa, ref) in enumerate(items):
        if not site or not side or csa is None:
            continue
        value = float(csa)
        if not math.isfinite(value) or value < 0:
            raise InvalidParameterError(f"items[{i}].csa_mm2: expected a finite area >= 0 mm2, got {csa!r}")
        values.setdefault((site, side), []).append((value, ref))
    out = []
    for (site, side), found in sorted(values.items()):
        best_value, best_ref = found[0]
        for value, ref in found[1:]:
            if value > best_value:
                best_value, best_ref = value, ref
        out.append(ChosenCsa(site, side, best_value, best_ref, tuple(ref for _, ref in found)))
    return out
