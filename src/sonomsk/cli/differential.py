"""``sonomsk differential FINDINGS.json [--json]``: ranked, explained differential (decision support)."""

from __future__ import annotations

import argparse
from typing import Any

from sonomsk.cli._common import add_common_options, print_json, read_json_input
from sonomsk.core.errors import InvalidParameterError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "differential",
        help="ranked differential diagnosis with its evidence (decision support, not a diagnosis)",
        description=(
            "Rank neuromuscular/MSK conditions from ultrasound, EMG/NCS and clinical findings. "
            "Each candidate lists the findings for and against it and their citations; the "
            "missing findings that would best separate the leading candidates are named. "
            "Support for a clinician, not a diagnosis."
        ),
    )
    parser.add_argument("findings", nargs="?", help="FINDINGS.json (see docs/differential.md)")
    parser.add_argument(
        "--vocabulary", action="store_true", help="list the closed vocabulary of findings and exit"
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def _load(path: str) -> Any:
    return read_json_input(path)


def run(args: argparse.Namespace) -> int:
    from sonomsk.knowledge.base import vocabulary
    from sonomsk.knowledge.differential import INTENDED_USE, rank

    if args.vocabulary:
        vocab = vocabulary()
        if args.json:
            print_json(vocab)
        else:
            for name, d in vocab.items():
                print(f"{name:42s} [{d['domain']}] {d['definition']}")
        return 0
    if not args.findings:
        raise InvalidParameterError("FINDINGS: a findings JSON file is required (or --vocabulary)")
    data = _load(args.findings)
    try:
        result = rank(data)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{args.findings}: {exc}") from None
    d = result.to_dict()
    if args.json:
        print_json(d)
        return 0
    print(f"INTENDED USE: {INTENDED_USE}")
    print(
        f"method: {d['method']['name']} {d['method']['version']} (knowledge base {d['method']['knowledge_base_version']})"
    )
    print(d["message"])
    for c in d["candidates"]:
        print(
            f"\n{c['rank']}. {c['name']}  score {c['score_log10']:+.2f} log10 LR, relative weight {c['relative_weight']:.2f} (not a probability)"
        )
        for label, items in (("for", c["supporting"]), ("against", c["against"])):
            for it in items:
                kind = "conventional weight, not published" if it["basis"] == "qualitative" else it["basis"]
                print(
                    f"   {label:7s} {it['finding']} = {it['state']}  LR {it['likelihood_ratio']:.2f} ({kind})"
                    f"  [{', '.join(it['citations'])}]"
                )
                if it.get("note"):
                    print(f"           note: {it['note']}")
        for adj in c["group_adjustments"]:
            print(f"   bounded group {adj['group']}: {adj['sum_log10_lr']:+.2f} -> {adj['bounded_to']:+.2f}")
        print("   sources: " + "; ".join(f"{x['id']} [{x['evidence']}]" for x in c["citations"]))
        for x in c["citations"]:
            if x["caveat"]:
                print(f"   caveat {x['id']} [{x['evidence']}]: {x['caveat']}")
    if d["missing_discriminators"]:
        print("\nFindings that would best separate the leading candidates:")
        for m in d["missing_discriminators"]:
            print(f"   {m['finding']}: {m['definition']}")
    for note in d["notes"]:
        print(f"note: {note}")
    return 0
