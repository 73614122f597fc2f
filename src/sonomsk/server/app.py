"""The workstation's web application (FastAPI). Thin: it calls only the public API of sonomsk.

Security rules: no path from a client reaches the file system (files are addressed by database id
and stored under their hash); uploads are size-limited and checked by :func:`sonomsk.read`;
errors answer 4xx with a one-line message and never a traceback; nothing about a patient is
logged.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

# FastAPI resolves the endpoints' postponed annotations in this module's namespace, so the types
# used in endpoint signatures are imported here, not inside create_app.
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response

from sonomsk import __version__
from sonomsk.core.errors import (
    ImageTooLargeError,
    InvalidParameterError,
    SonomskError,
    StoreError,
    UnsupportedDataError,
)
from sonomsk.server.auth import COOKIE, AuthConfig
from sonomsk.store.db import Store

log = logging.getLogger("sonomsk.server")

#: Largest accepted upload in bytes (a long cine of a modern scanner fits comfortably).
DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
STATIC_DIR = Path(__file__).parent / "static"


def error_status(exc: SonomskError) -> int:
    """HTTP status for a sonomsk error."""
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, UnsupportedDataError):
        return 415
    if isinstance(exc, StoreError) and "not found" in str(exc):
        return 404
    if isinstance(exc, InvalidParameterError):
        return 422
    return 400


def create_app(
    store: Store,
    *,
    auth: AuthConfig | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> Any:
    """Build the FastAPI application for ``store``."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException

    auth = auth or AuthConfig()
    app = FastAPI(
        title="sonomsk workstation",
        version=__version__,
        description="Quantitative MSK and neuromuscular ultrasound: studies, analyses, corrections, reports.",
    )
    app.state.store = store
    app.state.auth = auth
    app.state.max_upload_bytes = max_upload_bytes
    app.state.load_image = make_image_loader(store)

    # -- errors: one line, never a traceback ---------------------------------------------
    @app.exception_handler(SonomskError)
    async def _sonomsk_error(_request: Request, exc: SonomskError) -> JSONResponse:
        return JSONResponse(
            {"error": type(exc).__name__, "detail": " ".join(str(exc).split())}, error_status(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return JSONResponse(
            {"error": "InvalidRequest", "detail": f"{where}: {first.get('msg', 'invalid')}"}, 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": "HTTPError", "detail": str(exc.detail)}, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"error": "InternalError", "detail": "internal error (see server log)"}, 500)

    # -- authentication ------------------------------------------------------------------
    open_paths = {"/api/health", "/login", "/api/login", "/favicon.ico"}

    @app.middleware("http")
    async def _require_auth(request: Request, call_next: Any) -> Any:
        if (
            auth.enabled
            and request.url.path not in open_paths
            and not request.url.path.startswith("/static/login")
        ):
            header = request.headers.get("authorization", "")
            bearer = header[7:] if header.lower().startswith("bearer ") else None
            user = auth.identify(bearer, request.cookies.get(COOKIE))
            if user is None:
                return JSONResponse({"error": "Unauthorized", "detail": "authentication required"}, 401)
            request.state.user = user
        else:
            request.state.user = "local"
        return await call_next(request)

    @app.post("/api/login")
    async def login(request: Request) -> JSONResponse:
        form = await request.json()
        if not isinstance(form, dict):
            raise InvalidParameterError("login: expected a JSON object with username and password")
        sid = auth.login(str(form.get("username", "")), str(form.get("password", "")))
        if sid is None:
            return JSONResponse({"error": "Unauthorized", "detail": "wrong user name or password"}, 401)
        resp = JSONResponse({"ok": True})
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="strict")
        return resp

    # -- API -----------------------------------------------------------------------------
    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/studies")
    def studies(q: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        from sonomsk.store.repository import list_studies

        if not 1 <= limit <= 5000:
            raise InvalidParameterError(f"limit: expected 1..5000, got {limit}")
        return list_studies(store, q, limit=limit)

    @app.get("/api/studies/{study_id}")
    def study(study_id: int) -> dict[str, Any]:
        from sonomsk.server.views import study_detail

        return study_detail(store, study_id)

    @app.post("/api/upload", status_code=201)
    async def upload(request: Request, file: UploadFile) -> JSONResponse:
        from sonomsk.store.repository import import_file

        limit = int(app.state.max_upload_bytes)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + 1024 * 1024:
            return JSONResponse({"error": "TooLarge", "detail": f"upload exceeds {limit} bytes"}, 413)
        fd, name = tempfile.mkstemp(prefix="sonomsk-upload-")
        tmp = Path(name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        return JSONResponse(
                            {"error": "TooLarge", "detail": f"upload exceeds {limit} bytes"}, 413
                        )
                    out.write(chunk)
            label = _safe_label(file.filename)
            result = import_file(store, tmp, actor=str(request.state.user), original_name=label)
        finally:
            tmp.unlink(missing_ok=True)
        body = {
            "instance_id": result.instance_id,
            "study_id": result.study_id,
            "created": result.created,
            "sha256": result.sha256,
        }
        return JSONResponse(body, 201 if result.created else 200)

    @app.get("/api/instances/{instance_id}")
    def instance(instance_id: int) -> dict[str, Any]:
        from sonomsk.server.views import instance_detail

        return instance_detail(store, instance_id)

    @app.get("/api/instances/{instance_id}/frames/{frame}.png")
    def frame_png(instance_id: int, frame: int) -> Response:
        from sonomsk.server.views import render_frame_png

        png = render_frame_png(app.state.load_image, store, instance_id, frame)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/workflows")
    def workflows() -> list[dict[str, Any]]:
        from sonomsk.server.workflows import list_workflows

        return list_workflows()

    @app.get("/", include_in_schema=False)
    def index() -> Any:
        page = STATIC_DIR / "index.html"
        if not page.exists():
            return JSONResponse({"detail": "viewer not installed"}, 404)
        return FileResponse(page)

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    try:
        from sonomsk.server.workflows import mount_workflows

        mount_workflows(app, store)
    except ImportError:  # pragma: no cover - workflows module absent
        pass
    return app


def _safe_label(filename: str | None) -> str:
    """A display label from a client file name: base name only, printable, bounded."""
    base = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*')
    return (cleaned or "upload")[:128]


def make_image_loader(store: Store) -> Any:
    """A small per-store cache of decoded images keyed by blob hash."""
    import sonomsk

    @functools.lru_cache(maxsize=16)
    def load(sha256: str) -> Any:
        return sonomsk.read(store.blobs.open_path(sha256))

    return load
