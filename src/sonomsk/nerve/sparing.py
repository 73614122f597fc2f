"""Sensory sparing or involvement beside enlarged roots or vagus: GBS against acute-onset CIDP
(decision 010). Sparing beside enlarged sensorimotor nerves at non-entrapment sites (the source's
CIDP feature) is its own outcome, ``sensory_sparing_with_sensorimotor_enlargement``, which quotes
no GBS figure. A hint rule: it adds a sentence and a finding to the pattern, never changes it.
Sites, wording and the published performance are in ``reference/data/nerve_rules.json``
(``sensory_sparing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sonomsk.core.results import Finding
from sonomsk.nerve.assess_model import CsaAssessment, within_measurement_sd
from sonomsk.nerve.sites import site_info, site_names
from sonomsk.reference.loader import citation, citation_short, load_data
from sonomsk.reference.nerve_csa import lookup_limit

__all__ = ["sensory_sites", "sensory_sparing"]


def _rules() -> dict[str, Any]:
    return load_data("nerve_rules.json")


def sensory_sites() -> tuple[str, ...]:
    """The purely sensory sites of the vocabulary (fibres ``sensory_sparing.sensory_fibres``)."""
    fibres = _rules()["sensory_sparing"]["sensory_fibres"]
    return tuple(s for s in site_names() if site_info(s).fibres == fibres)


def sensory_sparing(csa: Sequence[CsaAssessment], reference_set: str, rule_version: str) -> Finding | None:
    """GBS vs acute-onset CIDP (decision 010): enlarged roots/vagus with the sensory sites within
    their limits (sensory sparing), enlarged (sensory involvement), or not measured/judged."""
    spec = _rules()["sensory_sparing"]
    src = spec["source"]
    roots = [a for a in csa if a.site in spec["trigger_sites"] and a.status == "enlarged"]
    if not roots:
        return None
    sensory = set(sensory_sites())
    measured = [a for a in csa if a.site in sensory]
    enlarged = [a for a in measured if a.status == "enlarged"]
    judged = [a for a in measured if a.evaluable]
    mixed = [
        a
        for a in csa
        if a.status == "enlarged"
        and site_info(a.site).fibres == spec["sensorimotor_fibres"]
        and not site_info(a.site).is_entrapment
    ]
    head = f"enlarged root/vagus ({'; '.join(a.describe() for a in roots)})"
    if len({(a.site, a.side) for a in roots}) == 1:  # review c1 finding 12
        head += f" ({spec['single_site_note']})"
    if all(within_measurement_sd(a) for a in roots):  # decision 011: within measurement error of the limit
        head += (
            " (every one within the between-investigator SD of its limit: a second measurement may "
            "not confirm the enlargement this hint rests on)"
        )
    cite = f"[{citation_short(src)}, {spec['study_text']}]"
    onset = spec["onset"]
    if enlarged:
        rule = "sensory_involved"
        text = f"{head} with enlarged sensory site(s) ({'; '.join(a.describe() for a in enlarged)}): {spec['involved']} {cite}; {onset}"
    elif measured and len(judged) == len(measured) and all(a.status == "normal" for a in judged) and mixed:
        rule = "sensory_sparing_with_sensorimotor_enlargement"
        text = (
            f"{head} with every measured sensory site within its limit ({'; '.join(a.describe() for a in judged)}), "
            f"{spec['sensorimotor_enlarged']}; enlarged sensorimotor sites: {'; '.join(a.describe() for a in mixed)} "
            f"{cite}"
        )
    elif measured and len(judged) == len(measured) and all(a.status == "normal" for a in judged):
        rule = "sensory_sparing"
        text = (
            f"{head} with every measured sensory site within its limit ({'; '.join(a.describe() for a in judged)}): "
            f"{spec['sparing']}; it identified GBS with {spec['performance_measures']} > {spec['performance_pct']:g}% "
            f"{cite}; {onset}"
        )
    elif measured:
        rule = "sensory_sparing_not_judged"
        why = "; ".join(
            a.describe() if a.evaluable else f"{a.site} ({a.side}): {a.limit.reason}" for a in measured
        )
        text = f"{head}; sensory site(s) not all judged within their limits ({why}): sensory sparing (GBS vs CIDP) not judged {cite}"
    else:
        rule = "sensory_not_measured"
        deciding = [
            s for s in sensory_sites() if lookup_limit(s, reference_set=reference_set, side="right").has_limit
        ]
        decide = (
            f"{', '.join(deciding)} would decide it"
            if deciding
            else f"no sensory site ({', '.join(sensory_sites())}) has a limit in the '{reference_set}' set"
        )
        text = f"{head}; {spec['not_measured']}: {decide} {cite}; {onset}"
    return Finding(
        rule_id=rule,
        rule_version=rule_version,
        outcome=rule,
        inputs={
            "enlarged_root_vagus": [f"{a.site} ({a.side})" for a in roots],
            "sensory_sites": {f"{a.site} ({a.side})": a.status for a in measured},
        },
        thresholds={"trigger_sites": list(spec["trigger_sites"]), "sensory_sites": list(sensory_sites())},
        citations=(citation(src),),
        explanation=text,
    )
