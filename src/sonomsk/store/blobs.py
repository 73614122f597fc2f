"""A content-addressed file folder: files are stored under their SHA-256 and never overwritten."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from sonomsk.core.errors import StoreError
from sonomsk.io.sniff import file_sha256

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    return file_sha256(path)


class BlobStore:
    """Files kept as ``root/ab/cd/<sha256>``; a name never comes from a client."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise StoreError(f"blob id: expected 64 lowercase hex characters, got {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_file(self, src: Path) -> str:
        """Copy ``src`` in (hashing while copying); returns its SHA-256. Idempotent."""
        h = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, Path(src).open("rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            return self._commit(tmp, h.hexdigest())
        finally:
            if tmp.exists():
                tmp.unlink()

    def put_bytes(self, data: bytes) -> str:
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return self._commit(tmp, hashlib.sha256(data).hexdigest())
        finally:
            if tmp.exists():
                tmp.unlink()

    def _commit(self, tmp: Path, digest: str) -> str:
        dest = self.path_for(digest)
        if dest.exists():
            return digest  # same content already stored: never overwritten
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, dest)  # atomic, fails if it appeared meanwhile
        except FileExistsError:
            pass
        except OSError:
            shutil.copyfile(tmp, dest.with_suffix(".part"))
            os.replace(dest.with_suffix(".part"), dest)
        return digest

    def open_path(self, sha256: str) -> Path:
        p = self.path_for(sha256)
        if not p.is_file():
            raise StoreError(f"blob {sha256}: not in the store")
        return p

    def verify(self, sha256: str) -> bool:
        return sha256_file(self.open_path(sha256)) == sha256
