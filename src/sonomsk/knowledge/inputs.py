"""Read a FINDINGS document into finding states of the closed vocabulary.

A FINDINGS document (``FINDINGS.json``) is a mapping with up to four sections::

    {"patient": {"age": 61, "onset": "chronic", "symmetry": "asymmetric",
                 "family_history": false, "trauma_history": false, "nf1": false},
     "findings": {"fasciculations_us": "present", "normal_ncs": "absent"},
     "nerve_assessment": {... output of ``sonomsk nerve assess --json`` ...},
     "muscle_assessment": {"muscles": [{"muscle": "deltoid", "echo_z": 2.4}]}}

Explicit ``findings`` (the clinician's) win over values derived from the assessments; a
disagreement is reported as a note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from sonomsk.core.errors import InvalidParameterError, SonomskError
from sonomsk.knowledge.base import FindingState, KnowledgeBase
from sonomsk.reference.nerve_csa import site_info

SECTIONS = ("patient", "findings", "nerve_assessment", "muscle_assessment")
PATIENT_KEYS = (
    "age",
    "sex",
    "onset",
    "symmetry",
    "family_history",
    "trauma_history",
    "nf1",
    "shoulder_pain_acute",
)

_BOOL_STATES = {True: FindingState.PRESENT, False: FindingState.ABSENT}

#: nerve patterns that assert "not diffuse": not read from a child judged on adult limits
#: (review ws14b finding 2)
_CHILD_UNASSERTED_PATTERNS = frozenset({"multifocal_nonentrapment"})
#: rules of `sonomsk nerve assess` under which a diffuse pattern is still a candidate because every
#: region is enlarged (or a child's normal regions are judged on adult limits): a met Goedee
#: criterion is then read as in a diffuse pattern (nerve_rules.json goedee.controls_note)
_DIFFUSE_OPEN_RULES = frozenset({"uniform_mild_enlargement", "child_regions_adult_limits"})


@dataclass
class Observed:
    """Finding states with where each came from."""

    states: dict[str, FindingState] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    patient: dict[str, Any] = field(default_factory=dict)
    #: the entrapment sites a `sonomsk nerve assess` output found enlarged (None: no such output
    #: was read, so a focal entrapment pattern cannot be tied to a site)
    focal_sites: set[str] | None = None
    #: findings a site left between two limits: no other site's ABSENT decides them (a PRESENT does)
    undecided: set[str] = field(default_factory=set)
    #: the nerve assessment judged a child against adult limits: its "not enlarged" decides nothing
    adult_limits_child: bool = False
    #: unnamed-site findings made redundant by a present site-specific one: not counted, not asked for
    superseded: set[str] = field(default_factory=set)

    def set(self, name: str, state: FindingState, source: str) -> None:
        if name in self.undecided and state == FindingState.ABSENT and source != "findings":
            return
        if self.adult_limits_child and state == FindingState.ABSENT and source.startswith("nerve_assessment"):
            return
        old = self.states.get(name)
        if old is not None and old != state and old != FindingState.UNKNOWN:
            if self.sources[name] == "findings":
                self.notes.append(
                    f"{name}: {source} suggests {state.value} but the clinician's findings say {old.value}; "
                    "the clinician's value is used"
                )
                return
            if state == FindingState.ABSENT:  # an enlarged site beats a normal one of the same finding
                return
        self.states[name] = state
        self.sources[name] = source


@lru_cache(maxsize=1)
def _mapping() -> dict[str, Any]:
    text = (
        resources.files("sonomsk.knowledge")
        .joinpath("data", "input_mapping.json")
        .read_text(encoding="utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


def _state(value: Any, where: str) -> FindingState:
    if isinstance(value, bool):
        return _BOOL_STATES[value]
    if isinstance(value, str):
        try:
            return FindingState(value.strip().lower())
        except ValueError:
            pass
    raise InvalidParameterError(
        f"{where}: expected one of present/absent/unknown (or true/false), got {value!r}"
    )


def _norm(name: Any) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def parse_findings(data: Mapping[str, Any], kb: KnowledgeBase) -> Observed:
    """Validate a FINDINGS mapping and return the finding states it implies."""
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"findings document: expected a JSON object, got {type(data).__name__}")
    if data.get("analysis") == "nerve_assess" or ("pattern" in data and "measurements" in data):
        # the raw output of `sonomsk nerve assess --json` (review ws14b finding 9): never read as
        # a findings document, which would drop the patient's clinical data silently
        raise InvalidParameterError(
            "findings document: this is a nerve assessment (the output of `sonomsk nerve assess --json`); "
            'put it under "nerve_assessment": {"nerve_assessment": <this document>, "patient": {...}}'
        )
    for key in data:
        if key not in SECTIONS and not str(key).startswith("_"):
            raise InvalidParameterError(
                f"findings document: unknown section {key!r}; expected {list(SECTIONS)}"
            )
    obs = Observed()
    explicit = data.get("findings") or {}
    if not isinstance(explicit, Mapping):
        raise InvalidParameterError("findings: expected an object of finding -> present/absent/unknown")
    for name, value in explicit.items():
        if name not in kb.findings:
            raise InvalidParameterError(
                f"findings.{name}: unknown finding name (see `sonomsk differential --vocabulary`)"
            )
        obs.set(name, _state(value, f"findings.{name}"), "findings")
    _parse_patient(data.get("patient") or {}, obs)
    if data.get("nerve_assessment"):
        _parse_nerve(data["nerve_assessment"], obs, kb)
    if data.get("muscle_assessment"):
        _parse_muscle(data["muscle_assessment"], obs, kb)
    _apply_exclusive(obs, kb)
    _apply_specialised(obs, kb)
    _apply_excludes(obs, kb)
    return obs


def _parse_patient(p: Any, obs: Observed) -> None:
    if not isinstance(p, Mapping):
        raise InvalidParameterError("patient: expected an object")
    for key in p:
        if key not in PATIENT_KEYS:
            raise InvalidParameterError(f"patient.{key}: unknown key; expected one of {list(PATIENT_KEYS)}")
    obs.patient = dict(p)
    age = p.get("age")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | float) or not 0 <= age <= 120):
        raise InvalidParameterError(f"patient.age: expected years between 0 and 120, got {age!r}")
    onset = p.get("onset")
    if onset is not None:
        if onset not in ("acute", "subacute", "chronic"):
            raise InvalidParameterError(f"patient.onset: expected acute/subacute/chronic, got {onset!r}")
        obs.set(f"onset_{onset}", FindingState.PRESENT, "patient")
    sym = p.get("symmetry")
    if sym is not None:
        if sym not in ("symmetric", "asymmetric"):
            raise InvalidParameterError(f"patient.symmetry: expected symmetric/asymmetric, got {sym!r}")
        obs.set(
            "asymmetric_presentation",
            FindingState.PRESENT if sym == "asymmetric" else FindingState.ABSENT,
            "patient",
        )
    for key, finding in (
        ("family_history", "family_history_neuromuscular"),
        ("trauma_history", "trauma_history"),
        ("nf1", "nf1_diagnosis"),
        ("shoulder_pain_acute", "acute_severe_shoulder_pain"),
    ):
        if key in p and p[key] is not None:
            if not isinstance(p[key], bool):
                raise InvalidParameterError(f"patient.{key}: expected true or false, got {p[key]!r}")
            obs.set(finding, _BOOL_STATES[p[key]], "patient")


def _find_pattern(na: Mapping[str, Any]) -> Any:
    if "pattern" in na:
        pat = na["pattern"]
        return pat.get("pattern", pat.get("outcome")) if isinstance(pat, Mapping) else pat
    for key in ("assessment", "result"):
        sub = na.get(key)
        if isinstance(sub, Mapping) and "pattern" in sub:
            return sub["pattern"]
    for f in na.get("findings", ()) or ():
        if isinstance(f, Mapping) and "pattern" in str(f.get("rule_id", "")):
            return f.get("outcome")
    return None


def _find_goedee(na: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The Goedee outcome of an assessment and its positive sites (empty when not listed), read
    from ``goedee`` or ``goedee_criteria`` (the outcome, result, met or positive field), else from
    a ``goedee`` finding (its outcome and the positive entries of its evaluated sites)."""
    for key in ("goedee", "goedee_criteria"):
        if key in na:
            g = na[key]
            if not isinstance(g, Mapping):
                return g, []
            outcome = next((g[k] for k in ("outcome", "result", "met", "positive") if k in g), None)
            sites = g.get("positive_sites")
            return outcome, list(sites) if isinstance(sites, list | tuple) else []
    for f in na.get("findings", ()) or ():
        if isinstance(f, Mapping) and "goedee" in str(f.get("rule_id", "")):
            inputs = f.get("inputs")
            evaluated = inputs.get("evaluated") if isinstance(inputs, Mapping) else None
            if not isinstance(evaluated, list | tuple):
                return f.get("outcome"), []
            return f.get("outcome"), [e for e in evaluated if isinstance(e, Mapping) and e.get("positive")]
    return None, []


def _goedee_sites_positive(positive: list[Any]) -> bool:
    """Whether one of Goedee 2017's own criteria (median forearm, upper arm, plexus trunk) is among
    the ``positive`` sites; True when none is listed (an outcome from elsewhere is taken as given)."""
    from sonomsk.nerve.goedee import goedee_criteria
    from sonomsk.reference.loader import load_data

    sites = {str(p.get("site", "")) for p in positive if isinstance(p, Mapping)} - {""}
    if not sites:
        return True
    own = load_data("nerve_rules.json")["goedee"]["specificity_source"]
    return bool(sites & {c["site"] for c in goedee_criteria() if c["source"] == own})


def _site_items(na: Mapping[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for key in ("measurements", "sites", "per_measurement"):
        for m in na.get(key, ()) or ():
            if not isinstance(m, Mapping):
                continue
            ctx_raw = m.get("context")
            ctx: Mapping[str, Any] = ctx_raw if isinstance(ctx_raw, Mapping) else {}
            merged = {**ctx, **{k: v for k, v in m.items() if k != "context"}}
            if "status" in merged and ("nerve" in merged or "label" in merged or "site" in merged):
                items.append(merged)
    return items


def _parse_nerve(na: Any, obs: Observed, kb: KnowledgeBase) -> None:
    if not isinstance(na, Mapping):
        raise InvalidParameterError(
            "nerve_assessment: expected an object (the JSON of `sonomsk nerve assess`)"
        )
    mp = _mapping()
    for key in ("assessment", "result"):  # the whole assessment nested one level down
        sub = na.get(key)
        if isinstance(sub, Mapping) and "pattern" not in na and "measurements" not in na:
            na = sub
            break
    if na.get("analysis") == "nerve_assess" and na.get("schema") not in mp["assess_schemas"]:
        obs.notes.append(
            f"nerve_assessment: schema {na.get('schema')!r} of `sonomsk nerve assess` is not one this version "
            f"reads ({', '.join(map(str, mp['assess_schemas']))}): its fields were read as far as they match"
        )
    if "measurements" in na and not isinstance(na["measurements"], list):
        obs.notes.append(
            "nerve_assessment.measurements is not a list: no site was read, so every site finding is left unknown"
        )
    pattern = _find_pattern(na)
    detail = na.get("pattern_detail")
    rules = detail.get("rules_fired") if isinstance(detail, Mapping) else None
    if isinstance(rules, list) and mp["child_rule"] in rules:
        # adult limits miss a child's enlargement (the assessment says so): a site, pattern or
        # index that is "not enlarged" counts neither way; an enlargement still counts
        obs.adult_limits_child = True
        obs.notes.append(
            "nerve_assessment judged a child against adult limits (adult_references), which may miss an "
            "enlargement: its normal sites, a normal pattern and normal indices were left unknown"
        )
        if pattern == "normal":
            pattern = None
        elif pattern in _CHILD_UNASSERTED_PATTERNS:
            # a region within adult limits may be enlarged for a child's size: "not diffuse" from
            # adult limits must not count against a hereditary diffuse neuropathy (review ws14b
            # finding 2)
            obs.notes.append(
                f"nerve_assessment.pattern is {pattern!r} judged on adult limits in a child: a region within "
                "them may be enlarged for the child's size, so 'not diffuse' is not asserted and no nerve "
                "pattern finding was set"
            )
            pattern = None
    if pattern is not None:
        if pattern not in mp["nerve_patterns"]:
            raise InvalidParameterError(
                f"nerve_assessment.pattern: expected one of {sorted(mp['nerve_patterns'])}, got {pattern!r}"
            )
        finding = mp["nerve_patterns"][pattern]
        if isinstance(rules, list) and mp["reduction_scope_rule"] in rules:
            # no measured site could show reduced CSA (the assessment says so): a normal or other
            # pattern says nothing about it (review ws15c N3)
            obs.undecided.add(mp["nerve_patterns"]["reduced"])
            obs.notes.append(
                "nerve_assessment: too few measured sites could show reduced CSA for the reduced pattern "
                f"(reduction_scope): {mp['nerve_patterns']['reduced']} left unknown"
            )
        if finding is None:
            candidates = na.get("candidates")
            if candidates is None and isinstance(detail, Mapping):
                candidates = detail.get("candidates")
            ruled_out = (
                [f for p, f in mp["nerve_patterns"].items() if f is not None and p not in candidates]
                if isinstance(candidates, list) and candidates
                else []
            )
            for f in ruled_out:
                # the patterns the indeterminate result leaves out are not the study's (review
                # ws15c N4: a generalized enlargement undecided between diffuse and multifocal is no
                # focal entrapment)
                obs.set(f, FindingState.ABSENT, "nerve_assessment (indeterminate: not a candidate)")
            obs.notes.append(
                "nerve_assessment.pattern is 'indeterminate'"
                + (
                    f" between {', '.join(map(str, candidates))}: "
                    + (
                        f"{', '.join(ruled_out)} set absent"
                        if ruled_out
                        else "no nerve pattern finding was set"
                    )
                    if isinstance(candidates, list) and candidates
                    else ": no nerve pattern finding was set"
                )
            )
        else:
            obs.set(finding, FindingState.PRESENT, "nerve_assessment")
    goedee, goedee_positive = _find_goedee(na)
    if goedee is not None:
        val = _norm(goedee) if not isinstance(goedee, bool) else str(goedee).lower()
        if val in mp["goedee_outcome_unknown"]:
            obs.notes.append(
                f"nerve_assessment.goedee is {val!r} (not all Goedee sites measured or evaluable): "
                "proximal_median_or_plexus_enlarged left unknown"
            )
        elif val in mp["goedee_outcome_positive"] and not _goedee_sites_positive(goedee_positive):
            # met by the C5 root alone (the Dutch CIN cut-off): not Goedee's criterion, whose 99 %
            # specificity this finding carries; the C5 enlargement reaches the differential as a root
            obs.notes.append(
                "nerve_assessment.goedee is met by the C5 root only (a cut-off of the Dutch table, not one of "
                "Goedee's three sites): proximal_median_or_plexus_enlarged left unknown"
            )
        elif (
            val in mp["goedee_outcome_positive"]
            and goedee_positive
            and all(isinstance(p, Mapping) and p.get("borderline") is True for p in goedee_positive)
        ):
            # met only within the between-investigator SD of its cut-off (decision 011): a second
            # measurement may not meet it, so its 99 % specificity is not counted (review ws15c N1)
            obs.notes.append(
                "nerve_assessment.goedee is met only within the between-investigator SD of its cut-off "
                "(borderline; a second measurement may not meet it): proximal_median_or_plexus_enlarged left "
                "unknown"
            )
        elif val in mp["goedee_outcome_positive"] and (
            pattern == "diffuse"
            or (isinstance(rules, list) and bool(_DIFFUSE_OPEN_RULES & set(map(str, rules))))
        ):
            # a diffuse enlargement (the CMT1 pattern) enlarges Goedee's sites too: its 99 %
            # specificity against disease controls does not separate CIN from CMT1 here
            # (nerve_rules.json goedee.controls_note)
            obs.notes.append(
                "nerve_assessment.goedee is met within a diffuse pattern (or a generalized enlargement that may "
                "be one), which enlarges Goedee's sites in CMT1 as well: proximal_median_or_plexus_enlarged left "
                "unknown"
            )
        elif val in mp["goedee_outcome_positive"]:
            obs.set("proximal_median_or_plexus_enlarged", FindingState.PRESENT, "nerve_assessment")
        elif val in mp["goedee_outcome_negative"]:
            obs.set("proximal_median_or_plexus_enlarged", FindingState.ABSENT, "nerve_assessment")
    for index in na.get("entrapment_indices") or ():
        name = index.get("name") if isinstance(index, Mapping) else None
        found = mp["assess_index_findings"].get(name) if isinstance(name, str) and name != "_about" else None
        if found and isinstance(index.get("abnormal"), bool) and index.get("value") is not None:
            obs.set(
                found, FindingState.PRESENT if index["abnormal"] else FindingState.ABSENT, "nerve_assessment"
            )
    any_enlarged = any_normal = False
    motor_enlarged = False
    root_vagus_enlarged = False  # the sparing pattern's source found it with enlarged roots/vagus
    trigger_firm = False  # a root/vagus enlargement beyond the measurement SD of its limit
    sensory: list[bool] = []
    sensorimotor_enlarged: list[str] = []  # mixed nerves enlarged at non-entrapment sites
    for item in _site_items(na):
        nerve = _norm(item.get("nerve", item.get("label", "")))
        site = _norm(item.get("site", ""))
        status = _norm(item["status"])
        if not nerve and site in mp["assess_site_findings"]:  # `sonomsk nerve assess --json` output
            _assess_site(item, site, status, obs, kb)
            nerve = _norm(site_info(site).nerve)
            info = site_info(site)
            if obs.focal_sites is None:
                obs.focal_sites = set()
            if status in mp["nerve_status_enlarged"] and info.is_entrapment:
                obs.focal_sites.add(site)
            if (
                status in mp["nerve_status_enlarged"]
                and info.fibres == _sensorimotor()
                and not info.is_entrapment
            ):
                sensorimotor_enlarged.append(site)
            site = ""
        if status in mp["nerve_status_enlarged"]:
            enlarged = True
        elif status in mp["nerve_status_normal"] or status in mp["nerve_status_reduced"]:
            enlarged = False
        elif status in mp["nerve_status_without_verdict"]:  # no limit there: says nothing either way
            continue
        else:  # a status nobody wrote: refuse rather than drop the site without a word
            known = [*mp["nerve_status_enlarged"], *mp["nerve_status_normal"], *mp["nerve_status_reduced"]]
            raise InvalidParameterError(
                f"nerve_assessment: site {item.get('site') or item.get('nerve') or item.get('label')!r} has "
                f"status {item['status']!r}; expected one of {', '.join(known + mp['nerve_status_without_verdict'])}"
            )
        any_enlarged |= enlarged
        any_normal |= not enlarged
        if nerve in mp["sensory_nerves"]:
            sensory.append(enlarged)
        elif enlarged:
            motor_enlarged = True
            if nerve in mp["sparing_trigger_nerves"]:
                root_vagus_enlarged = True
                trigger_firm |= not _row_borderline(item)
        sites = mp["nerve_site_findings"].get(nerve, {}) if site else {}
        finding = sites.get(site, sites.get("*"))
        if finding:
            obs.set(finding, FindingState.PRESENT if enlarged else FindingState.ABSENT, "nerve_assessment")
    _multiple_entrapments(na, obs)
    _check_consistency(na, pattern, any_enlarged, obs)
    if any_enlarged:
        obs.set("nerve_enlargement_any", FindingState.PRESENT, "nerve_assessment")
    elif any_normal:
        obs.set("nerve_enlargement_any", FindingState.ABSENT, "nerve_assessment")
    if sensory and motor_enlarged and not any(sensory) and sensorimotor_enlarged:
        # the GBS figures of sensory sparing come with enlarged roots/vagus; multifocal
        # sensorimotor enlargement is the same source's CIDP feature (nerve_rules.json
        # sensory_sparing): with both, the finding is left unknown rather than counted for GBS
        obs.notes.append(
            "sensory nerves within their limits but sensorimotor nerves enlarged at non-entrapment sites "
            f"({', '.join(sensorimotor_enlarged)}): sensory_nerve_sparing left unknown"
        )
    elif sensory and motor_enlarged and any(sensory):
        obs.set("sensory_nerve_sparing", FindingState.ABSENT, "nerve_assessment")
    elif sensory and root_vagus_enlarged and not trigger_firm:
        # every enlarged root/vagus within the measurement SD of its limit: the GBS figures are
        # not counted on it, as a borderline Goedee criterion is not (review ws16a R4)
        obs.notes.append(
            "sensory nerves within their limits beside enlarged roots/vagus that all lie within the "
            "between-investigator SD of their limits (borderline): sensory_nerve_sparing left unknown"
        )
    elif sensory and root_vagus_enlarged:
        obs.set("sensory_nerve_sparing", FindingState.PRESENT, "nerve_assessment")
    elif sensory and motor_enlarged:
        obs.notes.append(
            "sensory nerves within their limits but no enlarged root or vagus: sensory_nerve_sparing left "
            "unknown (its published figures are for sparing beside enlarged roots/vagus)"
        )


def _row_borderline(item: Mapping[str, Any]) -> bool:
    """Whether an assessed row lies within the measurement SD of its limit: its own ``borderline``,
    or, where the source gives no SD (``null``), the pattern rules' stand-in
    (:func:`sonomsk.reference.nerve_csa.pattern_sd_mm2`). A row without the numbers is not."""
    if isinstance(item.get("borderline"), bool):
        return bool(item["borderline"])
    from sonomsk.reference.nerve_csa import pattern_sd_mm2

    limit = item.get("limit")
    uln = limit.get("uln_mm2") if isinstance(limit, Mapping) else item.get("uln_mm2")
    site, csa = item.get("site"), item.get("csa_mm2")
    if not isinstance(site, str) or not isinstance(csa, int | float) or not isinstance(uln, int | float):
        return False
    try:
        return bool(csa - uln < pattern_sd_mm2(site)[0])
    except SonomskError:
        return False


def _contradicts(csa: float, uln: float, enlarged: bool) -> bool:
    """Whether a row's status disagrees with its own CSA and ULN beyond the rounding of the printed
    limit (the wrist formula's ULN is printed to 3 decimals, the assessment compares unrounded)."""
    tolerance = 0.005  # mm2: half a unit of the last printed decimal, with margin
    return csa > uln + tolerance if not enlarged else csa < uln - tolerance


def _check_consistency(na: Mapping[str, Any], pattern: Any, any_enlarged: bool, obs: Observed) -> None:
    """Notes for an assessment that contradicts itself (edited by hand, or from another tool): a
    normal pattern beside enlarged rows, or a row whose status disagrees with its own CSA and
    limit. The rows are used as given; the note tells the reader the input is inconsistent."""
    mp = _mapping()
    if pattern == "normal" and any_enlarged:
        obs.notes.append(
            "nerve_assessment: the pattern is 'normal' but some rows are 'enlarged': the assessment contradicts "
            "itself (edited by hand?); the rows' site findings were used as given"
        )
    for item in _site_items(na):
        lim = item.get("limit")
        uln = lim.get("uln_mm2") if isinstance(lim, Mapping) else None
        csa, status = item.get("csa_mm2"), _norm(item.get("status", ""))
        if not (isinstance(uln, int | float) and isinstance(csa, int | float)) or isinstance(csa, bool):
            continue
        said = "enlarged" if status in mp["nerve_status_enlarged"] else "normal"
        if status not in (*mp["nerve_status_enlarged"], *mp["nerve_status_normal"]):
            continue
        if _contradicts(csa, uln, said == "enlarged"):
            obs.notes.append(
                f"nerve_assessment: {item.get('site')} ({item.get('side')}) {csa:g} mm2 has status {status!r} "
                f"against its own upper limit {uln:g} mm2: the row contradicts itself; it sets no site finding of its own "
                "(its status still counts for the nerve-size findings)"
            )


def _multiple_entrapments(na: Mapping[str, Any], obs: Observed) -> None:
    """``enlargement_multiple_entrapment_sites`` from the rows of a ``sonomsk nerve assess``
    output: present when entrapment sites of two or more nerves are enlarged and every judged
    non-entrapment site is normal ("with nerves normal between them"); absent when entrapment
    sites of two or more nerves were judged and at most one nerve is enlarged there, or a
    non-entrapment site is enlarged too; otherwise left unknown."""
    mp = _mapping()
    judged = (*mp["nerve_status_enlarged"], *mp["nerve_status_normal"], *mp["nerve_status_reduced"])
    entrap_nerves: dict[str, bool] = {}
    between_enlarged = False
    for item in _site_items(na):
        site, status = _norm(item.get("site", "")), _norm(item.get("status", ""))
        if item.get("nerve") or site not in mp["assess_site_findings"] or status not in judged:
            continue
        info = site_info(site)
        enlarged = status in mp["nerve_status_enlarged"]
        if info.is_entrapment:
            nerve = _norm(info.nerve)
            entrap_nerves[nerve] = entrap_nerves.get(nerve, False) or enlarged
        elif enlarged:
            between_enlarged = True
    if len(entrap_nerves) < 2:
        return
    n_enlarged = sum(entrap_nerves.values())
    src = (
        f"nerve_assessment (entrapment sites enlarged on {n_enlarged} of {len(entrap_nerves)} nerves measured there"
        + ("; a non-entrapment site enlarged too" if between_enlarged else "")
        + ")"
    )
    state = FindingState.PRESENT if n_enlarged >= 2 and not between_enlarged else FindingState.ABSENT
    obs.set("enlargement_multiple_entrapment_sites", state, src)


def _sensorimotor() -> str:
    """The fibre type of the sensorimotor sites, as the nerve assessment's sparing hint reads it."""
    from sonomsk.reference.loader import load_data

    return str(load_data("nerve_rules.json")["sensory_sparing"]["sensorimotor_fibres"])


def _assess_site(item: Mapping[str, Any], site: str, status: str, obs: Observed, kb: KnowledgeBase) -> None:
    """One measurement of ``sonomsk nerve assess``: its site finding, judged against the finding's
    own published diagnostic cut-off (findings.json) when it has one, else by the assessment's
    status. Where the cut-off and the assessment's healthy upper limit disagree (a value between
    the two), neither decides: the finding stays unknown and a note says why."""
    mp = _mapping()
    finding = mp["assess_site_findings"][site]
    if finding is None:
        return
    enlarged = status in mp["nerve_status_enlarged"]
    judged = enlarged or status in mp["nerve_status_normal"] or status in mp["nerve_status_reduced"]
    thr = kb.findings[finding].threshold
    csa = item.get("csa_mm2")
    if (
        thr
        and isinstance(thr.get("value"), int | float)
        and isinstance(csa, int | float)
        and not isinstance(csa, bool)
    ):
        limit = float(thr["value"])
        present = csa >= limit if thr["comparison"] == ">=" else csa > limit
        lim = item.get("limit")
        uln = lim.get("uln_mm2") if isinstance(lim, Mapping) else None
        if judged and isinstance(uln, int | float) and _contradicts(csa, uln, enlarged):
            return  # the row contradicts itself (_check_consistency says so): it decides nothing
        if judged and enlarged != present:
            # neither limit decides this site, so no other site's normal value decides the finding:
            # an ABSENT set before is withdrawn, one set after is ignored (a PRESENT still counts)
            obs.undecided.add(finding)
            if obs.states.get(finding) == FindingState.ABSENT and obs.sources.get(finding) != "findings":
                del obs.states[finding]
                obs.sources.pop(finding, None)
            obs.notes.append(
                f"{site} {csa:g} mm2 is {'enlarged' if enlarged else 'not enlarged'} against the assessment's "
                f"upper limit of normal but {'meets' if present else 'does not meet'} the diagnostic cut-off "
                f"of {finding} ({thr['comparison']} {limit:g} mm2, {thr['citation']}): between the two "
                "limits neither decides, so the finding is left unknown"
            )
            return
        src = f"nerve_assessment ({site} {csa:g} mm2 {thr['comparison']} {limit:g}: {thr['citation']})"
        if not present:
            src = (
                f"nerve_assessment ({site} {csa:g} mm2, not {thr['comparison']} {limit:g}: {thr['citation']})"
            )
        obs.set(finding, FindingState.PRESENT if present else FindingState.ABSENT, src)
    elif judged:
        obs.set(finding, FindingState.PRESENT if enlarged else FindingState.ABSENT, "nerve_assessment")


def _muscle_items(ma: Mapping[str, Any]) -> list[tuple[str, float | None, Any]]:
    out: list[tuple[str, float | None, Any]] = []
    for m in ma.get("muscles", ()) or ():
        if not isinstance(m, Mapping) or "muscle" not in m:
            raise InvalidParameterError("muscle_assessment.muscles: each item needs a 'muscle' name")
        z = m.get("echo_z")
        if z is not None and (isinstance(z, bool) or not isinstance(z, int | float)):
            raise InvalidParameterError(
                f"muscle_assessment.muscles[{m['muscle']}].echo_z: expected a number, got {z!r}"
            )
        out.append((_norm(m["muscle"]), None if z is None else float(z), m.get("fasciculations")))
    for m in ma.get("measurements", ()) or ():
        if not isinstance(m, Mapping) or m.get("name") not in ("echo_intensity_z", "echo_intensity_zscore"):
            continue
        ctx_raw = m.get("context")
        ctx: Mapping[str, Any] = ctx_raw if isinstance(ctx_raw, Mapping) else {}
        muscle = m.get("label") or ctx.get("muscle")
        if muscle and isinstance(m.get("value"), int | float):
            out.append((_norm(muscle), float(m["value"]), None))
    return out


def _parse_muscle(ma: Any, obs: Observed, kb: KnowledgeBase) -> None:
    if not isinstance(ma, Mapping):
        raise InvalidParameterError("muscle_assessment: expected an object with 'muscles' or 'measurements'")
    mp = _mapping()
    thr = float(mp["muscle_echo_z_threshold"]["value"])
    items = _muscle_items(ma)
    z = {name: val for name, val, _ in items if val is not None}
    fasc = [f for _, _, f in items if isinstance(f, bool)]
    if fasc:
        obs.set(
            "fasciculations_us",
            FindingState.PRESENT if any(fasc) else FindingState.ABSENT,
            "muscle_assessment",
        )
    if not z:
        return
    prox = {k: v >= thr for k, v in z.items() if k in mp["muscle_regions"]["proximal"]}
    dist = {k: v >= thr for k, v in z.items() if k in mp["muscle_regions"]["distal"]}
    src = "muscle_assessment"
    all_abn = all(v >= thr for v in z.values())
    key = str(mp["muscle_echo_z_threshold"]["citation"])
    cit = kb.citations.get(key)
    if cit is not None and cit.evidence == "B":  # the [B] limit's caveat where its findings are made
        obs.notes.append(
            f"muscle echo intensity counted abnormal at z >= {thr:g} [B, {key}: {cit.caveat or 'secondary source'}]"
        )
    if len(z) >= 3 and all_abn and prox and dist:
        obs.set("muscle_echo_increased_diffuse", FindingState.PRESENT, src)
    elif not all_abn:  # a normal muscle: not every sampled muscle is abnormal
        obs.set("muscle_echo_increased_diffuse", FindingState.ABSENT, src)
    else:  # every muscle abnormal, but too few, or not both regions, to call it diffuse or not
        obs.notes.append(
            f"every sampled muscle is abnormal ({', '.join(sorted(z))}), but the diffuse pattern needs at least 3 "
            "muscles, proximal and distal: muscle_echo_increased_diffuse left unknown"
        )
    if prox:
        p_abn, d_abn = any(prox.values()), any(dist.values())
        obs.set(
            "muscle_echo_increased_proximal",
            FindingState.PRESENT if p_abn and not d_abn else FindingState.ABSENT,
            src,
        )
    if dist:
        p_abn, d_abn = any(prox.values()), any(dist.values())
        obs.set(
            "muscle_echo_increased_distal",
            FindingState.PRESENT if d_abn and not p_abn else FindingState.ABSENT,
            src,
        )
    pairs = [(a, b) for a, b in mp["ibm_contrast_pairs"] if a in z and b in z]
    if pairs:
        selective = any(z[a] >= thr and z[b] < thr for a, b in pairs)
        obs.set("muscle_echo_selective_ibm", FindingState.PRESENT if selective else FindingState.ABSENT, src)


def _apply_excludes(obs: Observed, kb: KnowledgeBase) -> None:
    """A finding that excludes others (``normal_ncs`` and the NCS abnormalities): both present is
    refused; one present makes the other unknown ones absent."""
    for f in kb.findings.values():
        if not f.excludes:
            continue
        clashing = [o for o in f.excludes if obs.states.get(o) == FindingState.PRESENT]
        if obs.states.get(f.id) == FindingState.PRESENT:
            if clashing:
                raise InvalidParameterError(
                    f"findings: {f.id} is present but so is {', '.join(clashing)}, which it excludes; "
                    "give one of them"
                )
            for o in f.excludes:
                if obs.states.get(o, FindingState.UNKNOWN) == FindingState.UNKNOWN:
                    obs.states[o] = FindingState.ABSENT
                    obs.sources[o] = f"implied by {f.id}"
        elif clashing and obs.states.get(f.id, FindingState.UNKNOWN) == FindingState.UNKNOWN:
            obs.states[f.id] = FindingState.ABSENT
            obs.sources[f.id] = f"implied by {clashing[0]}"


def _apply_specialised(obs: Observed, kb: KnowledgeBase) -> None:
    """A site-specific finding (``focal_slowing_median_wrist``) present makes its unnamed-site
    finding (``focal_slowing_across_entrapment_site``) redundant: the unnamed one is not counted
    again (it would support every entrapment alike) and is not asked for. The unnamed one given as
    absent contradicts a named one present and is refused."""
    named: dict[str, list[str]] = {}
    every: dict[str, list[str]] = {}
    for f in kb.findings.values():
        if f.specialises is not None:
            every.setdefault(f.specialises, []).append(f.id)
            if obs.states.get(f.id) == FindingState.PRESENT:
                named.setdefault(f.specialises, []).append(f.id)
    for generic, sites in every.items():
        if obs.states.get(generic) == FindingState.PRESENT and all(
            obs.states.get(s) == FindingState.ABSENT for s in sites
        ):
            raise InvalidParameterError(
                f"findings: {generic} is present but every named site ({', '.join(sites)}) is absent; "
                "give the site that is slowed"
            )
    for generic, sites in named.items():
        state = obs.states.get(generic, FindingState.UNKNOWN)
        if state == FindingState.ABSENT:
            raise InvalidParameterError(
                f"findings: {generic} is absent but {', '.join(sites)} is present, which is such a "
                "finding at a named site; give one of them"
            )
        obs.superseded.add(generic)
        if state == FindingState.PRESENT:
            del obs.states[generic]
            obs.sources.pop(generic, None)
            obs.notes.append(
                f"{generic}: counted through {', '.join(sites)}, which names the site; the unnamed "
                "finding is not counted again (it would support every entrapment alike)"
            )


def _apply_exclusive(obs: Observed, kb: KnowledgeBase) -> None:
    """At most one finding of an exclusive group present; the others become absent, except a nerve
    pattern from a child judged on adult limits, which implies no other pattern absent."""
    groups: dict[str, list[str]] = {}
    for f in kb.findings.values():
        if f.exclusive:
            groups.setdefault(f.exclusive, []).append(f.id)
    for gid, members in groups.items():
        present = [m for m in members if obs.states.get(m) == FindingState.PRESENT]
        if len(present) > 1:
            raise InvalidParameterError(
                f"findings: {present} are mutually exclusive ({gid}); give at most one as present"
            )
        if (
            present
            and obs.adult_limits_child
            and obs.sources.get(present[0], "").startswith("nerve_assessment")
        ):
            obs.notes.append(
                f"{present[0]} comes from a child judged on adult limits: the other {gid} findings are left unknown"
            )
            continue
        if present:
            for m in members:
                if m in obs.undecided and obs.sources.get(present[0]) != "findings":
                    continue  # the assessment could not judge it (e.g. reduced CSA): not implied
                if m not in obs.states or obs.states[m] == FindingState.UNKNOWN:
                    obs.states[m] = FindingState.ABSENT
                    obs.sources[m] = f"implied by {present[0]}"
