"""Store operations: import, analyses, corrections, reports, search. Each is one transaction.

A crash in the middle of an import loses nothing already committed and leaves no half record:
the file goes into the content-addressed blob folder first (harmless if orphaned), then every
database row of the import is written in a single transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomsk.core.errors import ConflictError, CorruptDataError, SonomskError, StoreError
from sonomsk.core.results import MeasurementSet
from sonomsk.store.blobs import sha256_file
from sonomsk.store.db import Store
from sonomsk.store.models import (
    Analysis,
    AuditLog,
    FindingRow,
    Instance,
    MeasurementRow,
    Patient,
    ProcedureRecord,
    Report,
    Series,
    StructureRow,
    Study,
)


@dataclass(frozen=True)
class ImportResult:
    instance_id: int
    study_id: int
    sop_uid: str
    sha256: str
    created: bool


def _uid_from_digest(digest: str) -> str:
    """A DICOM UID under the 2.25 root, derived from a hex digest (same content, same UID)."""
    return "2.25." + str(int(digest[:30], 16))


def _header(path: Path) -> dict[str, Any]:
    """Patient/study/series identity from a DICOM header (empty for other formats)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:
        return {}

    def get(keyword: str) -> str | None:
        value = ds.get(keyword)
        text = str(value).strip() if value is not None else ""
        return text or None

    head = {
        "patient_id": get("PatientID"),
        "patient_name": get("PatientName"),
        "birth_date": get("PatientBirthDate"),
        "sex": get("PatientSex"),
        "study_uid": get("StudyInstanceUID"),
        "study_date": get("StudyDate"),
        "study_description": get("StudyDescription"),
        "accession": get("AccessionNumber"),
        "series_uid": get("SeriesInstanceUID"),
        "series_description": get("SeriesDescription"),
        "modality": get("Modality"),
        "sop_uid": get("SOPInstanceUID"),
    }
    # an identifier cut short could name another object (another patient): refused, never cut
    for key in ("study_uid", "series_uid", "sop_uid", "patient_id"):
        uid = head[key]
        if uid is not None and len(uid) > _HEADER_LIMITS[key]:
            raise CorruptDataError(
                f"{path.name}: {key} has {len(uid)} characters; at most {_HEADER_LIMITS[key]} can be stored "
                "(DICOM allows 64)"
            )
    # text beyond what the standard allows (seen in real files) is cut to the store's columns,
    # which every database then accepts (PostgreSQL refuses longer text, SQLite would keep it)
    return {k: v[: _HEADER_LIMITS[k]] if isinstance(v, str) else v for k, v in head.items()}


#: The store's column length for each header field (store/models.py).
_HEADER_LIMITS = {
    "patient_id": 128,
    "patient_name": 256,
    "birth_date": 16,
    "sex": 8,
    "study_uid": 64,
    "study_date": 16,
    "study_description": 256,
    "accession": 64,
    "series_uid": 64,
    "series_description": 256,
    "modality": 16,
    "sop_uid": 64,
}


def audit(session: Any, actor: str, action: str, entity: str, entity_id: int | None, **detail: Any) -> None:
    """Add an audit row (no patient identifiers in ``detail``)."""
    session.add(AuditLog(actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail))


def import_file(
    store: Store,
    path: str | Path,
    *,
    actor: str = "system",
    original_name: str | None = None,
    study_uid: str | None = None,
    site: str | None = None,
    side: str | None = None,
    into_study: int | None = None,
) -> ImportResult:
    """Check ``path`` with :func:`sonomsk.read`, then store it once (by SOP Instance UID or content).

    Raises the reader's error (a :class:`SonomskError`) for anything that is not a readable
    ultrasound image; nothing is stored then.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    import sonomsk

    p = Path(path)
    image = sonomsk.read(p)  # content check; raises a one-line SonomskError on bad input
    target = _study_identity(store, into_study) if into_study is not None else None  # before storing
    head = _header(p) if image.metadata.get("format", "").upper() == "DICOM" else {}
    digest = sha256_file(p)  # the blob itself is stored only once the database takes the file
    sop_uid = head.get("sop_uid") or image.provenance.sop_instance_uid or _uid_from_digest(digest)
    patient_key = head.get("patient_id") or ""
    joined = not patient_key and into_study is not None  # put by the user into another study
    anonymous = not patient_key and into_study is None  # no identity, no study named for it
    if target is not None and not patient_key:  # the user put it into that study
        patient_key, study_uid = target
    elif not patient_key:
        # no patient identity (a still image, a video, an anonymous DICOM): never merged with
        # another unidentified upload, which may be another patient. An anonymous DICOM keeps the
        # exam its StudyInstanceUID names (its images share one unidentified patient keyed by that
        # UID); a file without one gets a patient and study of its own, keyed by its content
        own_key = head.get("study_uid") or digest
        patient_key = f"UNIDENTIFIED-{hashlib.sha256(own_key.encode()).hexdigest()[:12]}"
    s_uid = (
        study_uid
        or head.get("study_uid")
        or _uid_from_digest(hashlib.sha256(f"study:{patient_key}".encode()).hexdigest())
    )
    se_uid = None if joined else head.get("series_uid")  # joined: a series of that study
    se_uid = se_uid or _uid_from_digest(hashlib.sha256(f"series:{s_uid}".encode()).hexdigest())
    info = {
        "format": image.metadata.get("format"),
        "photometric": image.photometric,
        "frame_time_s": image.frame_time_s,
        "regions": _regions_info(image),
        "warnings": list(image.warnings),
    }
    for attempt in range(2):
        with store.sessions() as session:
            existing = session.scalars(select(Instance).where(Instance.sop_uid == sop_uid)).first()
            if existing is not None:
                if existing.sha256 != digest and not _same_image(store, existing, image, head):
                    # one SOP Instance UID, another patient or other pixels: never answered
                    # "already stored" (decision 015); the same image in other bytes (another
                    # transfer syntax or file meta, a resend through the DICOM node) is
                    raise ConflictError(
                        f"{original_name or p.name}: its SOP Instance UID is already stored with other "
                        "content (another image, or this image changed since); not stored (check the "
                        "file's identifiers)"
                    )
                return ImportResult(existing.id, existing.series.study_id, sop_uid, existing.sha256, False)
            session.rollback()  # end the read transaction the query above began (SQLAlchemy 2.1)
            try:
                with session.begin():
                    study = session.scalars(select(Study).where(Study.study_uid == s_uid)).first()
                    if study is not None and anonymous and unidentified_key(study.patient.patient_key):
                        # an anonymous exam stored before (by an older version too): its patient
                        patient = study.patient
                    else:
                        patient = session.scalars(
                            select(Patient).where(Patient.patient_key == patient_key)
                        ).first()
                        if patient is None:
                            patient = Patient(
                                patient_key=patient_key,
                                name=head.get("patient_name"),
                                birth_date=head.get("birth_date"),
                                sex=head.get("sex"),
                            )
                            session.add(patient)
                            session.flush()
                    if study is not None and study.patient_id != patient.id:
                        # one study UID, two patients: a fault of the data; never merge patients
                        raise ConflictError(
                            f"{original_name or p.name}: its study UID is already stored for another "
                            "patient; not stored (check the file's patient and study identifiers)"
                        )
                    if study is None:
                        study = Study(
                            study_uid=s_uid,
                            patient_id=patient.id,
                            study_date=head.get("study_date"),
                            description=head.get("study_description"),
                            accession=head.get("accession"),
                        )
                        session.add(study)
                        session.flush()
                    series = session.scalars(select(Series).where(Series.series_uid == se_uid)).first()
                    if series is not None and series.study_id != study.id:
                        raise ConflictError(
                            f"{original_name or p.name}: its series UID is already stored in another "
                            "study; not stored (check the file's study and series identifiers)"
                        )
                    if series is None:
                        series = Series(
                            series_uid=se_uid,
                            study_id=study.id,
                            modality=head.get("modality") or "US",
                            description=head.get("series_description"),
                        )
                        session.add(series)
                        session.flush()
                    if store.blobs.put_file(p) != digest:  # stored here: a refusal leaves no file behind
                        raise StoreError(
                            f"{original_name or p.name}: the file changed while it was stored; not stored"
                        )
                    inst = Instance(
                        sop_uid=sop_uid,
                        series_id=series.id,
                        sha256=digest,
                        file_format=str(image.metadata.get("format", "unknown")),
                        original_name=(original_name or p.name)[:256],
                        rows=image.rows,
                        columns=image.columns,
                        frames=image.n_frames,
                        channels=image.channels,
                        calibrated=image.calibrated,
                        info=info,
                        site=site,
                        side=side,
                    )
                    session.add(inst)
                    session.flush()
                    audit(session, actor, "import", "instance", inst.id, sha256=digest)
                    return ImportResult(inst.id, study.id, sop_uid, digest, True)
            except IntegrityError:
                if attempt:  # lost a race twice: something else is wrong
                    raise StoreError(
                        f"{p.name}: could not be stored (conflicting concurrent import)"
                    ) from None
    raise StoreError(f"{p.name}: could not be stored")  # pragma: no cover


def _regions_info(image: Any) -> list[dict[str, Any]]:
    """The image's regions as an instance stores them (``info["regions"]``)."""
    return [
        {
            "box": list(r.box),
            "kind": r.kind.value,
            "spacing_mm": list(r.spacing_mm) if r.spacing_mm else None,
        }
        for r in image.regions
    ]


def _same_image(store: Store, existing: Instance, image: Any, head: dict[str, Any]) -> bool:
    """Whether a file whose SOP Instance UID is stored, in other bytes, is the stored image: the
    same patient identifier (a file without one, such as an anonymised copy or one put into a study
    by the user, is not compared), the same calibration regions and the same pixels, frame by
    frame."""
    import numpy as np

    import sonomsk

    new_key = head.get("patient_id") or ""
    if new_key and new_key != str(existing.series.study.patient.patient_key):
        return False
    if _regions_info(image) != (existing.info or {}).get("regions"):
        return False  # another calibration: measurements from it would differ
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the stored file's warnings were given when it came in
            old = sonomsk.read(store.blobs.open_path(existing.sha256))
    except SonomskError:
        return False
    if old.shape != image.shape:
        return False
    return all(np.array_equal(old.frames.get(i), image.frames.get(i)) for i in range(image.n_frames))


def unidentified_key(key: str) -> bool:
    """Whether a stored patient key is one given to files without a patient identifier (this
    version's ``UNIDENTIFIED-...``, or the single ``UNKNOWN`` of versions before decision 015)."""
    return key == "UNKNOWN" or key.startswith("UNIDENTIFIED-")


def _study_identity(store: Store, study_id: int) -> tuple[str, str]:
    """(patient key, study UID) of the stored study ``study_id``; StoreError when there is none."""
    with store.sessions() as session:
        study = session.get(Study, study_id)
        if study is None:
            raise StoreError(f"study {study_id}: not found (the upload was not stored)")
        return str(study.patient.patient_key), str(study.study_uid)


def record_analysis(
    store: Store,
    *,
    study_id: int,
    instance_id: int | None,
    kind: str,
    method_version: str,
    measurements: MeasurementSet,
    structures: Sequence[dict[str, Any]] = (),
    result: dict[str, Any] | None = None,
    actor: str = "system",
) -> int:
    """Store one analysis with its measurements, findings and outlines; returns its id."""
    with store.sessions() as session, session.begin():
        analysis = Analysis(
            study_id=study_id,
            instance_id=instance_id,
            kind=kind,
            method_version=method_version,
            result=result or {},
        )
        session.add(analysis)
        session.flush()
        for m in measurements.measurements:
            session.add(
                MeasurementRow(
                    analysis_id=analysis.id,
                    name=m.name,
                    unit=m.unit,
                    label=m.label,
                    auto_value=m.value,
                    auto_failure=m.failure,
                    data=m.to_dict(),
                )
            )
        for f in measurements.findings:
            session.add(
                FindingRow(analysis_id=analysis.id, rule_id=f.rule_id, outcome=f.outcome, data=f.to_dict())
            )
        for s in structures:
            session.add(
                StructureRow(
                    analysis_id=analysis.id,
                    label=str(s["label"]),
                    kind=str(s.get("kind", "nerve")),
                    frame=int(s.get("frame", 0)),
                    auto_points=[list(map(float, pt)) for pt in s["points"]],
                    accepted=bool(s.get("accepted", False)),
                )
            )
        audit(session, actor, "analyse", "analysis", analysis.id, kind=kind)
        return int(analysis.id)


def correct_measurement(store: Store, measurement_id: int, value: float, *, actor: str) -> None:
    """Keep the automatic value; set the corrected value with who and when."""
    import math

    if not math.isfinite(value):
        raise StoreError(f"corrected value: expected a finite number, got {value}")
    with store.sessions() as session, session.begin():
        row = session.get(MeasurementRow, measurement_id)
        if row is None:
            raise StoreError(f"measurement {measurement_id}: not found")
        old = row.corrected_value
        row.corrected_value = float(value)
        row.corrected_failure = None  # a corrected value replaces a corrected failure
        row.corrected_by = actor
        row.corrected_at = dt.datetime.now(dt.UTC)
        audit(
            session,
            actor,
            "correct",
            "measurement",
            measurement_id,
            old=old,
            new=float(value),
            auto=row.auto_value,
        )


def correct_structure(
    store: Store, structure_id: int, points: Sequence[Sequence[float]], *, actor: str
) -> None:
    """Store a corrected outline (the automatic one is kept)."""
    pts = [[float(a), float(b)] for a, b in points]
    if len(pts) < 3:
        raise StoreError(f"outline: expected at least 3 points, got {len(pts)}")
    with store.sessions() as session, session.begin():
        row = session.get(StructureRow, structure_id)
        if row is None:
            raise StoreError(f"structure {structure_id}: not found")
        row.corrected_points = pts
        row.corrected_by = actor
        row.corrected_at = dt.datetime.now(dt.UTC)
        audit(session, actor, "correct", "structure", structure_id, n_points=len(pts))


def outline_row(session: Any, structure_id: int, kind: str) -> StructureRow:
    """The structure ``structure_id`` of an image analysis of ``kind``, within an open session."""
    from sonomsk.core.errors import InvalidParameterError

    row = session.get(StructureRow, structure_id)
    if row is None:
        raise StoreError(f"structure {structure_id}: not found")
    if row.analysis.kind != kind or row.analysis.instance_id is None:
        raise InvalidParameterError(f"structure {structure_id}: not a {kind} outline of an image")
    return row


def correct_outline(
    store: Store,
    structure_id: int,
    points: Sequence[Sequence[float]],
    measurements: MeasurementSet,
    *,
    kind: str,
    actor: str,
) -> list[str]:
    """Store a corrected outline and the measures recomputed from it, in one transaction.

    Every measurement of the outline's analysis gets a corrected state: the recomputed value
    (matched by name and label), or, where the measure failed on the corrected outline, was not
    recomputed or came in another unit, a corrected failure (``value`` None, ``failure`` the new
    reason), never the number of the previous outline. The outline is marked ``accepted`` (the
    clinician chose it) and the image's other outlines of ``kind`` lose that mark. The automatic points and values are kept. Nothing is written when any
    step fails. Returns ``"name: reason"`` for each measure corrected to a failure.
    """
    import math

    pts = [[float(a), float(b)] for a, b in points]
    if len(pts) < 3:
        raise StoreError(f"outline: expected at least 3 points, got {len(pts)}")
    new = {(m.name, m.label): m for m in measurements.measurements}
    failed: list[str] = []
    now = dt.datetime.now(dt.UTC)
    with store.sessions() as session, session.begin():
        row = outline_row(session, structure_id, kind)
        row.corrected_points = pts
        row.corrected_by = actor
        row.corrected_at = now
        others = _accept_only(session, row, kind)  # correcting an outline chooses it (decision 008)
        audit(session, actor, "correct", "structure", structure_id, n_points=len(pts), unaccepted=others)
        for mrow in row.analysis.measurements:
            m = new.get((mrow.name, mrow.label))
            old = mrow.value
            value: float | None = None
            reason: str | None = None
            if m is None:
                reason = "not recomputed from the corrected outline"
            elif m.value is None or not math.isfinite(float(m.value)):
                reason = m.failure or "no value on the corrected outline"
            elif m.unit != mrow.unit:
                reason = f"the corrected outline is measured in {m.unit}, not {mrow.unit}"
            else:
                value = float(m.value)
            mrow.corrected_value = value
            mrow.corrected_failure = reason
            mrow.corrected_by = actor
            mrow.corrected_at = now
            if reason is not None:
                failed.append(f"{mrow.name}: {reason}")
            audit(
                session,
                actor,
                "correct",
                "measurement",
                mrow.id,
                old=old,
                new=mrow.corrected_value,
                auto=mrow.auto_value,
                failure=reason,
            )
    return failed


def accept_outline(store: Store, structure_id: int, *, kind: str, actor: str) -> int:
    """Mark an outline as the one the clinician chose for its image, in one transaction: the
    other outlines of ``kind`` on the same image lose their ``accepted`` mark (they stay stored).
    Returns the outline's analysis id."""

    with store.sessions() as session, session.begin():
        row = outline_row(session, structure_id, kind)
        others = _accept_only(session, row, kind)
        audit(session, actor, "accept", "structure", structure_id, unaccepted=others)
        return int(row.analysis_id)


def _accept_only(session: Any, row: StructureRow, kind: str) -> list[int]:
    """Mark ``row`` accepted and take the mark off the other outlines of ``kind`` on its image
    (inside the caller's transaction); the ids of those outlines."""
    from sqlalchemy import select

    others = session.scalars(
        select(StructureRow)
        .join(Analysis)
        .where(
            Analysis.instance_id == row.analysis.instance_id,
            Analysis.kind == kind,
            StructureRow.id != row.id,
            StructureRow.accepted.is_(True),
        )
    ).all()
    for other in others:
        other.accepted = False
    row.accepted = True
    return [int(o.id) for o in others]


def discard_outline(store: Store, structure_id: int, *, kind: str, actor: str) -> int:
    """Delete an outline with its analysis (measurements, findings, outline) in one transaction;
    returns the analysis id. An audit row records what was discarded (no patient identifiers)."""
    from sqlalchemy import select

    with store.sessions() as session, session.begin():
        row = outline_row(session, structure_id, kind)
        analysis = row.analysis
        aid = int(analysis.id)
        area = next((m.value for m in analysis.measurements if m.name == "area_cross_section"), None)
        detail = {
            "structure": structure_id,
            "kind": kind,
            "source": (analysis.result or {}).get("source"),
            "corrected": row.corrected_points is not None,
            "accepted": bool(row.accepted),
            "area_cross_section": area,
        }
        for child in (*analysis.measurements, *analysis.structures):
            session.delete(child)
        for f in session.scalars(select(FindingRow).where(FindingRow.analysis_id == aid)).all():
            session.delete(f)
        session.flush()
        session.delete(analysis)
        audit(session, actor, "discard", "analysis", aid, **detail)
        return aid


def save_report(
    store: Store, study_id: int, results: dict[str, Any], *, actor: str, pdf: bytes | None = None
) -> int:
    digest = store.blobs.put_bytes(pdf) if pdf is not None else None
    with store.sessions() as session, session.begin():
        report = Report(study_id=study_id, results=results, pdf_sha256=digest)
        session.add(report)
        session.flush()
        audit(session, actor, "report", "report", report.id)
        return int(report.id)


def sign_report(
    store: Store,
    report_id: int,
    *,
    actor: str,
    results: dict[str, Any] | None = None,
    pdf: bytes | None = None,
    at: str | None = None,
) -> None:
    """Mark a report signed by ``actor``; with ``results`` (and ``pdf``), its frozen RESULTS
    and PDF are replaced by the signed ones in the same transaction.

    ``at`` is the time of the signature (ISO 8601), the one its RESULTS, PDF and SR state; it
    defaults to the signed RESULTS' ``signoff.at``, else now."""
    digest = store.blobs.put_bytes(pdf) if pdf is not None else None
    with store.sessions() as session, session.begin():
        # locked (PostgreSQL): two signatures at once cannot both find the report a draft
        report = session.get(Report, report_id, with_for_update=True)
        if report is None:
            raise StoreError(f"report {report_id}: not found")
        if report.status == "signed":
            raise StoreError(f"report {report_id}: already signed by {report.signed_by}")
        if results is not None:
            report.results = results
            report.pdf_sha256 = digest
        report.status = "signed"
        report.signed_by = actor
        when = at or ((results or {}).get("signoff") or {}).get("at")
        try:
            report.signed_at = dt.datetime.fromisoformat(when) if when else dt.datetime.now(dt.UTC)
        except ValueError:
            raise StoreError(
                f"report {report_id}: signing time {when!r} is not an ISO 8601 date-time"
            ) from None
        audit(session, actor, "sign", "report", report_id)


def save_procedure(store: Store, study_id: int, data: dict[str, Any], *, actor: str) -> int:
    with store.sessions() as session, session.begin():
        rec = ProcedureRecord(study_id=study_id, data=data)
        session.add(rec)
        session.flush()
        audit(session, actor, "procedure", "procedure_record", rec.id)
        return int(rec.id)


def list_studies(store: Store, query: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Studies, newest first, optionally filtered by patient key/name or description."""
    from sqlalchemy import or_, select

    with store.sessions() as session:
        stmt = select(Study, Patient).join(Patient).order_by(Study.id.desc()).limit(limit)
        if query:
            like = f"%{query}%"
            stmt = stmt.where(
                or_(Patient.patient_key.ilike(like), Patient.name.ilike(like), Study.description.ilike(like))
            )
        out = []
        for study, patient in session.execute(stmt):
            n = sum(len(se.instances) for se in study.series)
            out.append(
                {
                    "id": study.id,
                    "study_uid": study.study_uid,
                    "date": study.study_date,
                    "description": study.description,
                    "patient_key": patient.patient_key,
                    "patient_name": patient.name,
                    "instances": n,
                }
            )
        return out


def study_and_analyses(session: Any, study_id: int) -> tuple[Study, list[Analysis]]:
    """A study and its analyses in the order they were recorded, within an open session;
    raises StoreError when there is no such study."""
    from sqlalchemy import select

    study = session.get(Study, study_id)
    if study is None:
        raise StoreError(f"study {study_id}: not found")
    analyses = session.scalars(
        select(Analysis).where(Analysis.study_id == study_id).order_by(Analysis.id)
    ).all()
    return study, list(analyses)


def count_instances(store: Store) -> int:
    from sqlalchemy import func, select

    with store.sessions() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)


__all__ = [
    "ImportResult",
    "SonomskError",
    "accept_outline",
    "correct_measurement",
    "correct_outline",
    "correct_structure",
    "count_instances",
    "discard_outline",
    "import_file",
    "list_studies",
    "record_analysis",
    "save_procedure",
    "save_report",
    "sign_report",
    "study_and_analyses",
]
