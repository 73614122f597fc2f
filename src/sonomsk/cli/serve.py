"""``sonomsk serve``: the clinic workstation (web viewer, API, optional DICOM node)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from sonomsk.cli._common import add_common_options
from sonomsk.core.errors import InvalidParameterError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="start the workstation (browser viewer, API, DICOM node)",
        description="Start the sonomsk workstation. Binds 127.0.0.1 by default; any other address "
        "requires --token/--token-file or --users-file.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: SQLite under the data folder)")
    p.add_argument("--home", type=Path, help="data folder (default $SONOMSK_HOME or ~/.local/share/sonomsk)")
    p.add_argument("--token", help="API token required on every request (prefer --token-file)")
    p.add_argument("--token-file", type=Path, help="file holding the API token")
    p.add_argument(
        "--users-file", type=Path, help='JSON {"user": "scrypt$..."} (see sonomsk serve --hash-password)'
    )
    p.add_argument(
        "--hash-password", metavar="PASSWORD", help="print the hash of a password for --users-file and exit"
    )
    p.add_argument("--dicom-port", type=int, help="also start a C-STORE/C-ECHO node on this port")
    p.add_argument("--ae-title", default="SONOMSK", help="AE title of the DICOM node (default SONOMSK)")
    p.add_argument(
        "--allowed-ae", action="append", default=[], help="calling AE title allowed to store (repeatable)"
    )
    p.add_argument("--max-upload-mb", type=int, default=1024, help="largest upload in MiB (default 1024)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="load the bundled demo study (six images with their sites; nothing outlined yet) at start",
    )
    p.add_argument(
        "--exit-after", type=float, metavar="SECONDS", help="stop by itself after this many seconds"
    )
    add_common_options(p, json_output=False)
    p.set_defaults(func=run)


def build_auth(args: argparse.Namespace) -> Any:
    from sonomsk.server.auth import AuthConfig

    token = args.token or os.environ.get("SONOMSK_TOKEN")
    if args.token_file:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            raise InvalidParameterError(f"--token-file {args.token_file}: {exc.strerror}") from None
    if token is not None and len(token) < 16:
        raise InvalidParameterError("token: expected at least 16 characters")
    users: dict[str, str] = {}
    if args.users_file:
        try:
            users = json.loads(args.users_file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidParameterError(f"--users-file {args.users_file}: {exc}") from None
        if not isinstance(users, dict) or not all(
            isinstance(v, str) and v.startswith("scrypt$") for v in users.values()
        ):
            raise InvalidParameterError(f"--users-file {args.users_file}: expected {{user: scrypt hash}}")
    return AuthConfig(token=token, users=users)


def run(args: argparse.Namespace) -> int:
    from sonomsk.server.auth import hash_password, is_loopback

    if args.hash_password:
        print(hash_password(args.hash_password))
        return 0
    auth = build_auth(args)
    if not is_loopback(args.host) and not auth.enabled:
        raise InvalidParameterError(
            f"--host {args.host}: refusing to serve beyond this computer without authentication "
            "(give --token-file or --users-file)"
        )
    if args.dicom_port is not None and not is_loopback(args.host) and not args.allowed_ae:
        raise InvalidParameterError(
            f"--dicom-port on --host {args.host}: refusing to accept DICOM from any caller on the "
            "network (give --allowed-ae for each sending modality)"
        )
    if not 1 <= args.max_upload_mb <= 16384:
        raise InvalidParameterError(f"--max-upload-mb: expected 1..16384, got {args.max_upload_mb}")

    import uvicorn

    from sonomsk.server.app import create_app
    from sonomsk.store.db import open_store

    store = open_store(args.db, home=args.home)
    if args.demo:
        from sonomsk.demo.study import load_demo_into_store

        n = load_demo_into_store(store)
        print(f"sonomsk: demo study loaded ({n} images)", file=sys.stderr)
    node = None
    if args.dicom_port is not None:
        from sonomsk.server.dicom_node import start_dicom_node

        node = start_dicom_node(
            store,
            port=args.dicom_port,
            host=args.host,
            ae_title=args.ae_title,
            allowed_calling=args.allowed_ae or None,
        )
        print(f"sonomsk: DICOM node {node.ae_title} on {args.host}:{node.port}", file=sys.stderr)
    app = create_app(store, auth=auth, max_upload_bytes=args.max_upload_mb * 1024 * 1024)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if args.exit_after:
        timer = threading.Timer(args.exit_after, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    print(f"sonomsk: workstation on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.run()
    finally:
        if node is not None:
            node.stop()
        store.close()
    return 0
