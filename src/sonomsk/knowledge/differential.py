"""Ranked, explained differential diagnosis from ultrasound, EMG/NCS and clinical findings.

Scoring (transparent, documented in docs/differential.md): with a uniform prior over the
conditions of the knowledge base, each condition's score is the sum of log10 likelihood ratios
of its findings that are present or absent in the input (unknown findings contribute nothing).
Correlated findings of one condition form a group whose summed contribution is bounded. The
``relative_weight`` is the score normalised over all conditions; it is relative to this
knowledge base and NOT a calibrated probability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sonomsk import __version__
from sonomsk.knowledge.base import Condition, FindingState, KnowledgeBase, load_knowledge
from sonomsk.knowledge.inputs import Observed, parse_findings

METHOD_NAME = "sonomsk.knowledge.differential"
METHOD_VERSION = "1.0"

INTENDED_USE = (
    "Decision support for a qualified clinician (pain physician, physiatrist, neurologist, "
    "radiologist). This is NOT a diagnosis: it ranks conditions of a limited knowledge base by "
    "how well the given findings fit published associations, shows the evidence for and against "
    "each, and names the findings that would best separate the leading candidates. Conditions "
    "outside the knowledge base are never considered. Scores are relative and not calibrated "
    "probabilities. Clinical judgement, history, examination and further tests decide."
)


@dataclass(frozen=True)
class Contribution:
    """How one known finding moved one condition's score."""

    finding: str
    state: str
    source: str
    likelihood_ratio: float
    log10_lr: float
    basis: str
    derivation: str
    statement: str
    citations: tuple[str, ...]
    group: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding,
            "state": self.state,
            "source": self.source,
            "likelihood_ratio": round(self.likelihood_ratio, 4),
            "log10_lr": round(self.log10_lr, 4),
            "basis": self.basis,
            "derivation": self.derivation,
            "statement": self.statement,
            "citations": list(self.citations),
            "group": self.group,
            "note": self.note,
        }


@dataclass(frozen=True)
class Candidate:
    condition: str
    name: str
    category: str
    score_log10: float
    relative_weight: float
    supporting: tuple[Contribution, ...]
    against: tuple[Contribution, ...]
    group_adjustments: tuple[dict[str, Any], ...]
    citations: tuple[dict[str, Any], ...]

    def to_dict(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "condition": self.condition,
            "name": self.name,
            "category": self.category,
            "score_log10": round(self.score_log10, 4),
            "relative_weight": round(self.relative_weight, 4),
            "supporting": [c.to_dict() for c in self.supporting],
            "against": [c.to_dict() for c in self.against],
            "group_adjustments": list(self.group_adjustments),
            "citations": list(self.citations),
        }


@dataclass(frozen=True)
class Differential:
    """The result of :func:`rank`; ``to_dict()`` gives the documented JSON."""

    can_rank: bool
    message: str
    candidates: tuple[Candidate, ...]
    not_ranked: tuple[dict[str, Any], ...]
    missing_discriminators: tuple[dict[str, Any], ...]
    separated: bool
    inputs: dict[str, dict[str, str]]
    notes: tuple[str, ...]
    patient: dict[str, Any] = field(default_factory=dict)
    kb_version: str = ""
    method_conventions: dict[str, Any] = field(default_factory=dict)

    @property
    def top(self) -> str | None:
        return self.candidates[0].condition if self.candidates else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intended_use": INTENDED_USE,
            "method": {
                "name": METHOD_NAME,
                "version": METHOD_VERSION,
                "package_version": __version__,
                "knowledge_base_version": self.kb_version,
                "scoring": "sum of log10 likelihood ratios of present/absent findings, uniform prior; "
                "correlated findings bounded per group",
                "score_note": "relative_weight is normalised over the knowledge base; it is NOT a calibrated probability",
                "conventions": self.method_conventions,
            },
            "can_rank": self.can_rank,
            "separated": self.separated,
            "message": self.message,
            "patient": self.patient,
            "inputs": self.inputs,
            "candidates": [c.to_dict(i + 1) for i, c in enumerate(self.candidates)],
            "not_ranked": list(self.not_ranked),
            "missing_discriminators": list(self.missing_discriminators),
            "notes": list(self.notes),
        }


def _score(
    cond: Condition, obs: Observed, kb: KnowledgeBase
) -> tuple[float, list[Contribution], list[dict[str, Any]]]:
    contribs: list[Contribution] = []
    scoped = kb.method["nerve_scoped_findings"]["findings"]
    for fid, e in cond.entries.items():
        state = obs.states.get(fid, FindingState.UNKNOWN)
        if state == FindingState.UNKNOWN:
            continue
        if (
            state == FindingState.PRESENT
            and fid in scoped
            and cond.entrapment_sites
            and obs.focal_sites is not None
            and not obs.focal_sites & set(cond.entrapment_sites)
        ):
            obs.notes.append(
                f"{fid} not counted for {cond.name}: the nerve assessment found the focal enlargement at "
                f"{', '.join(sorted(obs.focal_sites)) or 'no entrapment site'}, none of its sites "
                f"({', '.join(cond.entrapment_sites)})"
            )
            continue
        named = [f.id for f in kb.findings.values() if f.specialises == fid and f.id in cond.entries]
        if (
            state == FindingState.PRESENT
            and named
            and all(obs.states.get(n) == FindingState.ABSENT for n in named)
        ):
            # slowing "at an entrapment site" is not slowing at this condition's site when that site's
            # own finding is absent (review ws15a finding 7)
            obs.notes.append(
                f"{fid} not counted for {cond.name}: {', '.join(named)} is absent, so the slowing is "
                "at another site"
            )
            continue
        lr = e.lr_present if state == FindingState.PRESENT else e.lr_absent
        contribs.append(
            Contribution(
                finding=fid,
                state=state.value,
                source=obs.sources.get(fid, ""),
                likelihood_ratio=lr,
                log10_lr=math.log10(lr),
                basis=e.basis.value,
                derivation=e.derivation,
                statement=e.statement,
                citations=e.citations,
                group=e.group,
                note=e.note,
            )
        )
    total = 0.0
    by_group: dict[str, float] = {}
    for c in contribs:
        if c.group is None:
            total += c.log10_lr
        else:
            by_group[c.group] = by_group.get(c.group, 0.0) + c.log10_lr
    adjustments: list[dict[str, Any]] = []
    for gid, raw in by_group.items():
        bound = cond.groups[gid]
        bounded = min(max(raw, bound.log10_min), bound.log10_max)
        total += bounded
        if bounded != raw:
            adjustments.append(
                {
                    "group": gid,
                    "sum_log10_lr": round(raw, 4),
                    "bounded_to": round(bounded, 4),
                    "reason": bound.note,
                    "citation": bound.citation,
                }
            )
    return total, contribs, adjustments


def _best_lrs(cond: Condition, fid: str) -> tuple[float, float]:
    e = cond.entries.get(fid)
    if e is None:
        return 0.0, 0.0
    return math.log10(e.lr_present), math.log10(e.lr_absent)


def _discriminators(names: list[str], obs: Observed, kb: KnowledgeBase, limit: int) -> list[dict[str, Any]]:
    """Unknown findings ranked by their expected separation of the given conditions.

    Separation of a finding = sum over pairs (a, b) of 0.5*|dlog10LR if present| +
    0.5*|dlog10LR if absent| (present and absent taken as equally likely).
    """
    out: list[dict[str, Any]] = []
    conds = [kb.conditions[n] for n in names]
    for fid, fdef in kb.findings.items():
        if obs.states.get(fid, FindingState.UNKNOWN) != FindingState.UNKNOWN or fid in obs.superseded:
            continue
        lrs = {c.id: _best_lrs(c, fid) for c in conds}
        sep = 0.0
        for i in range(len(conds)):
            for j in range(i + 1, len(conds)):
                a, b = lrs[conds[i].id], lrs[conds[j].id]
                sep += 0.5 * abs(a[0] - b[0]) + 0.5 * abs(a[1] - b[1])
        if sep <= 0:
            continue
        if_present = max(lrs, key=lambda k: lrs[k][0])
        if_absent = max(lrs, key=lambda k: lrs[k][1])
        out.append(
            {
                "finding": fid,
                "domain": fdef.domain,
                "definition": fdef.definition,
                "separation_log10": round(sep, 4),
                "favours_if_present": if_present if lrs[if_present][0] > 0 else None,
                "favours_if_absent": if_absent if lrs[if_absent][1] > 0 else None,
            }
        )
    out.sort(key=lambda d: (-d["separation_log10"], d["finding"]))
    return out[:limit]


def _coexisting(tied: list[Candidate], spec: Mapping[str, Any]) -> str:
    """A sentence when tied leaders are focal entrapments of different nerves that each have a
    present finding the others lack: they may coexist (method.json coexisting_categories)."""
    focal = [c for c in tied if c.category in spec["categories"]]
    own: dict[str, list[str]] = {}
    for c in focal:
        present = {e.finding for e in c.supporting if e.state == "present"}
        others = {e.finding for o in focal if o is not c for e in o.supporting if e.state == "present"}
        mine = sorted(present - others)
        if mine:
            own[c.name] = mine
    if len(own) < 2:
        return ""
    parts = "; ".join(f"{name} ({', '.join(f)} present)" for name, f in own.items())
    return (
        f" These need not exclude each other: focal entrapments of different nerves can coexist, and each "
        f"has a present finding of its own: {parts}."
    )


def rank(findings: Mapping[str, Any]) -> Differential:
    """Rank the conditions of the knowledge base for a FINDINGS mapping.

    Parameters
    ----------
    findings
        The FINDINGS document (see :mod:`sonomsk.knowledge.inputs` and docs/differential.md).

    Returns
    -------
    Differential
        Candidates (each with supporting and opposing findings and citations), the conditions
        not ranked and why, the missing findings that best separate the leading candidates, and
        the intended use. Raises InvalidParameterError for unknown finding names or bad values.
    """
    kb = load_knowledge()
    obs = parse_findings(findings, kb)
    m = kb.method
    conventions = {
        "qualitative_weights": m["qualitative_weights"],
        "lr_clamp": m["lr_clamp"],
        "frequency_clamp": m["frequency_clamp"],
        "prior": m["prior"],
        "candidate_rule": m["candidate_rule"],
        "ambiguity_note": m["ambiguity_note"],
    }
    inputs = {
        k: {"state": v.value, "source": obs.sources.get(k, "")}
        for k, v in sorted(obs.states.items())
        if v != FindingState.UNKNOWN
    }
    scored: dict[str, tuple[float, list[Contribution], list[dict[str, Any]]]] = {
        cid: _score(c, obs, kb) for cid, c in kb.conditions.items()
    }
    # relative weight over all conditions (uniform prior)
    top_score = max(s for s, _, _ in scored.values())
    norm = sum(10 ** (s - top_score) for s, _, _ in scored.values())
    candidates: list[Candidate] = []
    not_ranked: list[dict[str, Any]] = []
    for cid, (s, contribs, adj) in scored.items():
        cond = kb.conditions[cid]
        support = tuple(sorted((c for c in contribs if c.log10_lr > 0), key=lambda c: -c.log10_lr))
        against = tuple(sorted((c for c in contribs if c.log10_lr < 0), key=lambda c: c.log10_lr))
        if not any(c.state == FindingState.PRESENT.value for c in support):
            not_ranked.append(
                {
                    "condition": cid,
                    "name": cond.name,
                    "reason": "no present finding supports it"
                    + (f" ({len(against)} finding(s) argue against it)" if against else ""),
                }
            )
            continue
        cites = sorted({ref for c in contribs for ref in c.citations})
        candidates.append(
            Candidate(
                condition=cid,
                name=cond.name,
                category=cond.category,
                score_log10=s,
                relative_weight=10 ** (s - top_score) / norm,
                supporting=support,
                against=against,
                group_adjustments=tuple(adj),
                citations=tuple(kb.citation_dict(r) for r in cites),
            )
        )
    candidates.sort(key=lambda c: (-c.score_log10, c.condition))
    k = int(m["missing_discriminators_top_k"])
    limit = int(m["missing_discriminators_max"])
    margin = float(m["ambiguity_log10_margin"])
    if not obs.states or not candidates:
        msg = (
            "No findings were given: the differential cannot rank anything. "
            if not obs.states
            else "No condition of the knowledge base is supported by a present finding: the differential cannot rank. "
        ) + "Collect the findings listed under missing_discriminators."
        disc = _discriminators(list(kb.conditions), obs, kb, limit)
        return Differential(
            False,
            msg,
            (),
            tuple(not_ranked),
            tuple(disc),
            False,
            inputs,
            tuple(obs.notes),
            obs.patient,
            kb.version,
            conventions,
        )
    leaders = [c.condition for c in candidates[:k]]
    if len(leaders) == 1:  # separate the single candidate from the closest unranked conditions
        leaders += [
            cid
            for cid, _ in sorted(
                ((cid, scored[cid][0]) for cid in kb.conditions if cid != leaders[0]), key=lambda t: -t[1]
            )
        ][: k - 1]
    disc = _discriminators(leaders, obs, kb, limit)
    # a slowing localised to an entrapment site that the leading candidate does not explain
    # (review ws15c N5): said, with the rank of the conditions that do
    lead = kb.conditions[candidates[0].condition]
    for f in kb.findings.values():
        if f.specialises and obs.states.get(f.id) == FindingState.PRESENT and f.id not in lead.entries:
            by = [
                f"{c.name} (rank {i + 1})"
                for i, c in enumerate(candidates)
                if f.id in kb.conditions[c.condition].entries
            ]
            obs.notes.append(
                f"{f.id} is present but not explained by the leading candidate ({lead.name}); it localises a "
                f"lesion to its site: {', '.join(by) or 'no ranked condition explains it'}"
            )
    separated = len(candidates) == 1 or candidates[0].score_log10 - candidates[1].score_log10 >= margin
    if separated:
        msg = (
            f"Leading candidate: {candidates[0].name} (score {candidates[0].score_log10:+.2f} log10 LR). "
            "Review the supporting and opposing findings below; this is support for a clinician, not a diagnosis."
        )
    else:
        tied = [c.name for c in candidates if candidates[0].score_log10 - c.score_log10 < margin]
        msg = (
            f"The findings do not separate {', '.join(tied)} (score difference below log10(2)). "
            "Collect the findings listed under missing_discriminators to separate them."
        ) + _coexisting(
            [c for c in candidates if candidates[0].score_log10 - c.score_log10 < margin],
            m["coexisting_categories"],
        )
    return Differential(
        True,
        msg,
        tuple(candidates),
        tuple(not_ranked),
        tuple(disc),
        separated,
        inputs,
        tuple(obs.notes),
        obs.patient,
        kb.version,
        conventions,
    )
