"""Uploading several files at once: every failure is reported, the new image is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .test_browser import _wait_for, page  # noqa: F401  (pytest fixture)
from .test_workflow_nerve import require_dicom_reader, simulated_nerve_dicom


def test_a_failed_file_among_several_stays_reported(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=11)
    simulated_nerve_dicom(
        tmp_path / "b.dcm",
        csa_mm2=12.0,
        seed=12,
        patient_id="NERVE2",
        study_uid="1.2.826.0.1.3680043.8.498.2",
    )
    (tmp_path / "notes.dcm").write_text("not a DICOM file\n")
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "a.dcm")])
    _wait_for(page, "SONO.state.panes[0].inst !== null && SONO.state.panes[0].inst !== undefined")
    first = page.evaluate("SONO.state.panes[0].inst.id")
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / n) for n in ("notes.dcm", "b.dcm")])
    _wait_for(page, "document.querySelector('#status').textContent.includes('not stored')")
    status = page.locator("#status").inner_text()
    assert status.startswith("1 of 2 not stored: notes.dcm:") and "b.dcm: stored" in status
    assert "error" in (page.locator("#status").get_attribute("class") or "")
    shown = page.evaluate("SONO.state.panes[0].inst.id")
    assert shown != first and page.evaluate("SONO.state.panes[0].inst.label") == "b.dcm"


def test_a_refused_action_is_a_status_message_not_a_page_error(
    page: Any,  # noqa: F811
    server: str,
    tmp_path: Path,
) -> None:
    """Assess with no outline: the server refuses (422), the status bar says why, and the page
    raises no uncaught error (the fixture fails the test on any)."""
    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=13)
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "a.dcm")])
    _wait_for(page, "SONO.state.panes[0].inst !== null && SONO.state.panes[0].inst !== undefined")
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    with page.expect_response(lambda r: r.url.endswith("/assess") and r.status == 422):
        page.click('[data-testid="nerve-assess"]')
    _wait_for(page, "document.querySelector('#status').textContent.startsWith('422: ')")
    page.wait_for_timeout(300)  # an uncaught rejection would be reported by now


@pytest.mark.filterwarnings("ignore::sonomsk.core.errors.CalibrationWarning")
def test_the_checkbox_puts_an_unidentified_image_in_the_open_study(
    page: Any,  # noqa: F811
    server: str,
    tmp_path: Path,
) -> None:
    import numpy as np
    from PIL import Image

    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=14)
    rng = np.random.default_rng(0)
    for name in ("b.png", "c.png"):
        Image.fromarray(rng.integers(0, 255, (100, 120), dtype=np.uint8)).save(tmp_path / name)
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "a.dcm")])
    _wait_for(page, "SONO.state.study && SONO.state.panes[0].inst")
    study = page.evaluate("SONO.state.study.id")
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "b.png")])  # unchecked: a study of its own
    _wait_for(page, f"SONO.state.study && SONO.state.study.id !== {study}")
    page.evaluate(f"SONO.showStudy({study})")
    _wait_for(page, f"SONO.state.study && SONO.state.study.id === {study}")
    page.check('[data-testid="into-open-study"]')
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "c.png")])
    _wait_for(page, "SONO.state.panes[0].inst && SONO.state.panes[0].inst.label === 'c.png'")
    assert page.evaluate("SONO.state.study.id") == study
    # b.png is stored already, in a study of its own: it is not moved, and the open study stays
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "b.png")])
    _wait_for(page, "document.querySelector('#status').textContent.includes('not added to the open study')")
    assert page.evaluate("SONO.state.study.id") == study
