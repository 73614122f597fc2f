"""``sonomsk deidentify IN OUT``: keyed pseudonyms in the headers, burned-in text blanked.

IN and OUT are two files, or two folders (every file under IN, recursively, goes to the same
relative path under OUT). A batch goes on past files that fail or are refused and reports them;
the exit code is 1 if any did. Nothing is ever written over the input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sonomsk.cli._common import add_common_options, expand_inputs, print_json, progress
from sonomsk.core.errors import DeidentificationError, InvalidParameterError, SonomskError

KEY_ENV = "SONOMSK_DEID_KEY"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "deidentify",
        help="remove patient identifiers (keyed pseudonyms) and blank burned-in text",
        description=(
            "De-identify DICOM ultrasound files (and PNG/JPEG/TIFF/BMP stills): names, IDs and "
            "UIDs become repeatable keyed pseudonyms, dates are shifted, private tags and free text "
            "are removed, and every pixel outside the ultrasound regions is set to 0. Files that "
            f"cannot be blanked safely are refused and not written. The key comes from --key, "
            f"--key-file or ${KEY_ENV}; without one a random key is used and pseudonyms cannot be "
            "linked across runs."
        ),
    )
    p.add_argument("input", metavar="IN", help="input file or folder")
    p.add_argument("output", metavar="OUT", help="output file, or folder when IN is a folder")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--key", help=f"de-identification key (visible to other users; prefer ${KEY_ENV})")
    group.add_argument("--key-file", metavar="FILE", help="file whose first line is the key")
    p.add_argument(
        "--keep-box",
        metavar="x0,y0,x1,y1",
        help="keep only this area (inclusive pixels, x = column) instead of the ultrasound regions",
    )
    add_common_options(p)
    p.set_defaults(func=run)


def resolve_key(args: argparse.Namespace) -> tuple[str, bool]:
    """(key, made up for this run) from --key, --key-file, the environment, or a random key."""
    from sonomsk.io.deidentify import random_key

    if args.key is not None:
        if not args.key:
            raise InvalidParameterError("--key: expected a non-empty key")
        return args.key, False
    if args.key_file:
        path = Path(args.key_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(
                f"--key-file {path}: cannot be read ({exc.__class__.__name__})"
            ) from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise InvalidParameterError(f"--key-file {path}: the first line is empty; expected the key")
        return key, False
    env = os.environ.get(KEY_ENV, "")
    if env:
        return env, False
    return random_key(), True


def _pairs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    if not src.exists():
        raise InvalidParameterError(f"IN {src}: no such file or folder")
    if not src.is_dir():
        if dst.is_dir():
            return [(src, dst / src.name)]
        return [(src, dst)]
    if dst.exists() and not dst.is_dir():
        raise InvalidParameterError(f"OUT {dst}: IN is a folder, so OUT must be a folder")
    s, d = src.resolve(), dst.resolve()
    if d == s or s in d.parents:
        raise InvalidParameterError(f"OUT {dst}: must not be IN or inside IN ({src})")
    files = expand_inputs([str(src)])
    names = {f.name for f in files}
    pairs = []
    for f in files:
        # a calibration sidecar (image.png.json / image.json) travels with its image, not alone
        if f.suffix.lower() == ".json" and any(
            n == f.stem or (n != f.name and n.startswith(f.stem + ".")) for n in names
        ):
            continue
        pairs.append((f, dst / f.relative_to(src)))
    return pairs


def run(args: argparse.Namespace) -> int:
    from sonomsk.io.deidentify import deidentify_dicom, key_fingerprint, parse_keep_box

    keep_box = parse_keep_box(args.keep_box) if args.keep_box else None
    key, made_up = resolve_key(args)
    src, dst = Path(args.input), Path(args.output)
    pairs = _pairs(src, dst)
    if not pairs:
        print(f"sonomsk: error: no input files in {src}", file=sys.stderr)
        return 1
    if made_up:
        print(
            f"sonomsk: note: no key given (--key, --key-file or ${KEY_ENV}); a random key is used, "
            "so pseudonyms are not repeatable and cannot be linked to other runs",
            file=sys.stderr,
        )
    entries: list[dict[str, Any]] = []
    failed = 0
    for a, b in progress(pairs, total=len(pairs), desc="deidentify", enabled=len(pairs) > 3):
        try:
            if src.is_dir():
                b.parent.mkdir(parents=True, exist_ok=True)
            entry = deidentify_dicom(a, b, key=key, keep_box=keep_box).to_dict()
            entry["random_key"] = made_up
        except SonomskError as exc:
            failed += 1
            reason = " ".join(str(exc).split())
            entry = {
                "source": str(a),
                "output": None,
                "refused": isinstance(exc, DeidentificationError),
                "reason": reason,
                "error_class": type(exc).__name__,
            }
            if not args.json:
                print(f"sonomsk: {'refused' if entry['refused'] else 'error'}: {reason}", file=sys.stderr)
        entries.append(entry)
        if not args.json and entry.get("output"):
            print(
                f"{entry['source']} -> {entry['output']}: {entry['removed_tags']} tags removed, "
                f"{entry['replaced_tags']} replaced, {100 * entry['blanked_fraction']:.1f}% of pixels blanked "
                f"({entry['kept_by']} kept)"
            )
    if args.json:
        print_json(
            {
                "key_fingerprint": key_fingerprint(key),
                "repeatable": not made_up,
                "succeeded": len(entries) - failed,
                "failed": failed,
                "files": entries,
            }
        )
    elif len(entries) > 1:
        print(f"{len(entries) - failed} de-identified, {failed} failed or refused")
    return 1 if failed else 0
