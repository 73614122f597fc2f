"""Entrapment indices, side-to-side comparison and intra-/internerve CSA variability.

Every cut-off comes from ``sonomsk/reference/data/nerve_rules.json`` with its source. Entrapment
indices take CSA values in mm2 keyed by ``(site, side)`` (their sites have no levels); the
side-to-side comparison and the variability take values keyed by ``(site, side, level)`` and
compare only values of the same site and level (decision 007). Private helpers trust the values
(validated in :mod:`sonomsk.nerve.assess`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sonomsk.core.results import Finding
from sonomsk.nerve.sites import SIDES, site_info
from sonomsk.reference.loader import citation, citation_short, load_data
from sonomsk.reference.nerve_csa import measurement_reliability, sd_factor

__all__ = [
    "IndexResult",
    "SeverityHint",
    "VariabilityResult",
    "compare_sides",
    "compute_entrapment_indices",
    "compute_variability",
    "evaluate_severity",
]

RULE_VERSION = "2"
Values = Mapping[tuple[str, str], float]
LevelValues = Mapping[tuple[str, str, str | None], float]


def _rules() -> dict[str, Any]:
    return load_data("nerve_rules.json")


def _exceeds(value: float, cutoff: float, comparison: str) -> bool:
    return value > cutoff if comparison == ">" else value >= cutoff


@dataclass(frozen=True)
class IndexResult:
    """One computed index (or one that could not be computed, with the sites it needs)."""

    name: str
    label: str
    side: str
    value: float | None
    unit: str
    cutoff: float | None
    comparison: str | None
    kind: str | None
    abnormal: bool | None
    source: str | None
    site: str | None
    inputs: Mapping[str, float] = field(default_factory=dict)
    missing_sites: tuple[str, ...] = ()
    reference_site: str | None = None
    healthy: str | None = None
    note: str | None = None
    reason: str | None = None
    decides_alone: bool = True
    why_not_alone: str | None = None
    caveat: str | None = None  # shown with the value wherever it is printed (nerve_rules.json)

    @property
    def computed(self) -> bool:
        return self.value is not None

    def describe(self) -> str:
        if self.value is None:
            why = self.reason or f"needs {', '.join(self.missing_sites)}"
            return f"{self.name} ({self.side}) not computed: {why}"
        unit = "" if self.unit == "1" else f" {self.unit}"
        if self.cutoff is None:
            return f"{self.name} ({self.side}) = {self.value:.2f}{unit}"
        op = self.comparison if self.abnormal else ("<=" if self.comparison == ">" else "<")
        verdict = "abnormal" if self.abnormal else "normal"
        src = f" [{citation_short(self.source)}]" if self.source else ""
        caveat = f" ({self.caveat})" if self.caveat else ""
        return (
            f"{self.name} ({self.side}) = {self.value:.2f}{unit} {op} {self.cutoff:g}: {verdict}{src}{caveat}"
        )

    def to_finding(self) -> Finding:
        return Finding(
            rule_id=self.name,
            rule_version=RULE_VERSION,
            outcome="not_computed"
            if self.value is None
            else ("abnormal" if self.abnormal else ("normal" if self.abnormal is False else "reported")),
            inputs={"side": self.side, **{k: round(v, 3) for k, v in self.inputs.items()}},
            thresholds={}
            if self.cutoff is None
            else {"cutoff": self.cutoff, "comparison": self.comparison, "kind": self.kind},
            citations=(citation(self.source),) if self.source else (),
            explanation=self.describe(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "side": self.side,
            "value": None if self.value is None else round(self.value, 3),
            "unit": self.unit,
            "cutoff": self.cutoff,
            "comparison": self.comparison,
            "kind": self.kind,
            "abnormal": self.abnormal,
            "entrapment_site": self.site,
            "source": self.source,
            "citation_short": citation_short(self.source) if self.source else None,
            "inputs": {k: round(v, 3) for k, v in self.inputs.items()},
            "missing_sites": list(self.missing_sites),
            "healthy": self.healthy,
            "note": self.note,
            "reason": self.reason,
            "decides_alone": self.decides_alone,
            "why_not_alone": self.why_not_alone,
            "caveat": self.caveat,
        }


def compute_entrapment_indices(values: Values) -> list[IndexResult]:
    """WFR, delta CSA, ulnar swelling ratios, maximal ulnar elbow CSA, fibular head ratio.

    An index is computed per side where its sites are present; otherwise it is returned with
    ``value=None`` and the missing sites (only when at least one of its sites was measured on that
    side, so that a missing index is reported where it matters).
    """
    out: list[IndexResult] = []
    for name, spec in _rules()["entrapment_indices"].items():
        for side in SIDES:
            num_sites = [s for s in spec["numerator"] if (s, side) in values]
            den = spec["denominator"]
            has_den = den is None or (den, side) in values
            touched = bool(num_sites) or (den is not None and (den, side) in values)
            if not touched:
                continue
            common = {
                "name": name,
                "label": spec["label"],
                "side": side,
                "unit": spec.get("unit", "1"),
                "cutoff": spec["cutoff"],
                "comparison": spec["comparison"],
                "kind": spec["kind"],
                "source": spec["source"],
                "site": spec["entrapment_site"],
                "healthy": None
                if "healthy" not in spec
                else f"{spec['healthy']['text']} [{citation_short(spec['healthy']['source'])}]",
                "note": spec.get("note"),
                "caveat": spec.get("caveat"),
                "reference_site": den,
                # a [B] source never decides alone (its caveat is shown); the pattern logic agrees
                "decides_alone": bool(spec.get("decides_alone", True))
                and citation(spec["source"]).evidence != "B",
                "why_not_alone": spec.get("why_not_alone")
                or (
                    f"its source is [B] ({citation_short(spec['source'])}): shown with its caveat, never decisive alone"
                    if citation(spec["source"]).evidence == "B"
                    else None
                ),
            }
            if not num_sites or not has_den:
                missing = [s for s in spec["numerator"] if not num_sites] if not num_sites else []
                if not has_den:
                    missing.append(den)
                out.append(IndexResult(value=None, abnormal=None, missing_sites=tuple(missing), **common))
                continue
            value, inputs = _index_value(spec, values, side, num_sites)
            abnormal = _exceeds(value, spec["cutoff"], spec["comparison"])
            out.append(IndexResult(value=value, abnormal=abnormal, inputs=inputs, **common))
    return out


def _index_value(
    spec: Mapping[str, Any], values: Values, side: str, num_sites: list[str]
) -> tuple[float, dict[str, float]]:
    """The value of a ratio, difference or maximum index on one side (its sites present)."""
    den = spec["denominator"]
    top = max(values[(s, side)] for s in num_sites)
    inputs = {f"{s}_mm2": values[(s, side)] for s in num_sites}
    if spec["type"] == "maximum":
        return top, inputs
    inputs[f"{den}_mm2"] = values[(den, side)]
    return (top / values[(den, side)] if spec["type"] == "ratio" else top - values[(den, side)]), inputs


@dataclass(frozen=True)
class SeverityHint:
    """A focal entrapment whose CSA or ratio lies in the range a source found in severe cases
    (``nerve_rules.json`` ``severity``; decision 010). A hint, never a grade.

    ``outcome`` is ``severe_range``, or ``severe_range_not_established`` where every CSA the met
    cut-offs rest on is borderline (within the between-investigator SD of its upper limit,
    decision 011): the value reaches the cut-off but the enlargement itself may not be confirmed by
    a second measurement, so the severe range is not claimed (review c1 finding 3).
    ``extra_sources`` holds the citation key of that SD."""

    name: str
    side: str
    site: str
    inputs: Mapping[str, float]
    thresholds: Mapping[str, Any]
    source: str
    explanation: str
    outcome: str = "severe_range"
    extra_sources: tuple[str, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """Every citation key the hint names: the severity source, then the SD's (if any)."""
        return (self.source, *self.extra_sources)

    def to_finding(self) -> Finding:
        return Finding(
            rule_id=self.name,
            rule_version=RULE_VERSION,
            outcome=self.outcome,
            inputs={"side": self.side, "site": self.site, **{k: round(v, 3) for k, v in self.inputs.items()}},
            thresholds=dict(self.thresholds),
            citations=tuple(citation(k) for k in self.sources),
            explanation=self.explanation,
        )


def _performance(crit: Mapping[str, Any]) -> str:
    if crit["sensitivity_pct"] is None:
        return "sensitivity and specificity of this cut-off not given"
    return f"sensitivity {crit['sensitivity_pct']:g}%, specificity {crit['specificity_pct']:g}%"


def evaluate_severity(
    values: Values, focal: Iterable[tuple[str, str]], borderline: Iterable[tuple[str, str]] = ()
) -> list[SeverityHint]:
    """Severity hints for the focal entrapments ``focal`` (``(site, side)`` of enlarged entrapment
    sites in a ``focal_entrapment`` pattern): CTS (median wrist CSA or WFR) and UNE (maximal
    elbow CSA) at or above the cut-off a source found in severe cases. Values in mm2 keyed by
    ``(site, side)``; the caller decides that the pattern is a focal entrapment.

    ``borderline`` holds the ``(site, side)`` whose CSA lies within the between-investigator SD of
    its limit (the assessment's ``borderline`` flag, decision 011). Where every met cut-off rests
    on such a CSA (the largest numerator CSA of the criterion), the hint does not claim the severe
    range: it says that the value reaches the cut-off but the enlargement is borderline, so the
    severe range is not established (outcome ``severe_range_not_established``; review c1 finding
    3). Left empty, every CSA is taken as firm."""
    spec = _rules()["severity"]
    focal = set(focal)
    border = set(borderline)
    out: list[SeverityHint] = []
    for rule in spec["rules"]:
        for side in SIDES:
            here = [s for s in rule["entrapment_sites"] if (s, side) in focal]
            if not here:
                continue
            met, inputs, parts = [], {}, []
            rests_on: list[str] = []  # the CSA each met criterion rests on (its largest numerator site)
            for crit in rule["criteria"]:
                num = [s for s in crit["numerator"] if (s, side) in values]
                den = crit["denominator"]
                if not num or (den is not None and (den, side) not in values):
                    continue
                value, used = _index_value(crit, values, side, num)
                inputs.update(used)
                if _exceeds(value, crit["cutoff"], crit["comparison"]):
                    unit = "" if crit["unit"] == "1" else f" {crit['unit']}"
                    met.append(crit)
                    rests_on.append(max(num, key=lambda s: values[(s, side)]))
                    parts.append(
                        f"{crit['what']} ({side}) {value:.3g}{unit} {crit['comparison']} {crit['cutoff']:g}{unit} "
                        f"({_performance(crit)})"
                    )
            if not met:
                continue
            if all((s, side) in border for s in rests_on):
                out.append(
                    _severity_not_established(rule, side, here[0], met, inputs, parts, rests_on, values)
                )
                continue
            specs = [c for c in met if c["specificity_pct"] is not None]
            modest = (
                "; ".join(f"{c['what']} cut-off only {c['specificity_pct']:g}% specific" for c in specs)
                or "the source's accuracy for this cut-off is not given"
            )
            out.append(
                SeverityHint(
                    name=rule["name"],
                    side=side,
                    site=here[0],
                    inputs=inputs,
                    thresholds={
                        c["what"]: {"cutoff": c["cutoff"], "comparison": c["comparison"]} for c in met
                    },
                    source=rule["source"],
                    explanation=(
                        f"{'; '.join(parts)}: at or above the cut-off the source used to separate severe {rule['condition']} "
                        f"[{citation_short(rule['source'])}]; a hint, not a grade: {modest}; {rule['caveat']}"
                    ),
                )
            )
    return out


def _severity_not_established(
    rule: Mapping[str, Any],
    side: str,
    site: str,
    met: list[Mapping[str, Any]],
    inputs: dict[str, float],
    parts: list[str],
    rests_on: list[str],
    values: Values,
) -> SeverityHint:
    """A met severity cut-off whose every CSA is borderline (decision 011): said plainly, and the
    severe range not claimed (review c1 finding 3)."""
    sites = list(dict.fromkeys(rests_on))
    rels = [measurement_reliability(s) for s in sites]
    sds = sorted({r.sd_mm2 for r in rels if r.sd_mm2 is not None})
    sd_text = f" ({', '.join(f'{x:g}' for x in sds)} mm2)" if sds else ""
    rel_src = rels[0].source
    csa_text = ", ".join(f"{s} ({side}) {values[(s, side)]:g} mm2" for s in sites)
    return SeverityHint(
        name=rule["name"],
        side=side,
        site=site,
        inputs=inputs,
        thresholds={c["what"]: {"cutoff": c["cutoff"], "comparison": c["comparison"]} for c in met},
        source=rule["source"],
        outcome="severe_range_not_established",
        extra_sources=(rel_src,),
        explanation=(
            f"{'; '.join(parts)}: {'the values reach the cut-offs' if len(parts) > 1 else 'the value reaches the cut-off'}"
            " the source used to separate severe "
            f"{rule['condition']} [{citation_short(rule['source'])}], but the severe range is not established: the "
            f"CSA it rests on ({csa_text}) is within the between-investigator SD{sd_text} of its upper limit "
            f"(borderline, decision 011) [{citation_short(rel_src)}], so a second measurement may not confirm the "
            f"enlargement; {rule['caveat']}"
        ),
    )


def _level_text(level: str | None) -> str:
    return "no level given" if level is None else f"level {level!r}"


def _side_ratio_unjudged(site: str, label: str, side: str, value: float | None, **extra: Any) -> IndexResult:
    """A side-to-side ratio with no cut-off to judge it by (none published, or not computed): with
    no verdict it decides nothing, alone or against a borderline CSA."""
    extra.setdefault("decides_alone", False)
    return IndexResult(
        name=f"side_ratio_{site}",
        label=label,
        side=side,
        value=value,
        unit="1",
        cutoff=None,
        comparison=None,
        kind=None,
        abnormal=None,
        source=None,
        site=site,
        **extra,
    )


def compare_sides(values: LevelValues) -> list[IndexResult]:
    """Side-to-side ratio (larger/smaller) and difference for every site measured on both sides
    at the same level.

    Site-specific cut-offs (fibular head, radial spiral groove) classify; elsewhere the healthy
    ratios of Kerasnoudis 2013 are shown for information only (``abnormal`` None). A site measured
    on both sides but never at the same level gives a not-computed result with the levels named
    (decision 007: a vagus at the thyroid is not compared with one at the carotid bifurcation).
    """
    spec = _rules()["side_to_side"]
    out: list[IndexResult] = []
    by_site: dict[str, dict[str, set[str | None]]] = {}
    for site, side, level in values:
        by_site.setdefault(site, {}).setdefault(side, set()).add(level)
    pairs: list[tuple[str, str | None]] = []
    for site in sorted(by_site):
        sides = by_site[site]
        if not all(side in sides for side in SIDES):
            continue
        common = sides["left"] & sides["right"]
        if not common:
            left_lv = ", ".join(sorted(_level_text(x) for x in sides["left"]))
            right_lv = ", ".join(sorted(_level_text(x) for x in sides["right"]))
            out.append(
                _side_ratio_unjudged(
                    site,
                    f"side-to-side ratio at {site}",
                    "both",
                    None,
                    reason=(
                        f"measured at different levels (left: {left_lv}; right: {right_lv}); "
                        "only values of the same site and level are compared (decision 007)"
                    ),
                )
            )
            continue
        pairs.extend((site, level) for level in sorted(common, key=lambda x: (x is not None, x or "")))
    for site, level in pairs:
        left, right = values[(site, "left", level)], values[(site, "right", level)]
        ratio = max(left, right) / min(left, right)
        diff = abs(left - right)
        larger = "left" if left > right else "right"
        inputs = {"left_mm2": left, "right_mm2": right}
        cut = spec["cutoffs"].get(site)
        nerve = site_info(site).nerve
        healthy_ratio = spec["healthy_ratio"].get(nerve)
        healthy = (
            None
            if healthy_ratio is None
            else f"healthy side-to-side ratio for the {nerve} nerve {healthy_ratio} "
            f"[{citation_short(spec['healthy_ratio']['source'])}] (information only)"
        )
        side_label = f"larger on the {larger}" if left != right else "equal"
        if level is not None:
            side_label += f", both at level {level!r}"
        if cut is None:
            out.append(
                _side_ratio_unjudged(
                    site,
                    f"side-to-side ratio at {site} ({side_label})",
                    larger if left != right else "both",
                    ratio,
                    inputs=inputs,
                    healthy=healthy,
                )
            )
            continue
        for what, value, unit in (("ratio", ratio, "1"), ("difference", diff, "mm2")):
            out.append(
                IndexResult(
                    name=f"side_{what}_{site}",
                    label=f"side-to-side {what} at {site} ({side_label})",
                    side=larger if left != right else "both",
                    value=value,
                    unit=unit,
                    cutoff=cut[what],
                    comparison=cut["comparison"],
                    kind=cut["kind"],
                    abnormal=_exceeds(value, cut[what], cut["comparison"]),
                    source=cut["source"],
                    site=site,
                    inputs=inputs,
                    healthy=healthy,
                )
            )
    return out


@dataclass(frozen=True)
class VariabilityResult:
    """Intranerve variability per nerve, side and level, and internerve variability (Padua 2012).

    ``not_compared`` lists the values left out of a comparison, with the reason: sites of one
    nerve at different levels, and trunks, which are not part of the intraplexus value
    (decision 007).
    """

    intranerve: tuple[dict[str, Any], ...]
    internerve: dict[str, Any] | None
    not_compared: tuple[dict[str, Any], ...] = ()
    # why the internerve value was not computed although an intranerve value was (one nerve only)
    internerve_note: dict[str, Any] | None = None

    @property
    def any_high(self) -> bool:
        return any(i["high"] for i in self.intranerve) or bool(self.internerve and self.internerve["high"])

    def findings(self) -> list[Finding]:
        spec = _rules()["variability"]
        cits = (citation(spec["definitions_source"]), citation(spec["healthy_source"]))
        out = []
        for item in self.intranerve:
            out.append(
                Finding(
                    rule_id="intranerve_variability",
                    rule_version=RULE_VERSION,
                    outcome="high" if item["high"] else ("normal" if item["high"] is False else "reported"),
                    inputs={"nerve": item["nerve"], "side": item["side"], "value": item["value"]},
                    thresholds={}
                    if item["uln"] is None
                    else {"uln": item["uln"], "kind": "derived_mean_plus_2sd"},
                    citations=cits,
                    explanation=item["explanation"],
                )
            )
        if self.internerve is not None:
            out.append(
                Finding(
                    rule_id="internerve_variability",
                    rule_version=RULE_VERSION,
                    outcome="high" if self.internerve["high"] else "normal",
                    inputs={"value": self.internerve["value"]},
                    thresholds={"uln": self.internerve["uln"], "kind": "derived_mean_plus_2sd"},
                    citations=cits,
                    explanation=self.internerve["explanation"],
                )
            )
        elif self.internerve_note is not None:
            out.append(
                Finding(
                    rule_id="internerve_variability",
                    rule_version=RULE_VERSION,
                    outcome="not_computed",
                    inputs={"nerves": list(self.internerve_note["nerves"])},
                    thresholds={},
                    citations=cits,
                    explanation=self.internerve_note["explanation"],
                )
            )
        for item in self.not_compared:
            out.append(
                Finding(
                    rule_id="intranerve_variability",
                    rule_version=RULE_VERSION,
                    outcome="not_computed",
                    inputs={"nerve": item["nerve"], "side": item["side"], "sites": list(item["sites"])},
                    thresholds={},
                    citations=cits,
                    explanation=item["explanation"],
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "intranerve": [dict(i) for i in self.intranerve],
            "internerve": self.internerve,
            "internerve_not_computed": None if self.internerve_note is None else dict(self.internerve_note),
            "not_compared": [dict(n) for n in self.not_compared],
        }


def compute_variability(values: LevelValues) -> VariabilityResult:
    """Intranerve variability = max/min CSA along one nerve (one side, one level); internerve =
    max/min of the intranerve values of the peripheral nerves (plexus excluded) in one patient,
    always between **different** nerves (the two sides of one nerve are never divided; see
    :func:`_internerve`). Values are printed and divided unrounded (rounded once, for output).

    The intraplexus value is computed over the roots of ``plexus_members`` (C5-C7) only; trunks
    are left out, and sites of one nerve at different levels are not compared with each other
    (decision 007; both listed in ``not_compared``). Healthy limits are mean + 2 SD of
    Kerasnoudis 2013 (derived here); the median nerve's printed healthy value is not used as a
    cut-off (see ``nerve_rules.json``).
    """
    spec = _rules()["variability"]
    plexus = set(spec["plexus_members"])
    excluded: dict[str, str] = spec.get("excluded_sites", {})
    src_def = citation_short(spec["definitions_source"])
    src_h = citation_short(spec["healthy_source"])
    by_nerve: dict[tuple[str, str], dict[str | None, dict[str, float]]] = {}
    left_out: list[tuple[str, str, str]] = []  # (site, side, reason)
    for (site, side, level), csa in values.items():
        if site in excluded:
            left_out.append((site, side, excluded[site]))
            continue
        nerve = "brachial_plexus" if site in plexus else site_info(site).nerve
        by_nerve.setdefault((nerve, side), {}).setdefault(level, {})[site] = csa
    not_compared: list[dict[str, Any]] = []
    groups: list[tuple[str, str, str | None, dict[str, float]]] = []
    for (nerve, side), levels in sorted(by_nerve.items()):
        for level, sites in sorted(levels.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
            groups.append((nerve, side, level, sites))
        if len(levels) > 1:
            listed = "; ".join(
                f"{', '.join(sorted(sites))} at {_level_text(level)}"
                for level, sites in sorted(levels.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))
            )
            not_compared.append(
                {
                    "nerve": nerve,
                    "side": side,
                    "sites": sorted(s for sites in levels.values() for s in sites),
                    "explanation": (
                        f"intranerve variability {nerve} ({side}) not computed across levels ({listed}): only "
                        "values at the same level are compared (decision 007)"
                    ),
                }
            )
    for site, side, why in sorted(set(left_out)):
        if ("brachial_plexus", side) in by_nerve:  # said only where roots of that side were measured
            not_compared.append(
                {
                    "nerve": "brachial_plexus",
                    "side": side,
                    "sites": [site],
                    "explanation": f"{site} ({side}) left out of the intraplexus variability: {why}",
                }
            )
    intra: list[dict[str, Any]] = []
    raw: list[float] = []  # the unrounded value of each intra entry: printed and divided once (review c1 F10)
    for nerve, side, level, sites in groups:
        if len(sites) < 2:
            continue
        hi_site = max(sites, key=lambda s: sites[s])
        lo_site = min(sites, key=lambda s: sites[s])
        value = sites[hi_site] / sites[lo_site]
        ref = spec["intranerve"].get(nerve)
        uln = None
        high: bool | None = None
        if ref is not None and ref["usable_as_cutoff"]:
            uln = round(ref["mean"] + sd_factor() * ref["sd"], 3)
            high = value > uln
        ref_text = (
            "no healthy value"
            if ref is None
            else (
                f"healthy {ref['mean']}+-{ref['sd']}, ULN (mean+{sd_factor():g}SD) {uln} [{src_h}]: "
                + ("high" if high else "within the healthy limit")
                if uln is not None
                else f"healthy {ref['mean']}+-{ref['sd']} [{src_h}] not used as a cut-off: {ref['why_not']}"
            )
        )
        intra.append(
            {
                "nerve": nerve,
                "side": side,
                "level": level,
                "value": round(value, 3),
                "max_site": hi_site,
                "min_site": lo_site,
                "n_sites": len(sites),
                "uln": uln,
                "high": high,
                "explanation": (
                    f"intranerve variability {nerve} ({side}{'' if level is None else f', level {level!r}'}) = "
                    f"{sites[hi_site]:g}/{sites[lo_site]:g} = "
                    f"{value:.2f} [{src_def}]; {ref_text}"
                ),
            }
        )
        raw.append(value)
    peripheral = [(i, v) for i, v in zip(intra, raw, strict=True) if i["nerve"] != "brachial_plexus"]
    inter, inter_note = _internerve(peripheral, spec, src_def, src_h)
    return VariabilityResult(
        intranerve=tuple(intra),
        internerve=inter,
        not_compared=tuple(not_compared),
        internerve_note=inter_note,
    )


def _internerve(
    peripheral: list[tuple[dict[str, Any], float]], spec: Mapping[str, Any], src_def: str, src_h: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Internerve variability (Padua 2012: maximal / minimal intranerve variability within one
    patient) over pairs of **different** nerves: each intranerve value (one per nerve, side and
    level, unrounded) is an entry, and the largest ratio of two entries of different nerves is
    taken. The two sides of one nerve are never divided: that is a side-to-side comparison, and
    Kerasnoudis 2013's healthy internerve value (1.76+-0.37) does not describe one (review c1
    finding 11). Returns the result, or None with a note where fewer than two nerves have an
    intranerve value (the note only where one nerve has two values, e.g. both sides)."""
    nerves = sorted({i["nerve"] for i, _ in peripheral})
    if len(nerves) < 2:
        if len(peripheral) < 2:
            return None, None
        sides = sorted({i["side"] for i, _ in peripheral})
        return None, {
            "nerves": nerves,
            "explanation": (
                f"internerve variability not computed: it divides the intranerve variability of different "
                f"nerves [{src_def}], and only the {nerves[0]} nerve ({', '.join(sides)}) has one; the two sides "
                "of one nerve are compared under side-to-side, not against the healthy internerve value"
            ),
        }
    (hi, hv), (lo, lv) = max(
        ((a, b) for a in peripheral for b in peripheral if a[0]["nerve"] != b[0]["nerve"]),
        key=lambda pair: pair[0][1] / pair[1][1],
    )
    value = hv / lv
    both_sides = sorted(n for n in nerves if len({i["side"] for i, _ in peripheral if i["nerve"] == n}) > 1)
    sides_text = (
        f" (between different nerves only; the two sides of the {', '.join(both_sides)} nerve"
        f"{'s' if len(both_sides) > 1 else ''} are not divided here: that is a side-to-side comparison)"
        if both_sides
        else ""
    )
    ref = spec["internerve"]
    uln = round(ref["mean"] + sd_factor() * ref["sd"], 3)
    return {
        "value": round(value, 3),
        "max": f"{hi['nerve']} ({hi['side']})",
        "min": f"{lo['nerve']} ({lo['side']})",
        "uln": uln,
        "high": value > uln,
        "explanation": (
            f"internerve variability = {hv:.2f} ({hi['nerve']} {hi['side']}) / {lv:.2f} "
            f"({lo['nerve']} {lo['side']}) = {value:.2f}{sides_text} [{src_def}]; healthy {ref['mean']}+-{ref['sd']}, "
            f"ULN (mean+{sd_factor():g}SD) {uln} [{src_h}]: "
            + ("high" if value > uln else "within the healthy limit")
        ),
    }, None
