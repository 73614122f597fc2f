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
    _wait_for(page, "document.querySelector('#status').textContent.includes('changed since this draft')")
    assert page.locator(f'[data-testid="report-status-{second}"]').inner_text() == "draft"
