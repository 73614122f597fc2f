"""Helpers shared by the sub-commands: options, JSON output, progress bars."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
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
