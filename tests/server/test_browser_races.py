"""Answers that arrive after the page moved on (review of the viewer's asynchronous code, after a
CI failure on one such race): each is dropped or applied to what it belongs to, never raises an
uncaught error, and never shows one study's answer under another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .test_browser import _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)
from .test_workflow_nerve import simulated_nerve_dicom


def _slow(page: Any, fragment: str, method: str, ms: int) -> None:  # noqa: F811
    """Every ``method`` request whose URL contains ``fragment`` answers ``ms`` late (from the next
    page load on); ``window._late`` counts those answered (:func:`_late_answered`)."""
    page.add_init_script(
        f"""(() => {{ const f = window.fetch; window._late = 0; window.fetch = async (u, o) => {{
            if (String(u).includes({fragment!r}) && ((o && o.method) || 'GET') === {method!r}) {{
              await new Promise((r) => setTimeout(r, {ms}));
              try {{ return await f(u, o); }} finally {{ window._late += 1; }}
            }}
            return f(u, o); }}; }})();"""
    )
    page.reload()
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")


def _late_answered(page: Any, before: int) -> None:  # noqa: F811
    """Wait until one more late answer than ``before`` has come back (and 300 ms more for the
    page to use it)."""
    _wait_for(page, f"window._late > {before}")
    page.wait_for_timeout(300)


def test_leaving_the_report_tab_while_a_draft_is_saved_raises_no_error(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """'Save draft' renders a PDF for seconds; the Nerve tab opened meanwhile replaces the report
    panel, and the late list of reports finds no panel (was: uncaught 'Cannot set properties of
    null (setting innerHTML)', counted by the page fixture)."""
    _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=5)
    _slow(page, "/reports", "POST", 1500)
    study = page.evaluate("SONO.state.studies[0].id")
    page.evaluate(f"SONO.showStudy({study})")
    page.click('#workflow-tabs button[data-workflow="report"]')
    page.wait_for_selector('[data-testid="report-draft"]')
    with page.expect_response(lambda r: r.url.endswith("/reports") and r.status == 201, timeout=60_000):
        page.click('[data-testid="report-draft"]')
        page.wait_for_timeout(300)
        page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.wait_for_timeout(2500)  # the answer's list request, too, has come back
    assert page.locator('[data-testid="nerve-assess"]').count() == 1


def test_assess_without_an_open_study_says_so(page: Any) -> None:  # noqa: F811
    """On an empty store the Nerve panel shows the Assess button; pressing it asks for a study
    (was: uncaught "Cannot read properties of null (reading 'id')")."""
    _wait_for(page, "document.querySelector('#status').textContent === 'ready'")
    assert page.evaluate("SONO.state.study") is None
    page.click('[data-testid="nerve-assess"]')
    _wait_for(page, "document.querySelector('#status').textContent === 'open a study first'")


def test_a_frame_loaded_across_a_study_reload_is_shown(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A study reload (after an outline, a site change, or the window regaining focus) replaces
    each image's object while a frame of it loads: the frame is still the pane's and is shown
    (dropping it left the previous picture under the new image's label)."""
    first, _ = _upload_one_nerve(page, tmp_path / "a.dcm", csa_mm2=12.0, seed=5)
    simulated_nerve_dicom(tmp_path / "b.dcm", csa_mm2=8.0, seed=6)
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "b.dcm")])
    _wait_for(page, f"SONO.state.panes[0].inst && SONO.state.panes[0].inst.id !== {first}")
    second = int(page.evaluate("SONO.state.panes[0].inst.id"))
    page.evaluate(f"SONO.showInstance({first}, 0)")
    page.evaluate("window._shown = []; SONO.on('frame', (p) => window._shown.push(p.inst.id))")
    held: list[Any] = []
    page.route("**/api/instances/*/frames/*.png", lambda route: held.append(route))
    page.evaluate("SONO.state.panes[0].frames.clear()")
    page.evaluate(f"() => {{ window._open = SONO.showInstance({second}, 0); }}")
    waited = 0
    while not held:
        assert waited < 20_000, "the frame request never came"
        page.wait_for_timeout(100)
        waited += 100
    page.evaluate("SONO.reloadStudy()")  # a JSON answer: not held
    assert page.evaluate(f"SONO.state.panes[0].inst.id === {second}")
    for route in held:
        route.continue_()
    page.unroute("**/api/instances/*/frames/*.png")
    page.evaluate("window._open")
    assert page.evaluate("window._shown") == [second]


def _studies(page: Any, tmp_path: Path, n: int) -> list[int]:  # noqa: F811
    """Upload ``n`` studies of one patient; their ids, in upload order."""
    _upload_one_nerve(page, tmp_path / "s0.dcm", csa_mm2=12.0, seed=5)
    for k in range(1, n):
        uid = f"1.2.826.0.1.3680043.8.498.{k + 1}"
        simulated_nerve_dicom(tmp_path / f"s{k}.dcm", csa_mm2=8.0 + k, seed=5 + k, study_uid=uid)
        page.set_input_files('[data-testid="upload"]', [str(tmp_path / f"s{k}.dcm")])
        _wait_for(page, f"SONO.state.studies.length === {k + 1}")
    return sorted(int(i) for i in page.evaluate("SONO.state.studies.map((s) => s.id)"))


def test_an_earlier_search_answering_late_does_not_replace_the_later_list(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Typing fast sends one list request per key: a search that matches nothing, answered after
    the search that followed it (cleared: every study), left the list empty."""
    _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=5)
    _slow(page, "q=zzz", "GET", 1500)
    _wait_for(page, "document.querySelectorAll('#study-list li').length === 1")
    done = int(page.evaluate("window._late"))
    page.fill("#search", "zzz")
    page.wait_for_timeout(200)
    page.fill("#search", "")
    _wait_for(page, "document.querySelectorAll('#study-list li').length === 1")
    _late_answered(page, done)
    assert page.locator("#study-list li").count() == 1
    assert page.evaluate("SONO.state.studies.length") == 1


def test_the_study_chosen_last_is_the_one_open(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Two studies chosen one after the other: the first one's answer, arriving last, opened the
    first study although the second had been chosen."""
    first, second = _studies(page, tmp_path, 2)
    _slow(page, f"/api/studies/{first}", "GET", 1500)
    done = int(page.evaluate("window._late"))
    page.evaluate(f"() => {{ SONO.showStudy({first}); }}")
    page.wait_for_timeout(200)
    page.evaluate(f"SONO.showStudy({second})")
    _late_answered(page, done)
    assert page.evaluate("SONO.state.study.id") == second
    assert page.evaluate("document.querySelector('#study-list li.selected').dataset.studyId") == str(second)


def test_a_comparison_answered_after_another_study_opened_is_not_shown(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A study chosen for comparison with the open one, answered after a third study was opened,
    was shown beside that third study, which it was not chosen for."""
    first, second, third = _studies(page, tmp_path, 3)
    _slow(page, f"/api/studies/{first}", "GET", 1500)
    page.evaluate(f"SONO.showStudy({second})")
    done = int(page.evaluate("window._late"))
    page.evaluate(f"() => {{ SONO.showOtherStudy({first}); }}")
    page.wait_for_timeout(200)
    page.evaluate(f"SONO.showStudy({third})")
    _late_answered(page, done)
    assert page.evaluate("SONO.state.study.id") == third
    assert page.evaluate("SONO.state.panes[1].study") is None


@pytest.mark.parametrize("late", ["the send", "the list"])
def test_an_sr_sent_while_the_report_list_is_drawn_again_shows_its_outcome(
    late: str,
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The outcome of sending a signed report's SR went into the list's old result line when a
    study reload drew the list again meanwhile, or was wiped by a list drawn after it: the
    clinician never saw whether it was sent."""
    _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=5)
    if late == "the send":
        _slow(page, "/send", "POST", 1500)
    else:
        _slow(page, "/reports", "GET", 1500)
    page.evaluate(f"SONO.showStudy({int(page.evaluate('SONO.state.studies[0].id'))})")
    page.click('#workflow-tabs button[data-workflow="report"]')
    page.wait_for_selector('[data-testid="report-sign"]')
    with page.expect_response(
        lambda r: r.url.endswith("/reports") and r.request.method == "POST" and r.status == 201,
        timeout=60_000,
    ):
        page.click('[data-testid="report-sign"]')
    page.wait_for_selector('[data-testid^="sr-send-"]')
    card = page.locator("[data-report]").first
    report = int(card.get_attribute("data-report") or 0)
    done = int(page.evaluate("window._late"))
    # refused before any connection (the report has no outline to send), wherever it would go
    card.locator('[data-testid^="sr-send-"]').click()
    if late == "the list":
        _wait_for(page, "document.querySelector('#status').textContent.includes('not sent')")
    page.evaluate("() => { SONO.reloadStudy(); }")  # emits 'study': the report list is drawn again
    _late_answered(page, done)
    line = page.evaluate(f"document.querySelector('[data-testid=sr-result-{report}]').textContent")
    assert line.startswith("not sent")
    assert page.evaluate("document.querySelector('#status').textContent").startswith(
        f"report {report}: not sent"
    )


def test_opening_another_study_closes_the_comparison_beside_the_last_one(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Opening a study filled only pane 1: a comparison study shown in pane 2 stayed beside the
    newly opened study, labelled as an 'other study' of a patient it may not share."""
    first, second, third = _studies(page, tmp_path, 3)
    page.evaluate(f"SONO.showStudy({second})")
    page.evaluate(f"SONO.showOtherStudy({first})")
    assert page.evaluate("SONO.state.panes[1].study.id") == first
    page.evaluate(f"SONO.showStudy({third})")
    assert page.evaluate("SONO.state.panes[1].inst") is None
    assert page.evaluate("document.querySelector('#compare').checked") is False
    assert page.evaluate("SONO.state.panes[1].el.classList.contains('hidden')") is True


def test_an_outline_answered_after_another_study_opened_leaves_its_tool_alone(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A click outline answered after another study was opened turned the tool to Edit and said
    'outlined' over a study that has no such outline; it is stored with its own image and the
    status says which image and study that was."""
    first, second = _studies(page, tmp_path, 2)
    page.evaluate(f"SONO.showStudy({first})")
    page.click('#workflow-tabs button[data-workflow="nerve"]')
    page.click('[data-testid="nerve-outline"]')
    image = int(page.evaluate("SONO.state.panes[0].inst.id"))
    label = page.evaluate("SONO.state.panes[0].inst.label")
    held: list[Any] = []
    page.route("**/outline", lambda route: held.append(route))  # answered when the test says
    x, y = page.evaluate(
        """() => { const p = SONO.state.panes[0]; const b = p.canvas.getBoundingClientRect();
             return [b.left + (p.inst.columns / 2) * p.scale + p.offX, b.top + (p.inst.rows / 2) * p.scale + p.offY]; }"""
    )
    page.mouse.click(x, y)
    _wait_for(page, "document.querySelector('#status').textContent === 'outlining…'")
    page.evaluate(f"SONO.showStudy({second})")  # awaited: the other study is open
    waited = 0
    while not held:
        assert waited < 20_000, "the outline request never came"
        page.wait_for_timeout(100)
        waited += 100
    with page.expect_response(lambda r: r.url.endswith(f"/instances/{image}/outline") and r.status == 200):
        held[0].continue_()
    page.unroute("**/outline")
    stored = f"outline stored with image {image} ({label}) of study {first}, which is no longer shown"
    _wait_for(page, f"document.querySelector('#status').textContent === {stored!r}")
    assert page.evaluate("SONO.state.study.id") == second
    assert page.evaluate("SONO.state.tool") == "nerve-outline"
    assert page.locator('#toolbar [data-tool="edit"].active').count() == 0


def test_the_other_study_choices_are_the_patients_whatever_the_list_shows(
    page: Any,  # noqa: F811
    server: str,
    tmp_path: Path,
) -> None:
    """The 'other study' choices came from the study list, so a search that left the patient's
    other studies out of the list (or a list answered before a study was stored) left them out
    of the choices too. The choice shown is the study pane 2 shows."""
    import httpx

    first, second, third = _studies(page, tmp_path, 3)
    page.fill("#search", "no such patient")
    _wait_for(page, "document.querySelectorAll('#study-list li').length === 0")
    page.evaluate(f"SONO.showStudy({second})")
    values = page.evaluate("[...document.querySelectorAll('#baseline option')].map((o) => o.value)")
    assert values == [
        "",
        str(third),
        str(first),
    ]  # none, then the patient's others (undated: last stored first)
    page.select_option("#baseline", str(first))
    _wait_for(page, f"SONO.state.panes[1].study && SONO.state.panes[1].study.id === {first}")
    # a study of this patient stored since (another tab, a colleague): listed after a reload,
    # and the choice shown stays the study beside
    simulated_nerve_dicom(tmp_path / "s3.dcm", csa_mm2=9.0, seed=9, study_uid="1.2.826.0.1.3680043.8.498.9")
    with (tmp_path / "s3.dcm").open("rb") as f:
        fourth = httpx.post(f"{server}/api/upload", files={"file": ("s3.dcm", f.read())}).json()["study_id"]
    page.evaluate("SONO.reloadStudy()")
    values = page.evaluate("[...document.querySelectorAll('#baseline option')].map((o) => o.value)")
    assert values == ["", str(fourth), str(third), str(first)]
    assert page.evaluate("document.querySelector('#baseline').value") == str(first)
    # pane 2 given an image of the open study is no comparison: the choice says so
    page.evaluate("SONO.showInstance(SONO.state.study.series[0].instances[0].id, 1)")
    assert page.evaluate("document.querySelector('#baseline').value") == ""
    page.select_option("#baseline", str(first))
    _wait_for(page, f"SONO.state.panes[1].study && SONO.state.panes[1].study.id === {first}")
    page.evaluate(f"SONO.showStudy({third})")  # another study: the choice goes with the old one
    assert page.evaluate("document.querySelector('#baseline').value") == ""
    assert page.evaluate("SONO.state.panes[1].study") is None


def test_a_comparison_chosen_from_choices_left_over_is_not_shown(
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Choices left from the study open before (another patient's studies) could put that
    patient's study beside the newly opened one; only the open patient's other studies show."""
    first, second = _studies(page, tmp_path, 2)
    simulated_nerve_dicom(
        tmp_path / "x.dcm", csa_mm2=9.0, seed=9, patient_id="OTHER1", study_uid="1.2.826.0.1.3680043.8.498.99"
    )
    page.set_input_files('[data-testid="upload"]', [str(tmp_path / "x.dcm")])
    _wait_for(page, "document.querySelector('#status').textContent === 'x.dcm: stored'")  # the upload is done
    assert page.evaluate("SONO.state.study.id") not in (first, second)  # the stranger's study is open
    page.evaluate(f"SONO.showOtherStudy({first})")  # as a left-over choice would ask
    assert page.evaluate("SONO.state.panes[1].study") is None
    assert page.evaluate("document.querySelector('#baseline').value") == ""
