from __future__ import annotations

import json
import math

import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.results import Citation, Finding, Measurement, MeasurementSet, Method

M = Method(function="sonomsk.nerve.morphology.measure", version="0.1.0", backend="unet-v1")


def _set() -> MeasurementSet:
    a = Measurement(
        name="area_cross_section",
        value=10.25,
        unit="mm2",
        method=M,
        label="nerve#1",
        context={"site": "median_wrist", "side": "right", "box": (1, 2, 3, 4)},
        provenance={"sop_instance_uid": "1.2.3", "parameters": {"threshold": 0.5}},
        uncertainty=0.3,
    )
    b = Measurement.failed("perimeter", "contour touches the image border", M, label="nerve#1")
    f = Finding(
        rule_id="nerve.csa.uln",
        rule_version="1",
        outcome="enlarged",
        inputs={"csa_mm2": 14.2},
        thresholds={"uln_mm2": 11},
        citations=(Citation(text="Dutch ULN table", evidence="A"),),
        explanation="14.2 > 11",
    )
    return MeasurementSet(measurements=(a, b), findings=(f,), source={"sha256": "ab"}, analysis="nerve")


def test_json_round_trip_is_lossless() -> None:
    s = _set()
    back = MeasurementSet.from_json(s.to_json())
    assert back == s
    assert back.to_json() == s.to_json()
    assert back.measurements[0].context["box"] == [1, 2, 3, 4]


def test_failure_is_not_a_number() -> None:
    s = _set()
    failed = s.by_name("perimeter")[0]
    assert not failed.ok and failed.value is None
    with pytest.raises(InvalidParameterError, match="value or a failure"):
        Measurement(name="x", value=None, unit="mm", method=M)
    with pytest.raises(InvalidParameterError, match="no value"):
        Measurement(name="x", value=1.0, unit="mm", method=M, failure="why")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_refused(bad: float) -> None:
    with pytest.raises(InvalidParameterError, match="finite"):
        Measurement(name="x", value=bad, unit="mm", method=M)


def test_unserialisable_context_refused() -> None:
    with pytest.raises(InvalidParameterError, match="JSON"):
        Measurement(name="x", value=1.0, unit="mm", method=M, context={"obj": object()})


def test_citation_rules() -> None:
    with pytest.raises(InvalidParameterError, match="U values"):
        Citation(text="x", evidence="U")
    with pytest.raises(InvalidParameterError, match="caveat"):
        Citation(text="x", evidence="B")
    assert Citation(text="x", evidence="B", caveat="secondary source").caveat


def test_schema_version_checked() -> None:
    d = json.loads(_set().to_json())
    d["schema"] = 99
    with pytest.raises(InvalidParameterError, match="schema"):
        MeasurementSet.from_dict(d)


def test_extended_keeps_source() -> None:
    s = _set().extended([Measurement(name="x", value=1.0, unit="mm", method=M)])
    assert len(s) == 3 and s.source == {"sha256": "ab"}
    assert [m.name for m in s] == ["area_cross_section", "perimeter", "x"]
