"""Goedee (Utrecht) criteria for chronic inflammatory neuropathy (CIN).

The cut-offs, their sites and the level/plane each was published for come from
``reference/data/nerve_rules.json`` (``goedee.criteria``). A measurement at another level, or a
trunk measured in a plane the criterion cannot describe, is listed in ``not_applied`` with the
reason instead of being judged (decision 006).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sonomsk.core.results import Finding
from sonomsk.nerve.assess_model import NerveMeasurementInput
from sonomsk.reference.loader import citation, citation_short, load_data
from sonomsk.reference.nerve_csa import reference_set_info, reference_source

__all__ = ["GoedeeResult", "evaluate_goedee", "goedee_criteria"]

RULE_VERSION = "1"


@dataclass(frozen=True)
class GoedeeResult:
    """The Utrecht criteria: ``outcome`` met / not_met / not_met_incomplete / not_evaluable.

    ``not_applied`` lists measurements at criterion sites that were not judged because their
    level or plane differs from the one the criterion was published for (with the reason).
    """

    outcome: str
    positive: tuple[dict[str, Any], ...]
    evaluated: tuple[dict[str, Any], ...]
    missing_sites: tuple[str, ...]
    not_applied: tuple[dict[str, Any], ...] = ()

    @property
    def met(self) -> bool:
        return self.outcome == "met"

    def _not_applied_text(self) -> str:
        if not self.not_applied:
            return ""
        items = "; ".join(
            f"{n['site']} ({n['side']}) {n['csa_mm2']:g} mm2: {n['reason']}" for n in self.not_applied
        )
        return f"; not applied at {items}"

    def explanation(self) -> str:
        src = citation_short("goedee_2017")
        if self.met:
            items = "; ".join(
                f"{p['site']} ({p['side']}) {p['csa_mm2']:g} > {p['cutoff']:g} [{citation_short(p['source'])}]"
                for p in self.positive
            )
            return (
                f"goedee_cin: criteria met ({items}); enlargement of any is 99% specific for CIN [{src}]"
                + self._not_applied_text()
            )
        if self.outcome == "not_evaluable":
            if self.not_applied:
                return f"goedee_cin: not evaluable [{src}]" + self._not_applied_text()
            return f"goedee_cin: not evaluable, none of its sites measured ({', '.join(self.missing_sites)}) [{src}]"
        text = f"goedee_cin: not met at {', '.join(sorted({e['site'] for e in self.evaluated}))} [{src}]"
        text += self._not_applied_text()
        if self.missing_sites:
            text += f"; not measured: {', '.join(self.missing_sites)}"
        return text

    def to_finding(self) -> Finding:
        cits = [citation("goedee_2017")]
        if any(p["source"] == "dutch_uln" for p in self.evaluated):
            cits += [citation("dutch_uln"), citation("herraets_validation")]
        return Finding(
            rule_id="goedee_cin",
            rule_version=RULE_VERSION,
            outcome=self.outcome,
            inputs={
                "evaluated": [dict(e) for e in self.evaluated],
                "not_applied": [dict(n) for n in self.not_applied],
            },
            thresholds={
                c["site"]: {"cutoff": c["cutoff"], "comparison": c["comparison"]} for c in goedee_criteria()
            },
            citations=tuple(cits),
            explanation=self.explanation(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "met": None if self.outcome == "not_evaluable" else self.met,
            "positive_sites": [dict(p) for p in self.positive],
            "evaluated": [dict(e) for e in self.evaluated],
            "not_applied": [dict(n) for n in self.not_applied],
            "missing_sites": list(self.missing_sites),
            "explanation": self.explanation(),
        }


def goedee_criteria() -> list[dict[str, Any]]:
    """The criteria (site, cutoff, comparison, source, protocol) from ``nerve_rules.json``."""
    return list(load_data("nerve_rules.json")["goedee"]["criteria"])


def _why_not_applied(crit: dict[str, Any], m: NerveMeasurementInput, reference_set: str | None) -> str | None:
    """Why a criterion does not apply to a measurement (level or plane), or None when it does."""
    want = (crit.get("protocol") or {}).get("level")
    if want is not None and m.level != want:
        return (
            f"measured at level {m.level!r}, the criterion was published for {want!r} "
            f"[{citation_short(crit['source'])}]"
        )
    excluded = crit.get("not_with_reference_sources") or {}
    source = reference_source(m.site, reference_set)
    if source is not None and source in excluded:
        return f"the '{reference_set}' set measures this site as {citation_short(source)}: {excluded[source]}"
    return None


def evaluate_goedee(
    measurements: Sequence[NerveMeasurementInput], reference_set: str | None = None
) -> GoedeeResult:
    """Apply the Goedee/Utrecht cut-offs to every measurement at their sites (either side), only
    where the measurement's level/plane matches the one the criterion was published for."""
    set_name = reference_set_info(reference_set).name
    evaluated: list[dict[str, Any]] = []
    not_applied: list[dict[str, Any]] = []
    missing: list[str] = []
    for crit in goedee_criteria():
        found = [m for m in measurements if m.site == crit["site"]]
        if not found:
            missing.append(crit["site"])
        for m in found:
            item = {"site": m.site, "side": m.side, "csa_mm2": m.csa_mm2, "cutoff": crit["cutoff"]}
            reason = _why_not_applied(crit, m, set_name)
            if reason is not None:
                not_applied.append({**item, "level": m.level, "reason": reason})
                continue
            positive = (
                m.csa_mm2 > crit["cutoff"] if crit["comparison"] == ">" else m.csa_mm2 >= crit["cutoff"]
            )
            evaluated.append({**item, "positive": positive, "source": crit["source"]})
    positive_items = tuple(e for e in evaluated if e["positive"])
    if positive_items:
        outcome = "met"
    elif not evaluated:
        outcome = "not_evaluable"
    else:
        outcome = "not_met_incomplete" if missing or not_applied else "not_met"
    return GoedeeResult(outcome, positive_items, tuple(evaluated), tuple(missing), tuple(not_applied))
