"""The workstation in a real browser: Playwright driving Debian's Chromium against `sonomsk serve`.

Upload two calibrated simulated nerve DICOMs, assign sites, outline the nerve with a click,
correct the outline by dragging a point with the mouse (the CSA shown changes), load the
contralateral image into the second pane, assess, preview, sign and download the PDF.
With ``SONOMSK_SCREENSHOTS=1`` each page is saved to ``docs/images/workstation_*.png``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port
from .test_workflow_nerve import SPACING, require_dicom_reader, simulated_nerve_dicom

CHROMIUM = Path("/usr/bin/chromium")
STORESCP = Path("/usr/bin/storescp")  # dcmtk's
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "images"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Chromium not installed at /usr/bin/chromium (Debian package chromium)"
    ),
]


@pytest.fixture()
def page(server: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 900}, accept_downloads=True)
            pg = context.new_page()
            pg.set_default_timeout(60_000)
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(server)
            yield pg
            assert not errors, f"JavaScript errors: {errors}"
        finally:
            browser.close()


def _wait_for(page: Any, expression: str, timeout_s: float = 30.0) -> None:
    """Poll a JavaScript expression from here until it is true.

    ``page.evaluate`` runs through the DevTools protocol, which may compile code whatever the
    page's Content-Security-Policy says; ``page.wait_for_function`` compiles its predicate inside
    the page, which the workstation's policy (no 'unsafe-eval') forbids, as it should.
    """
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {expression}")
        page.wait_for_timeout(50)


def _wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s} s")


def _upload_one_nerve(page: Any, path: Path, *, csa_mm2: float, seed: int) -> tuple[int, dict[str, Any]]:
    """Write a simulated calibrated nerve DICOM to ``path``, upload it through the viewer and
    wait until it is shown in pane 1: (its instance id, the nerve's truth)."""
    require_dicom_reader()
    truth = simulated_nerve_dicom(path, csa_mm2=csa_mm2, seed=seed)
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(path)])
    _wait_for(page, "SONO.state.panes[0].inst !== null && SONO.state.panes[0].inst !== undefined")
    return int(page.evaluate("SONO.state.panes[0].inst.id")), truth


def _shot(page: Any, name: str) -> None:
    if os.environ.get("SONOMSK_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"workstation_{name}.png"))


def _screen_xy(page: Any, pane: int, row: float, col: float) -> tuple[float, float]:
    x, y = page.evaluate(
        """([i, row, col]) => { const p = SONO.state.panes[i]; const b = p.canvas.getBoundingClientRect();
             return [b.left + col * p.scale + p.offX, b.top + row * p.scale + p.offY]; }""",
        [pane, row, col],
    )
    return float(x), float(y)


def _csa(page: Any) -> float:
    text = page.locator('[data-testid="nerve-csa"]').inner_text()
    return float(re.findall(r"[-+]?\d+\.?\d*", text)[0])


def test_nerve_study_to_signed_report(page: Any, server: str, tmp_path: Path) -> None:
    require_dicom_reader()
    truth_r = simulated_nerve_dicom(tmp_path / "median_right.dcm", csa_mm2=15.0, seed=11)
    truth_l = simulated_nerve_dicom(tmp_path / "median_left.dcm", csa_mm2=9.0, seed=12)
    truth_f = simulated_nerve_dicom(tmp_path / "median_forearm.dcm", csa_mm2=7.0, seed=13)
    names = ("median_right.dcm", "median_left.dcm", "median_forearm.dcm")

    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / n) for n in names])
    _wait_for(page, "document.querySelectorAll('.thumb').length === 3")
    _wait_for(page, "SONO.state.panes[0].processed !== null")
    ids = page.evaluate("SONO.state.study.series.flatMap((s) => s.instances).map((i) => i.id)")
    right, left, forearm = ids
    _shot(page, "viewer")

    # nerve panel: site and side for both images
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    for iid, site, side in (
        (right, "median_wrist", "right"),
        (left, "median_wrist", "left"),
        (forearm, "median_forearm", "right"),
    ):
        for field, value in (("site", site), ("side", side)):
            url = f"/instances/{iid}/site"
            with page.expect_response(lambda r, url=url: r.url.endswith(url) and r.status == 200):
                page.select_option(f'[data-testid="{field}-select-{iid}"]', value)
            _wait_for(page, f"SONO.findInstance({iid}) && SONO.findInstance({iid}).{field} === '{value}'")

    # show the right image, outline the nerve with one click
    page.click(f'.thumb[data-instance-id="{right}"]')
    _wait_for(page, f"SONO.state.panes[0].inst.id === {right}")
    page.click('[data-testid="nerve-outline"]')
    x, y = _screen_xy(page, 0, *truth_r["centroid_px"])
    with page.expect_response(lambda r: r.url.endswith(f"/instances/{right}/outline") and r.status == 200):
        page.mouse.click(x, y)
    page.wait_for_selector('[data-testid="nerve-csa"]')
    auto = _csa(page)
    assert 3.0 < auto < 60.0  # mm2 of a calibrated image, not px2
    assert "mm²" in page.locator("#nerve-current").inner_text()
    _shot(page, "nerve_outline")

    # drag one outline point 12 image px away from the centre: the CSA shown grows
    pts = page.evaluate("SONO.structuresFor(SONO.state.panes[0])[0].points")
    cr, cc = truth_r["centroid_px"]
    k = max(range(len(pts)), key=lambda i: abs(pts[i][1] - cc))  # the point furthest to the side
    pr, pc = pts[k]
    dr, dc = (pr - cr), (pc - cc)
    norm = (dr * dr + dc * dc) ** 0.5
    sx, sy = _screen_xy(page, 0, pr, pc)
    ex, ey = _screen_xy(page, 0, pr + 12 * dr / norm, pc + 12 * dc / norm)
    with page.expect_response(
        lambda r: "/points" in r.url and r.request.method == "PUT" and r.status == 200
    ) as resp:
        page.mouse.move(sx, sy)
        page.mouse.down()
        page.mouse.move(ex, ey, steps=8)
        page.mouse.up()
    corrected_api = next(m for m in resp.value.json()["measurements"] if m["name"] == "area_cross_section")
    _wait_for(
        page, f"!document.querySelector('[data-testid=nerve-csa]').textContent.startsWith('{auto:.3f}')"
    )
    shown = _csa(page)
    assert shown > auto
    assert shown == pytest.approx(corrected_api["corrected_value"], abs=0.0015)
    assert corrected_api["auto_value"] == pytest.approx(auto, abs=0.0015)
    assert f"auto {auto:.3f}" in page.locator("#nerve-current").inner_text()

    # the contralateral side in the second pane, with one click
    page.click('[data-testid="nerve-contralateral"]')
    _wait_for(page, f"SONO.state.panes[1].inst && SONO.state.panes[1].inst.id === {left}")
    assert "left" in page.locator('.pane[data-pane="1"] .pane-label').inner_text()
    assert page.locator('.pane[data-pane="1"]').is_visible()
    _wait_for(page, "document.querySelector('#status').textContent.startsWith('pane 2: ')")

    # outline the left nerve in the second pane by dragging a box around it
    _wait_for(page, f"SONO.activePane().inst.id === {left}")
    page.click('[data-testid="nerve-outline"]')
    row, col = truth_l["centroid_px"]
    half_w, half_h = (a / SPACING for a in truth_l["semi_axes_mm"])
    # dragged from the bottom-right corner to the top-left one
    x0, y0 = _screen_xy(page, 1, row + half_h, col + half_w)
    x1, y1 = _screen_xy(page, 1, row - half_h, col - half_w)
    with page.expect_response(
        lambda r: r.url.endswith(f"/instances/{left}/outline-box") and r.status == 200
    ) as resp:
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=8)
        page.mouse.up()
    sent = resp.value.request.post_data_json
    assert sent["top"] == pytest.approx(row - half_h, abs=1.0)
    assert sent["bottom"] == pytest.approx(row + half_h, abs=1.0)
    assert sent["left"] == pytest.approx(col - half_w, abs=1.0)
    assert sent["right"] == pytest.approx(col + half_w, abs=1.0)
    page.wait_for_selector('[data-testid="nerve-csa"]')
    assert "median_left.dcm" in page.locator("#nerve-current").inner_text()
    boxed = resp.value.json()
    box_csa = next(m for m in boxed["measurements"] if m["name"] == "area_cross_section")
    assert box_csa["unit"] == "mm2" and boxed["result"]["source"] == "box"
    assert boxed["result"]["method"] == "refinement_window"
    assert box_csa["value"] == pytest.approx(truth_l["csa_mm2_raster"], rel=0.1)  # the shipped model

    # and the right forearm, shown in the active (second) pane from its thumbnail
    page.click(f'.thumb[data-instance-id="{forearm}"]')
    _wait_for(page, f"SONO.state.panes[1].inst.id === {forearm}")
    page.click('[data-testid="nerve-outline"]')
    x, y = _screen_xy(page, 1, *truth_f["centroid_px"])
    with page.expect_response(lambda r: r.url.endswith(f"/instances/{forearm}/outline") and r.status == 200):
        page.mouse.click(x, y)
    _wait_for(page, "document.querySelector('#nerve-current').textContent.includes('median_forearm.dcm')")
    page.click(f'.thumb[data-instance-id="{left}"]')
    _wait_for(page, f"SONO.state.panes[1].inst.id === {left}")
    _shot(page, "nerve_corrected_compare")

    # assessment across sites: pattern, CSA profile chart against the ULN, differential
    with page.expect_response(lambda r: r.url.endswith("/assess") and r.status == 200):
        page.click('[data-testid="nerve-assess"]')
    page.wait_for_selector('[data-testid="nerve-pattern"]')
    assert page.locator('[data-testid="nerve-chart"]').count() >= 1
    assert page.locator('[data-testid="nerve-chart"] circle').count() >= 1
    result = page.locator("#nerve-result").inner_text()
    assert "right" in result and "left" in result and "forearm" in result and "Not assessed" not in result
    assert page.locator('[data-testid="nerve-chart"] polyline').count() >= 2  # CSA line and ULN line
    assert page.locator('[data-testid="nerve-differential"]').count() == 1
    page.locator("#nerve-result").scroll_into_view_if_needed()
    _shot(page, "nerve_assessment")

    # report: preview, sign off, download the PDF
    page.click('#workflow-tabs button[data-workflow="report"]')
    page.click('[data-testid="report-preview"]')
    frame = page.frame_locator('[data-testid="report-frame"]')
    frame.locator("text=Nerve assessment").first.wait_for()
    assert "median_wrist" in frame.locator("body").inner_text()
    _shot(page, "report_preview")
    with page.expect_response(
        lambda r: r.url.endswith("/reports") and r.request.method == "POST" and r.status == 201
    ):
        page.click('[data-testid="report-sign"]')
    page.wait_for_selector('[data-testid^="report-status-"]')
    status = page.locator('[data-testid^="report-status-"]').first.inner_text()
    assert status == "signed"
    frame.locator("text=signed").first.wait_for()  # the open preview now shows the signed report
    with page.expect_download() as dl:
        page.locator('[data-testid^="report-pdf-"]').first.click()
    pdf = Path(dl.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    _shot(page, "report_signed")

    # send the signed report's SR to dcmtk's storescp from the report card
    if not STORESCP.exists():
        return
    received = tmp_path / "received"
    received.mkdir()
    port = free_port()
    scp = subprocess.Popen([str(STORESCP), "-aet", "BROWSERSCP", "-od", str(received), str(port)])
    try:
        _wait_port(port)
        card = page.locator("[data-report]").first
        card.locator('[data-f="port"]').fill(str(port))
        card.locator('[data-f="called_ae"]').fill("BROWSERSCP")
        card.locator('[data-testid^="sr-send-"]').click()
        result = card.locator('[data-testid^="sr-result-"]')
        _wait_for(page, "document.querySelector('[data-testid^=sr-result-]').textContent.startsWith('sent')")
        assert "status 0x0000" in result.inner_text()
        assert len([f for f in received.iterdir() if f.is_file()]) == 1
    finally:
        scp.terminate()
        scp.wait(timeout=10)
