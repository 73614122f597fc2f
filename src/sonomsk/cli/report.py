"""``sonomsk report RESULTS --out FILE.pdf|FILE.html``: the study report, A4 or Letter."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from sonomsk.cli._common import add_common_options, print_json
from sonomsk.core.errors import InvalidParameterError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="render a study's RESULTS as a PDF or HTML report",
        description=(
            "Render the RESULTS JSON of a study (see docs/reports.md) as a PDF or a self-contained "
            "HTML page: header, key images with outlines and scale bars, measurements with limits, "
            "z-scores and flags, plots, differential, procedure record, methods and disclaimers. "
            "Nothing is fetched from the network."
        ),
    )
    p.add_argument("results", help="the study RESULTS JSON file")
    p.add_argument("--out", required=True, help="output file; .pdf or .html (.htm)")
    p.add_argument("--paper", choices=("a4", "letter"), default="a4", help="page size (default a4)")
    add_deidentify_options(p)
    p.add_argument("--sections", help="comma-separated section names to include (default: all that apply)")
    add_common_options(p)
    p.set_defaults(func=run)


def add_deidentify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deidentify", action="store_true", help="pseudonymise patient and study identifiers")
    p.add_argument(
        "--key",
        help="de-identification key (default: $SONOMSK_DEID_KEY, else a random key for this run only)",
    )


def deidentify_key(args: argparse.Namespace) -> tuple[str | None, bool]:
    """(key or None, whether the key was made up for this run)."""
    if args.key and not args.deidentify:
        raise InvalidParameterError("--key: only meaningful with --deidentify")
    if not args.deidentify:
        return None, False
    key = args.key or os.environ.get("SONOMSK_DEID_KEY")
    if key:
        return key, False
    return secrets.token_hex(16), True


def run(args: argparse.Namespace) -> int:
    from sonomsk.report.render import html_to_pdf, render_html
    from sonomsk.report.results import load_results

    out = Path(args.out)
    kind = out.suffix.lower()
    if kind not in (".pdf", ".html", ".htm"):
        raise InvalidParameterError(f"--out {out}: expected a .pdf or .html file name")
    if not out.parent.is_dir():
        raise InvalidParameterError(f"--out {out}: folder {out.parent} does not exist")
    key, random_key = deidentify_key(args)
    results = load_results(args.results)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else None
    html = render_html(results, paper=args.paper, deidentify_key=key, sections=sections)
    if kind == ".pdf":
        html_to_pdf(html, out)
    else:
        out.write_text(html, encoding="utf-8")
    if random_key:
        print(
            "sonomsk: note: no --key given; pseudonyms use a random key and cannot be linked", file=sys.stderr
        )
    if args.json:
        print_json(
            {
                "out": str(out),
                "format": kind.lstrip("."),
                "paper": args.paper,
                "deidentified": key is not None,
            }
        )
    else:
        print(out)
    return 0
