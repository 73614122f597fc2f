"""The knowledge base: findings vocabulary, conditions and their likelihood ratios, citations.

Everything clinical lives in the JSON files of ``sonomsk/knowledge/data``; this module only loads,
validates and turns the published numbers into likelihood ratios (LR):

* ``sens_spec``: LR+ = sensitivity / (1 - specificity), LR- = (1 - sensitivity) / specificity;
* ``frequency``: LR+ = p(finding | condition) / p(finding | comparison group),
  LR- = (1 - p_condition) / (1 - p_comparison); a comparison given as several named frequencies
  is their mean;
* ``qualitative``: the conventional LR pair of its weight class in ``method.json`` (not published).

Frequencies are clamped to ``frequency_clamp`` before a ratio is formed and every LR to
``lr_clamp``, so that no single finding decides alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Citation


class FindingState(StrEnum):
    """State of one finding in the input."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class Basis(StrEnum):
    """Where a likelihood ratio comes from."""

    SENS_SPEC = "sens_spec"
    FREQUENCY = "frequency"
    QUALITATIVE = "qualitative"


@dataclass(frozen=True)
class FindingDefinition:
    """One term of the closed vocabulary."""

    id: str
    domain: str
    definition: str
    exclusive: str | None = None
    excludes: tuple[str, ...] = ()  # present, this finding makes these absent (and they it)
    threshold: dict[str, Any] | None = None
    specialises: str | None = None  # the unnamed-site finding this one names the site of


@dataclass(frozen=True)
class Entry:
    """How one finding bears on one condition."""

    finding: str
    basis: Basis
    lr_present: float
    lr_absent: float
    derivation: str
    statement: str
    citations: tuple[str, ...]
    group: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class GroupBound:
    """Bounds on the summed log10 LR of correlated findings of one condition."""

    log10_min: float
    log10_max: float
    note: str
    citation: str | None = None


@dataclass(frozen=True)
class Condition:
    id: str
    name: str
    category: str
    summary: str
    entries: dict[str, Entry]
    groups: dict[str, GroupBound] = field(default_factory=dict)
    nerve: str | None = None  # an entrapment of one nerve (method.json nerve_scoped_findings)
    entrapment_sites: tuple[str, ...] = ()  # the sites whose enlargement is this entrapment


@dataclass(frozen=True)
class KnowledgeBase:
    version: str
    method: dict[str, Any]
    findings: dict[str, FindingDefinition]
    conditions: dict[str, Condition]
    citations: dict[str, Citation]

    def citation_dict(self, cid: str) -> dict[str, Any]:
        c = self.citations[cid]
        return {"id": cid, "text": c.text, "evidence": c.evidence, "doi": c.doi, "caveat": c.caveat}


def _read(name: str) -> dict[str, Any]:
    text = resources.files("sonomsk.knowledge").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _derive(raw: dict[str, Any], method: dict[str, Any], where: str) -> tuple[float, float, str]:
    """(LR+, LR-, derivation text) of one raw entry."""
    fmin, fmax = method["frequency_clamp"]["min"], method["frequency_clamp"]["max"]
    basis = raw["basis"]
    if basis == Basis.SENS_SPEC.value:
        sens = _clamp(float(raw["sensitivity"]), fmin, fmax)
        spec = _clamp(float(raw["specificity"]), fmin, fmax)
        lrp, lrn = sens / (1 - spec), (1 - sens) / spec
        text = (
            f"published sensitivity {raw['sensitivity']:.3g}, specificity {raw['specificity']:.3g}: "
            f"LR+ = sens/(1-spec), LR- = (1-sens)/spec"
        )
    elif basis == Basis.FREQUENCY.value:
        comp = raw["p_comparison"]
        if isinstance(comp, dict):
            p_comp = sum(float(v) for v in comp.values()) / len(comp)
            comp_text = "mean of " + ", ".join(f"{k} {float(v):.3g}" for k, v in comp.items())
        else:
            p_comp = float(comp)
            comp_text = f"{p_comp:.3g}"
        pc = _clamp(float(raw["p_condition"]), fmin, fmax)
        pk = _clamp(p_comp, fmin, fmax)
        lrp, lrn = pc / pk, (1 - pc) / (1 - pk)
        text = (
            f"published frequency {float(raw['p_condition']):.3g} in the condition vs {comp_text} "
            f"({raw['comparison']}): LR+ = p_cond/p_comp, LR- = (1-p_cond)/(1-p_comp)"
        )
    elif basis == Basis.QUALITATIVE.value:
        weight = raw["weight"]
        table = method["qualitative_weights"]
        if weight not in table:
            raise InvalidParameterError(f"{where}: weight {weight!r} not in {sorted(table)}")
        lrp, lrn = float(table[weight]["lr_present"]), float(table[weight]["lr_absent"])
        text = f"qualitative '{weight}': conventional LR pair of method.json (not a published number)"
    else:
        raise InvalidParameterError(f"{where}: basis {basis!r} not in {[b.value for b in Basis]}")
    lo, hi = method["lr_clamp"]["min"], method["lr_clamp"]["max"]
    clp, cln = _clamp(lrp, lo, hi), _clamp(lrn, lo, hi)
    if (clp, cln) != (lrp, lrn):
        text += f"; clamped to [{lo}, {hi}]"
    return clp, cln, text


@lru_cache(maxsize=1)
def load_knowledge() -> KnowledgeBase:
    """Load and validate the knowledge base (cached)."""
    method = _read("method.json")
    fdata = _read("findings.json")
    cdata = _read("conditions.json")
    citdata = _read("citations.json")
    citations = {k: Citation(**v) for k, v in citdata["citations"].items()}
    findings = {
        k: FindingDefinition(
            id=k,
            domain=v["domain"],
            definition=v["definition"],
            exclusive=v.get("exclusive"),
            excludes=tuple(v.get("excludes", ())),
            threshold=v.get("threshold"),
            specialises=v.get("specialises"),
        )
        for k, v in fdata["findings"].items()
    }
    for f in findings.values():
        if f.specialises is not None and f.specialises not in fdata["findings"]:
            raise InvalidParameterError(
                f"findings.json {f.id}: specialises unknown finding {f.specialises!r}"
            )
        for other in f.excludes:
            if other not in fdata["findings"]:
                raise InvalidParameterError(f"findings.json {f.id}: excludes unknown finding {other!r}")
        if f.threshold and f.threshold["citation"] not in citations:
            raise InvalidParameterError(f"findings.json {f.id}: unknown citation {f.threshold['citation']!r}")
    lo, hi = math.log10(method["lr_clamp"]["min"]), math.log10(method["lr_clamp"]["max"])
    conditions: dict[str, Condition] = {}
    for cid, c in cdata["conditions"].items():
        entries: dict[str, Entry] = {}
        for raw in c["entries"]:
            where = f"conditions.json {cid}/{raw.get('finding')}"
            if raw["finding"] not in findings:
                raise InvalidParameterError(f"{where}: finding not in the vocabulary")
            if raw["finding"] in entries:
                raise InvalidParameterError(f"{where}: finding listed twice")
            for ref in raw["citations"]:
                if ref not in citations:
                    raise InvalidParameterError(f"{where}: unknown citation {ref!r}")
            lrp, lrn, text = _derive(raw, method, where)
            entries[raw["finding"]] = Entry(
                finding=raw["finding"],
                basis=Basis(raw["basis"]),
                lr_present=lrp,
                lr_absent=lrn,
                derivation=text,
                statement=raw["statement"],
                citations=tuple(raw["citations"]),
                group=raw.get("group"),
                note=raw.get("note"),
            )
        groups: dict[str, GroupBound] = {}
        for gid, g in c.get("groups", {}).items():
            if "combined_sensitivity" in g:
                gp, gn, _ = _derive(
                    {
                        "basis": "sens_spec",
                        "sensitivity": g["combined_sensitivity"],
                        "specificity": g["combined_specificity"],
                    },
                    method,
                    f"conditions.json {cid}/groups/{gid}",
                )
                groups[gid] = GroupBound(math.log10(gn), math.log10(gp), g["note"], g.get("citation"))
            else:
                groups[gid] = GroupBound(lo, hi, g["note"])
        for e in entries.values():
            if e.group is not None and e.group not in groups:
                raise InvalidParameterError(
                    f"conditions.json {cid}/{e.finding}: group {e.group!r} not defined"
                )
        conditions[cid] = Condition(
            cid,
            c["name"],
            c["category"],
            c["summary"],
            entries,
            groups,
            c.get("nerve"),
            tuple(c.get("entrapment_sites", ())),
        )
    return KnowledgeBase(cdata["version"], method, findings, conditions, citations)


def vocabulary() -> dict[str, dict[str, Any]]:
    """The closed vocabulary: finding id -> domain, definition, threshold (with its citation)."""
    kb = load_knowledge()
    return {
        k: {
            "domain": f.domain,
            "definition": f.definition,
            "exclusive": f.exclusive,
            "threshold": f.threshold,
            "specialises": f.specialises,
        }
        for k, f in kb.findings.items()
    }
