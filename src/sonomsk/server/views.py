"""Read-side views of the store for the web API (plain dicts, JSON-ready)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import Path as PathParam
from fastapi import Query

from sonomsk.core.errors import InvalidParameterError, StoreError
from sonomsk.store.db import Store
from sonomsk.store.models import Analysis, Instance, Report, Study
from sonomsk.store.repository import study_and_analyses

#: A database id in a URL path: a non-negative 64-bit integer (a larger one would overflow the
#: database driver and answer 500; FastAPI answers 422 instead).
DbId = Annotated[int, PathParam(ge=0, le=2**63 - 1, description="database id")]
#: A database id in a query string, with the same bounds.
DbIdQuery = Annotated[int, Query(ge=0, le=2**63 - 1, description="database id")]
#: A frame number in a URL path (0-based).
FrameNo = Annotated[int, PathParam(ge=0, le=2**31 - 1, description="frame number, 0-based")]


def _instance_dict(inst: Instance) -> dict[str, Any]:
    return {
        "id": inst.id,
        "sop_uid": inst.sop_uid,
        "label": inst.original_name,
        "format": inst.file_format,
        "rows": inst.rows,
        "columns": inst.columns,
        "frames": inst.frames,
        "channels": inst.channels,
        "calibrated": inst.calibrated,
        "regions": inst.info.get("regions", []),
        "frame_time_s": inst.info.get("frame_time_s"),
        "warnings": inst.info.get("warnings", []),
        "site": inst.site,
        "side": inst.side,
        "level": inst.level,
        "trunk": inst.trunk,
    }


def _analysis_dict(a: Analysis) -> dict[str, Any]:
    return {
        "id": a.id,
        "instance_id": a.instance_id,
        "kind": a.kind,
        "method_version": a.method_version,
        "created_at": a.created_at.isoformat() if a.created_at else None,
        "result": a.result,
        "measurements": [
            {
                "id": m.id,
                "name": m.name,
                "unit": m.unit,
                "label": m.label,
                "auto_value": m.auto_value,
                "corrected_value": m.corrected_value,
                "value": m.value,
                "corrected_by": m.corrected_by,
                "failure": m.failure,
                "corrected_failure": m.corrected_failure,
            }
            for m in a.measurements
        ],
        "structures": [
            {
                "id": s.id,
                "label": s.label,
                "kind": s.kind,
                "frame": s.frame,
                "auto_points": s.auto_points,
                "corrected_points": s.corrected_points,
                "points": s.corrected_points or s.auto_points,
                "corrected_by": s.corrected_by,
                "accepted": s.accepted,
            }
            for s in a.structures
        ],
    }


def age_at(birth_date: str | None, study_date: str | None) -> int | None:
    """Whole years between a birth date and a study date (DICOM DA or ISO), or None when either is
    missing, unreadable or the birth is after the study."""
    import datetime as dt
    import re

    def parse(value: str | None) -> dt.date | None:
        digits = re.sub(r"\D", "", value or "")
        if len(digits) != 8:
            return None
        try:
            return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            return None

    born, seen = parse(birth_date), parse(study_date)
    if born is None or seen is None or born > seen:
        return None
    return seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))


def study_detail(store: Store, study_id: int) -> dict[str, Any]:
    """The study with its images, analyses and reports, and ``assessment_id``: the analysis that
    is the study's nerve assessment now (None when never assessed or withdrawn), so a client
    asks for ``/assessment`` only when there is one."""
    from sqlalchemy import select

    from sonomsk.server.workflow_nerve import current_assessment

    with store.sessions() as session:
        study, analyses = study_and_analyses(session, study_id)
        assessment = current_assessment(analyses)
        reports = session.scalars(select(Report).where(Report.study_id == study_id).order_by(Report.id)).all()
        return {
            "id": study.id,
            "study_uid": study.study_uid,
            "date": study.study_date,
            "description": study.description,
            "patient": {
                "key": study.patient.patient_key,
                "name": study.patient.name,
                "sex": study.patient.sex,
                "birth_date": study.patient.birth_date,
                # for the assessment form: the age the study was made at (review ws15b F4)
                "age_at_study": age_at(study.patient.birth_date, study.study_date),
            },
            "other_studies": other_studies(session, study),
            "series": [
                {
                    "id": se.id,
                    "series_uid": se.series_uid,
                    "description": se.description,
                    "instances": [_instance_dict(i) for i in se.instances],
                }
                for se in study.series
            ],
            "analyses": [_analysis_dict(a) for a in analyses],
            "assessment_id": assessment.id if assessment is not None else None,
            "reports": [
                {
                    "id": r.id,
                    "status": r.status,
                    "signed_by": r.signed_by,
                    "has_pdf": r.pdf_sha256 is not None,
                }
                for r in reports
            ],
        }


def other_studies(session: Any, study: Study) -> list[dict[str, Any]]:
    """The patient's other studies for the "other study" (baseline or follow-up) choice, by
    study date, newest first (undated last, then the latest stored first): from the patient, not
    from whatever the study list's search shows. None for files without a patient identifier,
    whose stored key joins nobody's studies (decision 015; ``UNKNOWN`` of older versions)."""
    from sqlalchemy import select

    from sonomsk.store.repository import unidentified_key

    if unidentified_key(study.patient.patient_key):
        return []
    rows = session.execute(
        select(Study.id, Study.study_date, Study.description).where(
            Study.patient_id == study.patient_id, Study.id != study.id
        )
    ).all()
    rows.sort(key=lambda r: (r.study_date or "", r.id), reverse=True)
    return [{"id": r.id, "date": r.study_date, "description": r.description} for r in rows]


def instance_detail(store: Store, instance_id: int) -> dict[str, Any]:
    with store.sessions() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise StoreError(f"instance {instance_id}: not found")
        d = _instance_dict(inst)
        d["study_id"] = inst.series.study_id
        return d


def to_display_uint8(frame: np.ndarray) -> np.ndarray:
    """A frame as 8-bit for display (16-bit data stretched between its 0.5 and 99.5 percentiles)."""
    if frame.dtype == np.uint8:
        return frame
    f = frame.astype(np.float32)
    lo, hi = np.percentile(f, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1
    return (np.clip((f - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def render_frame_png(load: Callable[[str], Any], store: Store, instance_id: int, frame: int) -> bytes:
    import cv2

    with store.sessions() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise StoreError(f"instance {instance_id}: not found")
        sha, n = inst.sha256, inst.frames
    if not 0 <= frame < n:
        raise InvalidParameterError(f"frame: expected 0..{n - 1}, got {frame}")
    image = load(sha)
    pixels = to_display_uint8(image.frame(frame))
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover
        raise StoreError(f"instance {instance_id}: frame {frame} could not be encoded")
    return bytes(buf.tobytes())
