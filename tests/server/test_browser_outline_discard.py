"""The nerve panel's Accept and Discard buttons on the current outline (decision 008)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .test_browser import _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)

W = "/api/workflows/nerve"


def test_accept_and_discard_an_outline_in_the_panel(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=3)
    study = page.evaluate("SONO.state.study.id")
    row, col = truth["centroid_px"]
    for r, c in ((row, col), (60, 115)):  # the nerve, then a stray click
        assert (
            httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": r, "col": c}).status_code == 200
        )
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    _wait_for(page, "document.querySelector('#nerve-current').textContent.includes('of 2 on this image')")
    shown = page.evaluate("SONO.state.study.analyses[1].structures[0].id")  # the latest is shown

    page.once("dialog", lambda d: d.accept())
    with page.expect_response(
        lambda r: r.url.endswith(f"/structures/{shown}") and r.request.method == "DELETE"
    ) as resp:
        page.click('[data-testid="nerve-discard"]')
    assert resp.value.status == 200
    _wait_for(page, "!document.querySelector('#nerve-current').textContent.includes('on this image')")
    analyses = httpx.get(f"{server}/api/studies/{study}").json()["analyses"]
    assert [a["structures"][0]["id"] for a in analyses] != [shown] and len(analyses) == 1
    kept = analyses[0]["structures"][0]["id"]

    with page.expect_response(lambda r: r.url.endswith(f"/structures/{kept}/accept")) as resp:
        page.click('[data-testid="nerve-accept"]')
    assert resp.value.status == 200 and resp.value.request.method == "POST"
    assert resp.value.json()["structures"][0]["accepted"] is True


def test_step_through_outlines_and_accept_an_earlier_one(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    """With several outlines on an image the panel steps through them (the shown one is drawn
    thick on the image) and Accept chooses the one shown, not only the latest."""
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=4)
    row, col = truth["centroid_px"]
    made = [
        httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": r, "col": c}).json()
        for r, c in ((row, col), (60, 115))  # the nerve first, then a stray click
    ]
    first, stray = (m["structures"][0]["id"] for m in made)
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-outline-index"]')
    assert page.locator('[data-testid="nerve-outline-index"]').inner_text() == "2 of 2"
    _wait_for(page, f"SONO.state.focusStructure === {stray}")
    page.click('[data-testid="nerve-prev"]')
    _wait_for(page, "document.querySelector('[data-testid=nerve-outline-index]').textContent === '1 of 2'")
    assert page.evaluate("SONO.state.focusStructure") == first
    assert f"Outline {first} " in page.locator("#nerve-current").inner_text()
    with page.expect_response(lambda r: r.url.endswith(f"/structures/{first}/accept")) as resp:
        page.click('[data-testid="nerve-accept"]')
    assert resp.value.status == 200
    study = page.evaluate("SONO.state.study.id")
    (row_csa,) = httpx.get(f"{server}{W}/studies/{study}/csa").json()
    assert row_csa["structure_id"] == first and row_csa["usable"] is False  # no site assigned yet
    assert row_csa["reason"] == "no site/side assigned"
    page.click('[data-testid="nerve-next"]')
    _wait_for(page, "document.querySelector('[data-testid=nerve-outline-index]').textContent === '2 of 2'")
    assert page.evaluate("SONO.state.focusStructure") == stray


def test_stepping_through_a_cines_outlines_shows_their_frames(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    """A cine's outlines lie on different frames: the panel says which, offers the frame when
    the image shows another, and stepping to an outline shows its frame (drawn thick there)."""
    import dataclasses

    import numpy as np

    from sonomsk.core.image import ArrayFrames
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    from .test_browser import _wait_for as wait
    from .test_workflow_nerve import require_dicom_reader

    require_dicom_reader()
    image, truth = simulate_scene(
        "nerve", seed=5, overrides={"vary": False, "csa_mm2": 12.0, "artery": False}
    )
    cine = dataclasses.replace(image, frames=ArrayFrames(np.stack([image.frame(0)] * 3)), frame_time_s=0.05)
    path = tmp_path / "cine.dcm"
    write_dicom(cine, path, PatientID="CINE1", PatientName="Cine^Test", StudyDescription="cine")
    wait(page, "document.querySelector('#status').textContent === 'ready'")
    page.set_input_files('[data-testid="upload"]', [str(path)])
    wait(page, "SONO.state.panes[0].inst && SONO.state.panes[0].inst.frames === 3")
    iid = int(page.evaluate("SONO.state.panes[0].inst.id"))
    row, col = next(s for s in truth.structures if s["name"] == "nerve")["centroid_px"]
    made = [
        httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col, "frame": f}).json()
        for f in (0, 2)
    ]
    on0, on2 = (m["structures"][0]["id"] for m in made)
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-outline-frame"]')
    assert page.evaluate("SONO.state.panes[0].frame") == 0
    assert page.locator('[data-testid="nerve-outline-frame"]').inner_text() == "3"  # the latest, on frame 3
    page.click('[data-testid="nerve-show-frame"]')
    wait(page, "SONO.state.panes[0].frame === 2")
    wait(page, "document.querySelectorAll('[data-testid=nerve-show-frame]').length === 0")
    assert page.evaluate("SONO.structuresFor(SONO.state.panes[0]).map((s) => s.id)") == [on2]
    page.click('[data-testid="nerve-prev"]')
    wait(page, "SONO.state.panes[0].frame === 0")
    wait(page, f"SONO.state.focusStructure === {on0}")
    assert page.locator('[data-testid="nerve-outline-frame"]').inner_text() == "1"
    assert page.evaluate("SONO.structuresFor(SONO.state.panes[0]).map((s) => s.id)") == [on0]
    assert page.locator('[data-testid="nerve-show-frame"]').count() == 0


def test_two_drawn_outlines_ask_the_clinician_to_choose(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    """Two click outlines are both the clinician's: the image has no CSA until one is accepted
    (decision 008), and the panel and the image list say so instead of showing a CSA."""
    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=6)
    row, col = truth["centroid_px"]
    made = [
        httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col}).json()
        for _ in range(2)
    ]
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-choose"]')
    assert (
        "2 nerve outlines on this image are chosen"
        in page.locator('[data-testid="nerve-choose"]').inner_text()
    )
    assert page.locator(f'[data-testid="csa-choose-{iid}"]').count() == 1
    with page.expect_response(lambda r: r.url.endswith("/accept")):
        page.click('[data-testid="nerve-accept"]')
    _wait_for(page, "document.querySelector('[data-testid=nerve-choose]') === null")
    assert page.locator(f'[data-testid="csa-choose-{iid}"]').count() == 0
    assert made[1]["structures"][0]["id"] == page.evaluate("SONO.state.focusStructure")


def test_edit_moves_the_outline_shown_when_outlines_overlap(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    """Two identical outlines on top of each other: dragging a point moves the one the panel
    shows (drawn thick), not the hidden one."""
    from .test_browser import _screen_xy

    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=7)
    row, col = truth["centroid_px"]
    first, second = (
        httpx.post(f"{server}{W}/instances/{iid}/outline", json={"row": row, "col": col}).json()[
            "structures"
        ][0]["id"]
        for _ in range(2)
    )
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.evaluate("SONO.reloadStudy()")
    page.wait_for_selector('[data-testid="nerve-prev"]')
    for shown in (second, first):  # the latest is shown first; then step back to the earlier one
        if shown == first:
            page.click('[data-testid="nerve-prev"]')
        _wait_for(page, f"SONO.state.focusStructure === {shown}")
        page.click('#toolbar [data-tool="edit"]')
        pts = page.evaluate(f"SONO.structuresFor(SONO.state.panes[0]).find((s) => s.id === {shown}).points")
        pr, pc = pts[0]
        sx, sy = _screen_xy(page, 0, pr, pc)
        ex, ey = _screen_xy(page, 0, pr - 6, pc)
        with page.expect_response(lambda r: "/points" in r.url and r.request.method == "PUT") as resp:
            page.mouse.move(sx, sy)
            page.mouse.down()
            page.mouse.move(ex, ey, steps=6)
            page.mouse.up()
        assert resp.value.url.endswith(f"/structures/{shown}/points"), resp.value.url
        page.evaluate("SONO.reloadStudy()")
