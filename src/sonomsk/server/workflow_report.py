"""The report workflow of the workstation: preview, sign off, PDF, SR to a DICOM destination.

Mounted at ``/api/workflows/report``; the browser panel is ``static/workflows/report.js``.

A preview is rendered from the study's current RESULTS (built from the store by
:mod:`sonomsk.server.results_builder`) and stores nothing. Creating a report freezes the RESULTS
and the PDF made from them in the store (:func:`save_report`). Signing a draft
(:func:`sign_draft`) replaces its RESULTS and PDF by the same results signed, so that the PDF, SR
and FHIR of a signed draft say signed; a draft that no longer describes the study (changed since
it was made) is refused and stays a draft. A signed report is immutable: nothing here changes its RESULTS or PDF, a
second signature is refused (409), and its HTML, PDF, SR and FHIR bundle are always made from the
frozen RESULTS. The SR (TID 1500, :func:`sonomsk.report.api.write_sr`) of a signed report can be
sent to a DICOM destination by C-STORE (:mod:`sonomsk.server.dicom_send`). The FHIR R4 bundle
(:func:`sonomsk.report.api.write_fhir`, as ``sonomsk export --fhir`` writes it) downloads like the
SR: a draft's says ``preliminary``, a signed report's ``final``.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the endpoint annotations
# (request models defined inside build_router) at definition time.

import json
import tempfile
from pathlib import Path
from typing import Any

from sonomsk.core.errors import InvalidParameterError, NetworkError, StoreError
from sonomsk.store.db import Store


def _report_row(store: Store, report_id: int) -> dict[str, Any]:
    from sonomsk.store.models import Report

    with store.sessions() as session:
        r = session.get(Report, report_id)
        if r is None:
            raise StoreError(f"report {report_id}: not found")
        return {
            "id": r.id,
            "study_id": r.study_id,
            "status": r.status,
            "signed_by": r.signed_by,
            "signed_at": r.signed_at.isoformat() if r.signed_at else None,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "has_pdf": r.pdf_sha256 is not None,
            "pdf_sha256": r.pdf_sha256,
            "results": r.results,
        }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("results", "pdf_sha256")}


def render_pdf_bytes(results: dict[str, Any]) -> bytes:
    """The report PDF of ``results`` as bytes (WeasyPrint, offline)."""
    from sonomsk.report.api import render_pdf

    with tempfile.TemporaryDirectory(prefix="sonomsk-report-") as tmp:
        out = render_pdf(results, Path(tmp) / "report.pdf")
        return out.read_bytes()


def supersedes(store: Store, study_id: int, *, exclude: int | None = None) -> dict[str, Any] | None:
    """The latest signed report of the study (other than report ``exclude``), as a later signed
    report names it in ``extra["supersedes"]``: its number, signer and time, and the Study,
    Series and SOP Instance UIDs of its SR (which the SR of the later report lists in its
    Predecessor Documents Sequence); None when the study has no earlier signed report."""
    from sqlalchemy import select

    from sonomsk.core.errors import SonomskError
    from sonomsk.report.dicom_export import sr_uids
    from sonomsk.report.results import StudyResults
    from sonomsk.store.models import Report

    with store.sessions() as session:
        q = select(Report).where(Report.study_id == study_id, Report.status != "draft")
        if exclude is not None:
            q = q.where(Report.id != exclude)
        prev = session.scalars(q.order_by(Report.id.desc())).first()
        if prev is None:
            return None
        rid, results = int(prev.id), dict(prev.results or {})
        by, at = prev.signed_by, prev.signed_at.isoformat() if prev.signed_at else None
    out: dict[str, Any] = {"report": rid, "signed_by": by, "signed_at": at}
    try:
        r = StudyResults.from_dict(results)
        out.update(sr_uids(r, f"report {rid}"), study_uid=r.study.study_uid)
    except SonomskError:  # an earlier report whose RESULTS no longer read: named, without its SR
        pass
    return out


def _with_supersedes(results: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
    if prev is None:
        return results
    return {**results, "extra": {**dict(results.get("extra") or {}), "supersedes": prev}}


def create_report(store: Store, study_id: int, *, actor: str, sign: bool) -> dict[str, Any]:
    """Freeze the study's RESULTS and PDF as a report; sign it when ``sign``. A signed report of a
    study that already has one names the latest earlier one (``extra["supersedes"]``)."""
    from sonomsk.server.results_builder import build_results
    from sonomsk.store.repository import save_report, sign_report

    results = build_results(store, study_id, signed_by=actor if sign else None, for_record=True)
    if sign:
        results = _with_supersedes(results, supersedes(store, study_id))
    pdf = render_pdf_bytes(results)
    report_id = save_report(store, study_id, results, actor=actor, pdf=pdf)
    if sign:
        sign_report(store, report_id, actor=actor, at=results["signoff"]["at"])  # the time the PDF states
    return _public(_report_row(store, report_id))


# what may differ between a draft and the same study's results signed later: when and by which
# version they were made, and where the store keeps the image files (the images are compared by
# their UIDs and everything else the report shows)
_NOT_CLINICAL = ("created", "signoff", "software_version", "methods")


def _content(results: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in results.items() if k not in _NOT_CLINICAL}
    if isinstance(out.get("nerve_assessment"), dict):
        # derived from the stored assessment compared here anyway; a draft of an older version
        # lacks it
        out["nerve_assessment"] = {
            k: v for k, v in out["nerve_assessment"].items() if k != "images_not_assessed"
        }
    out["images"] = [{k: v for k, v in i.items() if k != "path"} for i in results.get("images") or []]
    return dict(json.loads(json.dumps(out)))


def current_results(store: Store, study_id: int, *, actor: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the RESULTS a draft of ``study_id`` would be signed with now, None), or (None, why the
    study cannot make a report now)."""
    from sonomsk.server.results_builder import build_results

    try:
        return build_results(store, study_id, signed_by=actor, for_record=True), None
    except InvalidParameterError as exc:
        return None, str(exc)


def why_not_signable(row: dict[str, Any], now: dict[str, Any] | None, now_error: str | None) -> str | None:
    """Why draft ``row`` can no longer be signed against the study's current results (``now``,
    or ``now_error`` when there are none), or None when it still describes the study."""
    report_id = row["id"]
    if now is None:
        # what to do is to make a new report: this draft describes the study as it was (review ws15b F5)
        return (
            f"report {report_id}: cannot sign this draft, which no longer describes the study: {now_error}; "
            "then make a new report from the current results"
        )
    draft, current = _content(row["results"]), _content(now)
    # a key a draft of an older version lacks is the same as an empty one now
    changed = sorted(
        k for k in draft.keys() | current.keys() if (draft.get(k) or None) != (current.get(k) or None)
    )
    if not changed:
        return None
    made_by, now_by = row["results"].get("software_version"), now.get("software_version")
    upgraded = (
        f", or sonomsk changed how it writes them (draft made by {made_by}, now {now_by})"
        if made_by != now_by
        else ""
    )
    words = {"structures": "outlines", "nerve_assessment": "nerve assessment", "images": "images"}
    return (
        f"report {report_id}: this draft can no longer be signed: the study changed since it was made "
        f"({', '.join(words.get(k, k.replace('_', ' ')) for k in changed)}{upgraded}); make a new report "
        "from the current results"
    )


def sign_draft(store: Store, report_id: int, *, actor: str) -> None:
    """Sign a draft report: its RESULTS and PDF become the signed ones (signed by ``actor`` now),
    but only while the draft still describes the study. An outline, site, measurement or
    assessment changed since the draft was made is refused with what changed (the draft stays a
    draft, nothing is lost): a new report is made from the current results instead."""
    from sonomsk.store.repository import sign_report

    row = _report_row(store, report_id)
    signed, error = current_results(store, int(row["study_id"]), actor=actor)
    why = why_not_signable(row, signed, error)
    if why is not None:
        raise InvalidParameterError(why)
    assert signed is not None
    signed = _with_supersedes(signed, supersedes(store, int(row["study_id"]), exclude=report_id))
    sign_report(store, report_id, actor=actor, results=signed, pdf=render_pdf_bytes(signed))


def write_report_sr(store: Store, report_id: int, folder: Path) -> tuple[Path, list[str]]:
    """Write the SR of a stored report into ``folder``; returns the path and what was skipped."""
    from sonomsk.report.api import write_sr

    row = _report_row(store, report_id)
    summary = write_sr(row["results"], folder / f"report-{report_id}-sr.dcm", uid_seed=f"report {report_id}")
    return summary.path, list(summary.skipped)


def write_report_fhir(store: Store, report_id: int, folder: Path) -> Path:
    """Write the FHIR R4 bundle of a stored report (its frozen RESULTS) into ``folder``."""
    from sonomsk.report.api import write_fhir

    row = _report_row(store, report_id)
    return write_fhir(row["results"], folder / f"report-{report_id}-fhir.json")


def _audit_send(store: Store, report_id: int, actor: str, **detail: Any) -> None:
    from sonomsk.store.repository import audit

    with store.sessions() as session, session.begin():
        audit(session, actor, "send_sr", "report", report_id, **detail)


def send_report_sr(
    store: Store, report_id: int, destination: dict[str, Any], *, actor: str = "system"
) -> dict[str, Any]:
    """C-STORE the SR of a signed report to ``destination`` (host, port, called_ae, calling_ae).

    Every attempt that reaches the network is written to the audit log (destination and outcome).
    """
    from sonomsk.server.dicom_send import check_ae_title, check_destination, send_dicom

    row = _report_row(store, report_id)
    if row["status"] != "signed":
        raise InvalidParameterError(f"report {report_id}: sign it before sending (status {row['status']})")
    host, port = check_destination(destination.get("host"), destination.get("port"))
    called = check_ae_title(destination.get("called_ae"), parameter="called_ae")
    calling = check_ae_title(destination.get("calling_ae") or "SONOMSK", parameter="calling_ae")
    where = f"{called}@{host}:{port}"
    with tempfile.TemporaryDirectory(prefix="sonomsk-sr-") as tmp:
        path, skipped = write_report_sr(store, report_id, Path(tmp))
        try:
            result = send_dicom(path, host=host, port=port, called_ae=called, calling_ae=calling)
        except NetworkError as exc:
            _audit_send(store, report_id, actor, destination=where, outcome="failed", reason=str(exc))
            raise
    _audit_send(store, report_id, actor, destination=where, outcome="sent", status=result.to_dict()["status"])
    return {**result.to_dict(), "report_id": report_id, "skipped": skipped}


def build_router(store: Store) -> Any:
    """The FastAPI router of the report workflow (mounted at /api/workflows/report)."""
    from fastapi import APIRouter, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel

    from sonomsk.server.views import DbId

    router = APIRouter()

    class CreateBody(BaseModel):
        sign: bool = True

    class SendBody(BaseModel):
        host: str
        port: int
        called_ae: str
        calling_ae: str = "SONOMSK"

    def actor(request: Request) -> str:
        return str(getattr(request.state, "user", "local"))

    @router.get("/studies/{study_id}/results")
    def results(study_id: DbId) -> dict[str, Any]:
        from sonomsk.server.results_builder import build_results

        return build_results(store, study_id)

    @router.get("/studies/{study_id}/preview", response_class=HTMLResponse)
    def preview(study_id: DbId) -> HTMLResponse:
        from sonomsk.report.api import render_html
        from sonomsk.server.results_builder import build_results

        return HTMLResponse(
            render_html(build_results(store, study_id), title="Ultrasound report (draft preview)")
        )

    @router.get("/studies/{study_id}/reports")
    def reports(study_id: DbId) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from sonomsk.store.models import Report

        with store.sessions() as session:
            ids = session.scalars(
                select(Report.id).where(Report.study_id == study_id).order_by(Report.id)
            ).all()
        rows = [_report_row(store, int(i)) for i in ids]
        out = [_public(r) for r in rows]
        drafts = [(r, o) for r, o in zip(rows, out, strict=True) if r["status"] != "signed"]
        if drafts:
            # each draft says whether it can still be signed, so that a stale one offers no Sign
            now, error = current_results(store, study_id, actor="(signability check)")
            for r, o in drafts:
                o["not_signable"] = why_not_signable(r, now, error)
        return out

    @router.post("/studies/{study_id}/reports", status_code=201)
    def create(study_id: DbId, body: CreateBody, request: Request) -> dict[str, Any]:
        return create_report(store, study_id, actor=actor(request), sign=body.sign)

    @router.get("/reports/{report_id}")
    def report(report_id: DbId) -> dict[str, Any]:
        return _public(_report_row(store, report_id))

    @router.post("/reports/{report_id}/sign")
    def sign(report_id: DbId, request: Request) -> Any:
        row = _report_row(store, report_id)
        if row["status"] == "signed":
            return JSONResponse(
                {
                    "error": "StoreError",
                    "detail": f"report {report_id}: already signed by {row['signed_by']}; a signed report cannot change",
                },
                409,
            )
        try:
            sign_draft(store, report_id, actor=actor(request))
        except StoreError as exc:
            if _report_row(store, report_id)["status"] != "signed":
                raise
            return JSONResponse(
                {"error": "StoreError", "detail": f"{exc}; a signed report cannot change"}, 409
            )
        return _public(_report_row(store, report_id))

    @router.get("/reports/{report_id}/html", response_class=HTMLResponse)
    def html(report_id: DbId) -> HTMLResponse:
        from sonomsk.report.api import render_html

        return HTMLResponse(render_html(_report_row(store, report_id)["results"]))

    @router.get("/reports/{report_id}/pdf")
    def pdf(report_id: DbId) -> Response:
        row = _report_row(store, report_id)
        if not row["pdf_sha256"]:
            raise StoreError(f"report {report_id}: PDF not found")
        data = store.blobs.open_path(row["pdf_sha256"]).read_bytes()
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="sonomsk-report-{report_id}.pdf"'},
        )

    @router.get("/reports/{report_id}/sr")
    def sr(report_id: DbId) -> Response:
        with tempfile.TemporaryDirectory(prefix="sonomsk-sr-") as tmp:
            path, _ = write_report_sr(store, report_id, Path(tmp))
            data = path.read_bytes()
        return Response(
            data,
            media_type="application/dicom",
            headers={"Content-Disposition": f'attachment; filename="sonomsk-report-{report_id}-sr.dcm"'},
        )

    @router.get("/reports/{report_id}/fhir")
    def fhir(report_id: DbId) -> Response:
        with tempfile.TemporaryDirectory(prefix="sonomsk-fhir-") as tmp:
            data = write_report_fhir(store, report_id, Path(tmp)).read_bytes()
        return Response(
            data,
            media_type="application/fhir+json",
            headers={"Content-Disposition": f'attachment; filename="sonomsk-report-{report_id}-fhir.json"'},
        )

    @router.post("/reports/{report_id}/send")
    def send(report_id: DbId, body: SendBody, request: Request) -> Any:
        try:
            return send_report_sr(store, report_id, body.model_dump(), actor=actor(request))
        except NetworkError as exc:
            return JSONResponse({"error": "NetworkError", "detail": " ".join(str(exc).split())}, 502)

    return router
