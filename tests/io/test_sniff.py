"""The format comes from a file's first bytes, never from its suffix."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonomsk.core.errors import EmptyFileError, InputPathError
from sonomsk.io.sniff import FileFormat, check_path, sniff, sniff_bytes

from ..conftest import pydicom_test_dir


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00" * 128 + b"DICM" + b"\x02\x00", FileFormat.DICOM),
        (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", FileFormat.DICOM),  # no preamble, group 0008
        (b"\x89PNG\r\n\x1a\n" + bytes(8), FileFormat.PNG),
        (b"\xff\xd8\xff\xe0" + bytes(8), FileFormat.JPEG),
        (b"II*\x00" + bytes(8), FileFormat.TIFF),
        (b"MM\x00*" + bytes(8), FileFormat.TIFF),
        (b"BM" + bytes(20), FileFormat.BMP),
        (b"\x00\x00\x00\x18ftypisom" + bytes(8), FileFormat.MP4),
        (b"RIFF\x00\x00\x00\x00AVI LIST", FileFormat.AVI),
        (b"\x1a\x45\xdf\xa3" + bytes(8), FileFormat.MATROSKA),
        (b'  {"spacing_mm": 0.1}', FileFormat.JSON),
        (b"hello world, plain text", FileFormat.UNKNOWN),
        (b"\x00" * 64, FileFormat.UNKNOWN),
        (b"BM", FileFormat.UNKNOWN),  # too short to be a bitmap header
    ],
)
def test_sniff_bytes(head: bytes, expected: FileFormat) -> None:
    assert sniff_bytes(head) is expected


def test_sniff_ignores_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes((pydicom_test_dir() / "ExplVR_BigEnd.dcm").read_bytes())
    assert sniff(path) is FileFormat.DICOM


def test_check_path_errors(tmp_path: Path) -> None:
    with pytest.raises(InputPathError, match=r"missing\.png: no such file"):
        check_path(tmp_path / "missing.png")
    with pytest.raises(InputPathError, match="is a directory"):
        check_path(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"empty\.png"):
        check_path(empty)
    good = tmp_path / "good.bin"
    good.write_bytes(b"x")
    assert check_path(str(good)) == good


def test_check_path_rejects_a_fifo(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputPathError, match="not a regular file"):
        check_path(fifo)
