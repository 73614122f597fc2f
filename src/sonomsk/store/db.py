"""Opening the store: database engine, migrations and the blob folder.

SQLite (a file under the user's data folder) by default; PostgreSQL (or any SQLAlchemy URL) when
given. The schema is created and upgraded only through alembic migrations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomsk.core.errors import StoreError
from sonomsk.store.blobs import BlobStore


def default_home() -> Path:
    """``$SONOMSK_HOME``, else ``$XDG_DATA_HOME/sonomsk``, else ``~/.local/share/sonomsk``."""
    env = os.environ.get("SONOMSK_HOME")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "sonomsk"


@dataclass
class Store:
    """An open store: ``engine``, ``sessions`` (a sessionmaker) and ``blobs``."""

    engine: Any
    sessions: Any
    blobs: BlobStore
    url: str

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def migrate(engine: Any) -> None:
    """Upgrade the database to the newest schema with alembic."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_store(url: str | None = None, *, home: Path | None = None) -> Store:
    """Open (creating and migrating when needed) the store at ``url`` with blobs under ``home``."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.orm import sessionmaker

    root = Path(home) if home is not None else default_home()
    root.mkdir(parents=True, exist_ok=True)
    if url is None:
        url = f"sqlite:///{root / 'sonomsk.db'}"
    try:
        engine = create_engine(url, future=True)
    except Exception as exc:
        raise StoreError(f"database URL {url.split('@')[-1]!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except Exception as exc:
        raise StoreError(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc}"
        ) from None
    return Store(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        blobs=BlobStore(root / "blobs"),
        url=engine.url.render_as_string(hide_password=True),
    )
