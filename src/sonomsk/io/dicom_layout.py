"""Where a DICOM file keeps its pixel data, found without reading (or decoding) the pixels.

The header is read up to the Pixel Data element; this module reads that element's own header
(tag, VR, length) and, for encapsulated (compressed) data, walks the item headers of the
fragments by seeking. This tells, before any decoding and with O(1) memory, whether the file holds
all the bytes its header promises, and gives the fragments of encapsulated video.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sonomsk.core.errors import CorruptDataError, TruncatedDataError, UnsupportedDataError
from sonomsk.io.limits import MAX_FRAMES

UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009
_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
#: Explicit-VR VRs with a 2-byte reserved field and a 4-byte length.
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
#: More fragments than this in one object is not ultrasound (a cine has about one per frame).
MAX_FRAGMENTS = 4 * MAX_FRAMES


@dataclass(frozen=True)
class PixelElement:
    """The Pixel Data element: its tag, length (``UNDEFINED_LENGTH`` when encapsulated) and where
    its value starts in the file (byte offset)."""

    tag: int
    length: int
    value_offset: int

    @property
    def encapsulated(self) -> bool:
        return self.length == UNDEFINED_LENGTH


@dataclass(frozen=True)
class Fragments:
    """Encapsulated pixel data: the Basic Offset Table length and each fragment's (offset, length)."""

    offset_table_length: int
    fragments: tuple[tuple[int, int], ...]


def read_pixel_element(
    fh: BinaryIO, position: int, *, implicit_vr: bool, little_endian: bool, path: Path
) -> PixelElement | None:
    """The element header at ``position`` (where pydicom stopped before the pixel data).

    Returns None when the file ends there (an object without pixel data). Raises
    TruncatedDataError when the file ends inside the element header.
    """
    fh.seek(position)
    head = fh.read(8)
    if not head:
        return None
    if len(head) < 8:
        raise TruncatedDataError(f"{path}: the DICOM file ends inside the header of its pixel data")
    order = "<" if little_endian else ">"
    group, element = struct.unpack(order + "HH", head[:4])
    tag = (group << 16) | element
    if implicit_vr:
        (length,) = struct.unpack(order + "I", head[4:8])
        offset = position + 8
    elif head[4:6] in _LONG_VRS:
        extra = fh.read(4)
        if len(extra) < 4:
            raise TruncatedDataError(f"{path}: the DICOM file ends inside the header of its pixel data")
        (length,) = struct.unpack(order + "I", extra)
        offset = position + 12
    else:
        (length,) = struct.unpack(order + "H", head[6:8])
        offset = position + 8
    if tag in (FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA):
        raise UnsupportedDataError(f"{path}: floating-point pixel data is not ultrasound image data")
    if tag != PIXEL_DATA:
        raise CorruptDataError(
            f"{path}: expected the Pixel Data element at byte {position}, found tag {tag:08X}"
        )
    return PixelElement(tag=tag, length=length, value_offset=offset)


def walk_fragments(fh: BinaryIO, element: PixelElement, size: int, path: Path) -> Fragments:
    """Item headers of encapsulated pixel data, by seeking (nothing but 8-byte headers is read).

    Raises
    ------
    TruncatedDataError
        When the file ends before the sequence delimiter or inside a fragment.
    CorruptDataError
        When an item tag is wrong, an item has undefined length, or there are no fragments.
    """
    position = element.value_offset
    items: list[tuple[int, int]] = []
    while True:
        fh.seek(position)
        head = fh.read(8)
        if len(head) < 8:
            raise TruncatedDataError(
                f"{path}: the file ends inside the encapsulated pixel data (after {max(len(items) - 1, 0)} "
                "fragments, before the sequence delimiter)"
            )
        group, elem, length = struct.unpack("<HHI", head)
        if (group, elem) == _SEQUENCE_DELIMITER:
            break
        if (group, elem) != _ITEM:
            raise CorruptDataError(
                f"{path}: encapsulated pixel data: expected an item tag at byte {position}, found "
                f"({group:04X},{elem:04X})"
            )
        if length == UNDEFINED_LENGTH:
            raise CorruptDataError(
                f"{path}: encapsulated pixel data: item at byte {position} has undefined length"
            )
        if position + 8 + length > size:
            raise TruncatedDataError(
                f"{path}: the file ends inside fragment {len(items)} of the encapsulated pixel data "
                f"(it needs {position + 8 + length} bytes, the file has {size})"
            )
        items.append((position + 8, length))
        if len(items) > MAX_FRAGMENTS:
            raise CorruptDataError(f"{path}: encapsulated pixel data has more than {MAX_FRAGMENTS} fragments")
        position += 8 + length
    if not items:
        raise CorruptDataError(f"{path}: encapsulated pixel data has no Basic Offset Table item")
    if len(items) == 1:
        raise TruncatedDataError(f"{path}: encapsulated pixel data holds no fragment")
    return Fragments(offset_table_length=items[0][1], fragments=tuple(items[1:]))


def check_fragments(fragments: Fragments, frames: int, path: Path) -> None:
    """Refuse encapsulated data that cannot hold ``frames`` frames."""
    table = fragments.offset_table_length
    if table % 4:
        raise CorruptDataError(f"{path}: the Basic Offset Table has {table} bytes, not a multiple of 4")
    if table and table // 4 != frames:
        raise CorruptDataError(
            f"{path}: the Basic Offset Table lists {table // 4} frames, the header promises {frames}"
        )
    if not table and frames > 1 and len(fragments.fragments) < frames:
        raise TruncatedDataError(
            f"{path}: encapsulated pixel data holds {len(fragments.fragments)} fragments, "
            f"the header promises {frames} frames"
        )


def read_fragments(fh: BinaryIO, fragments: Fragments) -> bytes:
    """All fragment bytes joined (encapsulated video is one stream split into fragments)."""
    parts = []
    for offset, length in fragments.fragments:
        fh.seek(offset)
        parts.append(fh.read(length))
    return b"".join(parts)
