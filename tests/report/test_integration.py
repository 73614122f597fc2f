"""The report renders the real producers' output: ``sonomsk.nerve.assess`` and the differential."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from sonomsk.report.fhir import bundle_dict, validate_bundle
from sonomsk.report.render import render_html
from sonomsk.report.results import StudyResults


def test_real_assessment_and_differential_render(example: StudyResults) -> None:
    assess_mod = pytest.importorskip("sonomsk.nerve.assess", reason="sonomsk.nerve.assess not available")
    diff_mod = pytest.importorskip("sonomsk.knowledge.differential", reason="differential not available")
    csa = {m.context["site"]: m.value for m in example.measurements}
    request = {
        "measurements": [{"site": f"median_{k}", "side": "right", "csa_mm2": v} for k, v in csa.items()]
    }
    assessment = assess_mod.assess(request).to_dict()
    differential = diff_mod.rank({"nerve_assessment": assessment}).to_dict()
    r = dataclasses.replace(example, nerve_assessment=assessment, differential=differential)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no section may fail on the real field names
        html = render_html(r)
    assert "could not be rendered" not in html
    assert differential["candidates"][0]["name"] in html
    assert differential["intended_use"][:40] in html
    for row in assessment["measurements"]:
        assert f"{row['csa_mm2']:.2f}" in html
    bundle = bundle_dict(r)
    validate_bundle(bundle)
    ranges = [
        e["resource"]["referenceRange"][0]["high"]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and "referenceRange" in e["resource"]
    ]
    assert ranges == [row["limit"]["uln_mm2"] for row in assessment["measurements"]]


def test_the_report_names_deciding_sites_with_their_side_and_level(example: StudyResults) -> None:
    """The page shows the deciding sites as they must be measured (review c3 findings 6, 7): the
    right vagus at the thyroid level, not the bare site name."""
    from sonomsk.nerve.assess import assess

    request = {
        "measurements": [
            {"site": "median_forearm", "side": "right", "csa_mm2": 2.2},
            {"site": "ulnar_forearm", "side": "right", "csa_mm2": 5.5},
        ]
    }
    assessment = assess(request).to_dict()
    assert "vagus_neck (right, thyroid level)" in assessment["deciding_sites_detail"]
    html = render_html(dataclasses.replace(example, nerve_assessment=assessment, differential=None))
    import re

    # the table row, not the explanation (which names the level too)
    cells = re.findall(r"<td[^>]*>deciding sites</td><td[^>]*>(.*?)</td>", html, flags=re.S)
    assert cells == ["radial_spiral_groove; vagus_neck (right, thyroid level)"], cells
