"""The report panel's drafts: saved, signed later, refused when the study changed (decision 012)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .test_browser import _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)

W = "/api/workflows/nerve"


def test_save_a_draft_and_sign_it_later(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=9)
    row, col = truth["centroid_px"]
    made = httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col}).json()
    page.evaluate("SONO.reloadStudy()")
    page.click('#workflow-tabs button[data-workflow="report"]')

    def save_draft() -> int:
        with page.expect_response(lambda r: r.url.endswith("/reports") and r.status == 201) as resp:
            page.click('[data-testid="report-draft"]')
        rid = int(resp.value.json()["id"])
        _wait_for(page, f"document.querySelector('[data-testid=report-status-{rid}]') !== null")
        assert page.locator(f'[data-testid="report-status-{rid}"]').inner_text() == "draft"
        return rid

    first = save_draft()
    with page.expect_response(lambda r: r.url.endswith(f"/reports/{first}/sign") and r.status == 200):
        page.click(f'[data-report="{first}"] [data-sign="{first}"]')
    _wait_for(page, f"document.querySelector('[data-testid=report-status-{first}]').textContent === 'signed'")
    assert page.locator("#status").inner_text().startswith(f"report {first} signed by ")

    second = save_draft()
    pts = made["structures"][0]["points"]
    moved = [[p[0] + 3, p[1]] for p in pts]
    assert (
        httpx.put(
            f"{server}{W}/structures/{made['structures'][0]['id']}/points", json={"points": moved}
        ).status_code
        == 200
    )
    with page.expect_response(lambda r: r.url.endswith(f"/reports/{second}/sign") and r.status == 422):
        page.click(f'[data-report="{second}"] [data-sign="{second}"]')
    _wait_for(
        page, "document.querySelector('#status').textContent.includes('this draft can no longer be signed')"
    )
    assert page.locator(f'[data-testid="report-status-{second}"]').inner_text() == "draft"
    # looked at again, the stale draft offers no Sign button and says why
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.click('#workflow-tabs button[data-workflow="report"]')
    page.wait_for_selector(f'[data-testid="report-not-signable-{second}"]')
    why = page.locator(f'[data-testid="report-not-signable-{second}"]').inner_text()
    assert why.startswith("Cannot be signed: this draft can no longer be signed") and "outlines" in why
    assert page.locator(f'[data-report="{second}"] [data-sign="{second}"]').count() == 0


def test_a_double_click_signs_or_stores_once(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    """The PDF takes seconds: each report button is disabled until its answer, so a second click
    neither stores a second report nor answers 'already signed' for the first."""
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=9)
    row, col = truth["centroid_px"]
    assert httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col}).is_success
    page.evaluate("SONO.reloadStudy()")
    page.click('#workflow-tabs button[data-workflow="report"]')
    study = page.evaluate("SONO.state.study.id")
    reports = f"{server}/api/workflows/report/studies/{study}/reports"

    with page.expect_response(lambda r: r.url.endswith("/reports") and r.status == 201) as resp:
        page.evaluate("() => { const b = document.querySelector('#report-draft'); b.click(); b.click(); }")
    rid = int(resp.value.json()["id"])
    _wait_for(page, f"document.querySelector('[data-sign=\"{rid}\"]') !== null")
    _wait_for(page, "!document.querySelector('#report-draft').disabled")
    assert [r["id"] for r in httpx.get(reports).json()] == [rid]

    errors: list[int] = []
    page.on("response", lambda r: errors.append(r.status) if "/sign" in r.url and r.status >= 400 else None)
    with page.expect_response(lambda r: r.url.endswith(f"/reports/{rid}/sign") and r.status == 200):
        page.evaluate(
            f"() => {{ const b = document.querySelector('[data-sign=\"{rid}\"]'); b.click(); b.click(); }}"
        )
    _wait_for(page, f"document.querySelector('[data-testid=report-status-{rid}]').textContent === 'signed'")
    assert not errors and page.locator("#status").inner_text().startswith(f"report {rid} signed by ")
    card = page.locator(f'[data-report="{rid}"]').inner_text()
    assert " UTC" in card, card  # the signing time says its zone, as the PDF and the SR do
