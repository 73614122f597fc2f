"""Results: Measurement, MeasurementSet and Finding, with a lossless JSON round trip.

A Measurement is a number with its unit, its method and where it came from. A failed measurement
is recorded as a failure with its reason, never as a number. A Finding is the outcome of a rule,
with the inputs and thresholds it used and the citation (with its evidence tag) behind it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sonomsk.core.errors import InvalidParameterError

SCHEMA_VERSION = 1


def _canonical(obj: object, name: str) -> None:
    """Check JSON-safety of a frozen dataclass's mapping fields and store their JSON form.

    Tuples become lists exactly as JSON would make them, so a round trip compares equal.
    """
    for key in ("context", "provenance", "inputs", "thresholds"):
        if hasattr(obj, key):
            value = getattr(obj, key)
            _check_json_value(f"{name}.{key}", value)
            object.__setattr__(obj, key, json.loads(json.dumps(value)))


def _check_json_value(name: str, value: Any) -> None:
    """Refuse values that would not survive JSON unchanged (NaN, inf, arbitrary objects)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameterError(f"{name}: expected a finite number or None, got {value!r}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidParameterError(f"{name}: keys must be strings, got {k!r}")
            _check_json_value(f"{name}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json_value(f"{name}[{i}]", v)
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise InvalidParameterError(f"{name}: {type(value).__name__} is not JSON-serialisable")


@dataclass(frozen=True)
class Method:
    """How a value was produced: the function, the backend (model) and their version."""

    function: str
    version: str
    backend: str | None = None


@dataclass(frozen=True)
class Citation:
    """A published source with the evidence tag of ``clinical-evidence.md`` (A or B)."""

    text: str
    evidence: str
    doi: str | None = None
    caveat: str | None = None

    def __post_init__(self) -> None:
        if self.evidence not in ("A", "B"):
            raise InvalidParameterError(
                f"evidence: expected 'A' or 'B' (U values are never encoded), got {self.evidence!r}"
            )
        if self.evidence == "B" and not self.caveat:
            raise InvalidParameterError(f"caveat: a [B] value needs a visible caveat ({self.text!r})")


@dataclass(frozen=True)
class Measurement:
    """One measured (or failed) quantity.

    ``name`` is noun first (``area_cross_section``, ``thickness_muscle``); ``unit`` is a
    :class:`~sonomsk.core.units.Unit` value (``mm2``, or ``px2`` without calibration).
    ``label`` names the structure or region it came from; ``context`` carries site, side, frame.
    """

    name: str
    value: float | None
    unit: str
    method: Method
    label: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    uncertainty: float | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        if self.failure is None and self.value is None:
            raise InvalidParameterError(f"measurement {self.name}: a value or a failure reason is required")
        if self.failure is not None and self.value is not None:
            raise InvalidParameterError(f"measurement {self.name}: a failed measurement has no value")
        for key in ("value", "uncertainty"):
            _check_json_value(f"measurement {self.name}.{key}", getattr(self, key))
        _canonical(self, f"measurement {self.name}")

    @property
    def ok(self) -> bool:
        return self.failure is None

    @classmethod
    def failed(cls, name: str, reason: str, method: Method, **kwargs: Any) -> Measurement:
        return cls(
            name=name, value=None, unit=kwargs.pop("unit", "none"), method=method, failure=reason, **kwargs
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        d = dict(data)
        d["method"] = Method(**d["method"])
        return cls(**d)


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule: what it decided, from which inputs, against which thresholds."""

    rule_id: str
    rule_version: str
    outcome: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    citations: tuple[Citation, ...] = ()
    explanation: str = ""

    def __post_init__(self) -> None:
        _canonical(self, f"finding {self.rule_id}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["citations"] = [asdict(c) for c in self.citations]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        d = dict(data)
        d["citations"] = tuple(Citation(**c) for c in d.get("citations", ()))
        return cls(**d)


@dataclass(frozen=True)
class MeasurementSet:
    """The measurements and findings of one analysis of one source."""

    measurements: tuple[Measurement, ...] = ()
    findings: tuple[Finding, ...] = ()
    source: Mapping[str, Any] = field(default_factory=dict)
    analysis: str = ""

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self.measurements)

    def __len__(self) -> int:
        return len(self.measurements)

    def by_name(self, name: str) -> list[Measurement]:
        return [m for m in self.measurements if m.name == name]

    def extended(
        self, measurements: Sequence[Measurement] = (), findings: Sequence[Finding] = ()
    ) -> MeasurementSet:
        return MeasurementSet(
            measurements=(*self.measurements, *measurements),
            findings=(*self.findings, *findings),
            source=self.source,
            analysis=self.analysis,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "analysis": self.analysis,
            "source": dict(self.source),
            "measurements": [m.to_dict() for m in self.measurements],
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasurementSet:
        if data.get("schema") != SCHEMA_VERSION:
            raise InvalidParameterError(f"schema: expected {SCHEMA_VERSION}, got {data.get('schema')!r}")
        return cls(
            measurements=tuple(Measurement.from_dict(m) for m in data.get("measurements", ())),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", ())),
            source=dict(data.get("source", {})),
            analysis=str(data.get("analysis", "")),
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> MeasurementSet:
        return cls.from_dict(json.loads(text))
