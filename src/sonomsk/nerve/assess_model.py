"""The input of a nerve assessment and the per-measurement verdict against a reference limit.

Input validation happens here, once, at the public boundary: every error is an
:class:`~sonomsk.core.errors.InvalidParameterError` whose message names the field
(``measurements[2].csa_mm2``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Finding
from sonomsk.nerve.sites import check_side, default_level, site_info
from sonomsk.reference.loader import citation, citation_short
from sonomsk.reference.nerve_csa import (
    ReferenceLimit,
    adult_min_age,
    bmi_bounds,
    check_level,
    covariate_effects,
    csa_input_bounds,
    doppler_count_bounds,
    measurement_reliability,
    patient_input_bounds,
    pattern_sd_mm2,
    wrist_circumference_bounds,
)

__all__ = [
    "TRUNKS",
    "AssessmentRequest",
    "CsaAssessment",
    "NerveMeasurementInput",
    "PatientInfo",
    "covariate_notes",
    "paediatric_note",
]

RULE_VERSION = "1"

# The plausibility bounds of every input field (patient age, height and weight included) live in
# ``reference/data/nerve_input_bounds.json`` with their rationale.
_SEXES = {"f": "F", "female": "F", "m": "M", "male": "M"}
_ECHO_CLASSES = {1: "hypoechoic", 2: "mixed", 3: "hyperechoic"}
#: The brachial plexus trunks a ``brachial_plexus_trunk`` measurement may name (field ``trunk``).
TRUNKS = ("upper", "middle", "lower")
_MEASUREMENT_KEYS = {
    "site",
    "side",
    "csa_mm2",
    "level",
    "trunk",
    "wrist_circumference_cm",
    "echogenicity",
    "intraneural_doppler",
    "note",
    "id",
    "meta",
}
_PATIENT_KEYS = {"age", "sex", "height_cm", "weight_kg", "wrist_circumference_cm", "id", "meta"}
_REQUEST_KEYS = {"patient", "measurements", "reference_set", "meta"}


def _number(value: Any, path: str, lo: float, hi: float, unit: str, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(f"{path}: expected a number in {unit}, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < lo or x > hi or (lo_open and x <= lo):
        bound = f"more than {lo:g}" if lo_open else f"{lo:g}"
        raise InvalidParameterError(f"{path}: expected {bound} to {hi:g} {unit}, got {value!r}")
    return x


def _mapping(value: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{path}: expected a JSON object, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise InvalidParameterError(
            f"{path}.{unknown[0]}: unknown field; expected some of {', '.join(sorted(allowed))}"
        )
    return value


@dataclass(frozen=True)
class PatientInfo:
    """Patient covariates: age (years), sex ('F'/'M'), height (cm), weight (kg), wrist (cm)."""

    age: float | None = None
    sex: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    wrist_circumference_cm: float | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "patient") -> PatientInfo:
        d = _mapping(data, path, _PATIENT_KEYS)
        kwargs: dict[str, Any] = {}
        for key, (lo, hi, unit) in patient_input_bounds().items():
            if d.get(key) is not None:
                kwargs[key] = _number(d[key], f"{path}.{key}", lo, hi, unit)
        if d.get("wrist_circumference_cm") is not None:
            kwargs["wrist_circumference_cm"] = _number(
                d["wrist_circumference_cm"],
                f"{path}.wrist_circumference_cm",
                *wrist_circumference_bounds(),
                "cm",
            )
        if d.get("sex") is not None:
            sex = d["sex"]
            if not isinstance(sex, str) or sex.strip().lower() not in _SEXES:
                raise InvalidParameterError(f"{path}.sex: expected 'F' or 'M', got {sex!r}")
            kwargs["sex"] = _SEXES[sex.strip().lower()]
        out = cls(**kwargs)
        lo, hi = bmi_bounds()
        if out.bmi is not None and not lo <= out.bmi <= hi:
            raise InvalidParameterError(
                f"{path}.height_cm and {path}.weight_kg: together they give a BMI of {out.bmi:.1f} kg/m2, "
                f"outside {lo:g}-{hi:g}; check both values and their units (cm, kg)"
            )
        return out

    @property
    def bmi(self) -> float | None:
        """Body-mass index (kg/m2) from height and weight when both are given, else None."""
        if self.height_cm is None or self.weight_kg is None:
            return None
        return self.weight_kg / (self.height_cm / 100.0) ** 2

    def covariate_text(self, variable: str) -> str | None:
        """``variable`` as given for this patient (e.g. ``"BMI 27.8 kg/m2"``), None when not given."""
        value = self.bmi if variable == "bmi" else getattr(self, variable, None)
        if value is None:
            return None
        if variable == "sex":
            return f"sex {value}"
        label, unit = {
            "age": ("age", "years"),
            "height_cm": ("height", "cm"),
            "weight_kg": ("weight", "kg"),
            "bmi": ("BMI", "kg/m2"),
        }[variable]
        return f"{label} {value:.1f} {unit}" if variable == "bmi" else f"{label} {value:g} {unit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "age": self.age,
            "sex": self.sex,
            "height_cm": self.height_cm,
            "weight_kg": self.weight_kg,
            "wrist_circumference_cm": self.wrist_circumference_cm,
        }


@dataclass(frozen=True)
class NerveMeasurementInput:
    """One CSA measurement: site, side, CSA in mm2 (calibrated; pixels are refused) and extras.

    ``echogenicity`` is ``{"fraction_hypoechoic": 0..1}`` and/or ``{"class": 1|2|3}`` (1
    hypoechoic, 2 mixed, 3 hyperechoic; Bochum classes); ``intraneural_doppler`` is a bool or a
    vessel count. Both are reported, not scored (no confirmed cut-offs).
    """

    site: str
    side: str
    csa_mm2: float
    index: int = 0
    level: str | None = None
    trunk: str | None = None
    wrist_circumference_cm: float | None = None
    echogenicity: Mapping[str, Any] | None = None
    intraneural_doppler: bool | int | None = None
    note: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.side)

    @classmethod
    def from_dict(cls, data: Any, index: int) -> NerveMeasurementInput:
        path = f"measurements[{index}]"
        if isinstance(data, Mapping) and "csa_px2" in data:
            raise InvalidParameterError(
                f"{path}.csa_px2: assessment needs a calibrated CSA in mm2 (csa_mm2); pixel areas "
                "cannot be compared with reference values"
            )
        d = _mapping(data, path, _MEASUREMENT_KEYS)
        for required in ("site", "side", "csa_mm2"):
            if required not in d:
                raise InvalidParameterError(f"{path}.{required}: missing required field")
        if not isinstance(d["site"], str):
            raise InvalidParameterError(f"{path}.site: expected a site name, got {d['site']!r}")
        site = d["site"].strip().lower()
        site_info(site, parameter=f"{path}.site")
        side = check_side(d["side"], parameter=f"{path}.side")
        csa = _csa(d["csa_mm2"], f"{path}.csa_mm2", site)
        level = _level(d.get("level"), f"{path}.level", site)
        trunk = d.get("trunk")
        if trunk is not None:
            if site != "brachial_plexus_trunk":
                raise InvalidParameterError(
                    f"{path}.trunk: only for site brachial_plexus_trunk, got site {site}"
                )
            if not isinstance(trunk, str) or trunk.strip().lower() not in TRUNKS:
                raise InvalidParameterError(
                    f"{path}.trunk: expected one of {', '.join(TRUNKS)}, got {trunk!r}"
                )
            trunk = trunk.strip().lower()
        wrist = d.get("wrist_circumference_cm")
        if wrist is not None:
            wrist = _number(wrist, f"{path}.wrist_circumference_cm", *wrist_circumference_bounds(), "cm")
        echo = d.get("echogenicity")
        if echo is not None:
            echo = _echogenicity(echo, f"{path}.echogenicity")
        doppler = d.get("intraneural_doppler")
        if doppler is not None and not isinstance(doppler, bool):
            count = _number(doppler, f"{path}.intraneural_doppler", *doppler_count_bounds(), "vessels")
            if not count.is_integer():
                raise InvalidParameterError(
                    f"{path}.intraneural_doppler: expected true/false or a whole number of vessels, got {doppler!r}"
                )
            doppler = int(count)
        note = d.get("note")
        return cls(
            site=site,
            side=side,
            csa_mm2=csa,
            index=index,
            level=level,
            trunk=trunk,
            wrist_circumference_cm=wrist,
            echogenicity=echo,
            intraneural_doppler=doppler,
            note=None if note is None else str(note),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "side": self.side,
            "csa_mm2": self.csa_mm2,
            "level": self.level,
            "trunk": self.trunk,
            "wrist_circumference_cm": self.wrist_circumference_cm,
            "echogenicity": None if self.echogenicity is None else dict(self.echogenicity),
            "intraneural_doppler": self.intraneural_doppler,
            "note": self.note,
        }


def _csa(value: Any, path: str, site: str) -> float:
    """The CSA in mm2 inside the site's plausibility bounds (typing and unit errors are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidParameterError(f"{path}: expected a number in mm2, got {value!r}")
    lo, hi = csa_input_bounds(site)
    x = float(value)
    if not lo <= x <= hi:
        hint = " (a value in cm2? give mm2)" if 0 < x < lo else ""
        raise InvalidParameterError(
            f"{path}: {value!r} mm2 is outside the plausible range {lo:g} to {hi:g} mm2 at {site}{hint}"
        )
    return x


def _level(value: Any, path: str, site: str) -> str | None:
    """The measurement level: one of the site's levels, or the site's default when absent."""
    if value is None:
        return default_level(site)
    return check_level(site, value.strip().lower() if isinstance(value, str) else value, parameter=path)


def _echogenicity(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, str):
        names = {v: k for k, v in _ECHO_CLASSES.items()}
        if value.strip().lower() not in names:
            raise InvalidParameterError(f"{path}: expected one of {', '.join(names)}, got {value!r}")
        return {"class": names[value.strip().lower()], "class_name": value.strip().lower()}
    d = _mapping(value, path, {"fraction_hypoechoic", "class"})
    out: dict[str, Any] = {}
    if d.get("fraction_hypoechoic") is not None:
        out["fraction_hypoechoic"] = _number(
            d["fraction_hypoechoic"], f"{path}.fraction_hypoechoic", 0, 1, "(fraction)"
        )
    if d.get("class") is not None:
        cls = d["class"]
        if isinstance(cls, bool) or cls not in _ECHO_CLASSES:
            raise InvalidParameterError(f"{path}.class: expected 1, 2 or 3, got {cls!r}")
        out["class"] = int(cls)
        out["class_name"] = _ECHO_CLASSES[int(cls)]
    if not out:
        raise InvalidParameterError(f"{path}: expected fraction_hypoechoic and/or class")
    return out


@dataclass(frozen=True)
class AssessmentRequest:
    """A patient and their CSA measurements; ``from_dict`` validates a JSON-like request."""

    measurements: tuple[NerveMeasurementInput, ...]
    patient: PatientInfo = field(default_factory=PatientInfo)
    reference_set: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> AssessmentRequest:
        d = _mapping(data, "request", _REQUEST_KEYS)
        raw_patient = d.get("patient")
        patient = PatientInfo.from_dict({} if raw_patient is None else raw_patient, "patient")
        raw = d.get("measurements")
        if raw is None:
            raise InvalidParameterError("measurements: missing required field (a list of measurements)")
        if not isinstance(raw, list) or not raw:
            raise InvalidParameterError(f"measurements: expected a non-empty list, got {raw!r:.60}")
        items = tuple(NerveMeasurementInput.from_dict(m, i) for i, m in enumerate(raw))
        seen: dict[tuple[str, str, str | None], int] = {}
        for m in items:
            k = (m.site, m.side, m.trunk)
            if k in seen:
                first = items[seen[k]]
                if (first.level or default_level(m.site)) != (m.level or default_level(m.site)):
                    # two planes with their own references: never to be averaged into one value
                    raise InvalidParameterError(
                        f"measurements[{m.index}]: {m.site} ({m.side}) at level {m.level or 'default'!r} beside "
                        f"measurements[{seen[k]}] at level {first.level or 'default'!r}; one assessment takes one "
                        "level per site and side (decision 013): assess the other level separately, never "
                        "as an average of the two"
                    )
                if m.site == "brachial_plexus_trunk" and m.trunk is None:
                    # the upper, middle and lower trunks are different structures: never averaged
                    raise InvalidParameterError(
                        f"measurements[{m.index}]: second brachial_plexus_trunk ({m.side}) without 'trunk' beside "
                        f'measurements[{seen[k]}]; name each trunk with "trunk": "upper|middle|lower" '
                        "(different trunks are never averaged into one value)"
                    )
                raise InvalidParameterError(
                    f"measurements[{m.index}]: duplicate of measurements[{seen[k]}] ({m.site}, {m.side}); "
                    "give one CSA per site and side (the maximum, or the mean of repeats at the same level)"
                )
            seen[k] = m.index
        ref = d.get("reference_set")
        if ref is not None and not isinstance(ref, str):
            raise InvalidParameterError(f"reference_set: expected a name, got {ref!r}")
        return cls(measurements=items, patient=patient, reference_set=ref)


@dataclass(frozen=True)
class CsaAssessment:
    """One measurement judged against its reference limit.

    ``status``: ``normal``, ``enlarged``, ``reduced`` or ``no_reference``. ``ratio_to_uln`` is
    CSA / ULN; ``z_score`` only when the source gives mean and SD.
    """

    measurement: NerveMeasurementInput
    limit: ReferenceLimit
    status: str
    ratio_to_uln: float | None
    z_score: float | None
    reduction_assessable: bool
    notes: tuple[str, ...] = ()
    borderline: bool | None = None
    borderline_detail: Mapping[str, Any] | None = None

    @property
    def site(self) -> str:
        return self.measurement.site

    @property
    def side(self) -> str:
        return self.measurement.side

    @property
    def evaluable(self) -> bool:
        return self.status != "no_reference"

    def label(self) -> str:
        return f"{self.site} ({self.side}) {self.measurement.csa_mm2:g} mm2"

    def describe(self) -> str:
        lim = self.limit
        if not self.evaluable:
            return f"{self.label()}: no reference ({lim.reason})"
        assert lim.uln is not None
        src = citation_short(lim.source) if lim.source else "?"
        text = f"{self.label()} {'>' if self.status == 'enlarged' else '<='} ULN {lim.uln:.2f} [{src}]"
        if self.status == "reduced" and lim.lln is not None:
            text = f"{self.label()} < LLN {lim.lln:.2f} [{src}]"
        return f"{text}: {self.status}"

    def to_finding(self) -> Finding:
        lim = self.limit
        thresholds: dict[str, Any] = {}
        if lim.has_limit:
            thresholds = {"uln_mm2": round(lim.uln or 0.0, 3), "kind": lim.kind}
            if lim.lln is not None:
                thresholds["lln_mm2"] = round(lim.lln, 3)
        citations = (citation(lim.source),) if lim.source else ()
        explanation = self.describe()
        detail = self.borderline_detail
        if detail is not None:
            thresholds["between_investigator_sd_mm2"] = detail["sd_mm2"]
            if self.borderline:
                citations = (*citations, citation(detail["source"]))
                explanation = f"{explanation}; borderline: {detail['note']}"
        return Finding(
            rule_id="nerve_csa_reference",
            rule_version=RULE_VERSION,
            outcome=self.status,
            inputs={"site": self.site, "side": self.side, "csa_mm2": self.measurement.csa_mm2},
            thresholds=thresholds,
            citations=citations,
            explanation=explanation,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.measurement.to_dict(),
            "status": self.status,
            "ratio_to_uln": None if self.ratio_to_uln is None else round(self.ratio_to_uln, 3),
            "z_score": None if self.z_score is None else round(self.z_score, 2),
            "reduction_assessable": self.reduction_assessable,
            "borderline": self.borderline,
            "borderline_detail": None if self.borderline_detail is None else dict(self.borderline_detail),
            "limit": self.limit.to_dict(),
            "entrapment_site": site_info(self.site).is_entrapment,
            "region": site_info(self.site).region,
            "notes": list(self.notes),
            "explanation": self.describe(),
        }


def within_measurement_sd(a: CsaAssessment) -> bool:
    """Whether the pattern rules read a row as within the measurement SD of the limit that decides
    its status: its own ``borderline`` flag (decision 011), or, where the source gives no SD for
    the site, the stand-in SD (:func:`sonomsk.reference.nerve_csa.pattern_sd_mm2`). A row without
    that limit is not."""
    if a.borderline is not None:
        return bool(a.borderline)
    limit = a.limit.uln if a.status == "enlarged" else a.limit.lln
    if limit is None:
        return False
    return abs(a.measurement.csa_mm2 - limit) < pattern_sd_mm2(a.site)[0]


def paediatric_note(patient: PatientInfo) -> str | None:
    """The note for a patient younger than the adult age of every reference set (None otherwise)."""
    if patient.age is not None and patient.age < adult_min_age():
        return f"patient younger than {adult_min_age():g}: every reference set here was made on adults"
    return None


def covariate_notes(site: str, patient: PatientInfo) -> list[str]:
    """The published covariate effects at ``site`` that the patient's data make relevant: an effect
    is named when the patient gives at least one of its variables (BMI from height and weight).
    Reported, never applied (no formula is published)."""
    notes = []
    for eff in covariate_effects(site):
        given = [t for t in (patient.covariate_text(v) for v in eff["variables"]) if t is not None]
        if given:
            chosen = (
                "; the sites are sonomsk's reading of the source" if eff.get("sites_interpretation") else ""
            )
            notes.append(
                f"{', '.join(given)}: {eff['effect']} [{citation_short(eff['source'])}] (limit not adjusted{chosen})"
            )
    return notes


def _between_formula_and_fixed(csa: float, limit: ReferenceLimit) -> ReferenceLimit:
    """``limit``, or a ``no_reference`` limit for a CSA that the wrist formula cannot judge
    (decision 011, section 4).

    Below its guard (the healthy mean) the formula does not decide and the fixed ULN stands. A CSA
    between the guard and the fixed ULN would then be normal at a small wrist, yet enlarged at a
    slightly larger wrist whose formula ULN lies just above the guard: such a CSA is not judged,
    so a smaller wrist never gets a more lenient verdict than a larger one (the review of the
    sixth session's change found 10 mm2 normal at 13.9 cm and enlarged at 14.0 cm).
    """
    formula = limit.covariate_formula
    if not limit.has_limit or not formula or formula.get("used") or formula.get("guard_mm2") is None:
        return limit
    assert limit.uln is not None
    guard = float(formula["guard_mm2"])
    if not guard < csa <= limit.uln:
        return limit
    reason = (
        f"not judged: at wrist circumference {formula['value']:g} cm the formula's ULN "
        f"({formula['uln_mm2']:.2f} mm2) is below the healthy mean ({guard:g} mm2), where it cannot "
        f"decide, and the fixed ULN ({limit.uln:g} mm2) is not used for a CSA between {guard:g} and "
        f"{limit.uln:g} mm2: at a slightly larger wrist the formula would call it enlarged"
    )
    # no number of a limit that was not applied reaches any output (report, FHIR, workstation):
    # the reason names both values
    return dataclasses.replace(
        limit, status="no_reference", reason=reason, uln=None, lln=None, mean=None, sd=None
    )


def judge(measurement: NerveMeasurementInput, limit: ReferenceLimit, patient: PatientInfo) -> CsaAssessment:
    """Compare one measurement with its limit (status, ratio, z-score, notes)."""
    notes: list[str] = []
    if measurement.echogenicity is not None or measurement.intraneural_doppler is not None:
        notes.append("echogenicity and intraneural Doppler are reported, not scored (no confirmed cut-offs)")
    child = paediatric_note(patient)
    if child is not None:
        notes.append(child)
    notes.extend(covariate_notes(measurement.site, patient))
    limit = _between_formula_and_fixed(measurement.csa_mm2, limit)
    if child is not None and limit.lln is not None:
        # an adult lower limit says nothing of a child's nerve, which is expected to be smaller
        # (CSA rises with height): never "reduced" (nor motor neuron disease) below 18
        limit = dataclasses.replace(
            limit,
            lln=None,
            lln_note=(
                f"the adult lower limit ({limit.lln:.2f} mm2) is not applied below {adult_min_age():g} "
                "years: no published paediatric reference, and a child's nerves are expected to be smaller"
            ),
        )
    if not limit.has_limit:
        return CsaAssessment(measurement, limit, "no_reference", None, None, False, tuple(notes))
    assert limit.uln is not None
    csa = measurement.csa_mm2
    ratio = csa / limit.uln
    z = limit.z_score(csa)
    if csa > limit.uln:
        status = "enlarged"
    elif limit.lln is not None and csa < limit.lln:
        status = "reduced"
    else:
        status = "normal"
    if limit.lln is None:
        notes.append(f"reduction not assessable: {limit.lln_note}")
    borderline, detail = _borderline(csa, status, limit)
    if detail["note"] is not None:
        notes.append(detail["note"])
    return CsaAssessment(
        measurement, limit, status, ratio, z, limit.lln is not None, tuple(notes), borderline, detail
    )


def _borderline(csa: float, status: str, limit: ReferenceLimit) -> tuple[bool | None, dict[str, Any]]:
    """Whether ``csa`` lies within the between-investigator SD of the limit that decides its status
    (decision 011): the upper limit for an enlarged CSA, the lower for a reduced one, the nearer
    of the two for a normal one. None where the source gives no SD for the site. The status is
    never changed."""
    rel = measurement_reliability(limit.site)
    src = citation_short(rel.source)
    if rel.sd_mm2 is None:
        note = f"{rel.note} [{src}]"
        return None, {"sd_mm2": None, "group": None, "source": rel.source, "note": note}
    assert limit.uln is not None
    candidates = []
    if status in ("normal", "enlarged"):
        candidates.append(("upper", limit.uln))
    if status in ("normal", "reduced") and limit.lln is not None:
        candidates.append(("lower", limit.lln))
    which, value = min(candidates, key=lambda c: abs(csa - c[1]))
    distance = abs(csa - value)
    flagged = round(distance, 9) < rel.sd_mm2
    note = (
        f"{csa:g} mm2 is {distance:.2f} mm2 from the {which} limit {value:.2f} mm2, within the "
        f"between-investigator SD ({rel.sd_mm2:g} mm2) of the limit: a second measurement may fall on "
        f"the other side [{src}]"
    )
    detail = {
        "sd_mm2": rel.sd_mm2,
        "group": rel.group,
        "limit": which,
        "limit_mm2": round(value, 3),
        "distance_mm2": round(distance, 3),
        "source": rel.source,
        "note": note if flagged else None,
    }
    return flagged, detail
