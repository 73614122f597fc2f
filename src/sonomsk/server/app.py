"""The workstation's web application (FastAPI). Thin: it calls only the public API of sonomsk.

Security rules: no path from a client reaches the file system (files are addressed by database id
and stored under their hash); uploads are size-limited and checked by :func:`sonomsk.read`;
errors answer 4xx with a one-line message and never a traceback; nothing about a patient is
logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

# FastAPI resolves the endpoints' postponed annotations in this module's namespace, so the types
# used in endpoint signatures are imported here, not inside create_app.
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sonomsk import __version__
from sonomsk.core.errors import (
    ConflictError,
    CorruptDataError,
    ImageTooLargeError,
    InvalidParameterError,
    SonomskError,
    StoreError,
    UnsupportedDataError,
)
from sonomsk.server.auth import COOKIE, MAX_PASSWORD_CHARS, AuthConfig
from sonomsk.server.views import DbId, DbIdQuery, FrameNo
from sonomsk.store.db import Store

log = logging.getLogger("sonomsk.server")

#: Largest accepted upload in bytes (a long cine of a modern scanner fits comfortably).
DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
#: Largest body of any other request (JSON): enforced while the body streams in.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
#: Room for the multipart headers around an upload's file part.
MULTIPART_SLACK_BYTES = 1024 * 1024
STATIC_DIR = Path(__file__).parent / "static"
UPLOAD_PATH = "/api/upload"
#: Paths reachable without credentials when authentication is on (exact matches only).
OPEN_PATHS = frozenset(
    {"/api/health", "/login", "/api/login", "/favicon.ico", "/static/login.js", "/static/viewer.css"}
)
#: The viewer loads only its own scripts; inline styles are used by the panels; images may be
#: data: URIs (report figures). Every answer carries it (no Swagger UI: it would load outside scripts).
#: No inline scripts, event-handler attributes or eval (the browser tests poll the page through
#: the DevTools protocol instead of compiling predicates in it).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "form-action 'self'"
)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once a body passes its limit (an HTTPException: FastAPI re-raises it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class RequestGuard:
    """ASGI middleware: authentication, body limits while streaming, security headers, no traceback.

    With authentication on, every request except :data:`OPEN_PATHS` needs the bearer token or a
    session cookie (compared in constant time by :meth:`AuthConfig.identify`); the user name goes
    to ``request.state.user``. (A pure ASGI middleware: Starlette's BaseHTTPMiddleware would wrap
    the body-limit error raised from ``receive`` into an ExceptionGroup, a 400.)

    The body of ``/api/upload`` may hold ``max_upload_bytes`` (plus the multipart headers), any
    other body :data:`MAX_REQUEST_BYTES`; the count is kept on the bytes received, so a chunked
    body without Content-Length is stopped as soon as it passes the limit. An unexpected
    exception is logged by type and code location only (its message may hold patient data) and
    answered with a one-line 500; it is not re-raised, so the ASGI server logs no traceback.
    """

    def __init__(self, app: Any, auth: AuthConfig, max_upload_bytes: int) -> None:
        self.app = app
        self.auth = auth
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.max_upload_bytes + MULTIPART_SLACK_BYTES if path == UPLOAD_PATH else MAX_REQUEST_BYTES
        started = False

        async def send_json(body: dict[str, str], status: int, location: str | None = None) -> None:
            headers = [(b"content-type", b"application/json")]
            if location:
                headers.append((b"location", location.encode()))
            await tracking_send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                from starlette.datastructures import MutableHeaders

                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("x-frame-options", "SAMEORIGIN")
                headers.setdefault("content-security-policy", CONTENT_SECURITY_POLICY)
                if path.startswith("/api/"):
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        user = "local"
        if self.auth.enabled and path not in OPEN_PATHS:
            from starlette.requests import HTTPConnection

            conn = HTTPConnection(scope)
            header = conn.headers.get("authorization", "")
            bearer = header[7:] if header.lower().startswith("bearer ") else None
            found = self.auth.identify(bearer, conn.cookies.get(COOKIE))
            if found is None:
                if path == "/" and scope.get("method") == "GET":
                    await send_json({"error": "Unauthorized", "detail": "sign in at /login"}, 303, "/login")
                else:
                    await send_json({"error": "Unauthorized", "detail": "authentication required"}, 401)
                return
            user = found
        scope.setdefault("state", {})["user"] = user
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await send_json({"error": "TooLarge", "detail": f"request body exceeds {limit} bytes"}, 413)
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge as exc:
            if not started:
                await send_json({"error": "TooLarge", "detail": str(exc.detail)}, 413)
        except Exception as exc:
            import traceback

            frames = traceback.extract_tb(exc.__traceback__)
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
            log.error("internal error: %s at %s", type(exc).__name__, where)
            if not started:
                await send_json({"error": "InternalError", "detail": "internal error (see server log)"}, 500)


def error_status(exc: SonomskError) -> int:
    """HTTP status for a sonomsk error."""
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, UnsupportedDataError):
        return 415
    if isinstance(exc, ConflictError):
        return 409
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

    auth = auth or AuthConfig()
    app = FastAPI(
        title="sonomsk workstation",
        version=__version__,
        description="Quantitative MSK and neuromuscular ultrasound: studies, analyses, corrections, reports.",
        # Swagger UI and ReDoc load their scripts from outside hosts: blank on an offline clinic
        # machine, and each opening tells those hosts. The schema itself is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.auth = auth
    app.state.max_upload_bytes = max_upload_bytes
    app.state.load_image = make_image_loader(store)
    import_lock = asyncio.Lock()

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
    # authentication: see RequestGuard (added at the end, the outermost middleware)

    @app.post("/api/login")
    async def login(request: Request) -> JSONResponse:
        """Open a session (cookie ``sonomsk_session``, HttpOnly, SameSite=Strict)."""
        try:
            form = await request.json()
        except ValueError:
            form = None
        if not (
            isinstance(form, dict)
            and isinstance(form.get("username"), str)
            and isinstance(form.get("password"), str)
            and len(form["password"]) <= MAX_PASSWORD_CHARS
        ):
            raise InvalidParameterError("login: expected a JSON object with username and password")
        username = form["username"][:256]
        if auth.locked(username):
            return JSONResponse(
                {"error": "TooManyAttempts", "detail": "too many failed logins: try again in a few minutes"},
                429,
            )
        sid = auth.login(username, form["password"])
        if sid is None:
            return JSONResponse({"error": "Unauthorized", "detail": "wrong user name or password"}, 401)
        resp = JSONResponse({"ok": True})
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="strict", max_age=int(auth.session_ttl_s))
        return resp

    @app.post("/api/logout")
    async def logout(request: Request) -> JSONResponse:
        auth.logout(request.cookies.get(COOKIE))
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return resp

    @app.get("/login", include_in_schema=False)
    def login_page() -> Any:
        page = STATIC_DIR / "login.html"
        if not page.exists():
            return JSONResponse({"detail": "login page not installed"}, 404)
        return FileResponse(page)

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
    def study(study_id: DbId) -> dict[str, Any]:
        from sonomsk.server.views import study_detail

        return study_detail(store, study_id)

    @app.post(UPLOAD_PATH, status_code=201)
    async def upload(request: Request, file: UploadFile, into_study: DbIdQuery | None = None) -> JSONResponse:
        """Store one file (multipart field ``file``) after :func:`sonomsk.read` accepted it. A
        file without a patient identifier gets a study of its own, or joins ``into_study``."""
        from starlette.concurrency import run_in_threadpool

        limit = int(app.state.max_upload_bytes)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK_BYTES:
            return JSONResponse({"error": "TooLarge", "detail": f"upload exceeds {limit} bytes"}, 413)
        label = _safe_label(file.filename)
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
            # decoded in a worker thread (the server keeps answering), one import at a time, in
            # the order the uploads finished arriving
            async with import_lock:
                result = await run_in_threadpool(
                    _import_upload, store, tmp, str(request.state.user), label, into_study
                )
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
    def instance(instance_id: DbId) -> dict[str, Any]:
        from sonomsk.server.views import instance_detail

        return instance_detail(store, instance_id)

    @app.get("/api/instances/{instance_id}/frames/{frame}.png")
    def frame_png(instance_id: DbId, frame: FrameNo) -> Response:
        from sonomsk.server.views import render_frame_png

        png = render_frame_png(app.state.load_image, store, instance_id, frame)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/workflows")
    def workflows() -> list[dict[str, Any]]:
        from sonomsk.server.workflows import list_workflows

        return list_workflows()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # no icon: an empty answer, so a browser's automatic request is no 404 in its console
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

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
    # added last: the outermost of the application's middleware (inside Starlette's error page)
    app.add_middleware(RequestGuard, auth=auth, max_upload_bytes=max_upload_bytes)
    return app


def _import_upload(store: Store, tmp: Path, actor: str, label: str, into_study: int | None = None) -> Any:
    """:func:`import_file` of an upload; errors name the upload's label, never the temporary path."""
    from sonomsk.store.repository import import_file

    try:
        result = import_file(store, tmp, actor=actor, original_name=label, into_study=into_study)
        if result.created:
            _name_upload_in_warnings(store, int(result.instance_id), tmp, label)
        return result
    except SonomskError as exc:
        message = " ".join(str(exc).replace(str(tmp), label).replace(tmp.name, label).split())
        try:
            renamed = type(exc)(message)
        except Exception:  # pragma: no cover - an error class with another signature
            raise exc from None
        raise renamed from None
    except (MemoryError, RecursionError, ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        # a reader that fails on hostile input without its own error: still the client's bad file
        log.warning("upload refused: the reader raised %s", type(exc).__name__)
        raise CorruptDataError(f"{label}: the file could not be read ({type(exc).__name__})") from None


def _name_upload_in_warnings(store: Store, instance_id: int, tmp: Path, label: str) -> None:
    """The reader's warnings stored with a new upload name the uploaded file (its label), never
    the server's temporary copy (review ws14c F11)."""
    from sonomsk.store.models import Instance

    with store.sessions() as session, session.begin():
        inst = session.get(Instance, instance_id)
        info = dict(inst.info or {}) if inst is not None else {}
        found = [str(w) for w in info.get("warnings") or ()]
        renamed = [" ".join(w.replace(str(tmp), label).replace(tmp.name, label).split()) for w in found]
        if inst is not None and renamed != found:
            inst.info = {**info, "warnings": renamed}


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
