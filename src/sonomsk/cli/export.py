"""``sonomsk export RESULTS --sr F --seg F --fhir F --csv F --xlsx F``: interoperable exports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sonomsk.cli._common import add_common_options, print_json
from sonomsk.cli.report import add_deidentify_options, deidentify_key
from sonomsk.core.errors import InvalidParameterError, SonomskError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a study's RESULTS as DICOM SR/SEG, FHIR, CSV or XLSX",
        description=(
            "Write a study's RESULTS as a DICOM SR (TID 1500 measurement report with outlines), "
            "DICOM SEG (outlines), a FHIR R4 Bundle (DiagnosticReport and Observations), and "
            "CSV/XLSX tables. Give one or more outputs."
        ),
    )
    p.add_argument("results", help="the study RESULTS JSON file")
    p.add_argument("--sr", metavar="FILE", help="DICOM SR (TID 1500) output file")
    p.add_argument("--seg", metavar="FILE", help="DICOM SEG output file (one per outlined image)")
    p.add_argument("--fhir", metavar="FILE", help="FHIR R4 Bundle JSON output file")
    p.add_argument("--csv", metavar="FILE", help="CSV measurements table")
    p.add_argument("--xlsx", metavar="FILE", help="XLSX workbook")
    add_deidentify_options(p)
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sonomsk.report.api import write_csv, write_fhir, write_seg, write_sr, write_xlsx
    from sonomsk.report.results import load_results

    targets = {k: getattr(args, k) for k in ("sr", "seg", "fhir", "csv", "xlsx") if getattr(args, k)}
    if not targets:
        raise InvalidParameterError("export: give at least one of --sr, --seg, --fhir, --csv, --xlsx")
    source = Path(args.results).resolve()
    seen: dict[Path, str] = {}
    for name, value in targets.items():
        out = Path(value)
        parent = out.parent
        if not parent.is_dir():
            raise InvalidParameterError(f"--{name} {value}: folder {parent} does not exist")
        if out.is_dir():
            raise InvalidParameterError(f"--{name} {value}: is a folder; expected a file name")
        if out.resolve() == source:
            raise InvalidParameterError(f"--{name} {value}: is the RESULTS input; refusing to overwrite it")
        if out.resolve() in seen:
            raise InvalidParameterError(
                f"--{name} {value}: also given to --{seen[out.resolve()]}; give each output its own file"
            )
        seen[out.resolve()] = name
    if "seg" in targets:  # one SEG per image is written as <stem>_<image id><suffix> (docs/reports.md)
        seg = Path(targets["seg"]).resolve()
        for other, name in seen.items():
            same_folder = other.parent == seg.parent and other.suffix == seg.suffix
            if name != "seg" and same_folder and other.stem.startswith(f"{seg.stem}_"):
                raise InvalidParameterError(
                    f"--{name} {targets[name]}: may be the name of a SEG file of --seg {targets['seg']} "
                    "(one per image: <stem>_<image id>); give it another name"
                )
    key, random_key = deidentify_key(args)
    results = load_results(args.results)
    report: dict[str, Any] = {"deidentified": key is not None, "outputs": {}, "failed": {}}
    errors: list[SonomskError] = []

    def attempt(name: str, write: Any) -> None:
        """Write one output; a failure is recorded and the other outputs are still written
        (review ws14c F8), the command then ends with the failure."""
        if name not in targets:
            return
        try:
            report["outputs"][name] = write()
        except SonomskError as exc:
            report["failed"][name] = str(exc)
            errors.append(exc)

    def write_sr_out() -> dict[str, Any]:
        s = write_sr(results, targets["sr"], deidentify_key=key)
        return {"path": str(s.path), "structures": s.written, "skipped": list(s.skipped)}

    def write_seg_out() -> list[dict[str, Any]]:
        segs = write_seg(results, targets["seg"], deidentify_key=key)
        return [{"path": str(s.path), "segments": s.written, "skipped": list(s.skipped)} for s in segs]

    attempt("sr", write_sr_out)
    attempt("seg", write_seg_out)
    attempt("fhir", lambda: {"path": str(write_fhir(results, targets["fhir"], deidentify_key=key))})
    attempt("csv", lambda: {"path": str(write_csv(results, targets["csv"], deidentify_key=key))})
    if "csv" in report["outputs"]:
        rows = (results.nerve_assessment or {}).get("measurements") or []
        if not results.measurements and rows:  # RESULTS made from `sonomsk nerve assess` input
            report["outputs"]["csv"]["skipped"] = [
                f"the CSV lists image measurements and this RESULTS has none: the {len(rows)} CSA(s) of its "
                "nerve assessment are in the XLSX sheet nerve_assessment and the FHIR bundle"
            ]
    attempt("xlsx", lambda: {"path": str(write_xlsx(results, targets["xlsx"], deidentify_key=key))})
    if random_key:
        print(
            "sonomsk: note: no --key given; pseudonyms use a random key and cannot be linked", file=sys.stderr
        )
    if args.json:
        print_json(report)
    else:
        for name, value in report["outputs"].items():
            for item in value if isinstance(value, list) else [value]:
                print(f"{name}: {item['path']}")
                for reason in item.get("skipped", []):
                    print(f"  not encoded: {reason}")
    if report["failed"]:
        done = ", ".join(f"--{n}" for n in report["outputs"]) or "none"
        why = "; ".join(f"--{n} {targets[n]}: {msg}" for n, msg in report["failed"].items())
        raise errors[0].__class__(f"export: not written: {why} (written: {done})")
    return 0
