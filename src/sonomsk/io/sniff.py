"""Recognise a file's format from its first bytes, never from its suffix."""

from __future__ import annotations

import os
import stat
from enum import StrEnum
from pathlib import Path

from sonomsk.core.errors import EmptyFileError, InputPathError


class FileFormat(StrEnum):
    DICOM = "dicom"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    BMP = "bmp"
    MP4 = "mp4"
    AVI = "avi"
    MATROSKA = "matroska"
    JSON = "json"
    UNKNOWN = "unknown"


STILL_FORMATS = frozenset({FileFormat.PNG, FileFormat.JPEG, FileFormat.TIFF, FileFormat.BMP})
VIDEO_FORMATS = frozenset({FileFormat.MP4, FileFormat.AVI, FileFormat.MATROSKA})

_DICOM_GROUPS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def check_path(path: str | os.PathLike[str]) -> Path:
    """Return the path if it is a readable, non-empty regular file; raise a one-line error otherwise."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputPathError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputPathError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputPathError(f"{p}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputPathError(f"{p}: is not a regular file")
    if not os.access(p, os.R_OK):
        raise InputPathError(f"{p}: permission denied")
    if st.st_size == 0:
        raise EmptyFileError(f"{p}: the file is empty (0 bytes)")
    try:
        with p.open("rb"):
            pass
    except PermissionError:
        raise InputPathError(f"{p}: permission denied") from None
    return p


def sniff_bytes(head: bytes) -> FileFormat:
    """The format of a file whose first bytes (at least 132 when available) are ``head``."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileFormat.DICOM
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileFormat.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return FileFormat.JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return FileFormat.TIFF
    if head.startswith(b"BM") and len(head) >= 14:
        return FileFormat.BMP
    if head[4:8] == b"ftyp":
        return FileFormat.MP4
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return FileFormat.AVI
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return FileFormat.MATROSKA
    stripped = head.lstrip()
    if stripped.startswith((b"{", b"[")):
        return FileFormat.JSON
    # DICOM without preamble (raw data set): starts with a group 0002 or 0008 element.
    if len(head) >= 8 and head[:2] in _DICOM_GROUPS and head[2:4] != b"\x00\x00":
        return FileFormat.DICOM
    return FileFormat.UNKNOWN


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content, read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff(path: str | os.PathLike[str]) -> FileFormat:
    """The format of the file at ``path``, from its content."""
    p = check_path(path)
    with p.open("rb") as fh:
        head = fh.read(512)
    return sniff_bytes(head)
