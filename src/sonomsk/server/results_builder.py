"""Build a study's RESULTS (:class:`sonomsk.report.results.StudyResults`) from the store.

Images are the study's stored instances (their blob path, UIDs and calibration); structures are
the nerve outlines (the corrected outline when corrected); measurements carry the corrected value
when corrected, with the automatic value and the corrector in their provenance; the nerve
assessment and the differential are those of the latest stored assessment of the study, as they
were stored: the full ``sonomsk.nerve.assess`` dict and the full
``sonomsk.knowledge.differential.rank(...).to_dict()``, the same shape as
:func:`sonomsk.report.assemble.assemble_study` gives. An assessment that no longer describes
the study (an outline, site or side changed since; ``workflow_nerve.latest_assessment``) is
refused with the reason, never put in a report (decision 012).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sonomsk import __version__
from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Measurement, Method
from sonomsk.report.results import UNIDENTIFIED_LOGINS
from sonomsk.store.db import Store

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"

#: The names the workstation gives requests without a person behind them: "local" (no sign-in,
#: server.app.RequestGuard) and "token" (the shared bearer token, server.auth). A report signed
#: by one of them records that no identified person signed it (review ws14c F6).
UNIDENTIFIED_ACTORS = UNIDENTIFIED_LOGINS
#: The prefix of the store's placeholder patient key of a file without a Patient ID (decision
#: 015): a store key, never written into RESULTS as the patient's identifier (review ws14c F7).
PLACEHOLDER_PATIENT_PREFIX = "UNIDENTIFIED-"


def _study_header(store: Store, instances: list[Any]) -> dict[str, str | None]:
    """Study-level attributes the RESULTS schema carries that the store does not keep, from the
    first stored DICOM image of the study that has them: institution and referring physician
    (review ws14c F6: the SR repeats the images' study attributes)."""
    import pydicom

    found: dict[str, str | None] = {"institution": None, "referring": None}
    for inst in instances:
        if str(inst.file_format).upper() != "DICOM":
            continue
        try:
            ds = pydicom.dcmread(
                store.blobs.open_path(inst.sha256),
                stop_before_pixels=True,
                specific_tags=["SpecificCharacterSet", "InstitutionName", "ReferringPhysicianName"],
            )
        except Exception:  # the stored file was read when it came in; a header this fails on has none
            continue
        for key, keyword in (("institution", "InstitutionName"), ("referring", "ReferringPhysicianName")):
            value = str(ds.get(keyword) or "").strip()
            if value and found[key] is None:
                found[key] = value
        if all(found.values()):
            break
    return found


def _iso_date(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 8:
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return value or None


def _spacing(info: dict[str, Any]) -> tuple[float, float] | None:
    """The (row, col) mm spacing of the image's calibrated tissue region(s), when they agree."""
    found = {
        tuple(float(v) for v in r["spacing_mm"])
        for r in info.get("regions", [])
        if r.get("kind") == "tissue" and r.get("spacing_mm")
    }
    if len(found) != 1:
        return None
    sp = next(iter(found))
    return (sp[0], sp[1])


def structure_label(site: str) -> str:
    """A display label for the nerve at ``site``: ``median nerve``, ``C5 root``, ``brachial plexus``."""
    from sonomsk.nerve.sites import site_info

    info = site_info(site)
    if info.fibres == "root":
        return f"{info.nerve.upper()} root"
    if info.fibres == "plexus":
        return info.nerve.replace("_", " ")
    return f"{info.nerve} nerve"


def _series_uid(inst: Any) -> str:
    return str(inst.series.series_uid)


def _measurement(row: Any, context: dict[str, Any]) -> Measurement:
    data = dict(row.data or {})
    method = data.get("method") or {"function": "unknown", "version": "unknown"}
    prov = dict(data.get("provenance") or {})
    value = row.value
    if row.corrected_value is not None:
        prov.update(
            {
                "auto_value": row.auto_value,
                "corrected_by": row.corrected_by,
                "corrected_at": row.corrected_at.isoformat() if row.corrected_at else None,
            }
        )
        other = data.get("auto_other_unit")
        if row.auto_value is None and isinstance(other, dict):
            # a correction that took the outline out of (or back into) its calibrated region is
            # stored apart in its own unit; the automatic value is the corrected outline's, in
            # that outline's unit (review ws15d N1)
            prov["auto_value"] = other.get("value")
            prov["auto_unit"] = other.get("unit")
            if other.get("failure"):
                prov["auto_failure"] = other.get("failure")
    failure = None if value is not None else (row.failure or "no value")
    return Measurement(
        name=row.name,
        value=value,
        unit=row.unit if value is not None else data.get("unit", row.unit),
        method=Method(**method),
        label=row.label,
        context={**dict(data.get("context") or {}), **context},
        provenance=prov,
        uncertainty=data.get("uncertainty"),
        failure=failure,
    )


def build_results(
    store: Store, study_id: int, *, signed_by: str | None = None, for_record: bool = False
) -> dict[str, Any]:
    """The RESULTS of a study as a JSON-ready dict (validated through ``StudyResults``).

    ``signed_by`` marks the results as signed by that person now; otherwise a draft.
    ``for_record``: the results become a stored report (a draft or signed): an image whose
    outlines still await a choice is refused with the reason (a preview shows them, marked).
    """

    from sonomsk.report.results import StudyResults
    from sonomsk.server.workflow_nerve import (
        KIND_ASSESSMENT,
        KIND_OUTLINE,
        KIND_WITHDRAWN,
        check_current,
        current_assessment,
        image_outline,
        latest_assessment,
    )
    from sonomsk.store.models import Instance
    from sonomsk.store.repository import study_and_analyses

    with store.sessions() as session:
        study, analyses = study_and_analyses(session, study_id)
        outlined = {a.instance_id for a in analyses if a.kind == KIND_OUTLINE}
        images, image_ids = [], {}
        non_dicom: dict[str, dict[str, str]] = {}
        for se in study.series:
            for inst in se.instances:
                iid = f"img{inst.id}"
                # a PNG, JPEG, TIFF or video has no DICOM identity: the store's key for it (a UID
                # made from its content) names no object an archive holds, so RESULTS gives no
                # SOP/series UID and names the file by its format and sha256 (review ws14c F3)
                dicom = str(inst.file_format).upper() == "DICOM"
                if not dicom:
                    non_dicom[iid] = {"format": str(inst.file_format), "sha256": str(inst.sha256)}
                image_ids[inst.id] = iid
                where = (
                    inst.site,
                    inst.side,
                    inst.trunk and f"{inst.trunk} trunk",
                    inst.level and inst.level.replace("_", " "),
                )
                desc = ", ".join(x for x in where if x) or inst.original_name or iid
                images.append(
                    {
                        "id": iid,
                        "path": str(store.blobs.open_path(inst.sha256)),
                        "sop_instance_uid": inst.sop_uid if dicom else None,
                        "sop_class_uid": (US_MULTIFRAME_STORAGE if inst.frames > 1 else US_IMAGE_STORAGE)
                        if dicom
                        else None,
                        "study_uid": study.study_uid,
                        "series_uid": _series_uid(inst) if dicom else None,
                        "rows": inst.rows,
                        "cols": inst.columns,
                        "spacing_mm": _spacing(inst.info or {}),
                        "frame": 0,
                        "n_frames": inst.frames,
                        "frame_time_s": (inst.info or {}).get("frame_time_s"),
                        "description": desc,
                        "key": inst.id in outlined,
                    }
                )
        structures: list[dict[str, Any]] = []
        measurements: list[dict[str, Any]] = []
        methods: dict[str, str] = {}
        # the report shows the outline that gives each image's CSA (image_outline, decision
        # 008); an image whose outlines await a choice shows them all, each saying so
        by_image: dict[int, list[Any]] = {}
        for a in analyses:
            if a.kind == KIND_OUTLINE and a.instance_id is not None:
                by_image.setdefault(int(a.instance_id), []).append(a)
        shown: set[int] = set()
        undecided: dict[int, str] = {}
        for instance_id, outs in by_image.items():
            used, why = image_outline(outs)
            if used is not None:
                shown.add(int(used.id))
                continue
            if for_record:
                raise InvalidParameterError(
                    f"study {study_id}: image {image_ids.get(instance_id, instance_id)}: {why} before making a "
                    "report (the report would hold every candidate as a CSA)"
                )
            shown.update(int(a.id) for a in outs)
            undecided.update({int(a.id): str(why) for a in outs})
        for a in analyses:
            if a.kind in (KIND_ASSESSMENT, KIND_WITHDRAWN):  # decided below, as latest_assessment does
                continue
            methods[a.kind] = a.method_version
            if a.kind != KIND_OUTLINE or a.instance_id not in image_ids or int(a.id) not in shown:
                continue
            inst = session.get(Instance, a.instance_id)
            inst_site, inst_side = (inst.site, inst.side) if inst is not None else (None, None)
            inst_trunk, inst_level = (inst.trunk, inst.level) if inst is not None else (None, None)
            for s in a.structures:
                sid = f"s{s.id}"
                label = structure_label(inst_site) if inst_site else s.label
                if int(a.id) in undecided:  # no outline chosen yet: none of them gives the CSA
                    label += f" (not used for the CSA: {undecided[int(a.id)]})"
                structures.append(
                    {
                        "id": sid,
                        "image": image_ids[a.instance_id],
                        "label": label,
                        "kind": "nerve",
                        "frame": s.frame,
                        "contour": s.corrected_points or s.auto_points,
                        "site": inst_site,
                        "side": inst_side,
                    }
                )
                ctx = {
                    "structure": sid,
                    "image": image_ids[a.instance_id],
                    "frame": s.frame,
                    "site": inst_site,
                    "side": inst_side,
                    "outline": "corrected" if s.corrected_points else "automatic",
                    # a root's or vagus's level and a plexus trunk: the SR and exports name them
                    # (clinical-evidence.md 1.3: the protocol is stored with every plexus value)
                    **{k: v for k, v in (("trunk", inst_trunk), ("level", inst_level)) if v},
                }
                measurements.extend(_measurement(m, ctx).to_dict() for m in a.measurements)
        last_assessment = current_assessment(analyses)
        if last_assessment is not None:  # its method is listed only if it is the one reported
            methods[KIND_ASSESSMENT] = last_assessment.method_version
        patient = study.patient
        header = _study_header(store, [i for se in study.series for i in se.instances])
        key = patient.patient_key or ""
        results: dict[str, Any] = {
            "schema": "sonomsk.study-results",
            "schema_version": 1,
            "study": {
                "study_uid": study.study_uid,
                "accession": study.accession,
                "date": _iso_date(study.study_date),
                "description": study.description,
                "institution": header["institution"],
                "referring": header["referring"],
            },
            "patient": {
                "name": patient.name,
                # the images' Patient ID: the store's placeholder for none is no identifier
                "id": None if key.startswith(PLACEHOLDER_PATIENT_PREFIX) else (key or None),
                "birth_date": _iso_date(patient.birth_date),
                "sex": patient.sex,
                "pseudonymised": bool(patient.pseudonymised),
            },
            "images": images,
            "structures": structures,
            "measurements": measurements,
            "methods": [{"name": "sonomsk", "version": __version__}]
            + [{"name": kind, "version": mv} for kind, mv in methods.items()],
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "software_version": __version__,
        }
        if non_dicom:
            results["extra"] = {"non_dicom_images": non_dicom}
        used = None if last_assessment is None else int(last_assessment.id)
        withdrawals = [a for a in analyses if a.kind == KIND_WITHDRAWN]
        if last_assessment is None and withdrawals:
            # the report says that an assessment was made and withdrawn (kept on record in the
            # store), without the time or the actor: both would survive a de-identified copy
            reasons = (max(withdrawals, key=lambda a: int(a.id)).result or {}).get("stale_reasons") or []
            results["extra"] = {
                **results.get("extra", {}),
                "nerve_assessment_withdrawn": "a nerve assessment was made and then withdrawn by the clinician"
                + (f" (it was out of date: {'; '.join(str(r) for r in reasons)})" if reasons else "")
                + "; this report has no nerve assessment",
            }
        if last_assessment is not None:
            # the same shape as ``sonomsk demo`` (report.assemble): the full assess and rank dicts
            results["nerve_assessment"] = assessment = last_assessment.result.get("assessment")
            # named as the report names images (site, side: image id), never by the uploaded
            # file's name, which may carry the patient's (and is kept out of de-identified copies)
            described = {im["id"]: im["description"] for im in images}
            left_out = [
                f"{described.get(image_ids.get(i.get('instance_id')), i.get('site'))} "
                f"(image {image_ids.get(i.get('instance_id'), '?')}): {i.get('reason')}"
                for i in last_assessment.result.get("images") or ()
                if i.get("site") and not i.get("usable") and i.get("reason")
            ]
            if assessment is not None and left_out:  # why an outlined image has no row
                results["nerve_assessment"] = {**assessment, "images_not_assessed": left_out}
            diff = last_assessment.result.get("differential")
            if diff:
                results["differential"] = diff
    # checked after the build, so that a change made while it ran is caught too (decision 012)
    latest = latest_assessment(store, study_id)
    if (None if latest is None else int(latest["analysis_id"])) != used:
        raise InvalidParameterError(
            f"study {study_id}: the nerve assessment changed while the results were built: try again"
        )
    check_current(latest, study_id)
    if signed_by:
        from sonomsk.report.results import UNIDENTIFIED_SIGNER_NOTE

        results["signoff"] = {
            "state": "signed",
            "by": signed_by,
            "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        }
        if signed_by in UNIDENTIFIED_ACTORS:
            results["signoff"]["note"] = (
                f"{UNIDENTIFIED_SIGNER_NOTE} (workstation user {signed_by!r}: no sign-in names the person)"
            )
    return StudyResults.from_dict(results).to_dict()
