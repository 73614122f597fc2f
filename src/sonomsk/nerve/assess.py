"""Clinical assessment of nerve CSA measurements: ``assess(request) -> AssessmentResult``.

For each measurement: the reference limit and its source, the ratio to the limit, a z-score where
the source gives mean and SD, and a status (normal / enlarged / reduced / no_reference). Then the
entrapment indices, the side-to-side comparison, intra- and internerve variability, the Goedee
(Utrecht) criteria and the overall pattern with an explanation naming the rules and citations
that fired. See ``docs/nerve-assessment.md``.

Example
-------
>>> from sonomsk.nerve.assess import assess
>>> result = assess({"measurements": [
...     {"site": "median_wrist", "side": "right", "csa_mm2": 14.0},
...     {"site": "median_forearm", "side": "right", "csa_mm2": 7.0}]})
>>> result.pattern.pattern.value
'focal_entrapment'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sonomsk import __version__
from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Finding, Measurement, MeasurementSet, Method
from sonomsk.core.units import Unit
from sonomsk.nerve.assess_model import (
    AssessmentRequest,
    CsaAssessment,
    NerveMeasurementInput,
    PatientInfo,
    judge,
    paediatric_note,
)
from sonomsk.nerve.entrapment import (
    IndexResult,
    VariabilityResult,
    compare_sides,
    compute_entrapment_indices,
    compute_variability,
)
from sonomsk.nerve.patterns import GoedeeResult, Pattern, PatternResult, classify_pattern, evaluate_goedee
from sonomsk.reference.loader import citation_short, load_data
from sonomsk.reference.nerve_csa import ReferenceLimit, lookup_limit, reference_set_info

__all__ = [
    "AssessmentRequest",
    "AssessmentResult",
    "CsaAssessment",
    "NerveMeasurementInput",
    "PatientInfo",
    "Pattern",
    "assess",
]

ANALYSIS = "nerve_assess"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AssessmentResult:
    """Everything :func:`assess` decided; ``to_dict()`` is JSON-safe."""

    reference_set: str
    patient: PatientInfo
    measurements: tuple[CsaAssessment, ...]
    indices: tuple[IndexResult, ...]
    side_to_side: tuple[IndexResult, ...]
    variability: VariabilityResult
    goedee: GoedeeResult
    pattern: PatternResult

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every rule outcome as a core :class:`Finding` (for reports and the store)."""
        return (
            *(m.to_finding() for m in self.measurements),
            *(i.to_finding() for i in self.indices if i.computed),
            *(s.to_finding() for s in self.side_to_side),
            *self.variability.findings(),
            self.goedee.to_finding(),
            self.pattern.to_finding(),
            *self.pattern.hints,
        )

    def to_dict(self) -> dict[str, Any]:
        info = reference_set_info(self.reference_set)
        return {
            "schema": SCHEMA_VERSION,
            "analysis": ANALYSIS,
            "sonomsk_version": __version__,
            "reference_set": {"name": info.name, "title": info.title, "population": info.population},
            "patient": self.patient.to_dict(),
            "pattern": self.pattern.pattern.value,
            "zaidman_pattern": self.pattern.zaidman,
            "explanation": self.pattern.explanation,
            "deciding_sites": list(self.pattern.deciding_sites),
            "deciding_other_side": list(self.pattern.deciding_other_side),
            "deciding_sites_detail": list(self.pattern.deciding_sites_detail),
            "candidates": list(self.pattern.candidates),
            "no_lower_limit_sites": list(self.pattern.no_lower_limit_sites),
            "measurements": [m.to_dict() for m in self.measurements],
            "entrapment_indices": [i.to_dict() for i in self.indices],
            "side_to_side": [s.to_dict() for s in self.side_to_side],
            "variability": self.variability.to_dict(),
            "goedee": self.goedee.to_dict(),
            "pattern_detail": self.pattern.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_measurement_set(self) -> MeasurementSet:
        """The CSA values as core Measurements (``area_cross_section``, mm2) with every Finding."""
        method = Method(function="sonomsk.nerve.assess", version=__version__)
        measurements = tuple(
            Measurement(
                name="area_cross_section",
                value=a.measurement.csa_mm2,
                unit=Unit.MM2.value,
                method=method,
                label=a.site,
                context={
                    "site": a.site,
                    "side": a.side,
                    "status": a.status,
                    "ratio_to_uln": None if a.ratio_to_uln is None else round(a.ratio_to_uln, 3),
                    "z_score": None if a.z_score is None else round(a.z_score, 2),
                    "borderline": a.borderline,
                    "reference_set": self.reference_set,
                },
            )
            for a in self.measurements
        )
        return MeasurementSet(
            measurements=measurements,
            findings=self.findings,
            source={"reference_set": self.reference_set},
            analysis=ANALYSIS,
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _level_excludes(limit: ReferenceLimit, m: NerveMeasurementInput) -> ReferenceLimit:
    """``limit``, or no reference when the measurement's level declares a plane that the limit's
    source cannot describe (``incompatible_reference_sources`` of the level in
    ``nerve_sites.json``: a trunk in the Goedee/Utrecht protocol plane is not compared with Won
    2012 normal trunks; decision 007). Decided by the measurement's level, not by the set."""
    if m.level is None or limit.source is None:
        return limit
    defs = load_data("nerve_sites.json")["sites"][m.site].get("level_definitions", {})
    why = (defs.get(m.level) or {}).get("incompatible_reference_sources", {}).get(limit.source)
    if why is None:
        return limit
    return ReferenceLimit(
        site=limit.site,
        reference_set=limit.reference_set,
        status="no_reference",
        protocol=limit.protocol,
        reason=f"protocol mismatch: measured at level {m.level!r}; {why} [{citation_short(limit.source)}]",
    )


def _values_by_level(
    measurements: tuple[NerveMeasurementInput, ...],
) -> dict[tuple[str, str, str | None], float]:
    """CSA keyed by (site, side, level); several trunks of one side at one level: the largest
    stands for the plexus trunk there."""
    values: dict[tuple[str, str, str | None], float] = {}
    for m in measurements:
        key = (m.site, m.side, m.level)
        values[key] = max(values.get(key, 0.0), m.csa_mm2)
    return values


def assess(
    request: Mapping[str, Any] | AssessmentRequest, *, reference_set: str | None = None
) -> AssessmentResult:
    """Assess nerve CSA measurements against reference values and classify the pattern.

    Parameters
    ----------
    request
        An :class:`AssessmentRequest` or a mapping ``{"patient": {...}, "measurements": [{"site",
        "side", "csa_mm2", ...}], "reference_set": optional}``; CSA in mm2.
    reference_set
        Overrides the request's set; None means the request's set, else the default (``dutch``).

    Raises
    ------
    InvalidParameterError
        Unknown site, bad side, CSA outside the site's plausibility bounds
        (``reference/data/nerve_input_bounds.json``), unknown level, non-integer Doppler count,
        missing or unknown fields, wrong types, duplicate site/side, unknown reference set; the
        message names the field.
    """
    if isinstance(request, AssessmentRequest):
        req = request
    elif isinstance(request, Mapping):
        req = AssessmentRequest.from_dict(request)
    else:
        raise InvalidParameterError(
            f"request: expected a mapping or AssessmentRequest, got {type(request).__name__}"
        )
    set_name = reference_set_info(reference_set or req.reference_set).name
    judged = []
    for m in req.measurements:
        wrist, where = m.wrist_circumference_cm, f"measurements[{m.index}]"
        if wrist is None and m.site == "median_wrist":
            wrist, where = req.patient.wrist_circumference_cm, "patient"
        try:
            limit = lookup_limit(
                m.site,
                reference_set=set_name,
                side=m.side,
                trunk=m.trunk,
                level=m.level,
                wrist_circumference_cm=wrist,
            )
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"{where}.{exc}") from None
        judged.append(judge(m, _level_excludes(limit, m), req.patient))
    by_level = _values_by_level(req.measurements)
    # entrapment-index sites have no levels: (site, side) identifies their value
    values = {(site, side): v for (site, side, level), v in by_level.items() if level is None}
    indices = tuple(compute_entrapment_indices(values))
    sides = tuple(compare_sides(by_level))
    variability = compute_variability(by_level)
    goedee = evaluate_goedee(req.measurements, set_name)
    pattern = classify_pattern(
        judged,
        (*indices, *sides),
        goedee,
        variability,
        set_name,
        paediatric=paediatric_note(req.patient),
        age=req.patient.age,
    )
    return AssessmentResult(
        reference_set=set_name,
        patient=req.patient,
        measurements=tuple(judged),
        indices=indices,
        side_to_side=sides,
        variability=variability,
        goedee=goedee,
        pattern=pattern,
    )
