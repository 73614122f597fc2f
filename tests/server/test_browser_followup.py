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
