"""FHIR R4 export: a Bundle with a DiagnosticReport, its Observations, the Patient and the ImagingStudy.

The bundle is built as plain JSON, every coding is checked against the project's code table
(:mod:`sonomsk.report.codes`), and the whole bundle is validated by ``fhir.resources`` (its
R4B models, which for Bundle, Patient, ImagingStudy, Observation and DiagnosticReport have the
same structure as R4 4.0.1) before anything is written.

Observations: one per successful measurement (SNOMED CT concept when the code table has one,
always a text), with UCUM units, the body site (its side as the core extensions registry's
``observation-structureLaterality``, SNOMED CT left/right, since R4 Observation has no
laterality element), and — when the nerve assessment has a matching
site/side row — the reference limit (``referenceRange.high``, with its kind and source as text)
and an interpretation (H/N). Nerve indices and muscle z-scores become Observations too.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sonomsk.core.errors import InvalidParameterError
from sonomsk.report.codes import (
    LOCAL_SCHEME,
    Code,
    check_coding,
    code,
    measurement_concept,
    nerve_site,
    side_code,
    structure_code,
    unit_code,
)
from sonomsk.report.results import StudyResults, as_results, dict_rows, row_limit, row_nerve_site

_GENDER = {"F": "female", "M": "male", "O": "other"}


#: Failure reasons (their start) of a measurement that does not apply to the image rather than
#: one that failed: no colour/power Doppler region in a B-mode image (sonomsk.nerve.morphology).
#: FHIR gets no Observation for it (review ws15d N6): ``dataAbsentReason`` ``error`` would count
#: a failure per nerve in every B-mode study; the report and the SR still list it as not measured.
NOT_APPLICABLE_REASONS = ("no colour/power Doppler region",)


def not_applicable(m: Any) -> bool:
    """Whether a measurement has no value because it does not apply to its image
    (:data:`NOT_APPLICABLE_REASONS`), not because it failed."""
    return not m.ok and str(m.failure or "").startswith(NOT_APPLICABLE_REASONS)


def _coding(c: Code) -> dict[str, str]:
    coding = c.fhir_coding()
    check_coding(coding["system"], coding["code"], coding["display"])
    return coding


def _urn(seed: str, *parts: Any) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join([seed, *map(str, parts)])))


def _quantity(value: float, unit: str) -> dict[str, Any]:
    ucum = unit_code(unit)
    return {"value": float(value), "unit": unit, "system": ucum.system, "code": ucum.code}


def _interpretation(status: Any) -> list[dict[str, Any]] | None:
    text = str(status or "").lower()
    if not text:
        return None
    if any(w in text for w in ("enlarged", "high", "above")):
        c = code("HL7-OBS-INTERPRETATION", "H")
    elif any(w in text for w in ("low", "below", "reduced")):
        c = code("HL7-OBS-INTERPRETATION", "L")
    elif "abnormal" in text:
        c = code("HL7-OBS-INTERPRETATION", "A")
    elif "normal" in text or "within" in text:
        c = code("HL7-OBS-INTERPRETATION", "N")
    else:
        return None
    return [{"coding": [_coding(c)], "text": str(status)}]


def bundle_dict(results: StudyResults) -> dict[str, Any]:
    """The FHIR Bundle (type collection) as a JSON dict; codes checked, not yet model-validated."""
    import hashlib

    # resource ids from the whole frozen content: the same report downloaded again gives the same
    # ids, a later report of the same study (other values, another signature) other ids, so a
    # FHIR server never overwrites a final Observation with another value
    seed = hashlib.sha256(results.to_json(indent=None).encode("utf-8")).hexdigest()
    status = "final" if results.signoff.state.value != "draft" else "preliminary"
    patient_url = _urn(seed, "patient")
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if results.patient.id:
        patient["identifier"] = [{"value": results.patient.id}]
    if results.patient.name:
        patient["name"] = [{"text": results.patient.name.replace("^", " ").strip()}]
    if results.patient.birth_date and len(results.patient.birth_date) in (4, 7, 10):
        patient["birthDate"] = results.patient.birth_date
    sex = (results.patient.sex or "")[:1].upper()
    patient["gender"] = _GENDER.get(sex, "unknown")
    if results.patient.pseudonymised:
        patient["meta"] = {"tag": [{"display": "pseudonymised"}]}
    subject = {"reference": patient_url}
    entries = [{"fullUrl": patient_url, "resource": patient}]

    study_url = None
    # an ImagingStudy says the study is available in DICOM: not for a study whose images are all
    # PNG/JPEG/TIFF/video (no SOP Instance UID; review ws14c F3)
    dicom_images = [im for im in results.images if im.sop_instance_uid]
    if results.study.study_uid and (dicom_images or not results.images):
        study_url = _urn(seed, "study")
        series: dict[str, dict[str, Any]] = {}
        for im in results.images:
            if not (im.series_uid and im.sop_instance_uid):
                continue
            s = series.setdefault(
                im.series_uid,
                {"uid": im.series_uid, "modality": _coding(code("DCM", "US")), "instance": []},
            )
            s["instance"].append(
                {
                    "uid": im.sop_instance_uid,
                    "sopClass": {
                        "system": "urn:ietf:rfc:3986",
                        "code": "urn:oid:" + (im.sop_class_uid or "1.2.840.10008.5.1.4.1.1.6.1"),
                    },
                }
            )
        study: dict[str, Any] = {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": subject,
            "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:" + results.study.study_uid}],
            "modality": [_coding(code("DCM", "US"))],
        }
        if results.study.description:
            study["description"] = results.study.description
        if series:
            study["series"] = list(series.values())
        entries.append({"fullUrl": study_url, "resource": study})

    # an assessment row by site, side, trunk and level: two C5 levels or two trunks of one side are
    # two rows, and an image's CSA takes the limit and verdict of its own row only
    limits: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in dict_rows((results.nerve_assessment or {}).get("measurements", [])):
        _, level = row_nerve_site(row)
        for site in {str(row.get("site")), str(level)}:
            limits[(site, str(row.get("side")), str(row.get("trunk") or ""), _level_of(row))] = row
    observations: list[str] = []

    def add(obs: dict[str, Any], *key: Any) -> None:
        obs.update({"resourceType": "Observation", "status": status, "subject": subject})
        obs["category"] = [{"coding": [_coding(code("HL7-OBS-CATEGORY", "imaging"))]}]
        if study_url:
            obs["derivedFrom"] = [{"reference": study_url}]
        if results.study.date and len(results.study.date) == 10:
            obs["effectiveDateTime"] = results.study.date
        url = _urn(seed, "obs", *key)
        observations.append(url)
        entries.append({"fullUrl": url, "resource": obs})

    judged: set[tuple[str, ...]] = set()  # assessment rows whose CSA an image measurement gives
    for i, m in enumerate(results.measurements):
        if not_applicable(m):  # no Observation: nothing was to be measured (review ws15d N6)
            continue
        ctx = m.context
        trunk = ctx.get("trunk")
        where = " ".join(
            str(x)
            for x in (m.label, ctx.get("site"), ctx.get("side"), trunk and f"{trunk} trunk", ctx.get("level"))
            if x
        )
        text = f"{m.name.replace('_', ' ')}{f' of {where}' if where else ''}"
        concept = measurement_concept(m.name)
        obs: dict[str, Any] = {
            "code": {"text": text, **({"coding": [_coding(concept)]} if concept else {})},
        }
        if m.ok:
            obs["valueQuantity"] = _quantity(float(m.value), m.unit)  # type: ignore[arg-type]
        else:
            # a failed measurement is sent as failed, with its reason, never left out (review ws14c F1)
            obs["dataAbsentReason"] = {
                "coding": [_coding(code("HL7-DATA-ABSENT-REASON", "error"))],
                "text": str(m.failure or "failed"),
            }
        struct = next((s for s in results.structures if s.id == ctx.get("structure")), None)
        kind = struct.kind.value if struct else None
        if kind or where:
            obs["bodySite"] = _with_side(
                {
                    "text": where or (m.label or ""),
                    **({"coding": _site_codings(kind, struct, ctx)} if kind else {}),
                },
                ctx.get("side"),
            )
        lim_row = limits.get(
            (str(ctx.get("site")), str(ctx.get("side")), str(ctx.get("trunk") or ""), _level_of(ctx))
        )
        # the assessment judged the nerve's CSA: its limit belongs to that measurement only (never
        # to the largest fascicle's area, which has the same unit and site)
        if lim_row is not None and m.ok and m.unit == "mm2" and m.name == "area_cross_section":
            obs.update(_limit_fields(lim_row, m.unit))
            judged.add(_row_key(lim_row))
        image = next((im for im in results.images if im.id == ctx.get("image")), None)
        if image is not None and not image.sop_instance_uid:
            from sonomsk.report.dicom_export import non_dicom_source

            source = f"measured on {non_dicom_source(results, image)}, not a DICOM object"
            obs["note"] = [{"text": source}, *obs.get("note", [])]
        add(obs, "m", i)

    a = results.nerve_assessment or {}
    # a CSA the assessment was given without an image measurement (RESULTS built from
    # `sonomsk nerve assess` input): sent as its own Observation, so the indices are never the only
    # nerve values of the bundle
    csa_concept = measurement_concept("area_cross_section")
    assert csa_concept is not None  # codes.json measurement_concepts
    for j, row in enumerate(dict_rows(a.get("measurements", []))):
        csa, site, side = row.get("csa_mm2"), str(row.get("site")), str(row.get("side"))
        if not isinstance(csa, int | float) or isinstance(csa, bool) or _row_key(row) in judged:
            continue
        where = " ".join(
            str(x) for x in (site, side, row.get("trunk") and f"{row['trunk']} trunk", row.get("level")) if x
        )
        obs = {
            "code": {
                "text": f"area cross section of {where} (as entered for the nerve assessment)",
                "coding": [_coding(csa_concept)],
            },
            "valueQuantity": _quantity(float(csa), "mm2"),
            "bodySite": _with_side({"text": where, "coding": _site_codings("nerve", None, row)}, side),
            **_limit_fields(row, "mm2"),
        }
        add(obs, "a", j)
    # sonomsk.nerve.assess: entrapment_indices and side_to_side; other producers: indices
    indices = a.get("indices") or [*(a.get("entrapment_indices") or []), *(a.get("side_to_side") or [])]
    for j, idx in enumerate(dict_rows(indices)):
        if not isinstance(idx.get("value"), int | float):
            continue
        label = str(idx.get("label") or idx.get("name", "index")).replace("_", " ")
        obs = {
            "code": {"text": label + (f" ({idx['side']})" if idx.get("side") else "")},
            "valueQuantity": _quantity(float(idx["value"]), str(idx.get("unit") or "1")),
        }
        abnormal = idx.get("abnormal")
        interp = _interpretation(
            idx.get("status") or ("abnormal" if abnormal else ("normal" if abnormal is False else None))
        )
        if interp:
            obs["interpretation"] = interp
        if idx.get("limit") is not None:
            text = f"limit {idx['limit']}; {idx.get('source') or ''} [{idx.get('evidence') or '?'}]"
            if idx.get("caveat"):
                text += f"; caveat: {idx['caveat']}"
            obs["note"] = [{"text": text}]
        elif idx.get("cutoff") is not None:  # sonomsk.nerve.assess (its short citation has the caveat)
            text = f"abnormal if {idx.get('comparison') or '>'} {idx['cutoff']}"
            src = idx.get("citation_short") or idx.get("source")
            obs["note"] = [{"text": f"{text}; {src}" if src else text}]
        elif idx.get("healthy"):
            obs["note"] = [{"text": str(idx["healthy"])}]
        add(obs, "i", j)

    for k, mu in enumerate(dict_rows((results.muscle or {}).get("muscles", []))):
        if not isinstance(mu.get("z"), int | float):
            continue
        what = " ".join(
            str(x) for x in (mu.get("measure"), "z-score", "of", mu.get("muscle"), mu.get("side")) if x
        )
        obs = {
            "code": {"text": what.replace("_", " ")},
            "valueQuantity": _quantity(float(mu["z"]), "1"),
            "bodySite": _with_side(
                {
                    "text": f"{mu.get('muscle')} {mu.get('side') or ''}".strip(),
                    "coding": [_coding(structure_code("muscle"))],
                },
                mu.get("side"),
            ),
        }
        add(obs, "z", k)

    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "category": [{"coding": [_coding(code("HL7-V2-0074", "RAD"))]}],
        "code": {"coding": [_coding(code("LN", "25061-3"))], "text": "Ultrasound report (sonomsk)"},
        "subject": subject,
        "result": [{"reference": u} for u in observations],
    }
    if study_url:
        report["imagingStudy"] = [{"reference": study_url}]
    if results.study.date and len(results.study.date) == 10:
        report["effectiveDateTime"] = results.study.date
    if results.created:
        report["issued"] = results.created
    conclusion = _conclusion(results)
    if conclusion:
        report["conclusion"] = conclusion
    prev = results.extra.get("supersedes")
    if isinstance(prev, Mapping) and prev.get("report") is not None:
        # a later signed report of the study: a new DiagnosticReport (its own id), which says
        # which earlier one it replaces; the earlier one stays as it was sent
        when = f", signed {prev['signed_at']}" if prev.get("signed_at") else ""
        uid = f" (SR {prev['sop_instance_uid']})" if prev.get("sop_instance_uid") else ""
        report["conclusion"] = " ".join(
            x for x in (f"Replaces report {prev['report']}{when}{uid}.", report.get("conclusion")) if x
        )
    report["identifier"] = [{"system": "urn:ietf:rfc:3986", "value": _urn(seed, "report")}]
    entries.insert(0, {"fullUrl": _urn(seed, "report"), "resource": report})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


#: FHIR core extensions registry (trial use): the side of Observation.bodySite where the code does
#: not carry it (http://hl7.org/fhir/extensions/StructureDefinition-observation-structureLaterality.html)
LATERALITY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/observation-structureLaterality"


def _with_side(body_site: dict[str, Any], side: object) -> dict[str, Any]:
    """``body_site`` with its side coded (SNOMED CT left/right/bilateral of the code table) in the
    laterality extension; unchanged when the side is unknown."""
    sc = side_code(side) if isinstance(side, str) else None
    if sc is None:
        return body_site
    ext = {"url": LATERALITY_EXTENSION, "valueCodeableConcept": {"coding": [_coding(sc)], "text": str(side)}}
    return {"extension": [ext], **body_site}


def _site_codings(kind: str, struct: Any, ctx: Mapping[str, Any]) -> list[dict[str, str]]:
    """The body site codings of a measurement: the structure's kind, and for a nerve at a site of
    the code table the nerve itself (its SNOMED CT code where the table has one, replacing
    "Peripheral nerve"; else the local code beside it, as the SR's finding site; review ws14c F10).
    Level and trunk stay in the text; the side is added by :func:`_with_side`."""
    kind_code = structure_code(kind)
    where = None
    if kind == "nerve":
        from sonomsk.report.dicom_export import _nerve_name

        site = (struct.site if struct is not None else None) or ctx.get("site")
        nerve = ctx.get("nerve") or (_nerve_name(struct, []) if struct is not None else None)
        where = nerve_site(None if site is None else str(site), None if nerve is None else str(nerve))
    if where is None:
        return [_coding(kind_code)]
    if where.nerve.scheme == LOCAL_SCHEME:
        return [_coding(kind_code), _coding(where.nerve)]
    return [_coding(where.nerve)]


def _level_of(row: Mapping[str, Any]) -> str:
    """A row's or a measurement's level, its site's default level when none is given (a C5 root
    with no level is an interscalene one), "" for a site without levels."""
    if row.get("level"):
        return str(row["level"])
    from sonomsk.core.errors import SonomskError
    from sonomsk.nerve.sites import default_level

    try:
        return default_level(str(row.get("site"))) or ""
    except SonomskError:  # a site outside the vocabulary (e.g. "wrist" with a nerve label)
        return ""


def _row_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (str(row.get("site")), str(row.get("side")), str(row.get("trunk") or ""), _level_of(row))


def _limit_fields(lim_row: Mapping[str, Any], unit: str) -> dict[str, Any]:
    """referenceRange, interpretation and note of a CSA from the assessment row that judged it
    (nothing when the row has no limit that was applied)."""
    limit = row_limit(lim_row)
    if limit is None:
        return {}
    nested: Mapping[str, Any] = lim_row["limit"] if isinstance(lim_row.get("limit"), Mapping) else {}
    kind = lim_row.get("limit_kind") or nested.get("kind") or "limit"
    cit = nested.get("citation")
    source = (
        lim_row.get("source")
        or (cit.get("text") if isinstance(cit, Mapping) else cit)
        or nested.get("source")
        or "source not given"
    )
    evidence = (
        lim_row.get("evidence")
        or nested.get("evidence")
        or (cit.get("evidence") if isinstance(cit, Mapping) else None)
    )
    caveat = cit.get("caveat") if isinstance(cit, Mapping) else None
    rng: dict[str, Any] = {
        "high": _quantity(limit, unit),
        "text": f"{kind}; {source}"
        + (f" [{evidence}: {caveat}]" if evidence and caveat else f" [{evidence}]" if evidence else ""),
    }
    low = nested.get("lln_mm2")
    if isinstance(low, int | float) and not isinstance(low, bool):  # a lower limit that was applied
        rng["low"] = _quantity(float(low), unit)
    out: dict[str, Any] = {"referenceRange": [rng]}
    interp = _interpretation(lim_row.get("status"))
    if interp:
        out["interpretation"] = interp
    z = lim_row.get("z", lim_row.get("z_score"))
    ratio = lim_row.get("ratio", lim_row.get("ratio_to_uln"))
    # what the report prints beside the row: the limit's fallback and population notes, and the
    # measurement's own notes (adult limits for a child, borderline, covariates)
    notes = [str(n) for n in (*(nested.get("notes") or ()), *(lim_row.get("notes") or ())) if n]
    notes += [f"z = {z}"] if z is not None else []
    if ratio is not None:
        notes.append(f"ratio to limit = {ratio}")
    if notes:
        out["note"] = [{"text": "; ".join(notes)}]
    return out


def _conclusion(results: StudyResults) -> str | None:
    parts = []
    a = results.nerve_assessment or {}
    if a.get("explanation"):
        parts.append(str(a["explanation"]))
    d = results.differential or {}
    cands = dict_rows(d.get("candidates", []))
    if cands and d.get("separated") is False:
        # the differential says its leaders are not separated: the conclusion says so too, in its
        # own words, and names no single leader (an EHR shows this text on its own)
        parts.append(
            f"Differential (decision support): {d.get('message') or 'the leading candidates are not separated.'}"
        )
    elif cands:
        top = cands[0]
        parts.append(
            f"Leading candidate (decision support): {top.get('name') or top.get('diagnosis') or '?'}."
        )
    if d.get("intended_use"):
        parts.append(f"Intended use: {d['intended_use']}")
    return " ".join(parts) or None


def validate_bundle(data: Mapping[str, Any]) -> Any:
    """Validate a bundle dict with fhir.resources (R4B models); returns the model.

    Raises
    ------
    InvalidParameterError
        When fhir.resources rejects it or a coding is not in the code table.
    """
    from fhir.resources.R4B.bundle import Bundle

    try:
        bundle = Bundle.model_validate(dict(data))
    except Exception as exc:  # pydantic.ValidationError and fhir_core errors
        first = " ".join(str(exc).split())[:300]
        raise InvalidParameterError(f"FHIR bundle: rejected by fhir.resources ({first})") from None
    for coding in _codings(data):
        if "system" in coding and "code" in coding:
            check_coding(coding["system"], coding["code"], coding.get("display"))
    return bundle


def _codings(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k in ("coding", "modality") and isinstance(v, list):
                found.extend(dict(c) for c in v if isinstance(c, Mapping) and "code" in c)
            elif k == "modality" and isinstance(v, Mapping):
                found.append(dict(v))
            found.extend(_codings(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(_codings(v))
    return found


def write_fhir(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    deidentify_key: str | None = None,
) -> Path:
    """Write the FHIR R4 Bundle (DiagnosticReport with Observations) as JSON; validated first."""
    r = as_results(results)
    if deidentify_key is not None:
        from sonomsk.report.deid import deidentify_results

        r = deidentify_results(r, deidentify_key)
    data = bundle_dict(r)
    validate_bundle(data)
    out = Path(path)
    out.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return out
