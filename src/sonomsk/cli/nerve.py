"""``sonomsk nerve``: nerve workflows, one sub-command each.

``sonomsk nerve assess INPUT.json [--json] [--reference-set NAME]`` judges CSA measurements
against reference values and classifies the enlargement pattern; ``sonomsk nerve references``
lists the reference sets and their limits. Other nerve sub-commands (e.g. ``segment``) plug in
through :data:`SUBCOMMAND_MODULES`: each module has ``register(subparsers)`` that adds its parser
under ``sonomsk nerve`` and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from sonomsk.cli._common import add_common_options, print_json, read_json_input

#: Extra ``sonomsk nerve`` sub-command modules (each with ``register(subparsers)``).
SUBCOMMAND_MODULES: tuple[str, ...] = ()

_MAX_INPUT_BYTES = 5 * 1024 * 1024


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nerve",
        help="nerve workflows: assess CSA against reference values",
        description="Nerve workflows. Run 'sonomsk nerve COMMAND --help' for details.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="nerve_command", metavar="COMMAND", parser_class=type(parser))
    _register_assess(sub)
    _register_references(sub)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    parser.set_defaults(func=_no_subcommand(parser))


def _no_subcommand(parser: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return run


def _reference_set_names() -> list[str]:
    from sonomsk.reference.nerve_csa import reference_sets

    return list(reference_sets())


def _register_assess(sub: Any) -> None:
    p = sub.add_parser(
        "assess",
        help="judge nerve CSA measurements (JSON) against reference values; pattern with explanation",
        description=(
            'INPUT.json: {"patient": {"age": 54, "sex": "F", "height_cm": 165, "weight_kg": 70}, '
            '"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 14.2}, ...]}. '
            "Optional per measurement: wrist_circumference_cm; level (the plane: " + _levels_help() + "); "
            "trunk (upper/middle/lower, brachial_plexus_trunk only); echogenicity "
            '({"fraction_hypoechoic": 0-1, "class": 1 hypoechoic, 2 mixed, 3 hyperechoic}); intraneural_doppler (a vessel count, or true/false); '
            "note (free text). Echogenicity, Doppler and notes are reported, not scored. "
            "Use '-' to read standard input."
        ),
    )
    p.add_argument("input", metavar="INPUT.json", help="the measurements as JSON ('-' for stdin)")
    p.add_argument(
        "--reference-set",
        choices=_reference_set_names(),
        default=None,
        help="reference values to use (default: the request's, else 'dutch')",
    )
    add_common_options(p)
    p.set_defaults(func=run_assess)


def _register_references(sub: Any) -> None:
    p = sub.add_parser("references", help="list reference sets and the limit of every site")
    p.add_argument("--reference-set", choices=_reference_set_names(), default=None)
    add_common_options(p)
    p.set_defaults(func=run_references)


def _read_request(path: str) -> Any:
    return read_json_input(path, max_bytes=_MAX_INPUT_BYTES)


def run_assess(args: argparse.Namespace) -> int:
    from sonomsk.nerve.assess import assess
    from sonomsk.nerve.assess_model import paediatric_note

    result = assess(_read_request(args.input), reference_set=args.reference_set)
    if args.json:
        print_json(result.to_dict())
        return 0
    d = result.to_dict()
    out = [f"reference set: {d['reference_set']['name']} ({d['reference_set']['title']})"]
    child = paediatric_note(result.patient)
    if child is not None:  # once, near the top: it applies to every row
        out.append(f"note: {child} (every measurement)")
    out.append(
        f"{'site':<32}{'side':<7}{'CSA mm2':>8}{'ULN mm2':>9}{'LLN mm2':>9}{'ratio':>7}{'z':>7}  status"
    )
    for m in d["measurements"]:
        lim = m["limit"]
        # a limit that was not applied (status no_reference) is not printed as if it had been
        uln = "-" if lim["uln_mm2"] is None or m["status"] == "no_reference" else f"{lim['uln_mm2']:.1f}"
        # the lower limit that decides a reduced row (review ws14b finding 7); empty where none
        lln = "" if lim.get("lln_mm2") is None or m["status"] == "no_reference" else f"{lim['lln_mm2']:.2f}"
        ratio = "-" if m["ratio_to_uln"] is None else f"{m['ratio_to_uln']:.2f}"
        z = "-" if m["z_score"] is None else f"{m['z_score']:.1f}"
        src = (
            (lim["reason"] if m["status"] == "no_reference" else None)
            or lim["source_label"]
            or lim["reason"]
            or ""
        )
        status = m["status"] + (" (borderline)" if m.get("borderline") else "")
        where = m["site"] + (f" ({m['trunk']})" if m.get("trunk") else "")
        out.append(
            f"{where:<32}{m['side']:<7}{m['csa_mm2']:>8.1f}{uln:>9}{lln:>9}{ratio:>7}{z:>7}  {status}"
            f"  [{lim['source'] or 'no reference'}: {src}]"
        )
    caveats: list[str] = []  # fallbacks, population notes and source caveats, shown once each
    for m in d["measurements"]:
        lim = m["limit"]
        cit = lim.get("citation") or {}
        for text in (*(lim.get("notes") or ()), cit.get("caveat")):
            if text:
                line = f"{lim['source']}: {text}"
                if line not in caveats:
                    caveats.append(line)
    out.extend(f"caveat: {c}" for c in caveats)
    out.extend(_measurement_notes(d["measurements"], skip=child))
    out.extend(_recorded(d["measurements"]))
    for i in (*result.indices, *result.side_to_side):
        if i.computed:
            out.append(f"index: {i.describe()}")
    for item in d["variability"]["intranerve"]:
        out.append(f"variability: {item['explanation']}")
    if d["variability"]["internerve"]:
        out.append(f"variability: {d['variability']['internerve']['explanation']}")
    elif d["variability"].get("internerve_not_computed"):
        out.append(f"variability: {d['variability']['internerve_not_computed']['explanation']}")
    out.append(result.goedee.explanation())
    out.append(f"pattern: {d['pattern']} (Zaidman: {d['zaidman_pattern']})")
    out.append(d["explanation"])
    if d["deciding_sites"]:
        out.append(f"deciding sites: {', '.join(d.get('deciding_sites_detail') or d['deciding_sites'])}")
    if d["deciding_other_side"]:
        out.append(f"deciding, on the side not measured: {', '.join(d['deciding_other_side'])}")
    print("\n".join(out))
    return 0


def _recorded(measurements: list[dict[str, Any]]) -> list[str]:
    """What the input recorded beside each CSA (echogenicity, intraneural Doppler, a note): shown,
    not scored, so the reader of the text output sees what was entered."""
    out = []
    for m in measurements:
        parts = []
        echo = m.get("echogenicity")
        if echo:
            bits = [
                f"class {echo['class']} ({echo['class_name']})" if echo.get("class") is not None else None
            ]
            if echo.get("fraction_hypoechoic") is not None:
                bits.append(f"fraction hypoechoic {echo['fraction_hypoechoic']:.2f}")
            parts.append("echogenicity " + ", ".join(b for b in bits if b))
        doppler = m.get("intraneural_doppler")
        if isinstance(doppler, bool):
            parts.append(f"intraneural Doppler signal {'present' if doppler else 'absent'}")
        elif doppler is not None:
            parts.append(f"intraneural Doppler {doppler} vessel signal(s)")
        if m.get("note"):
            parts.append(f"note: {m['note']}")
        if parts:
            row = f"{m['site']} {m['side']}" + (f" {m['trunk']}" if m.get("trunk") else "")
            out.append(f"recorded ({row}): {'; '.join(parts)} (reported, not scored)")
    return out


def _measurement_notes(measurements: list[dict[str, Any]], *, skip: str | None) -> list[str]:
    """Every per-measurement note as a ``note:`` line, each text once with the rows it belongs to
    (``skip``: a note already printed for every row)."""
    rows: dict[str, list[str]] = {}
    for m in measurements:
        row = f"{m['site']} {m['side']}" + (f" {m['trunk']}" if m.get("trunk") else "")
        for text in m.get("notes") or ():
            if text != skip and row not in rows.setdefault(text, []):
                rows[text].append(row)
    return [f"note ({', '.join(where)}): {text}" for text, where in rows.items()]


def run_references(args: argparse.Namespace) -> int:
    from sonomsk.nerve.assess_model import TRUNKS
    from sonomsk.reference.nerve_csa import lookup_limit, reference_set_info, reference_sets, site_names

    names = [args.reference_set] if args.reference_set else list(reference_sets())
    data: list[dict[str, Any]] = []
    for name in names:
        info = reference_set_info(name)
        limits = []
        for site in site_names():
            variants = {"vagus_neck": ("left", "right")}.get(site, (None,))
            trunks = TRUNKS if site == "brachial_plexus_trunk" else (None,)
            # the site's main limit, then one per level that has a limit of its own (decision 011);
            # the plexus trunk once per trunk, each with its own limit where the set has one
            for level in (None, *_level_variants(name, site)):
                for side in variants:
                    for trunk in trunks:
                        lim = lookup_limit(
                            site, reference_set=name, side=side, trunk=trunk or "upper", level=level
                        )
                        d = lim.to_dict()
                        d["side"] = side
                        d["level"] = level
                        d["trunk"] = trunk
                        limits.append(d)
        data.append(
            {
                "name": name,
                "title": info.title,
                "population": info.population,
                "default": info.is_default,
                "why_default": info.why_default,
                "limits": limits,
            }
        )
    if args.json:
        print_json(data)
        return 0
    for s in data:
        print("\n".join(_references_text(s)))
    return 0


def _references_text(s: dict[str, Any]) -> list[str]:
    """One reference set as text: limits in mm2 with their kind and source, each row's notes and
    its source's caveat numbered below the table (the [B] parts a clinician must see), and the
    covariate formula where the set has one."""
    from sonomsk.reference.loader import citation, citation_short, load_data

    raw = load_data("nerve_csa.json")["sets"][s["name"]]["sites"]
    out = [f"{s['name']}{' (default)' if s['default'] else ''}: {s['title']}; population: {s['population']}"]
    out.append(f"  {'site':<32} {'ULN mm2':>8} {'LLN mm2':>8}  {'kind':<26} source")
    notes: list[str] = []

    def mark(texts: list[str]) -> str:
        nums = []
        for t in texts:
            if t not in notes:
                notes.append(t)
            nums.append(str(notes.index(t) + 1))
        return f" [{','.join(nums)}]" if nums else ""

    for lim in s["limits"]:
        side = f" ({lim['side']})" if lim["side"] else ""
        side += f" ({lim['trunk']})" if lim.get("trunk") else ""
        side += f" [{lim['level']}]" if lim["level"] else ""
        if lim["status"] != "limit":
            out.append(f"  {lim['site'] + side:<32} no reference: {lim['reason']}")
            continue
        texts = [f"{lim['source']}: {n}" for n in lim.get("notes") or ()]
        cit = lim.get("citation") or {}
        if cit.get("caveat"):
            texts.append(f"{lim['source']}: {cit['caveat']}")
        if lim.get("population") and lim["population"] != s["population"]:
            texts.append(f"{lim['source']}: population {lim['population']}")
        cov = (raw.get(lim["site"]) or {}).get("covariate_limit")
        if cov:
            guard = cov.get("guard") or {}
            cav = citation(cov["source"]).caveat
            texts.append(
                f"with {cov['variable']}: ULN = {cov['slope']:g} x {cov['variable']} "
                f"{'-' if cov['intercept'] < 0 else '+'} {abs(cov['intercept']):g} mm2 "
                f"[{citation_short(cov['source'])}]"
                + (
                    f"; where it gives less than {guard['min_uln_mm2']:g} mm2 ({guard['what']}) it does not decide: "
                    f"the fixed ULN stands, and a CSA between {guard['min_uln_mm2']:g} mm2 and the fixed ULN is "
                    "not judged"
                    if guard
                    else ""
                )
                + (f"; {cav}" if cav else "")
            )
        lln = f"{lim['lln_mm2']:8.2f}" if lim.get("lln_mm2") is not None else f"{'-':>8}"
        out.append(
            f"  {lim['site'] + side:<32} {lim['uln_mm2']:8.2f} {lln}  {lim['kind']:<26} {lim['source']}{mark(texts)}"
        )
    out.extend(f"  [{i}] {t}" for i, t in enumerate(notes, 1))
    return out


def _levels_help() -> str:
    """The sites with measurement levels and their levels, the default first (help text)."""
    from sonomsk.nerve.sites import site_names
    from sonomsk.reference.loader import load_data

    sites = load_data("nerve_sites.json")["sites"]
    out = []
    for name in site_names():
        levels = list(sites[name].get("levels") or sites[name].get("level_definitions") or ())
        if levels:
            default = sites[name].get("default_level")
            shown = [f"{lv} (default)" if lv == default else lv for lv in levels]
            out.append(f"{name}: {', '.join(shown)}")
    return "; ".join(out)


def _level_variants(reference_set: str, site: str) -> tuple[str, ...]:
    """The levels of ``site`` that have a limit of their own in ``reference_set``."""
    from sonomsk.reference.loader import load_data

    entry = load_data("nerve_csa.json")["sets"][reference_set]["sites"][site]
    return tuple(entry.get("level_variants") or ())
