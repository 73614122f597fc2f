"""``sonomsk demo``: analyse the bundled synthetic demo study end to end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sonomsk.cli._common import add_common_options, print_json


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="analyse the bundled demo study (outlines, CSA, assessment, differential, report, exports)",
        description="Analyse the bundled synthetic nerve study and write its results, report (HTML, PDF), "
        "DICOM SR and SEG, FHIR and CSV to a folder.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("sonomsk-demo"), help="output folder (default ./sonomsk-demo)"
    )
    p.add_argument("--backend", help="segmentation backend (default: the shipped ONNX model)")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sonomsk.demo.study import analyse_demo

    def say(msg: str) -> None:
        if not args.json:
            print(f"sonomsk: {msg}", file=sys.stderr)

    outputs = analyse_demo(args.out, backend=args.backend, progress=say)
    if args.json:
        print_json({k: str(v) for k, v in outputs.items()})
    else:
        print("demo study analysed; open:")
        for key, path in outputs.items():
            print(f"  {key:8s} {path}")
        if "notes" in outputs:
            print(outputs["notes"].read_text().rstrip())
    return 0
