"""Goedee (Utrecht) criteria for chronic inflammatory neuropathy (CIN).

The cut-offs, their sites and the level/plane each was published for come from
``reference/data/nerve_rules.json`` (``goedee.criteria``). A measurement at another level than
the criterion's (a root not interscalene; a trunk whose ``level`` does not declare the
Goedee/Utrecht protocol plane, or gives no level) is listed in ``not_applied`` with the reason
instead of being judged (decisions 006 and 007). The measurement's level decides, never the
active reference set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sonomsk.core.results import Finding
from sonomsk.nerve.assess_model import NerveMeasurementInput
from sonomsk.reference.loader import citation, citation_short, load_data
from sonomsk.reference.nerve_csa import measurement_reliability

__all__ = ["GoedeeResult", "evaluate_goedee", "goedee_criteria"]

RULE_VERSION = "2"


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

    def _caveat_text(self) -> str:
        """Caveats of the sources of the applied criteria that are [B] or partly [B] (finding 11)."""
        keys: list[str] = []
        for e in self.evaluated:
            for key in (e["source"], *e.get("also", ())):
                if key not in keys:
                    keys.append(key)
        parts = []
        for key in keys:
            cit = citation(key)
            if cit.evidence == "B":  # citation_short already carries the caveat inline
                parts.append(f"caveat {citation_short(key)}")
            elif cit.caveat and "[B]" in cit.caveat:
                parts.append(f"caveat {citation_short(key)}: {cit.caveat}")
        return "".join(f"; {p}" for p in parts)

    def _accuracy_text(self, spec: dict[str, Any]) -> str:
        """The published accuracy that applies to the positive criteria: Goedee 2017's 99 %
        specificity only for its own three sites; the short protocol's figures for C5."""
        src = spec["specificity_source"]
        if any(p["source"] == src for p in self.positive):
            return (
                f"enlargement of any of Goedee's sites is {spec['specificity_pct']:g}% specific for CIN "
                f"[{citation_short(src)}]"
            )
        sp = spec["short_protocol"]
        return (
            f"the multicentre short protocol (median forearm, median upper arm, C5 root) had sensitivity "
            f"{sp['sensitivity_pct']:g}% and specificity {sp['specificity_pct']:g}% against {sp['reference']} "
            f"[{citation_short(sp['source'])}]"
        )

    def explanation(self) -> str:
        src = citation_short("goedee_2017")
        if self.met:
            spec = load_data("nerve_rules.json")["goedee"]
            items = "; ".join(
                f"{goedee_where(p)} {p['csa_mm2']:g} > {p['cutoff']:g} [{citation_short(p['source'])}]"
                + (
                    f" (borderline: {p['csa_mm2'] - p['cutoff']:.2f} mm2 above the cut-off, within the "
                    f"between-investigator SD {p['sd_mm2']:g} mm2 [{citation_short(p['sd_source'])}]; a second "
                    "measurement may not meet it)"
                    if p.get("borderline")
                    else ""
                )
                for p in self.positive
            )
            return (
                f"goedee_cin: criteria met ({items}); {self._accuracy_text(spec)}"
                + self._not_applied_text()
                + self._caveat_text()
            )
        if self.outcome == "not_evaluable":
            if self.not_applied:
                return f"goedee_cin: not evaluable [{src}]" + self._not_applied_text()
            return f"goedee_cin: not evaluable, none of its sites measured ({', '.join(self.missing_sites)}) [{src}]"
        text = f"goedee_cin: not met at {', '.join(sorted({e['site'] for e in self.evaluated}))} [{src}]"
        text += self._not_applied_text()
        if self.missing_sites:
            text += f"; not measured: {', '.join(self.missing_sites)}"
        return text + self._caveat_text()

    def citation_keys(self) -> tuple[str, ...]:
        """Every source the explanation cites: Goedee 2017 and the sources of the criteria
        evaluated (with the multicentre validation when its figures are quoted)."""
        keys = ["goedee_2017"]
        for e in self.evaluated:
            keys += [k for k in (e["source"], *e.get("also", ())) if k not in keys]
        return tuple(keys)

    def to_finding(self) -> Finding:
        cits = [citation(k) for k in self.citation_keys()]
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


def _why_not_applied(crit: dict[str, Any], m: NerveMeasurementInput) -> str | None:
    """Why a criterion does not apply to a measurement (its level), or None when it does.

    Decided by the measurement's own ``level`` only (decision 007): a trunk outside the
    Goedee/Utrecht protocol plane is not judged whatever the reference set.
    """
    protocol = crit.get("protocol") or {}
    want = protocol.get("level")
    if want is None or m.level == want:
        return None
    measured = "no level given" if m.level is None else f"measured at level {m.level!r}"
    text = f"{measured}, the criterion was published for {want!r} [{citation_short(crit['source'])}]"
    if protocol.get("mismatch_reason"):
        why = protocol["mismatch_reason"]
        src = protocol.get("mismatch_source")
        text += f"; {why}" + (f" [{citation_short(src)}]" if src else "")
    return text


def evaluate_goedee(
    measurements: Sequence[NerveMeasurementInput], reference_set: str | None = None
) -> GoedeeResult:
    """Apply the Goedee/Utrecht cut-offs to every measurement at their sites (either side), only
    where the measurement's level matches the one the criterion was published for.

    ``reference_set`` is accepted for compatibility and deliberately unused: whether a criterion
    applies depends on the measurement's level, not on the set (decision 007).
    """
    del reference_set
    evaluated: list[dict[str, Any]] = []
    not_applied: list[dict[str, Any]] = []
    missing: list[str] = []
    for crit in goedee_criteria():
        found = [m for m in measurements if m.site == crit["site"]]
        if not found:
            missing.append(crit["site"])
        for m in found:
            item = {"site": m.site, "side": m.side, "csa_mm2": m.csa_mm2, "cutoff": crit["cutoff"]}
            if m.trunk:  # which plexus trunk: three rows of one site would otherwise read alike
                item["trunk"] = m.trunk
            reason = _why_not_applied(crit, m)
            if reason is not None:
                not_applied.append({**item, "level": m.level, "reason": reason})
                continue
            positive = (
                m.csa_mm2 > crit["cutoff"] if crit["comparison"] == ">" else m.csa_mm2 >= crit["cutoff"]
            )
            also = [crit["also"]] if crit.get("also") else []
            # within the between-investigator SD of the cut-off (decision 011 applied to the Goedee
            # cut-offs; review ws14b finding 3): reported, the outcome is unchanged
            rel = measurement_reliability(m.site)
            border = None if rel.sd_mm2 is None else round(abs(m.csa_mm2 - crit["cutoff"]), 9) < rel.sd_mm2
            evaluated.append(
                {
                    **item,
                    "positive": positive,
                    "source": crit["source"],
                    "also": also,
                    "borderline": border,
                    "sd_mm2": rel.sd_mm2,
                    "sd_source": rel.source,
                }
            )
    positive_items = tuple(e for e in evaluated if e["positive"])
    if positive_items:
        outcome = "met"
    elif not evaluated:
        outcome = "not_evaluable"
    else:
        outcome = "not_met_incomplete" if missing or not_applied else "not_met"
    return GoedeeResult(outcome, positive_items, tuple(evaluated), tuple(missing), tuple(not_applied))


def goedee_where(item: dict[str, Any]) -> str:
    """``site (side)``, or ``site (upper trunk, side)`` for a plexus trunk."""
    trunk = item.get("trunk")
    return f"{item['site']} ({trunk + ' trunk, ' if trunk else ''}{item['side']})"
