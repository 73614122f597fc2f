"""Workstation nerve outlines (decision 008): corrections store every recomputed measure (a
failure as a failure) in one transaction, the image's CSA comes from the outline the clinician
chose, outlines can be discarded or accepted, and booleans are not coordinates."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from sonomsk.core.errors import InvalidParameterError
from sonomsk.server.app import create_app
from sonomsk.store.db import Store

from .test_workflow_nerve import SPACING, require_dicom_reader, simulated_nerve_dicom

W = "/api/workflows/nerve"


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


@pytest.fixture()
def nerve_image(client: TestClient, tmp_path: Path) -> dict[str, Any]:
    """One calibrated simulated nerve image assigned to median_wrist right."""
    require_dicom_reader()
    truth = simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=12.0, seed=1)
    r = client.post(
        "/api/upload", files={"file": ("a.dcm", (tmp_path / "a.dcm").read_bytes(), "application/dicom")}
    )
    assert r.status_code == 201, r.text
    up = r.json()
    site = client.put(
        f"{W}/instances/{up['instance_id']}/site", json={"site": "median_wrist", "side": "right"}
    )
    assert site.status_code == 200
    row, col = truth["centroid_px"]
    return {"instance": up["instance_id"], "study": up["study_id"], "row": row, "col": col}


def _snapshot(client: TestClient, study: int) -> str:
    return json.dumps(client.get(f"/api/studies/{study}").json()["analyses"], sort_keys=True)


def _click(client: TestClient, img: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"{W}/instances/{img['instance']}/outline", json={"row": img["row"], "col": img["col"]})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _measure(analysis: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in analysis["measurements"] if m["name"] == name)


def _square(row: float, col: float, half_h: float, half_w: float) -> list[list[float]]:
    return [
        [row - half_h, col - half_w],
        [row - half_h, col + half_w],
        [row + half_h, col + half_w],
        [row + half_h, col - half_w],
    ]


def _csa_row(client: TestClient, img: dict[str, Any]) -> dict[str, Any]:
    table = client.get(f"{W}/studies/{img['study']}/csa").json()
    return dict(next(r for r in table if r["instance_id"] == img["instance"]))


# --------------------------------------------------------------------------- finding 1


def test_a_measure_that_fails_on_the_corrected_outline_keeps_no_old_number(
    client: TestClient, store: Store, nerve_image: dict[str, Any]
) -> None:
    a = _click(client, nerve_image)
    sid = a["structures"][0]["id"]
    row, col = round(nerve_image["row"]), round(nerve_image["col"])
    large = client.put(f"{W}/structures/{sid}/points", json={"points": _square(row, col, 40, 60)})
    assert large.status_code == 200, large.text
    count = _measure(large.json(), "count_fascicle")
    assert count["value"] is not None and count["failure"] is None  # resolved on the large outline
    # a 28 px triangle: too small for fascicles ("not resolved"), still an outline with an area
    tiny = [[row, col], [row, col + 8], [row + 7, col]]
    put = client.put(f"{W}/structures/{sid}/points", json={"points": tiny})
    assert put.status_code == 200, put.text
    after = _measure(put.json(), "count_fascicle")
    assert after["value"] is None and after["corrected_value"] is None
    assert "not resolved" in after["failure"]
    assert after["auto_value"] == count["auto_value"]  # the automatic value is kept
    assert any(x.startswith("count_fascicle: not resolved") for x in put.json()["not_corrected"])
    area = _measure(put.json(), "area_cross_section")
    assert area["value"] == pytest.approx(28 * SPACING**2, rel=0.01)
    # read back: the study view and the report's results say the same
    stored = next(x for x in client.get(f"/api/studies/{nerve_image['study']}").json()["analyses"])
    back = _measure(stored, "count_fascicle")
    assert back["value"] is None and "not resolved" in back["failure"]
    from sonomsk.server.results_builder import build_results

    results = build_results(store, nerve_image["study"])
    rep = next(m for m in results["measurements"] if m["name"] == "count_fascicle")
    assert rep["value"] is None and "not resolved" in rep["failure"]
    # a later correction that resolves fascicles again replaces the corrected failure
    again = client.put(f"{W}/structures/{sid}/points", json={"points": _square(row, col, 40, 60)})
    assert _measure(again.json(), "count_fascicle")["value"] == count["value"]
    assert _measure(again.json(), "count_fascicle")["failure"] is None


def test_a_correction_failing_part_way_leaves_the_store_as_it_was(
    client: TestClient, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sonomsk.store.repository as repo

    a = _click(client, nerve_image)
    sid = a["structures"][0]["id"]
    before = _snapshot(client, nerve_image["study"])
    real_audit = repo.audit
    calls = {"n": 0}

    def failing_audit(session: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # after the outline and two measurements
            raise RuntimeError("disk full")
        real_audit(session, *args, **kwargs)

    monkeypatch.setattr(repo, "audit", failing_audit)
    row, col = round(nerve_image["row"]), round(nerve_image["col"])
    r = client.put(f"{W}/structures/{sid}/points", json={"points": _square(row, col, 30, 30)})
    assert r.status_code == 500 and calls["n"] == 4
    assert _snapshot(client, nerve_image["study"]) == before


def test_an_outline_the_measure_refuses_is_a_one_line_422_and_changes_nothing(
    client: TestClient, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sonomsk.nerve.interactive as interactive

    sid = _click(client, nerve_image)["structures"][0]["id"]
    before = _snapshot(client, nerve_image["study"])

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise InvalidParameterError("outline: edges points[0]-points[1] and points[2]-points[3] cross")

    monkeypatch.setattr(interactive, "measure_contour", refuse)
    bow_tie = [[230, 170], [270, 210], [230, 210], [270, 170]]
    r = client.put(f"{W}/structures/{sid}/points", json={"points": bow_tie})
    assert r.status_code == 422
    assert r.json()["detail"] == "outline: edges points[0]-points[1] and points[2]-points[3] cross"
    assert "\n" not in r.text
    assert _snapshot(client, nerve_image["study"]) == before


# --------------------------------------------------------------------------- finding 3


def _two_automatic_outlines(
    client: TestClient, img: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """The automatic segmentation returns the nerve and, after it, a small false positive."""
    import sonomsk.server.workflow_nerve as wf

    row, col = img["row"], img["col"]
    nerve = np.asarray(_square(row, col, 25, 25))  # 2500 px
    stray = np.asarray(_square(60.0, 115.0, 15, 15))  # 900 px, shallower

    monkeypatch.setattr(wf, "segment_nerves", lambda *_a, **_k: ([nerve, stray], "fake", None))
    r = client.post(f"{W}/instances/{img['instance']}/segment", json={})
    assert r.status_code == 200, r.text
    return list(r.json()["analyses"])


def test_two_automatic_outlines_give_no_csa_until_one_is_discarded(
    client: TestClient, store: Store, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    nerve, stray = _two_automatic_outlines(client, nerve_image, monkeypatch)
    row = _csa_row(client, nerve_image)
    assert row["usable"] is False and row["csa"] is None and row["outlines"] == 2
    assert row["reason"] == "2 nerve outlines on this image: accept or discard one"
    assess = client.post(f"{W}/studies/{nerve_image['study']}/assess", json={})
    assert assess.status_code == 422 and "2 nerve outlines on this image" in assess.json()["detail"]

    sid = stray["structures"][0]["id"]
    mids = [m["id"] for m in stray["measurements"]]
    gone = client.delete(f"{W}/structures/{sid}")
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"structure_id": sid, "analysis_id": stray["id"], "discarded": True}
    row = _csa_row(client, nerve_image)
    assert row["usable"] is True and row["analysis_id"] == nerve["id"]
    assert row["csa"] == pytest.approx(_measure(nerve, "area_cross_section")["value"])
    # the outline's measurements went with it, and an audit row says what was discarded
    from sqlalchemy import select

    from sonomsk.store.models import Analysis, AuditLog, MeasurementRow, StructureRow

    with store.sessions() as s:
        assert s.get(Analysis, stray["id"]) is None and s.get(StructureRow, sid) is None
        assert all(s.get(MeasurementRow, m) is None for m in mids)
        log = s.scalars(select(AuditLog).where(AuditLog.action == "discard")).one()
        assert log.entity_id == stray["id"] and log.detail["structure"] == sid
    assert client.delete(f"{W}/structures/{sid}").status_code == 404
    assert client.delete(f"{W}/structures/99999").status_code == 404


def test_the_clinicians_outline_is_the_image_csa_and_a_stray_click_does_not_replace_it(
    client: TestClient, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_automatic_outlines(client, nerve_image, monkeypatch)
    clicked = _click(client, nerve_image)  # drawn by the clinician: accepted
    assert clicked["structures"][0]["accepted"] is True
    row = _csa_row(client, nerve_image)
    assert row["usable"] is True and row["analysis_id"] == clicked["id"] and row["outlines"] == 3

    # a second (stray) click does not silently become the image's CSA
    stray = client.post(f"{W}/instances/{nerve_image['instance']}/outline", json={"row": 60, "col": 115})
    assert stray.status_code == 200, stray.text
    row = _csa_row(client, nerve_image)
    assert row["usable"] is False and row["reason"] == "2 nerve outlines on this image: accept or discard one"

    # accepting one chooses it; the other stays stored, no longer accepted
    acc = client.post(f"{W}/structures/{clicked['structures'][0]['id']}/accept")
    assert acc.status_code == 200 and acc.json()["structures"][0]["accepted"] is True
    row = _csa_row(client, nerve_image)
    assert row["usable"] is True and row["analysis_id"] == clicked["id"]
    assert client.post(f"{W}/structures/99999/accept").status_code == 404


def test_a_corrected_automatic_outline_is_chosen_over_the_other_automatic_one(
    client: TestClient, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    nerve, _stray = _two_automatic_outlines(client, nerve_image, monkeypatch)
    row, col = nerve_image["row"], nerve_image["col"]
    half = (10.0 / SPACING**2) ** 0.5 / 2  # a 10 mm2 square
    put = client.put(
        f"{W}/structures/{nerve['structures'][0]['id']}/points",
        json={"points": _square(row, col, half, half)},
    )
    assert put.status_code == 200, put.text
    r = _csa_row(client, nerve_image)
    assert r["usable"] is True and r["analysis_id"] == nerve["id"] and r["corrected"] is True
    assert r["csa"] == pytest.approx(10.0, rel=0.03)


def test_correcting_an_outline_chooses_it_over_an_accepted_one(
    client: TestClient, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # review of the session's change: a correction marked its outline accepted without taking the
    # mark off the accepted one, so the image lost its CSA ("2 nerve outlines ...")
    nerve, stray = _two_automatic_outlines(client, nerve_image, monkeypatch)
    assert client.post(f"{W}/structures/{stray['structures'][0]['id']}/accept").status_code == 200
    row, col = nerve_image["row"], nerve_image["col"]
    half = (10.0 / SPACING**2) ** 0.5 / 2  # a 10 mm2 square
    put = client.put(
        f"{W}/structures/{nerve['structures'][0]['id']}/points",
        json={"points": _square(row, col, half, half)},
    )
    assert put.status_code == 200, put.text
    r = _csa_row(client, nerve_image)
    assert r["usable"] is True and r["analysis_id"] == nerve["id"]
    assert r["csa"] == pytest.approx(10.0, rel=0.03)


def test_discard_refuses_a_structure_that_is_not_a_nerve_outline(
    client: TestClient, store: Store, nerve_image: dict[str, Any]
) -> None:
    from sonomsk.core.results import MeasurementSet
    from sonomsk.store.repository import record_analysis

    aid = record_analysis(
        store,
        study_id=nerve_image["study"],
        instance_id=nerve_image["instance"],
        kind="muscle_morphology",
        method_version="test",
        measurements=MeasurementSet(),
        structures=[{"label": "muscle", "kind": "muscle", "points": [[1, 1], [1, 9], [9, 9]]}],
    )
    sid = client.get(f"/api/studies/{nerve_image['study']}").json()["analyses"][0]["structures"][0]["id"]
    before = _snapshot(client, nerve_image["study"])
    r = client.delete(f"{W}/structures/{sid}")
    assert r.status_code == 422 and "not a nerve_morphology outline" in r.json()["detail"]
    assert _snapshot(client, nerve_image["study"]) == before and aid


# --------------------------------------------------------------------------- finding 9


@pytest.mark.parametrize(
    "body",
    [{"row": True, "col": True}, {"row": 100, "col": False}, {"row": 100, "col": 100, "frame": False}],
)
def test_a_click_refuses_booleans(
    client: TestClient, nerve_image: dict[str, Any], body: dict[str, Any]
) -> None:
    before = _snapshot(client, nerve_image["study"])
    r = client.post(f"{W}/instances/{nerve_image['instance']}/outline", json=body)
    assert r.status_code == 422 and "boolean" in r.json()["detail"]
    assert _snapshot(client, nerve_image["study"]) == before


def test_a_box_refuses_a_boolean_frame(client: TestClient, nerve_image: dict[str, Any]) -> None:
    before = _snapshot(client, nerve_image["study"])
    body = {"top": 80, "left": 80, "bottom": 160, "right": 160, "frame": True}
    r = client.post(f"{W}/instances/{nerve_image['instance']}/outline-box", json=body)
    assert r.status_code == 422 and "boolean" in r.json()["detail"]
    assert _snapshot(client, nerve_image["study"]) == before


@pytest.mark.parametrize(
    "points",
    [[[True, True], [True, 5], [5, 5]], [[10, 10], [10, 50], [50, False]]],
)
def test_a_correction_refuses_booleans(
    client: TestClient, nerve_image: dict[str, Any], points: list[list[Any]]
) -> None:
    sid = _click(client, nerve_image)["structures"][0]["id"]
    before = _snapshot(client, nerve_image["study"])
    r = client.put(f"{W}/structures/{sid}/points", json={"points": points})
    assert r.status_code == 422 and "boolean" in r.json()["detail"]
    assert _snapshot(client, nerve_image["study"]) == before


# --------------------------------------------------------------------------- migration


def _sqlite_store_at(tmp_path: Path, revision: str) -> tuple[Path, str, Any]:
    """A SQLite store in ``tmp_path/home`` migrated only to ``revision``: (home, url, engine)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    import sonomsk.store.db as db

    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{home / 'sonomsk.db'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return home, url, engine


def test_migration_marks_corrected_outlines_accepted(tmp_path: Path) -> None:
    """A store at revision 0001 with a corrected outline: after the upgrade it counts as accepted."""
    from sqlalchemy import text

    from sonomsk.store.db import open_store

    home, url, engine = _sqlite_store_at(tmp_path, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient (id, patient_key, pseudonymised, created_at) VALUES (1, 'P', 0, '2024-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO study (id, study_uid, patient_id, created_at) VALUES (1, '1.2', 1, '2024-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO analysis (id, study_id, kind, method_version, status, result, created_at)"
                " VALUES (1, 1, 'nerve_morphology', 'v', 'done', '{}', '2024-01-01')"
            )
        )
        for sid, by in ((1, "dr"), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO structure (id, analysis_id, label, kind, frame, auto_points, corrected_points,"
                    " corrected_by, accepted) VALUES (:id, 1, 'nerve', 'nerve', 0, '[]', :pts, :by, 0)"
                ),
                {"id": sid, "pts": "[[1, 1], [1, 5], [5, 5]]" if by else "null", "by": by},
            )
    engine.dispose()
    store = open_store(url, home=home)
    try:
        with store.engine.connect() as conn:
            accepted = dict(conn.execute(text("SELECT id, accepted FROM structure")).all())
            cols = {r[1] for r in conn.execute(text("PRAGMA table_info(measurement)")).all()}
        assert accepted == {1: 1, 2: 0} and "corrected_failure" in cols
    finally:
        store.close()


def test_the_csa_table_says_why_a_calibrated_image_gives_px() -> None:
    from types import SimpleNamespace

    from sonomsk.server.workflow_nerve import _usable

    row = {"site": "median_wrist", "side": "right"}
    leaves = SimpleNamespace(
        value=120.0,
        unit="px2",
        data={"context": {"uncalibrated_reason": "outline leaves the calibrated tissue region"}},
    )
    plain = SimpleNamespace(value=120.0, unit="px2", data={"context": {}})
    assert _usable(row, leaves)[1] == (
        "outline leaves the calibrated tissue region: CSA in px2, not comparable with reference values"
    )
    assert _usable(row, plain)[1] == "uncalibrated image: CSA in px2, not comparable with reference values"


def test_a_click_stores_the_rule_that_drew_it_and_its_warning(
    client: TestClient, nerve_image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sonomsk.nerve import interactive

    real = interactive.click_outline

    def vessel_here(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        return interactive.ClickOutline(found.contour, found.method, "the model sees a vessel at the click")

    plain = _click(client, nerve_image)
    assert plain["result"]["method"] in ("frame_region", "window_search", "classical")
    assert "note" not in plain["result"]
    monkeypatch.setattr(interactive, "click_outline", vessel_here)
    warned = _click(client, nerve_image)
    assert warned["result"]["note"] == "the model sees a vessel at the click"
    stored = client.get(f"/api/studies/{nerve_image['study']}").json()
    assert any(a["result"].get("note") == "the model sees a vessel at the click" for a in stored["analyses"])


def test_running_the_automatic_segmentation_again_replaces_its_unreviewed_outlines(
    client: TestClient, nerve_image: dict[str, Any]
) -> None:
    first = client.post(f"{W}/instances/{nerve_image['instance']}/segment", json={})
    assert first.status_code == 200, first.text
    n_first = len(first.json()["analyses"])
    assert n_first >= 1
    again = client.post(f"{W}/instances/{nerve_image['instance']}/segment", json={})
    assert again.status_code == 200, again.text
    assert f"replaced {n_first} earlier automatic outline(s)" in again.json()["note"]
    assert _csa_row(client, nerve_image)["outlines"] == len(again.json()["analyses"])
    # an accepted automatic outline is the clinician's: a third run keeps it beside the new ones
    kept = again.json()["analyses"][0]["structures"][0]["id"]
    assert client.post(f"{W}/structures/{kept}/accept").status_code == 200
    third = client.post(f"{W}/instances/{nerve_image['instance']}/segment", json={})
    assert third.status_code == 200, third.text
    row = _csa_row(client, nerve_image)
    assert row["outlines"] == 1 + len(third.json()["analyses"])
    assert row["usable"] is True and row["structure_id"] == kept


def test_migration_0003_adds_level_and_trunk_keeping_sites(tmp_path: Path) -> None:
    """A store at revision 0002 with an image assigned to a site: after the upgrade the site and
    side are kept and the new level and trunk are empty (the site's default level; decision 013)."""
    from sqlalchemy import text

    from sonomsk.store.db import open_store

    home, url, engine = _sqlite_store_at(tmp_path, "0002")
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO patient (id, patient_key, pseudonymised, created_at) VALUES (1, 'P', 0, '2024-01-01')",
            "INSERT INTO study (id, study_uid, patient_id, created_at) VALUES (1, '1.2', 1, '2024-01-01')",
            "INSERT INTO series (id, series_uid, study_id) VALUES (1, '1.2.3', 1)",
            "INSERT INTO instance (id, sop_uid, series_id, sha256, file_format, rows, columns, frames, channels,"
            " calibrated, info, site, side, created_at) VALUES (1, '1.2.3.4', 1, 'ab', 'dicom', 8, 8, 1, 1, 1,"
            " '{}', 'c5_root', 'right', '2024-01-01')",
        ):
            conn.execute(text(sql))
    engine.dispose()
    store = open_store(url, home=home)
    try:
        with store.engine.connect() as conn:
            row = conn.execute(text("SELECT site, side, level, trunk FROM instance WHERE id = 1")).one()
        assert tuple(row) == ("c5_root", "right", None, None)
    finally:
        store.close()
