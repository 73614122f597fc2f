"""The nerve panel's level and trunk choices (decision 013)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .test_browser import _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)


def _instance(server: str, study: int, iid: int) -> dict[str, Any]:
    study_doc = httpx.get(f"{server}/api/studies/{study}").json()
    return next(i for se in study_doc["series"] for i in se["instances"] if i["id"] == iid)


def test_level_and_trunk_selects_follow_the_site(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    iid, _ = _upload_one_nerve(page, tmp_path / "plexus.dcm", csa_mm2=10.0, seed=8)
    study = page.evaluate("SONO.state.study.id")
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.wait_for_selector(f'[data-testid="site-select-{iid}"]')
    assert page.locator(f'[data-testid="level-select-{iid}"]').count() == 0

    def choose(field: str, value: str) -> None:
        with page.expect_response(lambda r: r.url.endswith(f"/instances/{iid}/site") and r.status == 200):
            page.select_option(f'[data-testid="{field}-select-{iid}"]', value)
        _wait_for(page, f"SONO.findInstance({iid}) && SONO.findInstance({iid}).{field} === '{value}'")

    choose("side", "right")
    choose("site", "brachial_plexus_trunk")
    choose("trunk", "upper")
    # the trunk site has no default level: "no level" is offered, shown and kept by a trunk choice
    assert _instance(server, study, iid)["level"] is None
    level_select = page.locator(f'[data-testid="level-select-{iid}"]')
    assert level_select.locator("option").all_inner_texts()[0] == "no level"
    assert level_select.input_value() == ""
    choose("level", "utrecht_protocol")
    inst = _instance(server, study, iid)
    assert (inst["site"], inst["side"], inst["trunk"], inst["level"]) == (
        "brachial_plexus_trunk",
        "right",
        "upper",
        "utrecht_protocol",
    )
    # another site starts at its own default level, without a trunk
    choose("site", "c5_root")
    assert page.locator(f'[data-testid="trunk-select-{iid}"]').count() == 0
    inst = _instance(server, study, iid)
    assert (inst["site"], inst["trunk"], inst["level"]) == ("c5_root", None, None)
    choose("level", "foraminal")
    assert _instance(server, study, iid)["level"] == "foraminal"
    assert "c5_root right foraminal" in page.locator("#nerve-current").inner_text()
    # the default level is listed once, by its name, and stored as no level
    labels = page.locator(f'[data-testid="level-select-{iid}"] option').all_inner_texts()
    assert labels == ["interscalene (default)", "foraminal"]
    with page.expect_response(lambda r: r.url.endswith(f"/instances/{iid}/site") and r.status == 200):
        page.select_option(f'[data-testid="level-select-{iid}"]', "")
    _wait_for(page, f"SONO.findInstance({iid}).level === null")
    assert _instance(server, study, iid)["level"] is None
