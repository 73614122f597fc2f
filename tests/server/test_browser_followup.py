"""Follow-up against baseline in the browser: two studies of one patient side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sonomsk.core.image import UltrasoundImage, whole_image_region
from sonomsk.io.dicom_write import write_dicom

from .test_browser import page  # noqa: F401  (pytest fixture)


def _study(path: Path, uid: str, date: str, seed: int) -> Path:
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 255, (240, 320), dtype=np.uint8)
    image = UltrasoundImage.from_array(pixels, regions=(whole_image_region(240, 320, (0.1, 0.1)),))
    return write_dicom(
        image,
        path,
        PatientID="FOLLOW1",
        PatientName="Follow^Up",
        StudyInstanceUID=uid,
        StudyDate=date,
        StudyDescription=f"tendon {date}",
    )


def test_follow_up_beside_baseline(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    for uid, date, seed in (
        ("1.2.826.0.1.3680043.8.498.71", "20260101", 1),
        ("1.2.826.0.1.3680043.8.498.72", "20261101", 2),
    ):
        f = _study(tmp_path / f"{date}.dcm", uid, date, seed)
        assert httpx.post(f"{server}/api/upload", files={"file": (f.name, f.read_bytes())}).status_code == 201
    from playwright.sync_api import expect

    page.reload()
    page.get_by_text("tendon 20261101").click()
    choice = page.locator("[data-testid=baseline] option", has_text="20260101")
    expect(choice).to_have_count(1, timeout=30_000)  # filled once the study has loaded
    page.select_option("[data-testid=baseline]", label=choice.inner_text())

    label = page.locator('.pane[data-pane="1"] .pane-label')
    expect(label).to_contain_text("other study", timeout=30_000)  # loads asynchronously
    assert "20260101" in label.inner_text()
    assert page.locator('.pane[data-pane="1"]').is_visible()


def test_an_outline_drawn_on_the_study_beside_shows_there(page: Any, tmp_path: Path) -> None:  # noqa: F811
    """An outline drawn (or corrected) on the image of the study shown beside the open one was
    stored but never drawn: only the open study was loaded again."""
    from .test_browser import _wait_for
    from .test_browser_races import _studies

    first, second = _studies(page, tmp_path, 2)
    page.evaluate(f"SONO.showStudy({second})")
    page.select_option("#baseline", str(first))
    _wait_for(page, f"SONO.state.panes[1].study && SONO.state.panes[1].study.id === {first}")
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.click('[data-testid="nerve-outline"]')
    image = int(page.evaluate("SONO.state.panes[1].inst.id"))
    assert page.evaluate("SONO.structuresFor(SONO.state.panes[1]).length") == 0
    x, y = page.evaluate(
        """() => { const p = SONO.state.panes[1]; const b = p.canvas.getBoundingClientRect();
             return [b.left + (p.inst.columns / 2) * p.scale + p.offX, b.top + (p.inst.rows / 2) * p.scale + p.offY]; }"""
    )
    with page.expect_response(lambda r: r.url.endswith(f"/instances/{image}/outline") and r.status == 200):
        page.mouse.click(x, y)
    _wait_for(page, "SONO.structuresFor(SONO.state.panes[1]).length === 1")
    assert page.evaluate("SONO.state.panes[1].study.id") == first
    assert page.evaluate("SONO.state.study.id") == second
