"""Helpers shared by the sub-commands: options, JSON output, progress bars."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def add_common_options(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    """``--json`` and ``--debug`` on every sub-command."""
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    # SUPPRESS: a sub-command's default must not undo a --debug given before the command
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, allow_nan=False, default=_default)
    sys.stdout.write("\n")


def _default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True
) -> Iterator[T]:
    """A progress bar on stderr for long work, shown only on a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, leave=False)


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Files and folders (searched recursively, hidden files skipped) to a sorted file list."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
                )
            )
        else:
            out.append(p)
    return out


#: The largest JSON input a command reads (a findings or measurement file is a few kB).
MAX_JSON_BYTES = 5 * 1024 * 1024
#: The most digits a JSON integer may have (no measurement or covariate needs more; Python
#: refuses to convert integers of over 4300 digits at all).
_MAX_INT_CHARS = 40
#: The longest JSON decimal read (a spreadsheet may write 17 or more digits; this only stops
#: nonsense).
_MAX_FLOAT_CHARS = 1000


def read_json_input(path: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON document at ``path`` (``-``: standard input), strictly: UTF-8 (a byte-order mark is
    allowed), at most ``max_bytes``, no NaN or Infinity, no number of absurd length, no key given
    twice in one object, no nesting deep enough to exhaust the parser. Every refusal is a one-line
    :class:`InvalidParameterError` or :class:`InputPathError` naming the input."""
    from sonomsk.core.errors import InputPathError, InvalidParameterError

    if path == "-":
        name = "<stdin>"
        binary = getattr(sys.stdin, "buffer", None)  # a text stream without bytes (tests) is read as text
        if binary is None:
            text = sys.stdin.read(max_bytes + 1).removeprefix("\ufeff")
        else:
            raw = binary.read(max_bytes + 1)
            if len(raw) > max_bytes:  # by bytes, before decoding
                raise InvalidParameterError(f"{name}: larger than {max_bytes // 1024 // 1024} MiB")
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise InputPathError(f"{name}: cannot be read as UTF-8 text ({exc})") from None
    else:
        p = Path(path)
        if p.is_dir():
            raise InputPathError(f"{path}: is a folder; expected a JSON file")
        if not p.is_file():
            raise InputPathError(f"{path}: no such file")
        if p.stat().st_size > max_bytes:
            raise InvalidParameterError(f"{path}: larger than {max_bytes // 1024 // 1024} MiB")
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputPathError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
        name = path
    if len(text) > max_bytes:
        raise InvalidParameterError(f"{name}: larger than {max_bytes // 1024 // 1024} MiB")

    def number(kind: type) -> Any:
        def parse(s: str) -> Any:
            if len(s) > (_MAX_INT_CHARS if kind is int else _MAX_FLOAT_CHARS):
                raise InvalidParameterError(
                    f"{name}: the number {s[:12]}... has {len(s)} characters; not a measurement"
                )
            value = kind(s)
            if kind is float and value in (float("inf"), float("-inf")):
                raise InvalidParameterError(f"{name}: the number {s} is out of range")
            return value

        return parse

    def constant(s: str) -> Any:
        raise InvalidParameterError(f"{name}: {s} is not a number a measurement can have")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise InvalidParameterError(f"{name}: the key {k!r} is given twice in one object")
            out[k] = v
        return out

    try:
        return json.loads(
            text,
            parse_float=number(float),
            parse_int=number(int),
            parse_constant=constant,
            object_pairs_hook=unique,
        )
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidParameterError(f"{name}: nested too deeply to be a measurement file") from None


#: Suffixes that claim an image: such a file in a folder is an input even when its content is not
#: recognised (so a damaged image is reported as a failure, not skipped). Every other file in a
#: folder is an input only when :func:`sonomsk.io.sniff.sniff` recognises an image or cine. A
#: DICOM object whose file meta names a class that is never an image (a DICOMDIR, a structured
#: report, a presentation state: :func:`sonomsk.io.dicom.dicom_non_image`) is skipped with a note.
IMAGE_SUFFIXES = frozenset(
    {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".mp4", ".avi", ".mkv"}
)


def is_image_file(path: Path) -> bool:
    """Whether a file found in a folder is an input (see :data:`IMAGE_SUFFIXES`)."""
    from sonomsk.core.errors import SonomskError
    from sonomsk.io.dicom import dicom_non_image
    from sonomsk.io.sniff import STILL_FORMATS, VIDEO_FORMATS, FileFormat, sniff

    try:
        fmt = sniff(path)
    except SonomskError:  # empty or unreadable: an input only when its name claims an image
        return path.suffix.lower() in IMAGE_SUFFIXES
    if fmt is FileFormat.DICOM and dicom_non_image(path) is not None:
        return False  # a DICOMDIR, report or presentation state beside the images
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    return fmt is FileFormat.DICOM or fmt in STILL_FORMATS or fmt in VIDEO_FORMATS


def name_list(paths: Sequence[Path], limit: int = 3) -> str:
    """``a, b, c (+4 more)``: some of ``paths`` for a one-line note."""
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")


def split_images(files: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Files found in a folder, split into inputs (:func:`is_image_file`) and the rest."""
    images: list[Path] = []
    others: list[Path] = []
    for f in files:
        (images if is_image_file(f) else others).append(f)
    return images, others
