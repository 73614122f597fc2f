"""The report's sections and their registry.

A section is a class with a ``name``, a ``title``, an ``order``, a Jinja2 ``template`` (a file
under ``templates/`` or an inline string) and two methods: ``applies(results)`` says whether the
study has anything for it, ``context(results, env)`` builds the template's variables. Register a
section with :func:`register_section` (or, from another package, the entry point group
``sonomsk.report.sections``); the report then shows it where its ``order`` puts it, without any
change elsewhere. The built-in sections cover the header, key images, measurements, nerve
assessment, muscle, procedure, differential, methods, other results and disclaimers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sonomsk.core.errors import InvalidParameterError
from sonomsk.report import figures
from sonomsk.report.results import Structure, StudyResults, dict_rows, flatten_row, measurement_rows


@dataclass
class RenderEnv:
    """What a section may use while building its context."""

    paper: str = "a4"
    deidentified: bool = False
    #: Original (not de-identified) RESULTS, used only to load pixels.
    source: StudyResults | None = None
    notes: list[str] = field(default_factory=list)


class Section:
    """Base class of report sections; subclasses set the class attributes and override methods."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    order: ClassVar[int] = 500
    template: ClassVar[str] = "sections/generic.html"

    def applies(self, results: StudyResults) -> bool:
        return True

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        return {}


_REGISTRY: dict[str, type[Section]] = {}
_ENTRY_POINTS_LOADED = False


def register_section(cls: type[Section]) -> type[Section]:
    """Class decorator: add a section to the registry (a later one with the same name replaces it)."""
    if not cls.name:
        raise InvalidParameterError(f"section {cls.__name__}: a non-empty 'name' is required")
    _REGISTRY[cls.name] = cls
    return cls


def registered_sections() -> list[type[Section]]:
    """Every registered section class, in report order (built-in and plug-ins)."""
    global _ENTRY_POINTS_LOADED
    if not _ENTRY_POINTS_LOADED:
        _ENTRY_POINTS_LOADED = True
        from importlib.metadata import entry_points

        for ep in entry_points(group="sonomsk.report.sections"):
            register_section(ep.load())
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.name))


def unregister_section(name: str) -> None:
    _REGISTRY.pop(name, None)


# -- formatting helpers used by the templates ------------------------------------------------
def fmt(value: Any, digits: int = 2) -> str:
    """A value as report text: numbers with ``digits`` decimals, lists joined, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt(v, digits)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(fmt(v, digits) for v in value) if value else "—"
    return str(value)


def fmt_unit(unit: Any) -> str:
    return {"mm2": "mm²", "px2": "px²", "1": "", "none": "", "count": ""}.get(str(unit), str(unit or ""))


FLAG_WORDS = {
    "enlarged": "high",
    "abnormal": "high",
    "high": "high",
    "above": "high",
    "low": "low",
    "below": "low",
    "reduced": "low",
    "borderline": "borderline",
    "normal": "normal",
    "within": "normal",
}


def flag_of(status: Any) -> str | None:
    """A flag class (high, low, borderline, normal) from a status word, or None. A status qualified
    as "(borderline)" (decision 011) keeps its own flag: a normal row stays unshaded."""
    text = str(status or "").lower().removesuffix(" (borderline)")
    for word, flag in FLAG_WORDS.items():
        if word in text:
            return flag
    return None


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> dict[str, Any]:
    """A generic table of dict rows: every key that any row has becomes a column (first-seen order).

    One level of nested objects is spread into ``parent.child`` columns.
    """
    rows = [flatten_row(r) for r in rows]
    cols: list[str] = list(columns) if columns else []
    if not columns:
        for r in rows:
            for k in r:
                if k not in cols:
                    cols.append(k)
    body = []
    for r in rows:
        abnormal = r.get("abnormal")
        flag = flag_of(r.get("status") or r.get("flag") or r.get("interpretation")) or (
            "high" if abnormal is True else None
        )
        cells = [{"text": fmt(r.get(c)), "num": _is_number(r.get(c))} for c in cols]
        body.append({"cells": cells, "flag": flag})
    return {"columns": [c.replace("_", " ") for c in cols], "rows": body}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def generic_parts(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Render whatever a producer gave: lists of objects as tables, objects and scalars as key/value."""
    parts: list[dict[str, Any]] = []
    scalars: list[dict[str, Any]] = []
    for key, value in data.items():
        title = key.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            parts.append({"title": title, "table": table(value)})
        elif isinstance(value, Mapping) and value:
            rows = [{"item": k, "value": v} for k, v in flatten_row(value).items()]
            parts.append({"title": title, "table": table(rows)})
        elif value not in (None, [], {}, ""):
            scalars.append({"item": title, "value": value})
    if scalars:
        parts.insert(0, {"title": "", "table": table(scalars)})
    return parts


# -- built-in sections -----------------------------------------------------------------------
@register_section
class HeaderSection(Section):
    name = "header"
    title = "Patient and study"
    order = 10
    template = "sections/header.html"

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        p, s = results.patient, results.study
        patient = [
            ("Name", p.name),
            ("Patient ID", p.id),
            ("Birth date", p.birth_date),
            ("Sex", p.sex),
        ]
        study = [
            ("Study date", s.date),
            ("Description", s.description),
            ("Accession", s.accession),
            ("Institution", s.institution),
            ("Operator", s.operator),
            ("Referring", s.referring),
            ("Indication", s.indication),
        ]
        return {
            "patient": [(k, fmt(v)) for k, v in patient],
            "study": [(k, fmt(v)) for k, v in study if v is not None],
            "pseudonymised": p.pseudonymised or env.deidentified,
            "signoff": results.signoff,
        }


@register_section
class SupersedesSection(Section):
    """A later signed report says, under the header, which report it replaces (the SR lists the
    earlier SR in its Predecessor Documents Sequence, FHIR in its conclusion); no UIDs."""

    name = "supersedes"
    title = "Replaces an earlier report"
    order = 11
    template = "sections/supersedes.html"

    def applies(self, results: StudyResults) -> bool:
        return isinstance(results.extra.get("supersedes"), Mapping)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        prev = results.extra["supersedes"]
        by = f", signed by {prev['signed_by']}" if prev.get("signed_by") else ""
        at = f" ({prev['signed_at']})" if prev.get("signed_at") else ""
        return {
            "text": f"This report replaces report {prev.get('report', '?')}{by}{at} of the same study; "
            "the earlier report is kept unchanged."
        }


@register_section
class ImagesSection(Section):
    name = "images"
    title = "Key images"
    order = 20
    template = "sections/images.html"

    def applies(self, results: StudyResults) -> bool:
        return any(im.key for im in results.images)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        source = env.source or results
        items = []
        for im, src in zip(results.images, source.images, strict=True):
            if not im.key:
                continue
            # one picture per outlined frame, showing the frame its outlines were drawn on (a
            # cine's outline is never drawn over another frame); an image without outlines: its
            # key frame
            by_frame: dict[int, list[Structure]] = {}
            for s in results.structures_of(im.id):
                by_frame.setdefault(s.frame if 0 <= s.frame < max(im.n_frames, 1) else im.frame, []).append(s)
            for frame, structs in sorted(by_frame.items()) or [(im.frame, [])]:
                shown = dataclasses.replace(im, frame=frame)
                pixels, reason = figures.load_frame(dataclasses.replace(src, frame=frame))
                png = figures.overlay_png(shown, structs, frame=pixels)
                cal = (
                    f"{im.spacing_mm[0]:.3f} x {im.spacing_mm[1]:.3f} mm per px (row x col)"
                    if im.spacing_mm
                    else "not calibrated: lengths and areas in px"
                )
                items.append(
                    {
                        "id": im.id,
                        "uri": figures.png_data_uri(png),
                        "caption": im.description or im.id,
                        "calibration": cal,
                        "frame": frame,
                        "labels": ", ".join(s.label for s in structs),
                        "note": reason,
                    }
                )
        return {"images": items}


@register_section
class MeasurementsSection(Section):
    name = "measurements"
    title = "Measurements"
    order = 30
    template = "sections/measurements.html"

    def applies(self, results: StudyResults) -> bool:
        return bool(results.measurements)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        rows = []
        for r in measurement_rows(results):
            rows.append(
                {
                    "name": r["name"].replace("_", " "),
                    "structure": r["label"],
                    "site": r["site"],
                    "side": r["side"],
                    "value": fmt(r["value"], 0 if r["unit"] == "count" else 2),  # a count has no decimals
                    "unit": fmt_unit(r["unit"]),
                    "image": r["image"],
                    "frame": r["frame"],
                    "method": f"{r['method']} {r['method_version']}",
                    "failure": r["failure"],
                    "px": str(r["unit"]).startswith("px"),
                }
            )
        return {"rows": rows, "any_px": any(r["px"] for r in rows)}


@register_section
class NerveAssessmentSection(Section):
    name = "nerve_assessment"
    title = "Nerve assessment"
    order = 40
    template = "sections/nerve.html"

    def applies(self, results: StudyResults) -> bool:
        return bool(results.nerve_assessment)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        a = dict(results.nerve_assessment or {})
        rows = dict_rows(a.pop("measurements", None) or a.pop("sites", None) or [])
        indices = dict_rows(a.pop("indices", None) or a.pop("entrapment_indices", None) or [])
        sides = dict_rows(a.pop("side_to_side", None) or [])
        pattern = a.pop("pattern", None)
        explanation = a.pop("explanation", None)
        plot = figures.plot_csa_along_nerves(rows)
        goedee = a.pop("goedee", None)
        # The assessment's audit detail (findings, pattern_detail, variability internals) is in the
        # RESULTS JSON and the SR; the page shows what a reader needs, one row per site or index.
        for key in (
            "findings",
            "pattern_detail",
            "schema",
            "analysis",
            "sonomsk_version",
            "patient",
            "candidates",
        ):
            a.pop(key, None)
        variability = a.pop("variability", None)
        left_out = a.pop("images_not_assessed", None)
        ref = a.pop("reference_set", None)
        if isinstance(ref, Mapping):  # sonomsk.nerve.assess gives {name, title, population}
            ref = ref.get("title") or ref.get("name")
        if ref:
            a["reference_set"] = ref
        # the deciding sites as the clinician measures them: with side and level where they matter
        detail = a.pop("deciding_sites_detail", None)
        if detail:
            a["deciding_sites"] = detail
        other = generic_parts(
            {
                k: v
                for k, v in a.items()
                if not isinstance(v, list | dict) or k in ("deciding_sites", "deciding_other_side")
            }
        )
        return {
            "patient_mismatch": _patient_mismatch(results, results.nerve_assessment or {}),
            "table": table([_site_row(r) for r in rows]) if rows and "csa_mm2" in rows[0] else table(rows),
            "indices": table([_index_row(r) for r in indices + sides]) if indices or sides else None,
            "goedee": fmt(goedee.get("explanation"))
            if isinstance(goedee, dict) and goedee.get("explanation")
            else None,
            "variability": [
                fmt(v.get("explanation"))
                for group in (variability or {}).values()
                # intranerve: a list of nerves; internerve: one result for the study
                for v in (group if isinstance(group, list) else [group])
                if isinstance(v, dict) and v.get("explanation")
            ],
            "pattern": fmt(pattern) if pattern is not None else None,
            "explanation": fmt(explanation) if explanation is not None else None,
            "notes": _site_notes(rows),
            "not_assessed": [fmt(x) for x in left_out] if isinstance(left_out, list) else [],
            "plot": figures.png_data_uri(plot) if plot else None,
            "other": other,
        }


def _site_notes(rows: list[dict[str, Any]]) -> list[str]:
    """The notes of the limits (fallbacks, population) and of the rows (borderline, covariates,
    age), each text once with the sites it belongs to: what the table alone does not say."""
    found: dict[str, list[str]] = {}
    for r in rows:
        if not isinstance(r, Mapping):
            continue
        where = " ".join(
            str(x) for x in (r.get("site"), r.get("side"), r.get("trunk") and f"{r['trunk']} trunk") if x
        )
        raw = r.get("limit")
        limit: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        for text in [*(limit.get("notes") or ()), *(r.get("notes") or ())]:
            if isinstance(text, str) and text and where not in found.setdefault(text, []):
                found[text].append(where)
    return [f"{', '.join(w for w in where if w)}: {text}" for text, where in found.items()]


def _site_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """One site of ``sonomsk nerve assess`` as a report row (limit, its kind and source, status)."""
    raw_limit = r.get("limit")
    limit: Mapping[str, Any] = raw_limit if isinstance(raw_limit, Mapping) else {}
    raw_citation = limit.get("citation")
    citation: Mapping[str, Any] = raw_citation if isinstance(raw_citation, Mapping) else {}
    source = citation.get("text", limit.get("source"))
    evidence, caveat = citation.get("evidence"), citation.get("caveat")
    if caveat:  # an [A] source may carry a caveat too (e.g. an unverified attribution)
        source = f"{source} [{evidence or '?'}: {caveat}]"
    elif evidence:
        source = f"{source} [{evidence}]"
    # the trunk and the measurement level decide the limit and the rules: the row names them
    detail = [
        f"{r['trunk']} trunk" if r.get("trunk") else None,
        str(r["level"]).replace("_", " ") if r.get("level") else None,
    ]
    site = r.get("site")
    if site and any(detail):
        site = f"{site} ({', '.join(d for d in detail if d)})"
    return {
        "site": site,
        "side": r.get("side"),
        "CSA mm2": r.get("csa_mm2"),
        "limit mm2": limit.get("uln_mm2"),
        "limit kind": limit.get("kind"),
        "ratio": r.get("ratio_to_uln"),
        "z": r.get("z_score"),
        "status": f"{r.get('status')} (borderline)" if r.get("borderline") else r.get("status"),
        "source": source,
    }


def _patient_mismatch(results: StudyResults, a: Mapping[str, Any]) -> str | None:
    """A warning when the assessment's patient (its age and sex, which chose its limits and notes)
    is not the report's: a sex that differs, or an age more than a year from the age at the study
    date. None when they agree or one side does not say."""
    p = a.get("patient")
    if not isinstance(p, Mapping):
        return None
    problems = []
    sex, own = p.get("sex"), results.patient.sex
    if sex and own and str(sex).upper()[:1] != str(own).upper()[:1]:
        problems.append(f"sex {sex} (the report's patient: {own})")
    age, born, date = p.get("age"), results.patient.birth_date, results.study.date
    if isinstance(age, int | float) and not isinstance(age, bool) and born and date:
        try:
            b, d = dt.date.fromisoformat(str(born)[:10]), dt.date.fromisoformat(str(date)[:10])
        except ValueError:  # a de-identified year, or an unreadable date: no age to compare
            pass
        else:
            real = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
            if abs(float(age) - real) > 1:
                problems.append(f"age {age:g} (the report's patient: {real} at the study date)")
    if not problems:
        return None
    return (
        "The nerve assessment was made for a patient of "
        + " and ".join(problems)
        + ": its limits and notes may not apply to this patient; assess again with this patient's data."
    )


def _index_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """One entrapment index or side-to-side comparison as a report row."""
    cutoff = r.get("cutoff") if "cutoff" in r else r.get("limit")
    source = r.get("citation_short") or r.get("source") or r.get("healthy")
    if r.get("caveat"):  # a [B] source's caveat, or an index's own (nerve_rules.json)
        source = f"{source} ({r['caveat']})" if r.get("evidence") != "B" else f"{source} {r['caveat']}"
    abnormal = r.get("abnormal")
    status = r.get("status") or ("abnormal" if abnormal else ("normal" if abnormal is False else None))
    if r.get("value") is None and "value" in r:  # not computed: say what it needs, as the panel does
        missing = r.get("missing_sites") or []
        status = f"not computed: {r.get('reason') or ('needs ' + ', '.join(map(str, missing)) if missing else 'no value')}"
    return {
        "index": r.get("label") or r.get("name"),
        "side": r.get("side"),
        "value": r.get("value"),
        "cut-off": f"{r.get('comparison') or ''} {fmt(cutoff)}".strip()
        if cutoff is not None
        else "information only",
        "status": status,
        "source": source,
    }


@register_section
class MuscleSection(Section):
    name = "muscle"
    title = "Muscles"
    order = 50
    template = "sections/muscle.html"

    def applies(self, results: StudyResults) -> bool:
        return bool(results.muscle)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        m = dict(results.muscle or {})
        rows = dict_rows(m.pop("muscles", m.pop("measurements", [])))
        thr = m.pop("threshold", None)
        z_thr = figures._num(thr.get("z")) if isinstance(thr, Mapping) else figures._num(thr)
        plot = figures.plot_muscle_z(rows, z_thr)
        return {
            "table": table(rows),
            "threshold": thr,
            "plot": figures.png_data_uri(plot) if plot else None,
            "other": generic_parts(m),
        }


@register_section
class ProcedureSection(Section):
    name = "procedure"
    title = "Procedure record"
    order = 60
    template = "sections/procedure.html"

    def applies(self, results: StudyResults) -> bool:
        return bool(results.procedure)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        p = dict(results.procedure or {})
        series = p.pop("injectate_area", None)
        plot = None
        series_table = None
        if series:
            rows = dict_rows(series)
            tkey = next((k for k in ("t_s", "time_s", "t") if rows and k in rows[0]), None)
            akey = next((k for k in rows[0] if k.startswith("area")), None) if rows else None
            if tkey and akey:
                unit = "px²" if "px" in akey else "mm²"
                png = figures.plot_series(
                    [(r[tkey], r[akey]) for r in rows if r.get(tkey) is not None and r.get(akey) is not None],
                    xlabel="time (s)",
                    ylabel=f"injectate area ({unit})",
                    title="Injectate area over time",
                )
                plot = figures.png_data_uri(png) if png else None
            series_table = table(rows)
        record = [(k.replace("_", " "), fmt(v)) for k, v in p.items()]
        return {"record": record, "plot": plot, "series": series_table}


@register_section
class DifferentialSection(Section):
    name = "differential"
    title = "Differential (decision support)"
    order = 70
    template = "sections/differential.html"

    def applies(self, results: StudyResults) -> bool:
        return bool(results.differential)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        d = dict(results.differential or {})
        candidates = dict_rows(d.pop("candidates", d.pop("differential", [])))
        intended = d.pop("intended_use", None)
        items = []
        for i, c in enumerate(candidates):
            c = dict(c)
            cites = [_citation_text(x) for x in (c.pop("citations", None) or [])]
            items.append(
                {
                    "rank": c.pop("rank", i + 1),
                    "name": fmt(c.pop("name", c.pop("diagnosis", c.pop("label", "")))),
                    "supporting": [_item_text(x) for x in c.pop("supporting", None) or []],
                    "against": [_item_text(x) for x in c.pop("against", None) or []],
                    "missing": [_item_text(x) for x in c.pop("missing", None) or []],
                    "citations": cites,
                    "other": [(_CANDIDATE_LABELS.get(k, k.replace("_", " ")), fmt(v)) for k, v in c.items()],
                }
            )
        return {
            "candidates": items,
            "intended_use": fmt(intended) if intended else None,
            "other": generic_parts(d),
        }


#: Report labels of candidate fields whose plain name could mislead a reader.
_CANDIDATE_LABELS = {"relative_weight": "relative weight (not a probability)"}


def _item_text(x: Any) -> str:
    """One reason of a candidate: its statement (with the finding's state and likelihood ratio)."""
    if isinstance(x, Mapping) and (x.get("statement") or x.get("finding")):
        text = str(x.get("statement") or x.get("finding"))
        lr = x.get("likelihood_ratio")
        detail = [str(x["state"])] if x.get("state") else []
        if isinstance(lr, int | float):
            detail.append(f"LR {fmt(lr)}")
        if x.get("note"):  # how the ratio was assembled (a pair of figures, an extrapolation)
            detail.append(f"note: {x['note']}")
        return f"{text} ({'; '.join(detail)})" if detail else text
    return fmt(x)


def _citation_text(c: Any) -> str:
    if isinstance(c, Mapping):
        text = str(c.get("text") or c.get("source") or "")
        ev = c.get("evidence")
        caveat = c.get("caveat")
        return f"{text}{f' [{ev}]' if ev else ''}{f' — caveat: {caveat}' if caveat else ''}"
    return str(c)


@register_section
class ExtraSection(Section):
    name = "extra"
    title = "Other results"
    order = 80
    template = "sections/extra.html"

    def applies(self, results: StudyResults) -> bool:
        claimed = {c.name for c in registered_sections()}
        return any(k not in claimed for k in results.extra)

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        claimed = {c.name for c in registered_sections()}
        parts = generic_parts({k: v for k, v in results.extra.items() if k not in claimed})
        return {"parts": parts}


@register_section
class MethodsSection(Section):
    name = "methods"
    title = "Methods and versions"
    order = 90
    template = "sections/methods.html"

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        methods = {(m.name, m.version, m.backend, m.note) for m in results.methods}
        for m in results.measurements:
            methods.add((m.method.function, m.method.version, m.method.backend, None))
        rows = [
            {"method": n, "version": v, "backend": b, "note": note}
            for n, v, b, note in sorted(methods, key=lambda t: tuple(str(x) for x in t))
        ]
        return {
            "table": table(rows, ["method", "version", "backend", "note"]),
            "software": results.software_version,
            "created": results.created,
        }


@register_section
class DisclaimerSection(Section):
    name = "disclaimers"
    title = "Disclaimers"
    order = 100
    template = "sections/disclaimers.html"

    def context(self, results: StudyResults, env: RenderEnv) -> dict[str, Any]:
        any_px = any(str(m.unit).startswith("px") for m in results.measurements)
        any_b = "[B]" in results.to_json() or '"evidence": "B"' in results.to_json()
        return {"any_px": any_px, "any_b": any_b, "signed": results.signoff.state.value != "draft"}
