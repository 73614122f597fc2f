"""What the nerve panel says beside a CSA: borderline values, the limits' notes (a fallback to
another population's limits), images left out, and a calibrated image measured in px (review of
the ninth session)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx

from .test_browser import _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)
from .test_workflow_nerve import require_dicom_reader, square_outline

W = "/api/workflows/nerve"


def test_borderline_and_fallback_notes_are_shown_and_kept(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    iid, truth = _upload_one_nerve(page, tmp_path / "forearm.dcm", csa_mm2=10.0, seed=4)
    assert httpx.put(
        f"{server}{W}/instances/{iid}/site", json={"site": "median_forearm", "side": "right"}
    ).is_success
    row, col = truth["centroid_px"]
    made = httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col}).json()
    sid = made["structures"][0]["id"]
    # 10.5 mm2 against the median forearm limit of 10 (Bae 2021, a Korean fallback): borderline
    assert httpx.put(
        f"{server}{W}/structures/{sid}/points", json={"points": square_outline(row, col, 10.5)}
    ).is_success
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    with page.expect_response(lambda r: r.url.endswith("/assess") and r.status == 200):
        page.click('[data-testid="nerve-assess"]')
    page.wait_for_selector('[data-testid="nerve-borderline"]')
    tips = page.evaluate(
        "[...document.querySelectorAll('[data-testid=nerve-chart] circle title')].map((t) => t.textContent)"
    )
    assert any("borderline" in t for t in tips), tips
    notes = page.locator('[data-testid="nerve-notes"]').inner_text()
    assert "between-investigator SD" in notes and "Asian cohorts have smaller nerves" in notes
    # reopened later (another session), the stored assessment shows the same
    page.reload()
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    study = httpx.get(f"{server}/api/studies").json()[0]["id"]
    page.evaluate(f"SONO.showStudy({study})")
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.wait_for_selector('[data-testid="nerve-borderline"]')
    assert "Asian cohorts" in page.locator('[data-testid="nerve-notes"]').inner_text()


def test_a_calibrated_image_measured_in_px_says_why(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    require_dicom_reader()
    image, truth = simulate_scene(
        "nerve", seed=41, overrides={"vary": False, "csa_mm2": 9.0, "artery": False}
    )
    region = image.regions[0]
    rows, cols = image.rows, image.columns
    # the calibrated region covers only the right part of the frame; the nerve lies outside it
    half = dataclasses.replace(region, box=(0, int(cols * 0.6), rows, cols))
    path = tmp_path / "partial.dcm"
    write_dicom(
        dataclasses.replace(image, regions=(half,)), path, PatientID="PART1", PatientName="Part^Region"
    )
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(path)])
    _wait_for(page, "SONO.state.panes[0].inst !== null && SONO.state.panes[0].inst !== undefined")
    iid = int(page.evaluate("SONO.state.panes[0].inst.id"))
    nerve = next(s for s in truth.structures if s["name"] == "nerve")
    row, col = nerve["centroid_px"]
    assert col < cols * 0.6
    made = httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col})
    assert made.is_success, made.text
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector(f'[data-testid="csa-outside-{iid}"]')
    assert "px²" in page.locator(f'tr[data-instance="{iid}"]').inner_text()
    # the CSA column is the second: seen without scrolling the panel sideways
    box = page.locator(f'[data-testid="csa-outside-{iid}"]').bounding_box()
    assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"]
    # and the current-image panel says it beside the value
    page.evaluate(f"SONO.showInstance({iid})")
    page.wait_for_selector('[data-testid="nerve-csa-outside"]')
