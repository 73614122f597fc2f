"""The study RESULTS model: lossless JSON round trip, schema, and refusal of bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sonomsk.core.errors import CorruptDataError, InputPathError, InvalidParameterError
from sonomsk.core.results import Measurement, Method
from sonomsk.report.results import (
    ImageRef,
    SignOff,
    Structure,
    StudyResults,
    json_schema,
    load_results,
    save_results,
)


def test_round_trip_is_lossless(example: StudyResults, tmp_path: Path) -> None:
    again = StudyResults.from_json(example.to_json())
    assert again == example
    assert again.to_json() == example.to_json()
    p = save_results(example, tmp_path / "r.json")
    assert load_results(p) == example


def test_example_has_every_part(example: StudyResults) -> None:
    assert len(example.images) == 2 and all(im.calibrated for im in example.images)
    assert {s.kind.value for s in example.structures} == {"nerve"}
    assert example.nerve_assessment and example.differential and example.muscle and example.procedure
    for s in example.structures:
        assert len(example.measurements_of(s)) == 1


def test_example_area_matches_the_drawn_ellipse(example: StudyResults) -> None:
    # The outline is a 64-gon inscribed in an ellipse of semi-axes a, b: area = n/2 sin(2pi/n) a b.
    import math

    from sonomsk.report.example import example_inputs

    spec = example_inputs()
    for site, m in zip(spec["nerve_sites"], example.measurements, strict=True):
        a, b = site["semi_axes_mm"]
        expected = 64 / 2 * math.sin(2 * math.pi / 64) * a * b
        assert m.value == pytest.approx(expected, rel=2e-3)


def test_json_schema_accepts_the_example(example: StudyResults) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(example.to_dict(), json_schema())
    bad = example.to_dict()
    bad["images"][0]["rows"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json_schema())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="other"), "schema"),
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d["images"][0].update(rows=0), "rows and cols"),
        (lambda d: d["images"][0].update(spacing_mm=[0.1, -1]), "spacing_mm"),
        (lambda d: d["images"][0].update(colour="red"), "unknown fields"),
        (lambda d: d.update(nerve_assesment={}), r"results: unknown fields \['nerve_assesment'\]"),
        (lambda d: d["images"][0].update(rows="many"), "rows must be a whole number, got 'many'"),
        (lambda d: d["structures"][0].update(image="nope"), "is not one of"),
        (lambda d: d["structures"][0].update(contour=[[0, 0], [1, 1]]), "at least 3"),
        (lambda d: d["structures"][0].update(contour=[[0, 0], [1e9, 1], [1, 1e9]]), "lies outside its image"),
        (lambda d: d["structures"][0].update(kind="planet"), "planet"),
        (lambda d: d.update(signoff={"state": "signed"}), "needs 'by' and 'at'"),
        (lambda d: d["measurements"][0].pop("method"), r"measurements\[0\]: missing field 'method'"),
        (lambda d: d.update(images=[d["images"][0], d["images"][0]]), "unique"),
    ],
)
def test_bad_results_are_refused(example: StudyResults, mutate, message: str) -> None:
    data = example.to_dict()
    mutate(data)
    with pytest.raises(InvalidParameterError, match=message):
        StudyResults.from_dict(data)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.json"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptDataError, match=r"broken\.json"):
        load_results(p)
    with pytest.raises(InputPathError, match=r"missing\.json"):
        load_results(tmp_path / "missing.json")
    q = tmp_path / "wrong.json"
    q.write_text(json.dumps({"schema": "x"}), encoding="utf-8")
    with pytest.raises(InvalidParameterError, match=r"wrong\.json"):
        load_results(q)


def test_uncalibrated_results_stay_in_px() -> None:
    im = ImageRef(id="a", rows=10, cols=10, spacing_mm=None)
    s = Structure(id="s", image="a", label="nerve", kind="nerve", contour=((1, 1), (1, 5), (5, 5)))
    m = Measurement(
        name="area_cross_section",
        value=8.0,
        unit="px2",
        method=Method("f", "1"),
        label="nerve",
        context={"structure": "s", "image": "a"},
    )
    r = StudyResults(images=(im,), structures=(s,), measurements=(m,))
    assert not r.images[0].calibrated
    assert StudyResults.from_json(r.to_json()).measurements[0].unit == "px2"


def _area(unit: str, provenance: dict | None = None) -> Measurement:
    return Measurement(
        name="area_cross_section",
        value=8.0,
        unit=unit,
        method=Method("f", "1"),
        label="nerve",
        context={"structure": "s", "image": "a"},
        provenance=provenance or {},
    )


def test_millimetres_on_an_uncalibrated_image_are_refused_unless_their_spacing_is_named() -> None:
    im = ImageRef(id="a", rows=10, cols=10, spacing_mm=None)
    s = Structure(id="s", image="a", label="nerve", kind="nerve", contour=((1, 1), (1, 5), (5, 5)))
    with pytest.raises(
        InvalidParameterError, match=r"measurements\[0\] \(area_cross_section\): in mm2 but image 'a'"
    ):
        StudyResults(images=(im,), structures=(s,), measurements=(_area("mm2"),))
    with pytest.raises(InvalidParameterError, match=r"provenance\.spacing_mm"):
        StudyResults(images=(im,), structures=(s,), measurements=(_area("mm2", {"spacing_mm": None}),))
    # an image whose calibrated regions differ: each measurement names the spacing it used
    named = StudyResults(
        images=(im,), structures=(s,), measurements=(_area("mm2", {"spacing_mm": [0.1, 0.1]}),)
    )
    assert StudyResults.from_json(named.to_json()).measurements[0].unit == "mm2"
    calibrated = ImageRef(id="a", rows=10, cols=10, spacing_mm=(0.1, 0.1))
    assert (
        StudyResults(images=(calibrated,), structures=(s,), measurements=(_area("mm2"),)).images[0].calibrated
    )


def test_free_form_sections_must_be_json() -> None:
    with pytest.raises(InvalidParameterError, match="nerve_assessment"):
        StudyResults(nerve_assessment={"x": float("nan")})
    with pytest.raises(InvalidParameterError, match="differential"):
        StudyResults(differential=["not", "a", "mapping"])  # type: ignore[arg-type]


def test_signoff_round_trip(example: StudyResults) -> None:
    signed = dataclasses.replace(
        example, signoff=SignOff(state="signed", by="Dr^A", at="2026-01-01T00:00:00")
    )
    assert StudyResults.from_json(signed.to_json()).signoff.state.value == "signed"
