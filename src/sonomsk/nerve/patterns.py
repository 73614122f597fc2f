"""The Zaidman pattern and the overall enlargement pattern.

The Goedee (Utrecht) criteria live in :mod:`sonomsk.nerve.goedee`; ``GoedeeResult`` and
``evaluate_goedee`` are re-exported here.

``pattern`` is one of :class:`Pattern`. The rules, in order (every cut-off from
``reference/data/nerve_rules.json``; the guards are explained in decision 006):

1. nothing evaluable -> ``indeterminate`` (deciding sites: sites with a limit);
2. reduced CSA at >= ``min_sites`` motor sites on >= ``min_nerves`` nerves -> ``reduced`` (with
   enlargement -> ``indeterminate``); fewer reduced sites and no enlargement -> ``indeterminate``
   naming the sites that would decide; measured motor sites without a lower limit are named;
3. no enlarged CSA and Goedee not met -> ``normal``; an abnormal [A] index alone ->
   ``indeterminate``; a [B] index never decides on its own;
4. enlarged CSA only at entrapment sites -> ``focal_entrapment`` when every affected nerve has a
   normal non-entrapment site on the same side (indices only support); otherwise ``indeterminate``;
5. enlargement at non-entrapment sites -> ``diffuse`` when Zaidman's diffuse pattern holds;
   ``indeterminate`` when every measured region is enlarged and a region is unmeasured, or for one
   isolated mild (<= 2x) enlargement without the Goedee criteria (also beside an entrapment site);
   else ``multifocal_nonentrapment``.

Missing sites never change a verdict silently: where they could, the pattern is
``indeterminate`` and ``deciding_sites`` names the sites that would decide it. Values not
compared because their levels differ (side-to-side, variability; decision 007) are named at the
end of the explanation (``levels_not_compared``). Percentages quoted in the explanation are read
from ``nerve_rules.json`` with their source.

Hint rules (decision 010) add a sentence and a :class:`~sonomsk.core.results.Finding` in
``PatternResult.hints`` but never change the pattern: sensory sparing / involvement with enlarged
roots or vagus (GBS vs acute-onset CIDP), and the severe-range hints of a confirmed focal
entrapment (CTS, UNE; :func:`sonomsk.nerve.entrapment.evaluate_severity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sonomsk.core.results import Citation, Finding
from sonomsk.nerve.assess_model import CsaAssessment, within_measurement_sd
from sonomsk.nerve.entrapment import IndexResult, VariabilityResult, evaluate_severity
from sonomsk.nerve.goedee import GoedeeResult, evaluate_goedee, goedee_criteria, goedee_where
from sonomsk.nerve.sites import SIDES, regions, site_info, site_names
from sonomsk.nerve.sparing import sensory_sites, sensory_sparing
from sonomsk.reference.loader import citation, citation_short, load_data
from sonomsk.reference.nerve_csa import ReferenceLimit, csa_input_bounds, lookup_limit, pattern_sd_mm2

__all__ = [
    "GoedeeResult",
    "Pattern",
    "PatternResult",
    "classify_pattern",
    "evaluate_goedee",
    "sensory_sites",
    "zaidman_pattern",
]

RULE_VERSION = "2"


class Pattern(StrEnum):
    NORMAL = "normal"
    FOCAL_ENTRAPMENT = "focal_entrapment"
    MULTIFOCAL_NONENTRAPMENT = "multifocal_nonentrapment"
    DIFFUSE = "diffuse"
    REDUCED = "reduced"
    INDETERMINATE = "indeterminate"


def _rules() -> dict[str, Any]:
    return load_data("nerve_rules.json")


# --------------------------------------------------------------------------- Zaidman


def zaidman_pattern(csa: Sequence[CsaAssessment]) -> tuple[str, dict[str, str], list[str]]:
    """Zaidman 2013 class (none, mild, regional, diffuse or undetermined), region states, and the
    regions that would decide an undetermined class.

    Zaidman's classes are defined over four regions, so a region with no judged site (state
    ``unmeasured``, or ``unjudged`` where its measured sites have no applicable limit) leaves the
    class ``undetermined`` (review ws14b finding 8); only ``regional`` (a normal region and a site
    above the factor) is decided whatever the open regions hold."""
    factor = float(_rules()["zaidman"]["factor"])
    state: dict[str, str] = {}
    for region in regions():
        measured = [a for a in csa if site_info(a.site).region == region]
        items = [a for a in measured if a.evaluable]
        if not items:
            state[region] = "unjudged" if measured else "unmeasured"
        else:
            state[region] = "enlarged" if any(a.status == "enlarged" for a in items) else "normal"
    enlarged = [a for a in csa if a.status == "enlarged"]
    above = bool(enlarged) and max(a.ratio_to_uln or 0.0 for a in enlarged) > factor
    if above and any(s == "normal" for s in state.values()):
        return "regional", state, []
    open_regions = [r for r, s in state.items() if s in ("unmeasured", "unjudged")]
    if open_regions:
        return "undetermined", state, open_regions
    if not enlarged:
        return "none", state, []
    if not above:
        return "mild", state, []
    if all(s == "enlarged" for s in state.values()):
        return "diffuse", state, []
    return "regional", state, []


# --------------------------------------------------------------------------- pattern


@dataclass(frozen=True)
class PatternResult:
    pattern: Pattern
    zaidman: str
    explanation: str
    rules_fired: tuple[str, ...]
    citations: tuple[Citation, ...]
    deciding_sites: tuple[str, ...] = ()
    #: measurements on the other side of a measured site that would decide, "site (side)"
    deciding_other_side: tuple[str, ...] = ()
    #: ``deciding_sites`` in the same order, each named with the side and level where its value
    #: decides ("vagus_neck (right, thyroid level)"), the bare name where any side and level do
    deciding_sites_detail: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    region_states: dict[str, str] = field(default_factory=dict)
    no_lower_limit_sites: tuple[str, ...] = ()
    hints: tuple[Finding, ...] = ()

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
            "deciding_other_side": list(self.deciding_other_side),
            "deciding_sites_detail": list(self.deciding_sites_detail),
            "candidates": list(self.candidates),
            "region_states": dict(self.region_states),
            "no_lower_limit_sites": list(self.no_lower_limit_sites),
            "hints": [h.to_dict() for h in self.hints],
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
        # (rule, text, sources) appended after the deciding rules
        self.tail: list[tuple[str, str, tuple[str, ...]]] = []
        self.hints: list[Finding] = []  # findings of the hint rules (decision 010)
        self.paediatric: str | None = None  # the note for a patient younger than every reference set
        self.age: float | None = None  # the patient's age in years, when given
        # measurements a rule outside the deciding branch found deciding (site; "site (side)"),
        # added to an indeterminate result's deciding_sites / deciding_other_side
        self.also_deciding: list[str] = []
        self.also_deciding_other_side: list[str] = []
        # a deciding site's name with the side and level where it decides, when the branch that
        # named it knows them (the reduced rule's right vagus at the thyroid level)
        self.detail: dict[str, str] = {}
        self.reference_set = ""  # the set the deciding sites are named for

    def add(self, rule: str, text: str, *sources: str) -> None:
        self.rules.append(rule)
        self.sentences.append(text if text.startswith(f"{rule}:") else f"{rule}: {text}")
        self.cits.extend(s for s in sources if s)

    def hint(self, finding: Finding, sources: tuple[str, ...], *, tail: bool = False) -> None:
        """A hint rule: a sentence in the explanation and a Finding; never changes the pattern."""
        if tail:
            self.tail.append((finding.rule_id, finding.explanation, sources))
        else:
            self.add(finding.rule_id, finding.explanation, *sources)
        self.hints.append(finding)

    def build(self, pattern: Pattern, zaid: str, state: dict[str, str], **kw: Any) -> PatternResult:
        for rule, text, sources in self.tail:
            self.add(rule, text, *sources)
        self.tail = []
        keys = list(dict.fromkeys(self.cits))
        head = f"Pattern {pattern.value}"
        if pattern is Pattern.INDETERMINATE:
            kw["deciding_sites"] = tuple(dict.fromkeys((*kw.get("deciding_sites", ()), *self.also_deciding)))
            kw["deciding_other_side"] = tuple(
                dict.fromkeys((*kw.get("deciding_other_side", ()), *self.also_deciding_other_side))
            )
        kw["deciding_sites_detail"] = tuple(
            self.detail.get(s) or _goedee_level_name(s, self.reference_set) for s in kw.get("deciding_sites", ())
        )
        return PatternResult(
            pattern=pattern,
            zaidman=zaid,
            explanation=f"{head}. " + " ".join(s if s.endswith(".") else s + "." for s in self.sentences),
            rules_fired=tuple(dict.fromkeys(self.rules)),
            citations=tuple(citation(k) for k in keys),
            region_states=state,
            hints=tuple(self.hints),
            **kw,
        )


def _has_limit(site: str, reference_set: str) -> bool:
    return lookup_limit(site, reference_set=reference_set, side="right", trunk="upper").has_limit


def _named(sites: Sequence[str], reference_set: str) -> str:
    """Deciding sites for the explanation, each as :func:`_goedee_level_name` names it."""
    return ", ".join(_goedee_level_name(s, reference_set) for s in sites)


def _goedee_level_name(site: str, reference_set: str) -> str:
    """``site`` named with the level its Goedee criterion declares ("brachial_plexus_trunk
    (utrecht_protocol level)") when it decides only through that criterion (no limit of the set at
    its default level: a trunk measured elsewhere is not judged), else the bare name."""
    if _has_limit(site, reference_set):
        return site
    for c in goedee_criteria():
        level = (c.get("protocol") or {}).get("level")
        if c["site"] == site and level:
            return f"{site} ({level} level)"
    return site


def _decisive(
    sites: Sequence[str], reference_set: str, measured: set[str], *, with_goedee: bool = True
) -> tuple[str, ...]:
    """The sites among ``sites`` not yet measured whose value could decide: those with a limit in
    the set, and (``with_goedee``) the Goedee criterion sites."""
    goedee = {c["site"] for c in goedee_criteria()} if with_goedee else set()
    return tuple(
        s
        for s in site_names()
        if s in sites and s not in measured and (_has_limit(s, reference_set) or s in goedee)
    )


def _other_side(
    rows: Sequence[CsaAssessment], csa: Sequence[CsaAssessment], reference_set: str, *, lower: bool = False
) -> tuple[str, ...]:
    """The sites of ``rows`` on the side where they were not measured, as "site (side)", where a
    value there could decide: the site has a limit there (``lower``: a lower limit that can show
    reduction) or is a Goedee criterion site. A site whose limit depends on the level is named
    with the level that has one: the measured row's level, else the reference's own (the left
    vagus has no limit at the thyroid level). An enlarged (or reduced) value there makes a second
    focus; one within its limit keeps the finding single."""
    measured = {(a.site, a.side) for a in csa}
    # a Goedee site judged by its criterion, at the criterion's declared level (the trunk)
    goedee = {} if lower else {c["site"]: (c.get("protocol") or {}).get("level") for c in goedee_criteria()}
    out = []
    for a in rows:
        other = "left" if a.side == "right" else "right"
        if (a.site, other) in measured:
            continue
        where = _judged_at(a, other, reference_set, lower=lower)
        if where is None and a.site in goedee:
            level = goedee[a.site]
            where = f", {level} level" if level else ""
        if where is not None:
            out.append(f"{a.site} ({other}{where})")
    return tuple(dict.fromkeys(out))


def _judged_at(a: CsaAssessment, side: str, reference_set: str, *, lower: bool) -> str | None:
    """Where ``a``'s site on ``side`` has the limit the question needs: "" (as measured), ", LEVEL
    level" (another level than ``a``'s), or None (no limit at any level)."""
    level, trunk = a.measurement.level, a.measurement.trunk

    def usable(lvl: str | None) -> ReferenceLimit | None:
        lim = lookup_limit(a.site, reference_set=reference_set, side=side, trunk=trunk or "upper", level=lvl)
        if lower:
            return lim if lim.lln is not None and _lln_above_floor(a.site, lim.lln) else None
        return lim if lim.has_limit else None

    if usable(level) is not None:
        return f", {level} level" if level else ""
    ref = usable(None) if level is not None else None
    if ref is not None and ref.protocol and ref.protocol.get("level"):
        return f", {ref.protocol['level']} level"
    return None


def _other_side_text(other: Sequence[str]) -> str:
    return f"; also deciding, on the side not measured: {', '.join(other)}" if other else ""


def _non_entrapment_rows(csa: Sequence[CsaAssessment]) -> list[CsaAssessment]:
    return [a for a in csa if not site_info(a.site).is_entrapment]


def _split_deciding(
    pairs: Sequence[tuple[str, str]], measured_sites: set[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(deciding_sites, deciding_other_side) of unmeasured (site, side) pairs: a site measured on
    neither side is named alone, one measured on the other side only as "site (side)"."""
    sites = tuple(dict.fromkeys(site for site, _ in pairs if site not in measured_sites))
    other = tuple(dict.fromkeys(f"{site} ({side})" for site, side in pairs if site in measured_sites))
    return sites, other


def _has_lln(site: str, reference_set: str) -> bool:
    """Whether the site has a lower limit that can detect reduction: one more than the
    between-investigator SD above the input floor of plausible values (a lower limit at the floor,
    C6 in the Dutch set, is never undercut by an accepted value, and one within the measurement
    error of it, the vagus at 0.32 against 0.3 mm2, only by values that are noise; review ws14b
    finding 6, ws15a finding 6)."""
    lln = lookup_limit(site, reference_set=reference_set, side="right", trunk="upper").lln
    return lln is not None and _lln_above_floor(site, lln)


def _lln_above_floor(site: str, lln: float) -> bool:
    return lln - csa_input_bounds(site)[0] > pattern_sd_mm2(site)[0]


def _entrapment_ratios(
    csa: Sequence[CsaAssessment],
    nerves: set[str] | None = None,
    skip: frozenset[tuple[str, str]] = frozenset(),
) -> list[tuple[str, str, float]]:
    """Hereditary entrapment ratios (entrapment / reference site of one nerve and side); a pair
    whose reference is in ``skip`` (part of the lesion, :func:`_join_proximal_extensions`) is left out."""
    values = {(a.site, a.side): a.measurement.csa_mm2 for a in csa if (a.site, a.side) not in skip}
    out = []
    for ent, ref in _rules()["hereditary_entrapment_ratio"]["pairs"]:
        if nerves is not None and site_info(ent).nerve not in nerves:
            continue
        for side in ("left", "right"):
            if (ent, side) in values and (ref, side) in values:
                out.append((f"{ent}/{ref}", side, values[(ent, side)] / values[(ref, side)]))
    return out


def _add_cmt1a_ratios(b: _Builder, csa: Sequence[CsaAssessment]) -> None:
    """The entrapment ratios against the CMT1A limit (uniform enlargement keeps them low)."""
    spec = _rules()["hereditary_entrapment_ratio"]
    ratios = _entrapment_ratios(csa)
    if ratios:
        low = all(r < spec["cmt1a_below"] for _, _, r in ratios)
        b.add(
            "hereditary_entrapment_ratio",
            f"entrapment ratios {', '.join(f'{n} ({s}) {r:.2f}' for n, s, r in ratios)}"
            f"{' all' if low else ' not all'} < {spec['cmt1a_below']:g} (CMT1A) "
            f"[{citation_short(spec['source'])}]; {spec['scope_note']}; {spec['pairs_note']}",
            spec["source"],
        )


def _add_goedee_with_controls_note(b: _Builder, goedee: GoedeeResult) -> None:
    """The Goedee sentence with the caveat of a (possibly) diffuse pattern: a generalized
    enlargement enlarges Goedee's sites too, so its specificity against controls does not separate
    CIN from CMT1 there."""
    if goedee.outcome != "not_evaluable":
        b.add(
            "goedee_cin",
            f"{goedee.explanation()}; {_rules()['goedee']['controls_note']}",
            *goedee.citation_keys(),
        )


def _note_intranerve_high(b: _Builder, variability: VariabilityResult) -> None:
    """Intranerve variability above the healthy limit, named beside a single site: the nerve is
    not uniform along its length, which does not decide the pattern."""
    high = [i for i in variability.intranerve if i["high"]]
    if high:
        which = "; ".join(f"{i['nerve']} ({i['side']}) {i['value']:.2f} > {i['uln']:g}" for i in high)
        b.add(
            "variability_high",
            f"intranerve variability above the healthy limit ({which}) "
            f"[{citation_short('kerasnoudis_2013')}]: the enlargement is not uniform along the nerve; it "
            "does not decide the pattern",
            "padua_2012",
            "kerasnoudis_2013",
        )


def _is_evidence_b(index: IndexResult) -> bool:
    return bool(index.source) and citation(str(index.source)).evidence == "B"


def _label(items: Sequence[CsaAssessment]) -> str:
    return ", ".join(f"{a.site} ({a.side})" for a in items)


@dataclass
class _Facts:
    """What the rules need, computed once."""

    evaluable: list[CsaAssessment]
    reduced: list[CsaAssessment]
    enlarged: list[CsaAssessment]
    entrap: dict[tuple[str, str], list[str]]
    non: dict[tuple[str, str], list[str]]
    supporting: list[IndexResult]
    lone_a: list[IndexResult]
    lone_b: list[IndexResult]
    lone_support: list[IndexResult]
    no_lln: list[CsaAssessment]
    lln_motor: list[CsaAssessment]
    floor_lln: list[CsaAssessment]
    #: (site, side) of enlarged non-entrapment sites read as the proximal part of an entrapment
    extended: frozenset[tuple[str, str]] = frozenset()


def _facts(
    csa: Sequence[CsaAssessment], indices: Sequence[IndexResult], goedee: GoedeeResult, b: _Builder
) -> _Facts:
    motor = set(_rules()["reduced"]["motor_fibres"])
    evaluable = [a for a in csa if a.evaluable]
    # a reduced row at a site whose lower limit lies within the measurement SD of the input floor
    # does not count for the reduced pattern (decision 006 addendum; review ws16a R1)
    reduced = [
        a
        for a in evaluable
        if a.status == "reduced"
        and site_info(a.site).fibres in motor
        and (a.limit.lln is None or _lln_above_floor(a.site, a.limit.lln))
    ]
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
    for p in goedee.positive:
        non.setdefault((p["site"], p["side"]), []).append(
            f"{goedee_where(p)} {p['csa_mm2']:g} > {p['cutoff']:g} (goedee_cin)"
        )
    extended = _join_proximal_extensions(entrap, non, evaluable, b)
    # an index supports an entrapment only where a CSA of that nerve and side is enlarged at an
    # entrapment site; alone it never makes the pattern (decision 006)
    enlarged_nerves = {(site_info(s).nerve, side) for s, side in entrap}
    supporting = [i for i in abnormal_idx if (site_info(str(i.site)).nerve, i.side) in enlarged_nerves]
    lone = [i for i in abnormal_idx if i not in supporting]
    for i in supporting:
        assert i.site is not None
        key = next(k for k in entrap if site_info(k[0]).nerve == site_info(i.site).nerve and k[1] == i.side)
        entrap[key].append(i.describe())
    no_lln = [a for a in evaluable if site_info(a.site).fibres in motor and not a.reduction_assessable]
    with_lln = [a for a in evaluable if site_info(a.site).fibres in motor and a.reduction_assessable]
    # a lower limit within the measurement SD of the input floor cannot be undercut by a real value
    floor_lln = [a for a in with_lln if a.limit.lln is not None and not _lln_above_floor(a.site, a.limit.lln)]
    lln_motor = [a for a in with_lln if a not in floor_lln]
    return _Facts(
        evaluable=evaluable,
        reduced=reduced,
        enlarged=enlarged,
        entrap=entrap,
        non=non,
        supporting=supporting,
        lone_a=[i for i in lone if not _is_evidence_b(i) and i.decides_alone],
        lone_b=[i for i in lone if _is_evidence_b(i)],
        lone_support=[i for i in lone if not _is_evidence_b(i) and not i.decides_alone],
        no_lln=no_lln,
        lln_motor=lln_motor,
        floor_lln=floor_lln,
        extended=extended,
    )


def _unmeasured_levels(indices: Sequence[IndexResult]) -> tuple[tuple[str, str], ...]:
    """The sites of each index's numerator not measured on its side, (site, side): an index on
    the largest CSA around the elbow measured at one level only may be decided by the others."""
    spec = _rules()["entrapment_indices"]
    out = []
    for i in indices:
        for site in spec.get(i.name, {}).get("numerator", []):
            if f"{site}_mm2" not in i.inputs:
                out.append((site, i.side))
    return tuple(dict.fromkeys(out))


def _join_proximal_extensions(
    entrap: dict[tuple[str, str], list[str]],
    non: dict[tuple[str, str], list[str]],
    evaluable: Sequence[CsaAssessment],
    b: _Builder,
) -> frozenset[tuple[str, str]]:
    """Move an enlarged non-entrapment site just proximal to an enlarged entrapment site of the
    same nerve and side (``proximal_extension`` pairs) from ``non`` to that entrapment: the proximal
    part of one focal lesion, not a second focus (review c1 finding 8). Only where it cannot hide
    another lesion (review c2 findings 1-3): the entrapment site is at least as large as the
    proximal one, the pair's ``normal_beside`` site on that side is measured and normal, and no
    other non-entrapment site is enlarged. Otherwise the sites stay as they are and a sentence
    says why. Returns the keys moved."""
    spec = _rules()["proximal_extension"]
    values = {(a.site, a.side): a.measurement.csa_mm2 for a in evaluable}
    status = {(a.site, a.side): a.status for a in evaluable}
    border = {(a.site, a.side) for a in evaluable if a.borderline}
    moved = set()
    candidates = [
        (pair["entrapment"], pair["proximal"], pair["normal_beside"], side)
        for pair in spec["pairs"]
        for side in SIDES
        if (pair["entrapment"], side) in entrap and (pair["proximal"], side) in non
    ]

    def local_reasons(ent: str, prox: str, beside: str, side: str) -> list[str]:
        """Why the pair on this side alone is not one lesion (empty: it may be)."""
        out = []
        if values.get((prox, side), 0.0) > values.get((ent, side), 0.0):
            out.append(f"{prox} ({side}) is larger than {ent} ({side}): the lesion is not centred at {ent}")
        if status.get((beside, side)) != "normal":
            out.append(
                f"{beside} ({side}) is {'not measured' if (beside, side) not in status else 'not normal'}: "
                "a lesion proximal to the fibular nerve (sciatic) is not excluded"
            )
        return out

    # a qualifying extension on the other leg (bilateral fibular neuropathy, as in HNPP) and a
    # borderline enlargement elsewhere do not count as the other lesion it could hide (review c3 finding 1)
    qualifying = {(c[1], c[3]) for c in candidates if not local_reasons(*c)}
    for ent, prox, beside, side in candidates:
        others = [k for k in non if k != (prox, side) and k not in qualifying and k not in border]
        why_not = [
            *local_reasons(ent, prox, beside, side),
            *(
                [f"other non-entrapment sites are enlarged ({', '.join(f'{k[0]} ({k[1]})' for k in others)})"]
                if others
                else []
            ),
        ]
        if why_not:
            decides = len(why_not) == 1 and (beside, side) not in status  # measuring it would decide
            if decides:
                if any(k[0] == beside for k in status):
                    b.also_deciding_other_side.append(f"{beside} ({side})")
                else:
                    b.also_deciding.append(beside)
            b.add(
                "proximal_extension_not_applied",
                f"{prox} ({side}) enlarged beside an enlarged {ent} ({side}) is not read as the proximal part of "
                f"one lesion: {'; '.join(why_not)}; it counts as a non-entrapment site "
                f"[{citation_short(spec['source'])}: {spec['finding']}]"
                + (f"; measuring {beside} ({side}) decides it" if decides else ""),
                spec["source"],
            )
            continue
        reasons = non.pop((prox, side))
        moved.add((prox, side))
        entrap[(ent, side)].extend(f"{r} (proximal extension)" for r in reasons)
        b.add(
            "proximal_extension",
            f"{prox} ({side}) enlarged together with {ent} ({side}) ({'; '.join(reasons)}): read as the "
            f"proximal part of one focal lesion at {ent}, not as a second focus: {spec['finding']} "
            f"[{citation_short(spec['source'])}] (sonomsk interpretation: the source localised lesions, "
            "it did not classify patterns)",
            spec["source"],
        )
    return frozenset(moved)


def _uncomputed_deciders(
    support: Sequence[IndexResult], indices: Sequence[IndexResult]
) -> tuple[tuple[str, str], ...]:
    """(site, side) that an abnormal support-only index of ``support`` still needs: the sites of
    its ``companions`` (nerve_rules.json: indices of the same source that decide alone) that could
    not be computed on its side (the ulnar max/mid-forearm ratio without the forearm beside an
    abnormal Guyon ratio)."""
    spec = _rules()["entrapment_indices"]
    out: list[tuple[str, str]] = []
    for i in support:
        companions = set(spec.get(i.name, {}).get("companions", []))
        mine = [
            (s, j.side)
            for j in indices
            if j.name in companions and j.side == i.side and j.value is None and not j.reason
            for s in j.missing_sites
        ]
        if mine:  # undecided: a larger CSA at an unmeasured level around the elbow decides too (review c3 finding 2)
            out.extend((*mine, *_unmeasured_levels([i])))
    return tuple(dict.fromkeys(out))


def _note_lone_indices(b: _Builder, f: _Facts) -> tuple[tuple[str, str], ...]:
    """Say what the abnormal indices without an enlarged CSA of their nerve mean; returns the
    unmeasured levels of those that decide alone (:func:`_unmeasured_levels`), which may decide."""
    levels = _unmeasured_levels(f.lone_a)
    if f.lone_a:
        b.add(
            "index_without_enlargement",
            f"abnormal index without an enlarged CSA of that nerve ({'; '.join(i.describe() for i in f.lone_a)}): "
            "an index alone does not establish a focal entrapment; "
            + (
                f"it takes the largest CSA of levels of which {', '.join(f'{s} ({side})' for s, side in levels)} "
                "were not measured: an "
                "enlarged CSA there decides it (or a repeat measurement, or the clinical and electrodiagnostic "
                "findings)"
                if levels
                else "it rests on sites already measured, so no further site decides it (a repeat measurement, "
                "or the clinical and electrodiagnostic findings, may)"
            ),
            *(i.source for i in f.lone_a if i.source),
        )
    if f.lone_b:
        b.add(
            "index_evidence_b_not_decisive",
            f"abnormal by a [B] cut-off only ({'; '.join(i.describe() for i in f.lone_b)}) with the CSA of that "
            "nerve within its limit: a [B] index is reported but never decides a pattern on its own",
            *(i.source for i in f.lone_b if i.source),
        )
    if f.lone_support:
        b.add(
            "index_support_only",
            f"abnormal index that only supports an enlarged CSA ({'; '.join(i.describe() for i in f.lone_support)}) "
            f"with the CSA of that nerve within its limit: reported, not deciding: "
            f"{'; '.join(dict.fromkeys(str(i.why_not_alone) for i in f.lone_support))}",
            *(i.source for i in f.lone_support if i.source),
        )
    return levels


def _note_reduction_scope(b: _Builder, f: _Facts, reference_set: str, measured: set[str]) -> tuple[str, ...]:
    """Say where reduction cannot be checked (no lower limit, or one at the input floor) and
    whether enough sites on enough nerves could (the rule counts nerves, decision 006)."""
    spec = _rules()["reduced"]
    if b.paediatric is not None and (f.no_lln or f.lln_motor or f.floor_lln):
        b.add(
            "reduction_not_assessable",
            f"{b.paediatric}: their lower limits are not applied, so reduced CSA (as in motor neuron "
            "disease) is not judged at any site",
        )
        return tuple(f"{a.site} ({a.side})" for a in (*f.no_lln, *f.floor_lln))
    if f.no_lln:
        b.add(
            "reduction_not_assessable",
            f"no published lower limit in the '{reference_set}' set at the measured motor site(s) "
            f"{_label(f.no_lln)}: reduced CSA (as in motor neuron disease) cannot be checked there",
        )
    if f.floor_lln:
        floor = "; ".join(
            f"{a.site} ({a.side}) LLN {a.limit.lln:.2f} mm2, lowest accepted value "
            f"{csa_input_bounds(a.site)[0]:g} mm2, SD {pattern_sd_mm2(a.site)[0]:g} mm2"
            + (" (stand-in: no SD published for the site)" if pattern_sd_mm2(a.site)[1] else "")
            for a in f.floor_lln
        )
        b.add(
            "reduction_not_assessable",
            f"lower limit within one between-investigator SD of the lowest accepted value ({floor}) "
            f"[{citation_short(_reliability_source())}]: a value below it cannot be told from measurement "
            "error near the floor, so these sites do not count for the reduced pattern, whatever their row "
            "status (sonomsk convention, decision 006 addendum)",
            _reliability_source(),
        )
    nerves = {site_info(a.site).nerve for a in f.lln_motor}
    if len(f.lln_motor) < spec["min_sites"] or len(nerves) < spec["min_nerves"]:
        could = [
            _with_level(s, reference_set) for s in _motor_sites_with_lln(reference_set) if s not in measured
        ]
        none_at_all = (
            "; reduction could not be judged at any measured site, so this pattern says nothing about "
            "reduced CSA (as in motor neuron disease)"
            if not f.lln_motor and (f.no_lln or f.floor_lln)
            else ""
        )
        b.add(
            "reduction_scope",
            f"only {len(f.lln_motor)} measured motor site(s) on {len(nerves)} nerve(s) have a lower limit that can "
            f"detect reduction; the reduced pattern needs {spec['min_sites']} reduced sites on "
            f"{spec['min_nerves']} nerves (decision 006){none_at_all}; sites with such a lower limit: "
            f"{', '.join(could) or 'none in this set'}",
        )
    return tuple(f"{a.site} ({a.side})" for a in (*f.no_lln, *f.floor_lln))


def _reliability_source() -> str:
    """The citation key of the between-investigator SD (decision 011)."""
    return str(load_data("nerve_csa.json")["measurement_reliability"]["source"])


def _motor_sites_with_lln(reference_set: str) -> list[str]:
    """Motor sites with a lower limit that can show reduction at some level (:func:`_lln_level`)."""
    motor = set(_rules()["reduced"]["motor_fibres"])
    return [
        s for s in site_names() if site_info(s).fibres in motor and _lln_level(s, reference_set) is not None
    ]


def _lln_level(site: str, reference_set: str, side: str = "right") -> str | None:
    """Where ``site`` on ``side`` has a lower limit that can show reduction (:func:`_has_lln`):
    "" at its default level, "LEVEL" at another of its levels (the right vagus at the thyroid
    level, 1.4 mm2, where the default limit, 0.32, lies at the input floor), None nowhere."""
    for level in (None, *site_info(site).levels):
        lim = lookup_limit(site, reference_set=reference_set, side=side, trunk="upper", level=level)
        if lim.lln is not None and _lln_above_floor(site, lim.lln):
            return "" if level is None else str(level)
    return None


def _with_level(site: str, reference_set: str) -> str:
    """``site`` named with the level, and the side where only one has it, of a lower limit that
    can show reduction (the right vagus at the thyroid level)."""
    right, left = _lln_level(site, reference_set, "right"), _lln_level(site, reference_set, "left")
    side = (
        "right, "
        if left is None and right is not None
        else "left, "
        if right is None and left is not None
        else ""
    )
    level = right if right is not None else left
    return f"{site} ({side}{level} level)" if level else (f"{site} ({side[:-2]})" if side else site)


def classify_pattern(
    csa: Sequence[CsaAssessment],
    indices: Sequence[IndexResult],
    goedee: GoedeeResult,
    variability: VariabilityResult,
    reference_set: str,
    *,
    paediatric: str | None = None,
    age: float | None = None,
) -> PatternResult:
    """The overall pattern with its explanation (rule ids and citations that fired).

    ``age`` (years, when given) adds the consensus caveat on electrodiagnosis over 70 beside a
    carpal tunnel entrapment (``cts_age_edx``); it never changes the pattern.

    ``paediatric`` is the note for a patient younger than every reference set's adults: it is
    named in the explanation, enlargement is judged against the adult upper limits (a child's
    nerves are smaller, so this errs towards normal) and reduction is not judged.
    """
    zaid, state, undecided_regions = zaidman_pattern(csa)
    b = _Builder()
    b.reference_set = reference_set
    b.paediatric = paediatric
    b.age = age
    if paediatric is not None:
        b.add(
            "adult_references",
            f"{paediatric}: enlargement is judged against adult upper limits (a child's nerves are "
            "smaller, so an enlargement may be missed, not over-called); reduction is not judged",
        )
    rules = _rules()
    sparing = sensory_sparing(csa, reference_set, RULE_VERSION)
    if sparing is not None:
        b.hint(sparing, (rules["sensory_sparing"]["source"],), tail=True)
    not_compared = [i.describe() for i in indices if i.value is None and i.reason] + [
        n["explanation"] for n in variability.not_compared
    ]
    if not_compared:
        b.tail.append(("levels_not_compared", "; ".join(not_compared), ()))
    measured_sites = {a.site for a in csa}
    f = _facts(csa, indices, goedee, b)
    edx = rules["cts_age_edx"]
    cts_abnormal = any(s in edx["entrapment_sites"] for s, _ in f.entrap) or any(
        i.site in edx["entrapment_sites"] for i in f.lone_a
    )
    if age is not None and age > edx["age_above"] and cts_abnormal:
        # whatever the pattern: carpal tunnel syndrome is among its readings (review c2 finding 6)
        b.tail.append(
            (
                "cts_age_edx",
                f"patient aged {age:g} (> {edx['age_above']:g}), carpal tunnel abnormal: {edx['text']} "
                f"[{citation_short(edx['source'])}]",
                (edx["source"],),
            )
        )
    evaluable, reduced, entrap, non = f.evaluable, f.reduced, f.entrap, f.non
    zaid_src = rules["zaidman"]["source"]
    zaid_text = f"Zaidman pattern {zaid} [{citation_short(zaid_src)}]"
    limit_sources = sorted({a.limit.source for a in evaluable if a.limit.source})

    if not evaluable and not goedee.positive:
        b.add(
            "no_evaluable_site",
            "no measurement has a reference limit in the "
            f"'{reference_set}' set ({', '.join(f'{a.site}: {a.limit.reason}' for a in csa)})",
        )
        _note_lone_indices(b, f)
        if goedee.not_applied:
            b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
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

    spec_red = rules["reduced"]
    mnd_src = spec_red["source"]
    reduced_nerves = {site_info(a.site).nerve for a in reduced}
    reduced_enough = len(reduced) >= spec_red["min_sites"] and len(reduced_nerves) >= spec_red["min_nerves"]
    need_text = (
        f"the reduced pattern needs {spec_red['min_sites']} reduced motor sites on {spec_red['min_nerves']} "
        f"nerves (sonomsk convention, decision 006: {_healthy_below(reduced)})"
    )
    if reduced_enough and (entrap or non):
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
            candidates=(
                # normal when every abnormal value is within the measurement SD (review ws16a R5)
                *(
                    ("normal",)
                    if all(within_measurement_sd(a) for a in (*reduced, *f.enlarged))
                    and all(_key_borderline(k, f, goedee)[0] for k in non)
                    else ()
                ),
                "reduced",
                *(("focal_entrapment",) if entrap else ()),
                *(("multifocal_nonentrapment",) if non else ()),
            ),
        )
    if reduced_enough:
        all_border = all(a.borderline for a in reduced)
        b.add(
            "reduced_motor_csa",
            f"reduced CSA at {len(reduced)} sites with motor fibres on {len(reduced_nerves)} nerves "
            f"({'; '.join(a.describe() for a in reduced)}), no enlargement; motor neuron disease shows reduced "
            f"root/nerve CSA [{citation_short(mnd_src)}]; at least {spec_red['min_sites']} sites on "
            f"{spec_red['min_nerves']} nerves is a sonomsk convention (decision 006), not a published criterion; "
            f"{_healthy_below(reduced)}"
            + (
                f"; every reduced site lies within the between-investigator SD of its lower limit (borderline, "
                f"decision 011): a second measurement may not confirm the reduction at any of them "
                f"[{citation_short(_reliability_source())}]"
                if all_border
                else ""
            ),
            mnd_src,
            spec_red["count_source"],
            *limit_sources,
            *([_reliability_source()] if all_border else []),
        )
        _note_lone_indices(b, f)
        no_lln = _note_reduction_scope(b, f, reference_set, measured_sites)
        return b.build(Pattern.REDUCED, zaid, state, no_lower_limit_sites=no_lln)
    if reduced and not (entrap or non):

        def completes(site: str) -> bool:
            """Whether one more reduced site here would meet the rule (sites and nerves, decision 006)."""
            return (
                len(reduced) + 1 >= spec_red["min_sites"]
                and len(reduced_nerves | {site_info(site).nerve}) >= spec_red["min_nerves"]
            )

        deciding = tuple(
            s for s in _motor_sites_with_lln(reference_set) if s not in measured_sites and completes(s)
        )
        b.detail.update({s: _with_level(s, reference_set) for s in deciding})
        motor = set(_rules()["reduced"]["motor_fibres"])
        other = _other_side(
            [a for a in csa if site_info(a.site).fibres in motor and completes(a.site)],
            csa,
            reference_set,
            lower=True,
        )
        b.add(
            "reduced_insufficient",
            f"reduced CSA at {_label(reduced)} only ({'; '.join(a.describe() for a in reduced)}); {need_text}: "
            f"{'one low site is' if len(reduced) == 1 else 'low sites of one nerve are'} not the reduced pattern "
            f"[{citation_short(mnd_src)}]; deciding sites (motor sites "
            "with a lower limit on a nerve not yet counted): "
            f"{', '.join(b.detail[s] for s in deciding) or 'none left in this set'}"
            + _other_side_text(other),
            mnd_src,
            spec_red["count_source"],
            *limit_sources,
        )
        _note_lone_indices(b, f)
        no_lln = _note_reduction_scope(b, f, reference_set, measured_sites)
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            deciding_other_side=other,
            candidates=("reduced", "normal"),
            no_lower_limit_sites=no_lln,
        )
    if reduced:
        b.add(
            "reduced_insufficient",
            f"isolated low CSA at {_label(reduced)} ({'; '.join(a.describe() for a in reduced)}) is not counted: "
            f"{need_text}",
            spec_red["count_source"],
        )

    if not entrap and not non:
        # a support-only index awaiting its companion counts only where no [A] index decides alone
        waiting = () if f.lone_a else _uncomputed_deciders(f.lone_support, indices)
        if f.lone_a or waiting:
            b.add(
                "all_csa_within_limits",
                f"all {len(evaluable)} evaluable CSA measurements are within their limits "
                f"[{', '.join(citation_short(s) for s in limit_sources)}]",
                *limit_sources,
            )
            levels = _note_lone_indices(b, f)
            if waiting:
                b.add(
                    "support_index_without_its_deciders",
                    "the abnormal index above does not decide by itself, but its specific companion, which "
                    f"decides alone, could not be computed; {', '.join(f'{s} ({side})' for s, side in waiting)} "
                    "not measured: normal vs focal entrapment undecided until they are",
                )
            deciding, other = _split_deciding((*levels, *waiting), measured_sites)
            no_lln = _note_reduction_scope(b, f, reference_set, measured_sites)
            return b.build(
                Pattern.INDETERMINATE,
                zaid,
                state,
                deciding_sites=deciding,
                deciding_other_side=other,
                candidates=("normal", "focal_entrapment"),
                no_lower_limit_sites=no_lln,
            )
        b.add(
            "all_within_limits",
            (
                f"all {len(evaluable)} evaluable measurements are within their limits "
                if not [a for a in evaluable if a.status != "normal"]
                else f"the evaluable measurements are within their limits, or reduced only where the lower limit "
                f"cannot decide ({_label([a for a in evaluable if a.status != 'normal'])}, below), "
            )
            + f"[{', '.join(citation_short(s) for s in limit_sources)}] and no entrapment index with [A] "
            f"evidence{' that decides alone' if f.lone_support else ''} is abnormal",
            *limit_sources,
        )
        _note_lone_indices(b, f)
        b.add("zaidman_pattern", zaid_text, zaid_src)
        if goedee.outcome != "not_evaluable" or goedee.not_applied:
            b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
        scope = [
            s
            for s in site_names()
            if s not in measured_sites
            and (site_info(s).is_entrapment or s in {c["site"] for c in goedee_criteria()})
            and (_has_limit(s, reference_set) or s in {c["site"] for c in goedee_criteria()})
        ]
        # sites an index of a measured entrapment could not be computed without (the ulnar forearm
        # for the elbow ratio): a value there may still show a focal entrapment (review c3 finding 3)
        scope += [
            s
            for i in indices
            if i.value is None and not i.reason and i.decides_alone
            for s in i.missing_sites
            if s not in scope and s not in measured_sites
        ]
        scope = list(dict.fromkeys(scope))
        unjudged = [a for a in csa if not a.evaluable and _has_limit(a.site, reference_set)]
        if scope and not unjudged:
            b.add("normal_scope", f"normal at the measured sites only; not measured: {', '.join(scope)}")
        no_lln = _note_reduction_scope(b, f, reference_set, measured_sites)
        if unjudged:
            # a measured site whose limit exists in the set but could not be applied (wrist
            # formula between guard and fixed ULN, protocol level) could still be enlarged
            b.add(
                "unjudged_measured_site",
                f"measured but not judged: {'; '.join(a.describe() for a in unjudged)}; the study is normal "
                "only if these are, so they decide it (a measurement they can be judged by: the protocol's "
                "level, or without the covariate that leaves the value between two limits)",
            )
            return b.build(
                Pattern.INDETERMINATE,
                zaid,
                state,
                deciding_sites=tuple(dict.fromkeys(a.site for a in unjudged)),
                candidates=(
                    "normal",
                    "focal_entrapment"
                    if any(site_info(a.site).is_entrapment for a in unjudged)
                    else "multifocal_nonentrapment",
                ),
                no_lower_limit_sites=no_lln,
            )
        return b.build(Pattern.NORMAL, zaid, state, no_lower_limit_sites=no_lln)

    if entrap and not non:
        return _focal(b, csa, f, zaid, zaid_text, state, reference_set, limit_sources, indices)
    return _non_entrapment(
        b,
        csa,
        f,
        goedee,
        variability,
        zaid,
        zaid_text,
        state,
        undecided_regions,
        reference_set,
        limit_sources,
    )


def _focal(
    b: _Builder,
    csa: Sequence[CsaAssessment],
    f: _Facts,
    zaid: str,
    zaid_text: str,
    state: dict[str, str],
    reference_set: str,
    limit_sources: list[str],
    indices: Sequence[IndexResult] = (),
) -> PatternResult:
    rules = _rules()
    affected = sorted({(site_info(s).nerve, side) for s, side in f.entrap})
    unconfirmed = []
    for nerve, side in affected:
        # a nerve with no non-entrapment site in the vocabulary (radial), or whose own are part of
        # the lesion (proximal extension), is confirmed by any normal non-entrapment site on the side
        own = any(
            site_info(s).nerve == nerve and not site_info(s).is_entrapment and (s, side) not in f.extended
            for s in site_names()
        )
        normal_here = [
            a
            for a in f.evaluable
            if (site_info(a.site).nerve == nerve or not own)
            and a.side == side
            and not site_info(a.site).is_entrapment
            and a.status == "normal"
        ]
        if not normal_here:
            unconfirmed.append((nerve, side))
    reasons = "; ".join(r for rs in f.entrap.values() for r in rs)
    sources = [i.source for i in f.supporting if i.source] + limit_sources
    if unconfirmed:
        nerves_open = {n for n, _ in unconfirmed}
        need = [
            s
            for s in site_names()
            if site_info(s).nerve in nerves_open
            and not site_info(s).is_entrapment
            and not any((s, side) in f.extended for _, side in unconfirmed)
        ]
        if not need:  # e.g. radial: any non-entrapment site decides (not one that is part of the lesion)
            extended = {s for s, _ in f.extended}
            need = [s for s in site_names() if not site_info(s).is_entrapment and s not in extended]
        deciding = _decisive(need, reference_set, set())
        b.add(
            "focal_unconfirmed",
            f"abnormal at entrapment sites ({reasons}) but no normal non-entrapment site on "
            f"{', '.join(f'{n} ({s})' for n, s in unconfirmed)}: focal vs multifocal/diffuse undecided; "
            f"deciding sites: {_named(deciding, reference_set) or 'none with a limit in this set'}",
            *sources,
        )
        _note_lone_indices(b, f)
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            candidates=("focal_entrapment", "multifocal_nonentrapment", "diffuse"),
        )
    contradicted = _borderline_contradicted(f, indices, affected)
    for (nerve, side), (borderline, normal_idx) in contradicted.items():
        b.add(
            "focal_borderline_contradicted",
            f"{nerve} ({side}): every enlarged entrapment CSA ({_label(borderline)}) lies within the "
            "between-investigator SD of its limit (borderline, decision 011) and the [A] "
            f"index(es) of that nerve are normal ({'; '.join(i.describe() for i in normal_idx)}): the "
            "enlargement alone does not establish a focal entrapment there (sonomsk convention, decision 011)",
            *(i.source for i in normal_idx if i.source),
        )
    if len(contradicted) == len(affected):
        _note_lone_indices(b, f)
        # an index of that nerve that decides alone but could not be computed may still confirm
        # the entrapment: the sites it needs decide (review c2 finding 4)
        deciders = [
            j
            for j in indices
            if j.decides_alone and j.site is not None and (site_info(j.site).nerve, j.side) in contradicted
        ]
        waiting = tuple(
            dict.fromkeys(
                (
                    *(
                        (s, j.side)
                        for j in deciders
                        if j.value is None and not j.reason
                        for s in j.missing_sites
                    ),
                    *_unmeasured_levels([j for j in deciders if j.value is not None]),
                )
            )
        )
        if waiting:
            b.add(
                "borderline_deciders_not_computed",
                "an index that decides alone could not be computed (it needs "
                f"{', '.join(f'{s} ({side})' for s, side in waiting)}): measured, it may confirm or contradict "
                "the borderline enlargement",
            )
        deciding, other = _split_deciding(waiting, {a.site for a in csa})
        b.add("zaidman_pattern", zaid_text, rules["zaidman"]["source"])
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            deciding_other_side=other,
            candidates=("focal_entrapment", "normal"),
        )
    # the focal entrapment is the nerves not contradicted: only they are named, counted and graded
    kept = {k: v for k, v in f.entrap.items() if (site_info(k[0]).nerve, k[1]) not in contradicted}
    reasons = "; ".join(r for rs in kept.values() for r in rs)
    affected = [a for a in affected if a not in contradicted]
    borderline_all = [
        a
        for a in f.enlarged
        if a.borderline
        and (
            (site_info(a.site).is_entrapment and (a.site, a.side) in kept)
            or (a.site, a.side) in f.extended  # the proximal extension is part of the lesion
        )
    ]
    b.add(
        "focal_entrapment",
        f"enlarged CSA only at entrapment sites: {reasons}; non-entrapment sites normal"
        + (" apart from the proximal extension above" if f.extended else "")
        + (
            f"; within the between-investigator SD of the limit (borderline): {_label(borderline_all)}"
            if borderline_all
            else ""
        ),
        *sources,
    )
    values = {(a.site, a.side): a.measurement.csa_mm2 for a in csa if a.measurement.level is None}
    border_keys = {(a.site, a.side) for a in csa if a.measurement.level is None and a.borderline}
    for hint in evaluate_severity(values, kept, border_keys):
        b.hint(hint.to_finding(), hint.sources)
    _note_lone_indices(b, f)
    nerves = {n for n, _ in affected}
    if len(nerves) >= 2:
        spec = rules["hereditary_entrapment_ratio"]
        ratios = _entrapment_ratios(csa, nerves, f.extended)
        rtxt = ", ".join(f"{name} ({side}) {r:.2f}" for name, side, r in ratios)
        low = [(name, side, r) for name, side, r in ratios if not r > spec["hnpp_above"]]
        head = f"focal enlargement at entrapment sites of {len(nerves)} nerves with normal sites elsewhere"
        with_ratio = {site_info(name.split("/")[0]).nerve for name, _, _ in ratios}
        without = sorted(nerves - with_ratio)
        if ratios and not low:
            text = (
                f"{head}: {'every' if len(ratios) > 1 else 'the one'} entrapment ratio computed is > "
                f"{spec['hnpp_above']:g} ({rtxt})"
                + (
                    f", the HNPP feature at {'that nerve' if len(with_ratio) == 1 else 'those nerves'}; no ratio "
                    f"for the {', '.join(without)} nerve{'s' if len(without) > 1 else ''} (no pair measured or "
                    "defined, or its reference site is part of the lesion), so the feature is not shown for every affected nerve"
                    if without
                    else ", the HNPP feature"
                )
            )
        elif ratios:
            text = (
                f"{head}; the HNPP entrapment-ratio feature (> {spec['hnpp_above']:g}) is not met at "
                f"{', '.join(f'{n} ({s}) {r:.2f}' for n, s, r in low)} (all: {rtxt})"
            )
        else:
            needs = [
                ref
                for ent, ref in spec["pairs"]
                if site_info(ent).nerve in nerves and not any(k[0] == ref for k in f.extended)
            ]
            text = (
                f"{head}; HNPP shows entrapment ratios > {spec['hnpp_above']:g}, not computed here ("
                + (f"needs {', '.join(needs)}" if needs else "the reference site is part of the lesion")
                + ")"
            )
        all_borderline = bool(borderline_all) and {(a.site, a.side) for a in borderline_all} >= set(kept)
        wfr = rules["entrapment_indices"]["wrist_forearm_ratio"]["healthy"]
        # healthy wrist-to-forearm ratios already average above the cut-off (review c2 finding 9)
        wfr_note = (
            f"; for the median nerve note {wfr['text']} [{citation_short(wfr['source'])}]"
            if any(name == "median_wrist/median_forearm" for name, _, _ in ratios)
            else ""
        )
        if all_borderline:
            text += (
                f"; every one of these enlargements is borderline ({_label(borderline_all)}): within the "
                "between-investigator SD of its limit, so a second measurement may not confirm them"
            )
        b.add(
            "hnpp_hint",
            f"{text} [{citation_short(spec['source'])}]{wfr_note}; {spec['scope_note']}; {spec['pairs_note']}",
            spec["source"],
            *([_reliability_source()] if all_borderline else []),
        )
    b.add("zaidman_pattern", zaid_text, rules["zaidman"]["source"])
    return b.build(Pattern.FOCAL_ENTRAPMENT, zaid, state)


def _healthy_below(reduced: Sequence[CsaAssessment]) -> str:
    """The share of healthy values below each reduced site's lower limit, from the source's own
    mean and SD (normal approximation, nerve_rules.json reduced.healthy_below_method); a Bae 2021
    range lower end leaves far more than the 2.3% of a mean-2SD limit."""
    from statistics import NormalDist

    parts, unknown = [], []
    for a in reduced:
        lim = a.limit
        if lim.lln is not None and lim.mean is not None and lim.sd:
            pct = 100 * NormalDist().cdf((lim.lln - lim.mean) / lim.sd)
            parts.append(
                f"about {pct:.0f}% at {a.site} (LLN {lim.lln:g} = mean {lim.mean:g} "
                f"{(lim.lln - lim.mean) / lim.sd:+.2f} SD [{citation_short(lim.source or '')}])"
            )
        else:
            unknown.append(a.site)
    text = "healthy values below the lower limit, normal approximation from the source's mean and SD: "
    text += "; ".join(parts) if parts else "not computable"
    if unknown:
        text += f"; not known at {', '.join(unknown)} (the source gives no mean and SD)"
    return text


def _borderline_contradicted(
    f: _Facts, indices: Sequence[IndexResult], affected: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[list[CsaAssessment], list[IndexResult]]]:
    """The affected (nerve, side) whose every enlarged entrapment CSA is borderline (decision 011)
    while the [A] indices of that nerve and side that may decide alone were computed (at least one)
    and every one is normal."""
    out = {}
    for nerve, side in affected:
        enlarged = [
            a
            for a in f.enlarged
            if site_info(a.site).is_entrapment and site_info(a.site).nerve == nerve and a.side == side
        ]
        if not enlarged or not all(a.borderline for a in enlarged):
            continue
        decisive = [
            i
            for i in indices
            if i.computed
            and i.site is not None
            and site_info(i.site).nerve == nerve
            and i.side == side
            and i.abnormal is not None  # an index without a cut-off is neither normal nor abnormal
            and i.decides_alone
            and not _is_evidence_b(i)
        ]
        if decisive and not any(i.abnormal for i in decisive):  # an abnormal [A] index supports it
            out[(nerve, side)] = (enlarged, decisive)
    return out


def _non_entrapment(
    b: _Builder,
    csa: Sequence[CsaAssessment],
    f: _Facts,
    goedee: GoedeeResult,
    variability: VariabilityResult,
    zaid: str,
    zaid_text: str,
    state: dict[str, str],
    undecided_regions: list[str],
    reference_set: str,
    limit_sources: list[str],
) -> PatternResult:
    rules = _rules()
    zaid_src = rules["zaidman"]["source"]
    factor = float(rules["zaidman"]["factor"])
    entrap, non = f.entrap, f.non
    reasons = "; ".join(r for rs in non.values() for r in rs)
    entrap_text = "; ".join(r for rs in entrap.values() for r in rs)
    sources = [*limit_sources, *(["goedee_2017"] if goedee.met else [])]
    measured_sites = {a.site for a in csa}
    if zaid == "diffuse":
        b.add(
            "diffuse_enlargement",
            f"enlarged in all four regions with a site > {factor:g}x the limit ({reasons})",
            *sources,
        )
        zs = rules["zaidman"]
        b.add(
            "zaidman_pattern",
            f"{zaid_text}: CMT1 is diffuse in {zs['cmt1_diffuse_pct']:g}%; acquired neuropathies were mostly "
            f"none, mild or regional ({', '.join(f'{k} {v:g}%' for k, v in zs['acquired_not_diffuse_pct'].items())}), "
            f"so a diffuse pattern does not exclude one [{citation_short(zs['cmt1_diffuse_source'])}]",
            zs["cmt1_diffuse_source"],
        )
        _add_cmt1a_ratios(b, csa)
        if variability.any_high:
            b.add(
                "variability_high",
                "intra-/internerve variability above the healthy limit "
                f"[{citation_short('kerasnoudis_2013')}]: the enlargement is not uniform; CIDP is typically "
                f"inhomogeneous and CMT1 homogeneous [{citation_short('zaidman_2013')}], but no variability "
                "cut-off separating them is established, so this does not decide between them",
                "padua_2012",
                "kerasnoudis_2013",
                "zaidman_2013",
            )
        if goedee.outcome != "not_evaluable":
            qualifier = f"; {rules['goedee']['controls_note']}" if goedee.met else ""
            b.add("goedee_cin", goedee.explanation() + qualifier, *goedee.citation_keys())
        _note_lone_indices(b, f)
        return b.build(Pattern.DIFFUSE, zaid, state)

    # every non-entrapment enlargement within the measurement SD: checked before the region rules, so
    # that an arm-only study is not called "diffuse vs multifocal" on borderline values (review ws15b F1)
    border = {k: _key_borderline(k, f, goedee) for k in non}
    if len(non) >= 2 and all(v[0] for v in border.values()):
        stand_in = [f"{k[0]} ({k[1]})" for k, v in border.items() if v[1]]
        # an entrapment CSA beyond the measurement SD stands on its own: "normal" is then no
        # candidate (review ws15a finding 2); an index alone decides nothing (decision 006)
        entrap_firm = any(a.borderline is not True for a in f.enlarged if (a.site, a.side) in entrap)
        b.add(
            "nonentrapment_borderline",
            f"every enlargement at non-entrapment sites ({reasons}) lies within the between-investigator SD of "
            f"its limit (borderline, decision 011) [{citation_short(_reliability_source())}]"
            + (
                f"; at {', '.join(stand_in)} the source gives no SD and "
                f"{pattern_sd_mm2(_key_site(stand_in[0]))[0]:g} mm2, the smallest it reports at any site, "
                "stands in (sonomsk convention)"
                if stand_in
                else ""
            )
            + ": a second measurement may find them normal; enlargement occurs in "
            f"{rules['zaidman']['axonal_pnp_enlarged_pct']:g}% of axonal polyneuropathy "
            f"[{citation_short(rules['zaidman']['axonal_pnp_enlarged_source'])}]; "
            + (
                f"the enlargement at entrapment sites ({entrap_text}) is beyond it: focal entrapment vs "
                "multifocal undecided"
                if entrap_firm
                else (
                    f"also at entrapment sites, within the SD too ({entrap_text}); normal vs multifocal vs "
                    "focal entrapment undecided"
                    if entrap
                    else "normal vs multifocal undecided"
                )
            )
            + f" (sonomsk convention, decision 006 addendum); {zaid_text}",
            _reliability_source(),
            rules["zaidman"]["axonal_pnp_enlarged_source"],
            zaid_src,
            *sources,
        )
        if goedee.outcome != "not_evaluable" or goedee.not_applied:
            b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
        _note_lone_indices(b, f)
        # diffuse stays open while no measured non-entrapment site is normal (review ws16b 1)
        diffuse_open = not any(
            a.status == "normal" for a in f.evaluable if not site_info(a.site).is_entrapment
        )
        candidates = (
            ("focal_entrapment", "multifocal_nonentrapment")
            if entrap_firm
            else ("normal", "multifocal_nonentrapment", *(("focal_entrapment",) if entrap else ()))
        ) + (("diffuse",) if diffuse_open else ())
        return b.build(Pattern.INDETERMINATE, zaid, state, candidates=candidates)
    # region states from non-entrapment sites, Goedee-positive sites (without a normal limit)
    # counted as enlarged; a measured normal non-entrapment site anywhere (the other side
    # included) speaks against a generalized enlargement (review ws15b F1, F2)
    regions_now = _non_entrapment_regions(f, state)
    any_normal_non = any(a.status == "normal" for a in f.evaluable if not site_info(a.site).is_entrapment)
    unmeasured = [r for r, s in regions_now.items() if s == "unmeasured"]
    if unmeasured and not any_normal_non:
        need = [
            s for s in site_names() if site_info(s).region in unmeasured and not site_info(s).is_entrapment
        ]
        deciding = _decisive(need, reference_set, measured_sites)
        measured_regions = [r for r, s in regions_now.items() if s not in ("unmeasured", "unjudged")]
        degree = (
            f"with a site > {factor:g}x the limit"
            if any((a.ratio_to_uln or 0.0) > factor for a in f.enlarged)
            else f"mildly (never > {factor:g}x the limit)"
            if any(not site_info(a.site).is_entrapment for a in f.enlarged)
            else "(by a Goedee criterion only: these sites have no normal limit here)"
        )
        # an entrapment enlarged beyond the measurement SD stays a candidate and is named, and
        # non-entrapment values all within it leave "normal" open (review ws16a R2, R3)
        all_soft = all(v[0] for v in border.values())
        entrap_firm = any(a.borderline is not True for a in f.enlarged if (a.site, a.side) in entrap)
        b.add(
            "diffuse_undetermined",
            f"every measured region ({', '.join(measured_regions)}) is enlarged {degree} ({reasons}) but "
            f"region(s) {', '.join(unmeasured)} were not measured or not judged: diffuse vs multifocal undecided "
            f"[{citation_short(zaid_src)}]"
            + (
                f"; every one lies within the between-investigator SD of its limit (borderline, decision 011) "
                f"[{citation_short(_reliability_source())}], so a second measurement may find it normal"
                if all_soft
                else ""
            )
            + (
                f"; the enlargement at entrapment sites ({entrap_text}) may be a focal entrapment on its own"
                if entrap
                else ""
            )
            + f"; deciding sites: {_named(deciding, reference_set)}",
            zaid_src,
            *sources,
            *([_reliability_source()] if all_soft else []),
        )
        if goedee.outcome != "not_evaluable":
            b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
        _note_lone_indices(b, f)
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            candidates=(
                *(("normal",) if all_soft and not entrap_firm else ()),
                *(("focal_entrapment",) if entrap else ()),
                "diffuse",
                "multifocal_nonentrapment",
            ),
        )
    if (
        all(s == "enlarged" for s in regions_now.values())
        and not any_normal_non
        and not any((a.ratio_to_uln or 0.0) > factor for a in f.enlarged)
    ):
        return _uniform_mild(b, csa, f, goedee, zaid, zaid_text, state, reasons, sources)
    if b.paediatric is not None and len(non) >= 2:
        b.add(
            "child_regions_adult_limits",
            f"enlargement at non-entrapment sites ({reasons}) judged against adult limits, with region(s) "
            f"{', '.join(r for r, s in regions_now.items() if s == 'normal')} within them: a child's nerves are "
            "smaller, so a region within the adult limits may still be enlarged for the child's size and a "
            f"diffuse pattern (CMT1 is diffuse in {rules['zaidman']['cmt1_diffuse_pct']:g}% "
            f"[{citation_short(rules['zaidman']['cmt1_diffuse_source'])}]) is not excluded: diffuse vs multifocal "
            "undecided (sonomsk convention, review ws14b finding 2)",
            rules["zaidman"]["cmt1_diffuse_source"],
            *sources,
        )
        _add_goedee_with_controls_note(b, goedee)
        _note_lone_indices(b, f)
        return b.build(Pattern.INDETERMINATE, zaid, state, candidates=("diffuse", "multifocal_nonentrapment"))
    isolated_mild = (
        len(non) == 1
        and not goedee.met
        and all((a.ratio_to_uln or 0.0) <= factor for a in f.enlarged if (a.site, a.side) in non)
    )
    if isolated_mild:
        need = [s for s in site_names() if not site_info(s).is_entrapment]
        deciding = _decisive(need, reference_set, measured_sites)
        other = _other_side(_non_entrapment_rows(csa), csa, reference_set)
        with_entrap = (
            f" together with enlargement at entrapment sites ({entrap_text}): focal entrapment with a mild "
            "non-specific finding, or a generalized (e.g. axonal) neuropathy"
            if entrap
            else ""
        )
        b.add(
            "isolated_mild_enlargement",
            f"mild enlargement at a single non-entrapment site ({reasons}), not > {factor:g}x the limit and Goedee "
            f"criteria not met{',' if entrap else ''}{with_entrap}: {zaid_text}; enlargement occurs in "
            f"{rules['zaidman']['axonal_pnp_enlarged_pct']:g}% of axonal polyneuropathy "
            f"[{citation_short(rules['zaidman']['axonal_pnp_enlarged_source'])}]; one site cannot show a multifocal pattern"
            + _other_side_text(other),
            zaid_src,
            rules["zaidman"]["axonal_pnp_enlarged_source"],
            *sources,
        )
        if goedee.outcome != "not_evaluable" or goedee.not_applied:
            b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
        _note_intranerve_high(b, variability)  # named beside the single site
        _note_lone_indices(b, f)
        candidates = (
            ("focal_entrapment", "multifocal_nonentrapment")
            if entrap
            else ("normal", "multifocal_nonentrapment")
        )
        return b.build(
            Pattern.INDETERMINATE,
            zaid,
            state,
            deciding_sites=deciding,
            deciding_other_side=other,
            candidates=candidates,
        )
    if len(non) == 1:
        return _single_focus(
            b,
            f,
            goedee,
            variability,
            zaid,
            zaid_text,
            state,
            reasons,
            entrap_text,
            sources,
            reference_set,
            measured_sites,
            _other_side(_non_entrapment_rows(csa), csa, reference_set),
        )
    b.add(
        "multifocal_nonentrapment",
        f"enlargement at non-entrapment sites ({reasons})"
        + (f"; also at entrapment sites ({entrap_text})" if entrap else "")
        + f"; not diffuse ({zaid_text})",
        *sources,
        zaid_src,
    )
    if goedee.met:
        b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
    prox = rules["proximal_enlargement"]
    proximal = sorted({(s, side) for s, side in non if s in prox["sites"]})
    if proximal:
        # a borderline value is named as such beside the CIN claim (review ws14b finding 3)
        border_prox = [f"{s} ({side})" for s, side in proximal if border[(s, side)][0]]
        b.add(
            "proximal_enlargement",
            f"proximal enlargement at {', '.join(dict.fromkeys(s for s, _ in proximal))}; {prox['claim']} "
            f"[{citation_short(prox['claim_source'])}]"
            + (
                f"; borderline (within the between-investigator SD of its limit, decision 011): "
                f"{', '.join(border_prox)}, so the claim may rest on a value a second measurement does not "
                f"confirm [{citation_short(_reliability_source())}]"
                if border_prox
                else ""
            ),
            prox["claim_source"],
            *([_reliability_source()] if border_prox else []),
        )
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
    _note_lone_indices(b, f)
    return b.build(Pattern.MULTIFOCAL_NONENTRAPMENT, zaid, state)


def _key_borderline(key: tuple[str, str], f: _Facts, goedee: GoedeeResult) -> tuple[bool, bool]:
    """Whether the non-entrapment enlargement at ``key`` (site, side) is borderline (decision 011):
    every enlarged CSA and every met Goedee cut-off there within the between-investigator SD of its
    limit; and whether a stand-in SD was used (a site the source gives no SD for:
    :func:`sonomsk.reference.nerve_csa.pattern_sd_mm2`)."""
    states: list[bool] = []
    stand_in = False
    for a in f.enlarged:
        if (a.site, a.side) == key:
            stand_in = stand_in or (a.borderline is None and pattern_sd_mm2(a.site)[1] is not None)
            states.append(within_measurement_sd(a))
    for p in goedee.positive:
        if (p["site"], p["side"]) == key:
            states.append(bool(p.get("borderline")))
    return bool(states) and all(states), stand_in


def _key_site(label: str) -> str:
    """The site of a "site (side)" label."""
    return label.split(" (", 1)[0]


def _non_entrapment_regions(f: _Facts, state: dict[str, str]) -> dict[str, str]:
    """Zaidman's regions judged from their non-entrapment sites only: enlarged where such a site is
    enlarged (or meets a Goedee criterion), normal where one was measured and none is, else
    unmeasured. A region enlarged only at an entrapment site (a carpal tunnel beside a normal
    forearm) is not a generalized enlargement (review ws15a finding 1)."""
    regions = dict.fromkeys(state, "unmeasured")
    for a in f.evaluable:
        info = site_info(a.site)
        if not info.is_entrapment and info.region in regions and regions[info.region] == "unmeasured":
            regions[info.region] = "normal"
    for site, _side in f.non:
        if site_info(site).region in regions:
            regions[site_info(site).region] = "enlarged"
    return regions


def _uniform_mild(
    b: _Builder,
    csa: Sequence[CsaAssessment],
    f: _Facts,
    goedee: GoedeeResult,
    zaid: str,
    zaid_text: str,
    state: dict[str, str],
    reasons: str,
    sources: list[str],
) -> PatternResult:
    """Enlargement in all four regions, none above Zaidman's factor (Zaidman "mild"): homogeneous,
    generalized enlargement is not the regional/inhomogeneous multifocal pattern, and CMT1 is not
    always diffuse by Zaidman's definition (review ws14b finding 2)."""
    rules = _rules()
    zs = rules["zaidman"]
    b.add(
        "uniform_mild_enlargement",
        f"enlarged in all four regions, none > {zs['factor']:g}x the limit ({reasons}): generalized enlargement "
        f"without a normal region; CMT1 is diffuse in {zs['cmt1_diffuse_pct']:g}%, and acquired neuropathies were "
        f"mostly none, mild or regional "
        f"({', '.join(f'{k} {v:g}%' for k, v in zs['acquired_not_diffuse_pct'].items())}) "
        f"[{citation_short(zs['cmt1_diffuse_source'])}]: diffuse (hereditary) vs multifocal (acquired) undecided; "
        f"{zaid_text}",
        zs["cmt1_diffuse_source"],
        *sources,
    )
    _add_cmt1a_ratios(b, csa)
    _add_goedee_with_controls_note(b, goedee)
    _note_lone_indices(b, f)
    return b.build(Pattern.INDETERMINATE, zaid, state, candidates=("diffuse", "multifocal_nonentrapment"))


def _single_focus(
    b: _Builder,
    f: _Facts,
    goedee: GoedeeResult,
    variability: VariabilityResult,
    zaid: str,
    zaid_text: str,
    state: dict[str, str],
    reasons: str,
    entrap_text: str,
    sources: list[str],
    reference_set: str,
    measured_sites: set[str],
    other: tuple[str, ...],
) -> PatternResult:
    """One enlarged non-entrapment site (one site and side; not the mild case of
    ``isolated_mild_enlargement``) with every other measured non-entrapment site normal: one focus
    is not multifocal (review ws14b finding 1). The Goedee criterion is reported beside it."""
    (key,) = f.non
    need = [s for s in site_names() if not site_info(s).is_entrapment and s != key[0]]
    deciding = _decisive(need, reference_set, measured_sites)
    borderline, stand_in = _key_borderline(key, f, goedee)
    entrap_firm = any(a.borderline is not True for a in f.enlarged if (a.site, a.side) in f.entrap)
    b.add(
        "single_nonentrapment_site",
        f"enlargement at a single non-entrapment site ({reasons})"
        + (
            " within the between-investigator SD of its limit (borderline, decision 011) "
            f"[{citation_short(_reliability_source())}]"
            + (
                f" (no SD published for the site: {pattern_sd_mm2(key[0])[0]:g} mm2, the smallest the "
                "source reports at any site, stands in; sonomsk convention)"
                if stand_in
                else ""
            )
            if borderline
            else ""
        )
        + (f", together with enlargement at entrapment sites ({entrap_text})" if f.entrap else "")
        + ", every other measured non-entrapment site normal: one focus is not a multifocal pattern; "
        + ("normal (a second measurement), " if borderline and not entrap_firm else "")
        + "multifocal (another site enlarged) vs a focal non-entrapment lesion"
        + (" vs focal entrapment" if f.entrap else "")
        + " undecided; "
        f"deciding sites: {_named(deciding, reference_set) or 'none left with a limit in this set'}"
        f"{_other_side_text(other)}; {zaid_text}",
        *sources,
        *([_reliability_source()] if borderline else []),
        _rules()["zaidman"]["source"],
    )
    if goedee.outcome != "not_evaluable" or goedee.not_applied:
        b.add("goedee_cin", goedee.explanation(), *goedee.citation_keys())
    _note_intranerve_high(b, variability)
    _note_lone_indices(b, f)
    return b.build(
        Pattern.INDETERMINATE,
        zaid,
        state,
        deciding_sites=deciding,
        deciding_other_side=other,
        candidates=(
            # a borderline single site may measure normal a second time (review ws15c N9)
            *(("normal",) if borderline and not entrap_firm else ()),
            "multifocal_nonentrapment",
            "focal_nonentrapment",
            *(("focal_entrapment",) if f.entrap else ()),
        ),
    )
