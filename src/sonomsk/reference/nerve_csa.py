"""Normal nerve cross-sectional area (CSA) by site and reference set.

The numbers live in ``data/nerve_csa.json`` (limits), ``data/nerve_sites.json`` (the site
vocabulary) and ``data/nerve_covariates.json`` (published covariate effects), each value with its
source, and ``data/nerve_input_bounds.json`` (engineering plausibility bounds of the input, patient
fields included, with their rationale). This module turns them into :class:`ReferenceLimit` objects and refuses data that
break the rules of the evidence digest (an unknown kind of limit, a meta-analytic CI bound used as
a limit, a site missing from a set, an unknown citation).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Citation
from sonomsk.reference.loader import citation, citation_keys, citation_short, load_data

__all__ = [
    "LimitKind",
    "MeasurementReliability",
    "ReferenceLimit",
    "ReferenceSetInfo",
    "SiteInfo",
    "check_level",
    "covariate_effects",
    "covariate_variables",
    "csa_input_bounds",
    "default_reference_set",
    "lookup_limit",
    "measurement_reliability",
    "patient_input_bounds",
    "reference_set_info",
    "reference_sets",
    "reference_source",
    "sd_factor",
    "site_info",
    "site_names",
    "validate_reference_data",
    "wrist_circumference_bounds",
]


class LimitKind(StrEnum):
    """How a limit was made; a meta-analytic CI bound is never accepted as a limit."""

    ULN_TABLE = "uln_table"
    PUBLISHED_REFERENCE_RANGE = "published_reference_range"
    MEAN_PLUS_2SD = "mean_plus_2sd"
    REGRESSION_ROC_CUTOFF = "regression_roc_cutoff"


#: Kinds refused outright: a CI of a pooled mean is not a reference interval for individuals.
FORBIDDEN_KINDS = frozenset({"ci_bound", "meta_analysis_ci"})


@dataclass(frozen=True)
class SiteInfo:
    """One site of the vocabulary (see ``data/nerve_sites.json``)."""

    name: str
    nerve: str
    region: str
    entrapment: str | None
    fibres: str
    level: str
    levels: tuple[str, ...] = ()

    @property
    def is_entrapment(self) -> bool:
        return self.entrapment is not None


@dataclass(frozen=True)
class ReferenceSetInfo:
    name: str
    title: str
    population: str
    why_default: str | None
    is_default: bool


@dataclass(frozen=True)
class ReferenceLimit:
    """The normal limits of one site (and side, trunk) in one reference set.

    ``status`` is ``"limit"`` or ``"no_reference"`` (then ``reason`` says why and every number is
    None). ``uln``/``lln`` are in mm2. ``mean``/``sd`` are set only when the source gives them,
    and only then can a z-score be computed. ``lln`` is None when no lower limit is published and
    mean - 2 SD is not derivable (unknown SD, or not positive).
    """

    site: str
    reference_set: str
    status: str
    uln: float | None = None
    lln: float | None = None
    mean: float | None = None
    sd: float | None = None
    kind: str | None = None
    source: str | None = None
    source_label: str | None = None
    population: str | None = None
    protocol: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    reason: str | None = None
    lln_note: str | None = None
    covariates_used: Mapping[str, float] = field(default_factory=dict)
    covariate_formula: Mapping[str, Any] | None = None

    @property
    def has_limit(self) -> bool:
        return self.status == "limit" and self.uln is not None

    @property
    def citation(self) -> Citation | None:
        return citation(self.source) if self.source else None

    def z_score(self, csa_mm2: float) -> float | None:
        """(csa - mean) / sd when the source publishes both, else None."""
        if self.mean is None or self.sd is None or self.sd <= 0:
            return None
        return (csa_mm2 - self.mean) / self.sd

    def to_dict(self) -> dict[str, Any]:
        cit = self.citation
        return {
            "site": self.site,
            "reference_set": self.reference_set,
            "status": self.status,
            "uln_mm2": _r(self.uln),
            "lln_mm2": _r(self.lln),
            "lln_note": self.lln_note,
            "mean_mm2": self.mean,
            "sd_mm2": self.sd,
            "kind": self.kind,
            "source": self.source,
            "source_label": self.source_label,
            "citation": None
            if cit is None
            else {"text": cit.text, "evidence": cit.evidence, "doi": cit.doi, "caveat": cit.caveat},
            "population": self.population,
            "protocol": dict(self.protocol) if self.protocol else None,
            "notes": list(self.notes),
            "reason": self.reason,
            "covariates_used": dict(self.covariates_used),
            "covariate_formula": None if self.covariate_formula is None else dict(self.covariate_formula),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


# --------------------------------------------------------------------------- citations


# --------------------------------------------------------------------------- vocabulary


@functools.cache
def _sites() -> dict[str, SiteInfo]:
    raw = load_data("nerve_sites.json")
    return {
        name: SiteInfo(
            name=name,
            nerve=e["nerve"],
            region=e["region"],
            entrapment=e.get("entrapment"),
            fibres=e["fibres"],
            level=e["level"],
            levels=tuple(e.get("levels", ())),
        )
        for name, e in raw["sites"].items()
    }


def site_names() -> tuple[str, ...]:
    """Every site of the vocabulary, in the order of the data file."""
    return tuple(_sites())


def regions() -> tuple[str, ...]:
    """The four regions of the Zaidman pattern, as grouped by sonomsk."""
    return tuple(load_data("nerve_sites.json")["regions"])


def site_info(site: str, *, parameter: str = "site") -> SiteInfo:
    """The :class:`SiteInfo` of ``site``; an unknown site is an InvalidParameterError."""
    try:
        return _sites()[site]
    except (KeyError, TypeError):
        raise InvalidParameterError(
            f"{parameter}: unknown site {site!r}; expected one of {', '.join(_sites())}"
        ) from None


def check_level(site: str, level: object, *, parameter: str = "level") -> str:
    """``level`` when it is one of the measurement levels of ``site``, else an
    InvalidParameterError naming ``parameter`` and the allowed levels (none at most sites)."""
    levels = site_info(site).levels
    if not isinstance(level, str) or level not in levels:
        expected = f"one of {', '.join(repr(x) for x in levels)}" if levels else "no level"
        raise InvalidParameterError(f"{parameter}: expected {expected} at {site}, got {level!r}")
    return level


# --------------------------------------------------------------------------- input bounds


def csa_input_bounds(site: str) -> tuple[float, float]:
    """Plausibility bounds (mm2, inclusive) of an input CSA at ``site``: engineering checks against
    typing and unit errors (``data/nerve_input_bounds.json``), never clinical thresholds."""
    site_info(site)
    lo, hi = load_data("nerve_input_bounds.json")["csa_mm2"]["sites"][site]
    return float(lo), float(hi)


def patient_input_bounds() -> dict[str, tuple[float, float, str]]:
    """Plausibility bounds (inclusive) of the patient fields: ``{field: (lower, upper, unit)}``
    (engineering input checks from ``data/nerve_input_bounds.json``, not clinical thresholds)."""
    fields = load_data("nerve_input_bounds.json")["patient"]["fields"]
    return {k: (float(v["bounds"][0]), float(v["bounds"][1]), str(v["unit"])) for k, v in fields.items()}


def bmi_bounds() -> tuple[float, float]:
    """Plausibility bounds (kg/m2, inclusive) of the BMI implied by a patient's height and weight
    together (engineering input check; each field also has its own bounds)."""
    lo, hi = load_data("nerve_input_bounds.json")["patient"]["bmi_kg_m2"]["bounds"]
    return float(lo), float(hi)


def wrist_circumference_bounds() -> tuple[float, float]:
    """Plausibility bounds (cm, inclusive) of a wrist circumference (engineering input check)."""
    lo, hi = load_data("nerve_input_bounds.json")["wrist_circumference_cm"]["bounds"]
    return float(lo), float(hi)


def doppler_count_bounds() -> tuple[float, float]:
    """Plausibility bounds (inclusive) of a count of intraneural vessels (engineering input check)."""
    lo, hi = load_data("nerve_input_bounds.json")["intraneural_doppler"]["bounds"]
    return float(lo), float(hi)


# --------------------------------------------------------------------------- reference sets


def reference_sets() -> tuple[str, ...]:
    return tuple(load_data("nerve_csa.json")["sets"])


def default_reference_set() -> str:
    return str(load_data("nerve_csa.json")["default"])


def _check_set(name: str | None) -> str:
    if name is None:
        return default_reference_set()
    if name not in load_data("nerve_csa.json")["sets"]:
        raise InvalidParameterError(
            f"reference_set: expected one of {', '.join(reference_sets())}, got {name!r}"
        )
    return name


def reference_set_info(name: str | None = None) -> ReferenceSetInfo:
    name = _check_set(name)
    raw = load_data("nerve_csa.json")["sets"][name]
    return ReferenceSetInfo(
        name=name,
        title=raw["title"],
        population=raw["population"],
        why_default=raw.get("why_default"),
        is_default=name == default_reference_set(),
    )


def reference_source(site: str, reference_set: str | None = None) -> str | None:
    """The citation id of the limit for ``site`` in ``reference_set`` (None: no reference)."""
    site_info(site)
    entry = load_data("nerve_csa.json")["sets"][_check_set(reference_set)]["sites"][site]
    return None if entry["status"] == "no_reference" else str(entry["source"])


def covariate_effects(site: str) -> list[dict[str, Any]]:
    """Published covariate effects for ``site`` (reported, never applied). Each has ``variables``
    (any of :func:`covariate_variables` the patient gives triggers it), ``effect`` and ``source``."""
    return [dict(e) for e in load_data("nerve_covariates.json")["effects"] if site in e["sites"]]


def covariate_variables() -> tuple[str, ...]:
    """The patient covariates a published effect may name (``bmi`` is derived from height and weight)."""
    return tuple(load_data("nerve_covariates.json")["variables"])


def sd_factor() -> float:
    """k of the derived limits mean +- k x SD (kind ``mean_plus_2sd``; ``derived_limits`` in
    ``data/nerve_csa.json``)."""
    return float(load_data("nerve_csa.json")["derived_limits"]["mean_plus_2sd"]["k_sd"])


@dataclass(frozen=True)
class MeasurementReliability:
    """The between-investigator SD of a CSA at one site (``measurement_reliability`` in
    ``data/nerve_csa.json``): ``sd_mm2`` and ``group`` are None where the source gives no figure
    for the site, and ``note`` then says so."""

    site: str
    source: str
    group: str | None = None
    sd_mm2: float | None = None
    note: str | None = None


def measurement_reliability(site: str) -> MeasurementReliability:
    """The between-investigator SD (mm2) of a CSA measured at ``site``: the upper end of the
    published range of its site group (Clin Neurophysiol 2018 abstract S135), or none."""
    site_info(site)
    rel = load_data("nerve_csa.json")["measurement_reliability"]
    for group, g in rel["groups"].items():
        if site in g["sites"]:
            return MeasurementReliability(site, rel["source"], group, float(g["sd_mm2"]))
    return MeasurementReliability(site, rel["source"], note=rel["no_figure"]["note"])


def pattern_sd_mm2(site: str) -> tuple[float, str | None]:
    """The between-investigator SD the pattern rules use at ``site``: its own
    (:func:`measurement_reliability`), or, for a site the source gives no figure for, the smallest
    SD it reports at any site as a stand-in, with the note that says so (None for a site's own)."""
    own = measurement_reliability(site)
    if own.sd_mm2 is not None:
        return own.sd_mm2, None
    no_figure = load_data("nerve_csa.json")["measurement_reliability"]["no_figure"]
    return float(no_figure["stand_in_sd_mm2"]), str(no_figure["stand_in_note"])


def adult_min_age() -> float:
    return float(load_data("nerve_covariates.json")["adult_only"]["min_age_years"])


def lookup_limit(
    site: str,
    *,
    reference_set: str | None = None,
    side: str | None = None,
    trunk: str | None = None,
    level: str | None = None,
    wrist_circumference_cm: float | None = None,
) -> ReferenceLimit:
    """The normal limits of ``site`` in ``reference_set`` (the default set when None).

    Parameters
    ----------
    site
        A site of the vocabulary (:func:`site_names`).
    reference_set
        ``"dutch"`` (default) or ``"korean"``; see ``docs/nerve-assessment.md``.
    side
        ``"left"`` or ``"right"``: needed where the source gives side-specific values (vagus).
    trunk
        ``"upper"``, ``"middle"`` or ``"lower"`` for ``brachial_plexus_trunk`` where the source
        gives trunk-specific values.
    level
        The measurement level of a root, trunk or the vagus, one of the site's levels (anything
        else is an InvalidParameterError, :func:`check_level`). When different from the level of the reference, the
        result is ``no_reference``.
    wrist_circumference_cm
        Wrist circumference in cm; when the set has a covariate formula for the site (median wrist:
        Olde Dubbelink 2020) the limit is computed from it.
    """
    site_info(site)
    if level is not None:
        check_level(site, level)
    name = _check_set(reference_set)
    raw_set = load_data("nerve_csa.json")["sets"][name]
    entry = raw_set["sites"][site]
    if level is not None and level in entry.get("level_variants", {}):
        entry = entry["level_variants"][level]  # a limit of its own for this level (decision 011)
    population = entry.get("population", raw_set["population"])  # a fallback names its own cohort
    if entry["status"] == "no_reference":
        return ReferenceLimit(site=site, reference_set=name, status="no_reference", reason=entry["reason"])
    protocol = entry.get("protocol")
    notes: list[str] = []
    if entry.get("fallback"):
        notes.append(entry["fallback"])
    if entry.get("note"):
        notes.append(entry["note"])
    caveat = load_data("nerve_csa.json").get("population_caveats", {}).get(entry["source"])
    if caveat:
        notes.append(caveat)
    if level is not None and protocol and protocol.get("level") is None:
        # the source's plane is unknown: judged, but the match of the declared level is not verified
        notes.append(
            f"the reference's measurement level is unknown ({protocol.get('note') or 'not stated'}): whether "
            f"the declared level {level!r} matches it is not verified"
        )
    if level is not None and protocol and protocol.get("level") and level != protocol["level"]:
        return ReferenceLimit(
            site=site,
            reference_set=name,
            status="no_reference",
            protocol=protocol,
            reason=(
                f"protocol mismatch: the reference was measured at level {protocol['level']!r}, "
                f"the measurement at {level!r}"
                + (f"; {entry['other_levels'][level]}" if level in entry.get("other_levels", {}) else "")
            ),
        )
    values: Mapping[str, Any] = entry
    if entry.get("by"):
        key = {"side": side, "trunk": trunk}[entry["by"]]
        if key not in entry["variants"]:
            why = entry.get("missing_variants", {}).get(key)
            return ReferenceLimit(
                site=site,
                reference_set=name,
                status="no_reference",
                protocol=protocol,
                reason=(
                    f"this reference is {entry['by']}-specific ({', '.join(entry['variants'])}); "
                    f"the measurement gives {entry['by']} = {key!r}" + (f": {why}" if why else "")
                ),
            )
        values = entry["variants"][key]
    common: dict[str, Any] = {
        "site": site,
        "reference_set": name,
        "status": "limit",
        "source": entry["source"],
        "source_label": entry.get("source_label"),
        "population": population,
        "protocol": protocol,
    }
    cov = entry.get("covariate_limit")
    if cov is not None and wrist_circumference_cm is not None:
        formula_uln, formula, note = _covariate_formula(cov, entry, float(wrist_circumference_cm))
        common["covariate_formula"] = formula
        notes.append(note)
        if formula["used"]:
            common["source"] = cov["source"]
            common["source_label"] = f"ULN = {formula['formula']} (cm)"
            return ReferenceLimit(
                **common,
                uln=formula_uln,
                kind=LimitKind.REGRESSION_ROC_CUTOFF.value,
                notes=tuple(notes),
                lln_note="no lower limit published for this formula",
                covariates_used={"wrist_circumference_cm": float(wrist_circumference_cm)},
            )
        # else the fixed limit of the set decides below, the formula value beside it
    kind = entry["kind"]
    if kind == LimitKind.PUBLISHED_REFERENCE_RANGE.value:
        lo, hi = (float(x) for x in values["range"])
        return ReferenceLimit(
            **common,
            uln=hi,
            lln=lo,
            mean=float(values["mean"]) if values.get("mean") is not None else None,
            sd=float(values["sd"]) if values.get("sd") is not None else None,
            kind=kind,
            notes=tuple(notes),
        )
    if kind == LimitKind.MEAN_PLUS_2SD.value and values.get("positions"):
        return _widest_of_positions(common, values["positions"], kind, notes)
    if kind == LimitKind.MEAN_PLUS_2SD.value:
        mean, sd = float(values["mean"]), float(values["sd"])
        k = sd_factor()
        lower = mean - k * sd
        return ReferenceLimit(
            **common,
            uln=mean + k * sd,
            lln=lower if lower > 0 else None,
            lln_note=None if lower > 0 else f"mean - {k:g} SD is not positive: no lower limit derivable",
            mean=mean,
            sd=sd,
            kind=kind,
            notes=tuple(notes),
        )
    return ReferenceLimit(
        **common,
        uln=float(values["uln"]),
        lln=float(values["lln"]) if values.get("lln") is not None else None,
        lln_note=None
        if values.get("lln") is not None
        else "the source gives an upper limit only: reduction cannot be assessed",
        kind=kind,
        notes=tuple(notes),
    )


def _widest_of_positions(
    common: dict[str, Any], positions: Mapping[str, Mapping[str, Any]], kind: str, notes: list[str]
) -> ReferenceLimit:
    """Limits from a source that prints mean and SD at several positions of one level without saying
    which one the level is (P-25 vagus: proximal, distal): the upper limit from the largest
    mean + k SD, the lower from the smallest mean - k SD; no z-score (no single mean)."""
    k = sd_factor()
    bounds = {
        pos: (float(v["mean"]) - k * float(v["sd"]), float(v["mean"]) + k * float(v["sd"]))
        for pos, v in positions.items()
    }
    upper = max(hi for _lo, hi in bounds.values())
    lower = min(lo for lo, _hi in bounds.values())
    parts = ", ".join(
        f"{pos} {positions[pos]['mean']:g}+-{k:g}x{positions[pos]['sd']:g} = {lo:.2f}-{hi:.2f} mm2"
        for pos, (lo, hi) in bounds.items()
    )
    notes.append(f"limits {lower:.2f}-{upper:.2f} mm2, the widest of {parts}; no z-score")
    return ReferenceLimit(
        **common,
        uln=upper,
        lln=lower if lower > 0 else None,
        lln_note=None if lower > 0 else f"mean - {k:g} SD is not positive: no lower limit derivable",
        kind=kind,
        notes=tuple(notes),
    )


def _covariate_formula(
    cov: Mapping[str, Any], entry: Mapping[str, Any], value: float
) -> tuple[float, dict[str, Any], str]:
    """The ULN of the covariate formula (Olde Dubbelink 2020) at ``value`` and a record of it:
    whether it decides, why, and the note to show.

    It decides only while its ULN is at least ``cov["guard"]["min_uln_mm2"]`` (the pooled healthy
    mean CSA): an upper limit below the healthy mean cannot be an upper limit of normal.
    """
    lo, hi = wrist_circumference_bounds()
    if not lo <= value <= hi:
        raise InvalidParameterError(f"wrist_circumference_cm: expected {lo:g} to {hi:g} cm, got {value!r}")
    uln = cov["slope"] * value + cov["intercept"]
    sign = "-" if cov["intercept"] < 0 else "+"
    text = f"{cov['slope']:g} x wrist circumference {sign} {abs(cov['intercept']):g}"
    src = citation_short(cov["source"])
    unit_caveat = citation(cov["source"]).caveat
    guard = cov.get("guard")
    fixed = f"fixed ULN {entry.get('uln'):g} mm2 from {entry.get('source_label')} [{citation_short(entry['source'])}]"
    no_range = (
        "the wrist range of the source cohort is not in the evidence digest, so no validity range is checked"
    )
    record: dict[str, Any] = {
        "variable": cov["variable"],
        "value": value,
        "formula": text,
        "uln_mm2": round(uln, 3),
        "source": cov["source"],
        "fixed_uln_mm2": None if entry.get("uln") is None else float(entry["uln"]),
        "guard_mm2": None if guard is None else float(guard["min_uln_mm2"]),
        "guard_source": None if guard is None else guard["source"],
    }
    if guard is None or uln >= guard["min_uln_mm2"]:
        why = (
            ""
            if guard is None
            else f"; it decides because it is at least {guard['min_uln_mm2']:g} mm2, the {guard['what']} "
            f"[{citation_short(guard['source'])}]"
        )
        record.update(used=True, reason=None)
        note = (
            f"limit from wrist circumference {value:g} cm: {text} = {uln:.2f} mm2 [{src}] ({fixed}){why}; "
            f"{no_range}"  # the unit caveat comes with the limit's own citation (source = the formula)
        )
        return uln, record, note
    reason = (
        f"its ULN {uln:.2f} mm2 is below {guard['min_uln_mm2']:g} mm2, the {guard['what']} "
        f"[{citation_short(guard['source'])}]: an upper limit below the healthy mean cannot be an upper limit"
    )
    record.update(used=False, reason=reason)
    note = (
        f"wrist-circumference formula not used for wrist {value:g} cm: {text} = {uln:.2f} mm2 [{src}]; {reason}; "
        f"the {fixed} stands; a CSA between {guard['min_uln_mm2']:g} mm2 and it is not judged (decision 011) "
        f"({no_range}; {src}: {unit_caveat})"
    )
    return uln, record, note


def validate_reference_data() -> list[str]:
    """Problems in the data files (an empty list when they are sound); used by the tests."""
    problems: list[str] = []
    keys = set(citation_keys())
    sites = set(site_names())
    raw = load_data("nerve_csa.json")
    if raw["default"] not in raw["sets"]:
        problems.append(f"default set {raw['default']!r} is not a set")
    k_sd = raw.get("derived_limits", {}).get("mean_plus_2sd", {}).get("k_sd")
    if isinstance(k_sd, bool) or not isinstance(k_sd, int | float) or not k_sd > 0:
        problems.append(f"derived_limits.mean_plus_2sd.k_sd: expected a positive number, got {k_sd!r}")
    for set_name, s in raw["sets"].items():
        missing = sites - set(s["sites"])
        extra = set(s["sites"]) - sites
        if missing:
            problems.append(f"{set_name}: sites without an entry: {sorted(missing)}")
        if extra:
            problems.append(f"{set_name}: unknown sites: {sorted(extra)}")
        for site, e in s["sites"].items():
            where = f"{set_name}/{site}"
            problems.extend(_entry_problems(where, e, keys))
            for level, variant in (e.get("level_variants") or {}).items():
                vwhere = f"{where}/level_variants/{level}"
                if level not in site_info(site).levels:
                    problems.append(f"{vwhere}: {level!r} is not a level of {site}")
                if (variant.get("protocol") or {}).get("level") != level:
                    problems.append(f"{vwhere}: protocol.level must be {level!r}")
                problems.extend(_entry_problems(vwhere, variant, keys))
            for level in e.get("other_levels") or {}:
                if level not in site_info(site).levels:
                    problems.append(f"{where}/other_levels: {level!r} is not a level of {site}")
    problems.extend(_reliability_problems(keys, sites))
    bounds = load_data("nerve_input_bounds.json")["csa_mm2"]["sites"]
    if set(bounds) != sites:
        problems.append(f"input bounds: sites differ from the vocabulary: {sorted(set(bounds) ^ sites)}")
    for site, (lo, hi) in bounds.items():
        if not 0 < lo < hi:
            problems.append(f"input bounds: {site}: expected 0 < lower < upper, got {lo}, {hi}")
    for field_name, (lo, hi, _unit) in patient_input_bounds().items():
        if not lo < hi:
            problems.append(f"patient input bounds: {field_name}: expected lower < upper, got {lo}, {hi}")
    variables = set(covariate_variables())
    for e in load_data("nerve_covariates.json")["effects"]:
        if e["source"] not in keys:
            problems.append(f"covariates: unknown source {e['source']!r}")
        if not e.get("variables") or not set(e["variables"]) <= variables:
            problems.append(f"covariates: {e['source']}: variables must be some of {sorted(variables)}")
        for site in e["sites"]:
            if site not in sites:
                problems.append(f"covariates: unknown site {site!r}")
    return problems


def _entry_problems(where: str, e: Mapping[str, Any], keys: set[str]) -> list[str]:
    """Problems of one site entry (or level variant) of a reference set."""
    problems: list[str] = []
    allowed = {k.value for k in LimitKind}
    if e.get("status") not in ("limit", "no_reference"):
        return [f"{where}: status must be 'limit' or 'no_reference'"]
    if e["status"] == "no_reference":
        return [] if e.get("reason") else [f"{where}: no_reference needs a reason"]
    kind = e.get("kind")
    if kind in FORBIDDEN_KINDS:
        problems.append(f"{where}: a meta-analytic CI bound is not an upper limit of normal")
    elif kind not in allowed:
        problems.append(f"{where}: unknown kind {kind!r}")
    if e.get("source") not in keys:
        problems.append(f"{where}: unknown source {e.get('source')!r}")
    variants = e["variants"].values() if e.get("by") else [e]
    for missing in e.get("missing_variants") or {}:
        if missing in (e.get("variants") or {}):
            problems.append(f"{where}: missing_variants names {missing!r}, which has values")
    for v in variants:
        if kind == "mean_plus_2sd":
            positions = list(v["positions"].values()) if v.get("positions") else [v]
            if not all(p.get("mean", 0) > 0 and p.get("sd", 0) > 0 for p in positions):
                problems.append(f"{where}: mean_plus_2sd needs a positive mean and sd")
        if kind == "uln_table" and not v.get("uln", 0) > 0:
            problems.append(f"{where}: uln_table needs a positive uln")
        if kind == "published_reference_range":
            rng = v.get("range")
            if not (isinstance(rng, list) and len(rng) == 2 and 0 < rng[0] < rng[1]):
                problems.append(f"{where}: published_reference_range needs range [lower, upper] > 0")
    cov = e.get("covariate_limit")
    if cov is not None:
        if cov.get("source") not in keys:
            problems.append(f"{where}: unknown covariate source {cov.get('source')!r}")
        if cov.get("kind") in FORBIDDEN_KINDS or cov.get("kind") not in allowed:
            problems.append(f"{where}: bad covariate kind {cov.get('kind')!r}")
        guard = cov.get("guard")
        if guard is not None and (guard.get("source") not in keys or not guard.get("min_uln_mm2", 0) > 0):
            problems.append(f"{where}: the covariate guard needs a known source and a positive min_uln_mm2")
    return problems


def _reliability_problems(keys: set[str], sites: set[str]) -> list[str]:
    """Problems of ``measurement_reliability``: a known source, each SD inside its published
    range, and every site of the vocabulary in exactly one group or in ``no_figure``."""
    rel = load_data("nerve_csa.json").get("measurement_reliability")
    if rel is None:
        return ["measurement_reliability: missing"]
    problems: list[str] = []
    if rel.get("source") not in keys:
        problems.append(f"measurement_reliability: unknown source {rel.get('source')!r}")
    seen: list[str] = list(rel["no_figure"]["sites"])
    for group, g in rel["groups"].items():
        lo, hi = g["range_mm2"]
        sd = g.get("sd_mm2")
        if isinstance(sd, bool) or not isinstance(sd, int | float) or not 0 < lo <= sd <= hi:
            problems.append(
                f"measurement_reliability.{group}: sd_mm2 must lie in its range {lo}-{hi}, got {sd!r}"
            )
        seen.extend(g["sites"])
    if sorted(seen) != sorted(sites):
        dup = sorted({x for x in seen if seen.count(x) > 1})
        problems.append(
            f"measurement_reliability: sites must each be in one group or no_figure "
            f"(missing {sorted(sites - set(seen))}, unknown {sorted(set(seen) - sites)}, repeated {dup})"
        )
    return problems
