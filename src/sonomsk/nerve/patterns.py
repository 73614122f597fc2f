"""Goedee (Utrecht) criteria, the Zaidman pattern and the overall enlargement pattern.

``pattern`` is one of :class:`Pattern`. The rules, in order (every cut-off from
``reference/data/nerve_rules.json``):

1. nothing evaluable -> ``indeterminate`` (deciding sites: sites with a limit);
2. reduced CSA at a site with motor fibres and no enlargement -> ``reduced`` (reduced and enlarged
   together -> ``indeterminate``);
3. no enlarged site, no abnormal index, Goedee not met -> ``normal``;
4. abnormality only at entrapment sites -> ``focal_entrapment`` when every affected nerve has a
   normal non-entrapment site on the same side; otherwise ``indeterminate`` naming those sites;
5. abnormality at non-entrapment sites -> ``diffuse`` when Zaidman's diffuse pattern holds (all
   four regions enlarged, one site > 2x the limit); ``indeterminate`` when that depends on
   unmeasured regions; ``indeterminate`` for one isolated mild (<= 2x) enlargement without the
   Goedee criteria; else ``multifocal_nonentrapment``.

Missing sites never change a verdict silently: where they could, the pattern is
``indeterminate`` and ``deciding_sites`` names the sites that would decide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sonomsk.core.results import Citation, Finding
from sonomsk.nerve.assess_model import CsaAssessment, NerveMeasurementInput
from sonomsk.nerve.entrapment import IndexResult, VariabilityResult
from sonomsk.nerve.sites import regions, site_info, site_names
from sonomsk.reference.loader import citation, citation_short, load_data
from sonomsk.reference.nerve_csa import lookup_limit

__all__ = [
    "GoedeeResult",
    "Pattern",
    "PatternResult",
    "classify_pattern",
    "evaluate_goedee",
    "zaidman_pattern",
]

RULE_VERSION = "1"


class Pattern(StrEnum):
    NORMAL = "normal"
    FOCAL_ENTRAPMENT = "focal_entrapment"
    MULTIFOCAL_NONENTRAPMENT = "multifocal_nonentrapment"
    DIFFUSE = "diffuse"
    REDUCED = "reduced"
    INDETERMINATE = "indeterminate"


def _rules() -> dict[str, Any]:
    return load_data("nerve_rules.json")


# --------------------------------------------------------------------------- Goedee


@dataclass(frozen=True)
class GoedeeResult:
    """The Utrecht criteria: ``outcome`` met / not_met / not_met_incomplete / not_evaluable."""

    outcome: str
    positive: tuple[dict[str, Any], ...]
    evaluated: tuple[dict[str, Any], ...]
    missing_sites: tuple[str, ...]

    @property
    def met(self) -> bool:
        return self.outcome == "met"

    def explanation(self) -> str:
        src = citation_short("goedee_2017")
        if self.met:
            items = "; ".join(
                f"{p['site']} ({p['side']}) {p['csa_mm2']:g} > {p['cutoff']:g} [{citation_short(p['source'])}]"
                for p in self.positive
            )
            return f"goedee_cin: criteria met ({items}); enlargement of any is 99% specific for CIN [{src}]"
        if self.outcome == "not_evaluable":
            return f"goedee_cin: not evaluable, none of its sites measured ({', '.join(self.missing_sites)}) [{src}]"
        text = f"goedee_cin: not met at {', '.join(sorted({e['site'] for e in self.evaluated}))} [{src}]"
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
            inputs={"evaluated": [dict(e) for e in self.evaluated]},
            thresholds={
                c["site"]: {"cutoff": c["cutoff"], "comparison": c["comparison"]} for c in _criteria()
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
            "missing_sites": list(self.missing_sites),
            "explanation": self.explanation(),
        }


def _criteria() -> list[dict[str, Any]]:
    return list(_rules()["goedee"]["criteria"])


def evaluate_goedee(measurements: Sequence[NerveMeasurementInput]) -> GoedeeResult:
    """Apply the Goedee/Utrecht cut-offs to every measurement at their sites (either side)."""
    evaluated: list[dict[str, Any]] = []
    missing: list[str] = []
    for crit in _criteria():
        found = [m for m in measurements if m.site == crit["site"]]
        if not found:
            missing.append(crit["site"])
        for m in found:
            positive = (
                m.csa_mm2 > crit["cutoff"] if crit["comparison"] == ">" else m.csa_mm2 >= crit["cutoff"]
            )
            evaluated.append(
                {
                    "site": m.site,
                    "side": m.side,
                    "csa_mm2": m.csa_mm2,
                    "cutoff": crit["cutoff"],
                    "positive": positive,
                    "source": crit["source"],
                }
            )
    positive_items = tuple(e for e in evaluated if e["positive"])
    if positive_items:
        outcome = "met"
    elif not evaluated:
        outcome = "not_evaluable"
    else:
        outcome = "not_met_incomplete" if missing else "not_met"
    return GoedeeResult(outcome, positive_items, tuple(evaluated), tuple(missing))


# --------------------------------------------------------------------------- Zaidman


def zaidman_pattern(csa: Sequence[CsaAssessment]) -> tuple[str, dict[str, str], list[str]]:
    """Zaidman 2013 class (none, mild, regional, diffuse or undetermined), region states, and the
    regions that would decide an undetermined class."""
    factor = float(_rules()["zaidman"]["factor"])
    state: dict[str, str] = {}
    for region in regions():
        items = [a for a in csa if a.evaluable and site_info(a.site).region == region]
        if not items:
            state[region] = "unmeasured"
        else:
            state[region] = "enlarged" if any(a.status == "enlarged" for a in items) else "normal"
    enlarged = [a for a in csa if a.status == "enlarged"]
    if not enlarged:
        return "none", state, []
    if max(a.ratio_to_uln or 0.0 for a in enlarged) <= factor:
        return "mild", state, []
    if all(s == "enlarged" for s in state.values()):
        return "diffuse", state, []
    if any(s == "normal" for s in state.values()):
        return "regional", state, []
    return "undetermined", state, [r for r, s in state.items() if s == "unmeasured"]


# --------------------------------------------------------------------------- pattern


@dataclass(frozen=True)
class PatternResult:
    pattern: Pattern
    zaidman: str
    explanation: str
    rules_fired: tuple[str, ...]
    citations: tuple[Citation, ...]
    deciding_sites: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    region_states: dict[str, str] = field(default_factory=dict)

    def to_finding(self) -> Finding:
        return Finding(
            rule_id="nerve_enlargement_pattern",
            rule_version=RULE_VERSION,
            outcome=self.pattern.value,
            inputs={"rules_fired": list(self.rules_fired), "region_states": dict(self.region_states)},
            thresholds={"zaidman_factor": _rules()["zaidman"]["factor"]},
            citations=self.citations,
            explanation=self.explanation,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern.value,
            "zaidman_pattern": self.zaidman,
            "explanation": self.explanation,
            "rules_fired": list(self.rules_fired),
            "deciding_sites": list(self.deciding_sites),
            "candidates": list(self.candidates),
            "region_states": dict(self.region_states),
            "citations": [
                {"text": c.text, "evidence": c.evidence, "doi": c.doi, "caveat": c.caveat}
                for c in self.citations
            ],
        }


class _Builder:
    def __init__(self) -> None:
        self.sentences: list[str] = []
        self.rules: list[str] = []
        self.cits: list[str] = []

    def add(self, rule: str, text: str, *sources: str) -> None:
        self.rules.append(rule)
        self.sentences.append(text if text.startswith(f"{rule}:") else f"{rule}: {text}")
        self.cits.extend(s for s in sources if s)

    def build(self, pattern: Pattern, zaid: str, state: dict[str, str], **kw: Any) -> PatternResult:
        keys = list(dict.fromkeys(self.cits))
        head = f"Pattern {pattern.value}"
        return PatternResult(
            pattern=pattern,
            zaidman=zaid,
            explanation=f"{head}. " + " ".join(s if s.endswith(".") else s + "." for s in self.sentences),
            rules_fired=tuple(dict.fromkeys(self.rules)),
            citations=tuple(citation(k) for k in keys),
            region_states=state,
            **kw,
        )


def _has_limit(site: str, reference_set: str) -> bool:
    return lookup_limit(site, reference_set=reference_set, side="right", trunk="upper").has_limit


def _decisive(
    sites: Sequence[str], reference_set: str, measured: set[str], *, with_goedee: bool = True
) -> tuple[str, ...]:
    """The sites among ``sites`` not yet measured whose value could decide: those with a limit in
    the set, and (``with_goedee``) the Goedee criterion sites."""
    goedee = {c["site"] for c in _criteria()} if with_goedee else set()
    return tuple(
        s
        for s in site_names()
        if s in sites and s not in measured and (_has_limit(s, reference_set) or s in goedee)
    )


def _entrapment_ratios(csa: Sequence[CsaAssessment]) -> list[tuple[str, str, float]]:
    values = {(a.site, a.side): a.measurement.csa_mm2 for a in csa}
    out = []
    for ent, ref in _rules()["hereditary_entrapment_ratio"]["pairs"]:
        for side in ("left", "right"):
            if (ent, side) in values and (ref, side) in values:
                out.append((f"{ent}/{ref}", side, values[(ent, side)] / values[(ref, side)]))
    return out


def classify_pattern(
    csa: Sequence[CsaAssessment],
    indices: Sequence[IndexResult],
    goedee: GoedeeResult,
    variability: VariabilityResult,
    reference_set: str,
) -> PatternResult:
    """The overall pattern with its explanation (rule ids and citations that fired)."""
    zaid, state, undecided_regions = zaidman_pattern(csa)
    b = _Builder()
    measured_sites = {a.site for a in csa}
    evaluable = [a for a in csa if a.evaluable]
    motor = set(_rules()["reduced"]["motor_fibres"])
    reduced = [a for a in evaluable if a.status == "reduced" and site_info(a.site).fibres in motor]
    enlarged = [a for a in evaluable if a.status == "enlarged"]
    reduced_keys = {(a.site, a.side) for a in evaluable if a.status == "reduced"}
    abnormal_idx = [i for i in indices if i.abnormal and i.site]
    discounted = [i for i in abnormal_idx if (i.reference_site, i.side) in reduced_keys]
    abnormal_idx = [i for i in abnormal_idx if i not in discounted]
    if discounted:
        b.add(
            "index_reference_reduced",
            "not counted as entrapment because the reference site is reduced (a small denominator "
            f"inflates the index): {'; '.join(i.describe() for i in discounted)}",
        )

    entrap: dict[tuple[str, str], list[str]] = {}
    non: dict[tuple[str, str], list[str]] = {}
    for a in enlarged:
        target = entrap if site_info(a.site).is_entrapment else non
        target.setdefault((a.site, a.side), []).append(a.describe())
    for i in abnormal_idx:
        assert i.site is not None
        entrap.setdefault((i.site, i.side), []).append(i.describe())
    for p in goedee.positive:
        non.setdefault((p["site"], p["side"]), []).append(
            f"{p['site']} ({p['side']}) {p['csa_mm2']:g} > {p['cutoff']:g} (goedee_cin)"
        )
    zaid_src = _rules()["zaidman"]["source"]
    zaid_text = f"Zaidman pattern {zaid} [{citation_short(zaid_src)}]"
    limit_sources = sorted({a.limit.source for a in evaluable if a.limit.source})

    if not evaluable and not abnormal_idx and not goedee.positive:
        b.add(
            "no_evaluable_site",
            "no measurement has a reference limit in the "
            f"'{reference_set}' set ({', '.join(f'{a.site}: {a.limit.reason}' for a in csa)})",
        )
        deciding = _decisive(
            [s for s in site_names() if not site_info(s).is_entrapment], reference_set, measured_sites
        )
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            candidates=tuple(p.value for p in Pattern if p is not Pattern.INDETERMINATE),
        )

    mnd_src = _rules()["reduced"]["source"]
    if reduced and (entrap or non):
        b.add(
            "reduced_and_enlarged",
            f"reduced CSA ({'; '.join(a.describe() for a in reduced)}) together with enlargement "
            f"({'; '.join(r for rs in {**entrap, **non}.values() for r in rs)}): no single pattern fits",
            mnd_src,
            *limit_sources,
        )
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            candidates=("reduced", "focal_entrapment", "multifocal_nonentrapment"),
        )
    if reduced:
        b.add(
            "reduced_motor_csa",
            f"reduced CSA at sites with motor fibres ({'; '.join(a.describe() for a in reduced)}), no enlargement; "
            f"motor neuron disease shows reduced root/nerve CSA [{citation_short(mnd_src)}]",
            mnd_src,
            *limit_sources,
        )
        return b.build(Pattern.REDUCED, zaid, state)

    if not entrap and not non:
        b.add(
            "all_within_limits",
            f"all {len(evaluable)} evaluable measurements are within their limits "
            f"[{', '.join(citation_short(s) for s in limit_sources)}] and no entrapment index is abnormal",
            *limit_sources,
        )
        b.add("zaidman_pattern", zaid_text, zaid_src)
        if goedee.outcome != "not_evaluable":
            b.add("goedee_cin", goedee.explanation(), "goedee_2017")
        scope = [
            s
            for s in site_names()
            if s not in measured_sites
            and (site_info(s).is_entrapment or s in {c["site"] for c in _criteria()})
            and (_has_limit(s, reference_set) or s in {c["site"] for c in _criteria()})
        ]
        if scope:
            b.add("normal_scope", f"normal at the measured sites only; not measured: {', '.join(scope)}")
        return b.build(Pattern.NORMAL, zaid, state)

    if entrap and not non:
        affected = sorted({(site_info(s).nerve, side) for s, side in entrap})
        unconfirmed = []
        for nerve, side in affected:
            # a nerve with no non-entrapment site in the vocabulary (radial) is confirmed by any
            # normal non-entrapment site on the same side
            own = any(site_info(s).nerve == nerve and not site_info(s).is_entrapment for s in site_names())
            normal_here = [
                a
                for a in evaluable
                if (site_info(a.site).nerve == nerve or not own)
                and a.side == side
                and not site_info(a.site).is_entrapment
                and a.status == "normal"
            ]
            if not normal_here:
                unconfirmed.append((nerve, side))
        reasons = "; ".join(r for rs in entrap.values() for r in rs)
        sources = [i.source for i in abnormal_idx if i.source] + limit_sources
        if unconfirmed:
            nerves_open = {n for n, _ in unconfirmed}
            need = [
                s
                for s in site_names()
                if site_info(s).nerve in nerves_open and not site_info(s).is_entrapment
            ]
            if not need:  # e.g. radial: any non-entrapment site decides
                need = [s for s in site_names() if not site_info(s).is_entrapment]
            deciding = _decisive(need, reference_set, set())
            b.add(
                "focal_unconfirmed",
                f"abnormal at entrapment sites ({reasons}) but no normal non-entrapment site on "
                f"{', '.join(f'{n} ({s})' for n, s in unconfirmed)}: focal vs multifocal/diffuse undecided; "
                f"deciding sites: {', '.join(deciding) or 'none with a limit in this set'}",
                *sources,
            )
            return b.build(
                Pattern.INDETERMINATE,
                zaid,
                state,
                deciding_sites=deciding,
                candidates=("focal_entrapment", "multifocal_nonentrapment", "diffuse"),
            )
        b.add(
            "focal_entrapment",
            f"abnormality only at entrapment sites: {reasons}; non-entrapment sites normal",
            *sources,
        )
        nerves = {n for n, _ in affected}
        if len(nerves) >= 2:
            spec = _rules()["hereditary_entrapment_ratio"]
            ratios = _entrapment_ratios(csa)
            rtxt = ", ".join(f"{name} ({side}) {r:.2f}" for name, side, r in ratios) or "not computed"
            b.add(
                "hnpp_hint",
                f"focal enlargement at entrapment sites of {len(nerves)} nerves with normal sites elsewhere fits HNPP "
                f"(entrapment ratios > {spec['hnpp_above']:g}; here {rtxt}) [{citation_short(spec['source'])}]",
                spec["source"],
            )
        b.add("zaidman_pattern", zaid_text, zaid_src)
        return b.build(Pattern.FOCAL_ENTRAPMENT, zaid, state)

    # abnormal non-entrapment sites
    reasons = "; ".join(r for rs in non.values() for r in rs)
    sources = [*limit_sources, *(["goedee_2017"] if goedee.met else [])]
    if zaid == "diffuse":
        b.add(
            "diffuse_enlargement",
            f"enlarged in all four regions with a site > {_rules()['zaidman']['factor']:g}x the limit ({reasons})",
            *sources,
        )
        b.add(
            "zaidman_pattern", f"{zaid_text}: CMT1 is diffuse in 89%, acquired neuropathies rarely", zaid_src
        )
        spec = _rules()["hereditary_entrapment_ratio"]
        ratios = _entrapment_ratios(csa)
        if ratios:
            low = all(r < spec["cmt1a_below"] for _, _, r in ratios)
            b.add(
                "hereditary_entrapment_ratio",
                f"entrapment ratios {', '.join(f'{n} ({s}) {r:.2f}' for n, s, r in ratios)}"
                f"{' all' if low else ' not all'} < {spec['cmt1a_below']:g} (CMT1A) "
                f"[{citation_short(spec['source'])}]",
                spec["source"],
            )
        if variability.any_high:
            b.add(
                "variability_high",
                "high intra-/internerve variability: an inhomogeneous (acquired) enlargement is more likely "
                f"than a uniform hereditary one [{citation_short('padua_2012')}]",
                "padua_2012",
                "kerasnoudis_2013",
            )
        if goedee.outcome != "not_evaluable":
            b.add("goedee_cin", goedee.explanation(), "goedee_2017")
        return b.build(Pattern.DIFFUSE, zaid, state)
    if zaid == "undetermined":
        need = [
            s
            for s in site_names()
            if site_info(s).region in undecided_regions and not site_info(s).is_entrapment
        ]
        deciding = _decisive(need, reference_set, measured_sites, with_goedee=False)
        b.add(
            "diffuse_undetermined",
            f"every measured region is enlarged with a site > {_rules()['zaidman']['factor']:g}x the limit "
            f"({reasons}) but region(s) {', '.join(undecided_regions)} were not measured: diffuse vs "
            f"multifocal undecided [{citation_short(zaid_src)}]; deciding sites: {', '.join(deciding)}",
            zaid_src,
            *sources,
        )
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            candidates=("diffuse", "multifocal_nonentrapment"),
        )
    factor = float(_rules()["zaidman"]["factor"])
    isolated_mild = (
        len({s for s, _ in non}) == 1
        and not goedee.met
        and all((a.ratio_to_uln or 0.0) <= factor for a in enlarged if (a.site, a.side) in non)
        and not entrap
    )
    if isolated_mild:
        need = [s for s in site_names() if not site_info(s).is_entrapment]
        deciding = _decisive(need, reference_set, measured_sites)
        b.add(
            "isolated_mild_enlargement",
            f"mild enlargement at a single non-entrapment site ({reasons}), not > {factor:g}x the limit and Goedee "
            f"criteria not met: {zaid_text}; enlargement occurs in 19% of axonal polyneuropathy "
            f"[{citation_short('zaidman_2009')}]; one site cannot show a multifocal pattern",
            zaid_src,
            "zaidman_2009",
            *sources,
        )
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            candidates=("normal", "multifocal_nonentrapment"),
        )
    b.add(
        "multifocal_nonentrapment",
        f"enlargement at non-entrapment sites ({reasons})"
        + (
            f"; also at entrapment sites ({'; '.join(r for rs in entrap.values() for r in rs)})"
            if entrap
            else ""
        )
        + f"; not diffuse ({zaid_text})",
        *sources,
        zaid_src,
    )
    if goedee.met:
        b.add("goedee_cin", goedee.explanation(), "goedee_2017")
    proximal = sorted({s for s, _ in non if site_info(s).region in ("arm_proximal", "cervical")})
    if proximal:
        b.add("proximal_enlargement", f"proximal enlargement at {', '.join(proximal)} (as in CIDP and MMN)")
    if variability.any_high:
        parts = [i["explanation"] for i in variability.intranerve if i["high"]]
        if variability.internerve and variability.internerve["high"]:
            parts.append(variability.internerve["explanation"])
        b.add(
            "variability_high",
            f"high CSA variability ({'; '.join(parts)}); variability is highest in MMN "
            f"[{citation_short('padua_2012')}], which also shows greater side-to-side variability "
            f"[{citation_short('mmn_cidp_2016')}]",
            "padua_2012",
            "kerasnoudis_2013",
            "mmn_cidp_2016",
        )
    return b.build(Pattern.MULTIFOCAL_NONENTRAPMENT, zaid, state)
