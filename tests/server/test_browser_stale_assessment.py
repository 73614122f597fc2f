"""The nerve panel says when the assessment it shows is out of date (decision 012)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .test_browser import _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)
from .test_workflow_nerve import SPACING

W = "/api/workflows/nerve"


def test_correction_after_assessment_marks_it_out_of_date(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=5)
    site = {"site": "median_wrist", "side": "right"}
    assert httpx.put(f"{server}{W}/instances/{iid}/site", json=site).status_code == 200
    row, col = truth["centroid_px"]
    made = httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col})
    assert made.status_code == 200
    sid = made.json()["structures"][0]["id"]
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    with page.expect_response(lambda r: r.url.endswith("/assess") and r.status == 200):
        page.click('[data-testid="nerve-assess"]')
    page.wait_for_selector('[data-testid="nerve-pattern"]')
    assert page.locator('[data-testid="nerve-stale"]').count() == 0

    # a correction made elsewhere (another reader, or the API): the panel learns of it on reload
    half = (20.0 / SPACING**2) ** 0.5 / 2
    square = [
        [row - half, col - half],
        [row - half, col + half],
        [row + half, col + half],
        [row + half, col - half],
    ]
    assert httpx.put(f"{server}{W}/structures/{sid}/points", json={"points": square}).status_code == 200
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-stale"]')
    text = page.locator('[data-testid="nerve-stale"]').inner_text()
    assert "Out of date" in text and "median_wrist right" in text and "mm2 now" in text

    with page.expect_response(lambda r: r.url.endswith("/assess") and r.status == 200):
        page.click('[data-testid="nerve-assess"]')
    _wait_for(page, "document.querySelector('[data-testid=nerve-stale]') === null")
    assert "20" in page.locator("#nerve-result").inner_text()

    # every outline discarded: nothing to assess again, so the clinician withdraws the assessment
    assert httpx.delete(f"{server}{W}/structures/{sid}").status_code == 200
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-withdraw"]')
    page.once("dialog", lambda d: d.accept())
    study = page.evaluate("SONO.state.study.id")
    with page.expect_response(
        lambda r: f"/studies/{study}/assessment?analysis_id=" in r.url and r.request.method == "DELETE"
    ) as resp:
        page.click('[data-testid="nerve-withdraw"]')
    assert resp.value.status == 200
    _wait_for(page, "document.querySelector('[data-testid=nerve-pattern]') === null")
    assert (
        httpx.get(f"{server}/api/workflows/report/studies/{study}/results").json()["nerve_assessment"] is None
    )


def test_a_study_never_assessed_asks_for_no_assessment_and_a_withdrawal_elsewhere_clears_it(
    page: Any,  # noqa: F811
    server: str,
    tmp_path: Path,
) -> None:
    not_found: list[str] = []
    page.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=5)
    assert httpx.put(
        f"{server}{W}/instances/{iid}/site", json={"site": "median_wrist", "side": "right"}
    ).is_success
    row, col = truth["centroid_px"]
    assert httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col}).is_success
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-assess"]')
    study = page.evaluate("SONO.state.study.id")
    assert page.evaluate("SONO.state.study.assessment_id") is None
    assert not not_found, f"requests answered 404 (logged as errors in the console): {not_found}"

    with page.expect_response(lambda r: r.url.endswith("/assess") and r.status == 200):
        page.click('[data-testid="nerve-assess"]')
    page.wait_for_selector('[data-testid="nerve-pattern"]')
    shown = httpx.get(f"{server}{W}/studies/{study}/assessment").json()["analysis_id"]
    # a colleague withdraws it from another tab; this page learns of it on its next reload
    assert httpx.delete(f"{server}{W}/studies/{study}/assessment", params={"analysis_id": shown}).is_success
    page.evaluate("SONO.reloadStudy()")
    _wait_for(page, "document.querySelector('[data-testid=nerve-pattern]') === null")
    assert page.evaluate("SONO.state.study.assessment_id") is None
    assert not not_found, f"requests answered 404: {not_found}"
