"""HTML and PDF reports: content, sections registry, paper sizes, offline rendering, real consumers."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sonomsk.core.errors import FormatWarning, InvalidParameterError, UnsupportedDataError
from sonomsk.core.results import Measurement, Method
from sonomsk.report import sections as sec
from sonomsk.report.render import html_to_pdf, offline_url_fetcher, render_html, render_pdf
from sonomsk.report.results import ImageRef, Structure, StudyResults
from sonomsk.report.sections import fmt

from .report_tools import need_tool, pdf_text


def expected_values(r: StudyResults) -> list[str]:
    """Every value the report must show, formatted as the report formats it."""
    values = [fmt(m.value) for m in r.measurements]
    for row in r.nerve_assessment["measurements"]:  # type: ignore[index]
        values += [fmt(row[k]) for k in ("csa", "limit", "z", "ratio")] + [row["status"]]
    for idx in r.nerve_assessment["indices"]:  # type: ignore[index]
        values += [fmt(idx["value"]), fmt(idx["limit"])]
    values += [fmt(m["z"]) for m in r.muscle["muscles"]]  # type: ignore[index]
    values += [fmt(p["area_mm2"]) for p in r.procedure["injectate_area"]]  # type: ignore[index]
    values += [c["name"] for c in r.differential["candidates"]]  # type: ignore[index]
    values += [r.patient.name or "", r.patient.id or ""]
    return values


def test_html_has_every_section_and_value(example: StudyResults) -> None:
    html = render_html(example)
    for name in (
        "header",
        "images",
        "measurements",
        "nerve_assessment",
        "muscle",
        "procedure",
        "differential",
        "methods",
        "disclaimers",
    ):
        assert f'id="section-{name}"' in html
    for value in expected_values(example):
        assert value in html, value
    assert html.count("data:image/png;base64,") == 5  # 2 key images, CSA, muscle z, injectate plots
    assert "http://" not in html and "https://" not in html
    assert "DRAFT" in html
    assert "[B]" in html  # the WFR limit is [B] and shows its caveat
    assert "may not transfer" in html


def test_paper_sizes(example: StudyResults) -> None:
    assert "size: A4" in render_html(example, paper="a4")
    assert "size: letter" in render_html(example, paper="letter")
    with pytest.raises(InvalidParameterError, match="paper"):
        render_html(example, paper="a3")


def test_section_selection(example: StudyResults) -> None:
    html = render_html(example, sections=["header", "measurements"])
    assert 'id="section-measurements"' in html and 'id="section-differential"' not in html
    with pytest.raises(InvalidParameterError, match="unknown"):
        render_html(example, sections=["nonsense"])


def test_a_plugged_section_appears_without_other_changes(example: StudyResults) -> None:
    @sec.register_section
    class Fasciculations(sec.Section):
        name = "fasciculations"
        title = "Fasciculations"
        order = 55
        template = "<h2>{{ section.title }}</h2><p>count {{ ctx.n }}</p>"

        def applies(self, results: StudyResults) -> bool:
            return "fasciculations" in results.extra

        def context(self, results: StudyResults, env: sec.RenderEnv) -> dict[str, Any]:
            return {"n": results.extra["fasciculations"]["count"]}

    try:
        r = dataclasses.replace(
            example, extra={"fasciculations": {"count": 7}, "tendon": [{"thickness": 4.2}]}
        )
        html = render_html(r)
        assert "count 7" in html
        # placed by its order: after muscles (50), before the procedure (60)
        assert (
            html.index("section-muscle")
            < html.index("section-fasciculations")
            < html.index("section-procedure")
        )
        # an extra entry no section claims is shown by the generic table
        assert 'id="section-extra"' in html and "4.20" in html
        assert render_html(example).count("section-fasciculations") == 0
    finally:
        sec.unregister_section("fasciculations")


def test_a_failing_section_is_reported_and_the_rest_rendered(example: StudyResults) -> None:
    @sec.register_section
    class Broken(sec.Section):
        name = "broken"
        order = 15

        def context(self, results: StudyResults, env: sec.RenderEnv) -> dict[str, Any]:
            raise KeyError("field_renamed")

    try:
        with pytest.warns(FormatWarning, match="broken"):
            html = render_html(example)
        assert "could not be rendered" in html and 'id="section-differential"' in html
    finally:
        sec.unregister_section("broken")


def test_assessment_with_other_field_names_is_rendered_generically(example: StudyResults) -> None:
    r = dataclasses.replace(
        example,
        nerve_assessment={
            "sites": [{"site": "elbow", "csa": 11.5, "uln": 10.0, "flag": "above"}],
            "score": 3,
        },
        differential={"differential": [{"diagnosis": "Ulnar neuropathy", "evidence_for": ["CSA 11.5"]}]},
    )
    html = render_html(r)
    assert "uln" in html and "11.50" in html and "flag-high" in html
    assert "Ulnar neuropathy" in html and "CSA 11.5" in html


def test_uncalibrated_image_says_px(tmp_path: Path) -> None:
    im = ImageRef(id="a", rows=60, cols=80, spacing_mm=None)
    s = Structure(id="s", image="a", label="nerve", kind="nerve", contour=((10, 10), (10, 40), (40, 40)))
    m = Measurement(
        name="area_cross_section",
        value=450.0,
        unit="px2",
        method=Method("f", "1"),
        label="nerve",
        context={"structure": "s", "image": "a"},
    )
    html = render_html(StudyResults(images=(im,), structures=(s,), measurements=(m,)))
    assert "px²" in html and "not calibrated: lengths and areas in px" in html
    assert "Some values are in pixels (px, px²), not millimetres" in html


def test_scale_bar_lengths() -> None:
    from sonomsk.report.figures import scale_bar_mm

    assert scale_bar_mm(320, 0.05) == 2.0  # 16 mm wide image: the longest bar <= 4 mm
    assert scale_bar_mm(800, 0.1) == 20.0
    assert scale_bar_mm(10, 0.01) is None


def test_overlay_draws_the_outline() -> None:
    import io

    import numpy as np
    from PIL import Image

    from sonomsk.report.figures import overlay_png

    im = ImageRef(id="a", rows=100, cols=200, spacing_mm=(0.1, 0.1))
    s = Structure(
        id="s", image="a", label="n", kind="nerve", contour=((20, 20), (20, 80), (60, 80), (60, 20))
    )
    png = np.asarray(Image.open(io.BytesIO(overlay_png(im, [s], frame=np.zeros((100, 200), np.uint8)))))
    assert tuple(png[20, 50]) == (255, 215, 0)  # nerve colour on the outline
    assert tuple(png[40, 50]) == (0, 0, 0)  # inside untouched
    assert png[86, 150:188].max() == 255  # the 2 mm... scale bar in white near the bottom right


def test_offline_fetcher_refuses_the_network() -> None:
    fetcher = offline_url_fetcher()
    fetch = getattr(fetcher, "fetch", fetcher)
    with pytest.raises(UnsupportedDataError, match="never go online"):
        fetch("http://example.com/logo.png")
    with pytest.raises(UnsupportedDataError):
        fetch("file:///etc/passwd")


def test_pdf_never_fetches(tmp_path: Path) -> None:
    html = '<html><body><p>offline check</p><img src="http://192.0.2.1/x.png"></body></html>'
    out = html_to_pdf(html, tmp_path / "x.pdf")
    assert out.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(("paper", "size"), [("a4", "595.276 x 841.89"), ("letter", "612 x 792")])
def test_pdf_renders_and_holds_every_value(
    example: StudyResults, tmp_path: Path, paper: str, size: str
) -> None:
    pdf = render_pdf(example, tmp_path / f"r_{paper}.pdf", paper=paper)
    info = subprocess.run([need_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    assert size in info
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    for value in expected_values(example):
        assert " ".join(value.split()) in flat, value
    exe = need_tool("pdftoppm")
    subprocess.run([exe, "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True)
    pages = list(tmp_path.glob("p*.png"))
    assert len(pages) == 1 and pages[0].stat().st_size > 5000


def test_a_count_is_printed_without_decimals(example: StudyResults) -> None:
    from sonomsk.report.api import render_html

    data = example.to_dict()
    m = dict(data["measurements"][0])
    m.update({"name": "count_fascicle", "value": 13.0, "unit": "count"})
    data["measurements"].append(m)
    html = render_html(StudyResults.from_dict(data))
    row = html[html.index("count fascicle") :][:400]
    assert ">13<" in row and "13.00" not in row and ">count<" not in row


def test_the_report_names_the_trunk_and_level(example: StudyResults) -> None:
    from sonomsk.nerve.assess import assess
    from sonomsk.report.api import render_html

    data = example.to_dict()
    data["nerve_assessment"] = assess(
        {
            "measurements": [
                {
                    "site": "brachial_plexus_trunk",
                    "side": "right",
                    "csa_mm2": 11.7,
                    "trunk": "upper",
                    "level": "utrecht_protocol",
                }
            ]
        }
    ).to_dict()
    html = render_html(StudyResults.from_dict(data))
    assert "brachial_plexus_trunk (upper trunk, utrecht protocol)" in html


def test_the_nerve_table_says_borderline_and_the_limits_notes(example: StudyResults) -> None:
    """A CSA within the between-investigator SD of its limit reads 'enlarged (borderline)', and a
    limit borrowed from another population says so below the table (review, ninth session)."""
    from sonomsk.nerve.assess import assess

    a = assess({"measurements": [{"site": "median_forearm", "side": "right", "csa_mm2": 10.5}]}).to_dict()
    assert a["measurements"][0]["borderline"]
    html = render_html(dataclasses.replace(example, nerve_assessment=a))
    assert "enlarged (borderline)" in html
    assert "Notes on the limits and measurements" in html
    assert "Asian cohorts have smaller nerves" in html and "between-investigator SD" in html


def test_a_borderline_qualifier_keeps_the_rows_own_flag() -> None:
    assert sec.flag_of("normal (borderline)") == "normal"
    assert sec.flag_of("enlarged (borderline)") == "high"
    assert sec.flag_of("reduced (borderline)") == "low"
    assert sec.flag_of("borderline") == "borderline"


def test_an_assessment_made_for_another_patient_is_flagged(example: StudyResults) -> None:
    """The assessment's age and sex chose its limits and notes: a report whose patient differs
    (hand-assembled RESULTS) says so above the table; the same patient gives no warning."""
    from sonomsk.nerve.assess import assess
    from sonomsk.report.results import Patient, Study

    rows = [{"site": "median_wrist", "side": "right", "csa_mm2": 12.0}]
    child = assess({"patient": {"age": 9, "sex": "M"}, "measurements": rows}).to_dict()
    r = dataclasses.replace(
        example,
        patient=Patient(name="Doe^Jane", id="P1", birth_date="1972-03-01", sex="F"),
        study=dataclasses.replace(example.study, date="2026-01-02")
        if example.study
        else Study(date="2026-01-02"),
        nerve_assessment=child,
        differential=None,
    )
    html = render_html(r)
    assert 'data-testid="nerve-patient-mismatch"' in html
    assert "sex M (the report&#39;s patient: F)" in html and "age 9 (the report&#39;s patient: 53" in html
    same = assess({"patient": {"age": 53, "sex": "F"}, "measurements": rows}).to_dict()
    assert 'data-testid="nerve-patient-mismatch"' not in render_html(
        dataclasses.replace(r, nerve_assessment=same)
    )


def test_report_shows_internerve_variability_and_what_an_uncomputed_index_needs(
    example: StudyResults,
) -> None:
    """The report shows what the workstation panel shows: the internerve variability line, and for
    an index that could not be computed the sites it needs (was a bare dash)."""
    from sonomsk.nerve.assess import assess

    rows = [
        {"site": "median_wrist", "side": "right", "csa_mm2": 14.0},
        {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
        {"site": "ulnar_elbow", "side": "right", "csa_mm2": 12.0},
        {"site": "ulnar_forearm", "side": "right", "csa_mm2": 6.0},
    ]
    na = assess({"measurements": rows}).to_dict()
    assert na["variability"]["internerve"] is not None
    html = render_html(dataclasses.replace(example, nerve_assessment=na, differential=None))
    assert "internerve variability = " in html
    assert "not computed: needs median_pronator_quadratus" in html


def test_report_differential_shows_how_a_ratio_was_assembled(example: StudyResults) -> None:
    """The report prints an evidence item's note, as the command line does (Goedee's pair)."""
    from sonomsk.knowledge.differential import rank

    d = rank({"findings": {"proximal_median_or_plexus_enlarged": "present"}}).to_dict()
    html = render_html(dataclasses.replace(example, differential=d))
    assert "note: a pair assembled by sonomsk" in html
