"""Undoing an outline correction (review 10, F5): *Restore automatic outline* brings back the
automatic points and values kept with the outline, writes its own audit event beside the
correction's, and makes an assessment that used the corrected CSA out of date; the workstation
serves no 404 for /favicon.ico (F9)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from sonomsk.server.app import create_app
from sonomsk.store.db import Store

from .test_workflow_nerve import require_dicom_reader, simulated_nerve_dicom, square_outline

W = "/api/workflows/nerve"


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


@pytest.fixture()
def outlined(client: TestClient, tmp_path: Path) -> dict[str, Any]:
    """A calibrated simulated median nerve (right wrist) with a click outline, not corrected."""
    require_dicom_reader()
    truth = simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=12.0, seed=3)
    r = client.post(
        "/api/upload", files={"file": ("a.dcm", (tmp_path / "a.dcm").read_bytes(), "application/dicom")}
    )
    assert r.status_code == 201, r.text
    up = r.json()
    body = {"site": "median_wrist", "side": "right"}
    assert client.put(f"{W}/instances/{up['instance_id']}/site", json=body).status_code == 200
    row, col = truth["centroid_px"]
    made = client.post(f"{W}/instances/{up['instance_id']}/outline", json={"row": row, "col": col})
    assert made.status_code == 200, made.text
    a = made.json()
    return {
        "study": up["study_id"],
        "structure": a["structures"][0]["id"],
        "analysis": a,
        "row": row,
        "col": col,
    }


def _csa(analysis: dict[str, Any]) -> dict[str, Any]:
    return dict(next(m for m in analysis["measurements"] if m["name"] == "area_cross_section"))


def _audit(store: Store, action: str) -> list[Any]:
    from sqlalchemy import select

    from sonomsk.store.models import AuditLog

    with store.sessions() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()
        return [(r.entity, r.entity_id, dict(r.detail or {})) for r in rows]


def test_restore_brings_back_the_automatic_outline_and_values(
    client: TestClient, store: Store, outlined: dict[str, Any]
) -> None:
    sid, study = outlined["structure"], outlined["study"]
    auto = outlined["analysis"]
    auto_points = auto["structures"][0]["points"]
    auto_csa = _csa(auto)["value"]
    fixed = client.put(
        f"{W}/structures/{sid}/points",
        json={"points": square_outline(outlined["row"], outlined["col"], 20.0)},
    )
    assert fixed.status_code == 200, fixed.text
    assert _csa(fixed.json())["value"] == pytest.approx(20.0, rel=1e-3)
    assessed = client.post(f"{W}/studies/{study}/assess", json={})
    assert assessed.status_code == 200, assessed.text
    assert not client.get(f"{W}/studies/{study}/assessment").json()["stale"]

    r = client.post(f"{W}/structures/{sid}/restore")
    assert r.status_code == 200, r.text
    back = r.json()
    s = back["structures"][0]
    assert s["corrected_points"] is None and s["points"] == auto_points
    csa = _csa(back)
    assert csa["value"] == pytest.approx(auto_csa) and csa["corrected_value"] is None
    assert all(m["corrected_value"] is None for m in back["measurements"])
    # the study document (what the viewer draws) says the same
    doc = client.get(f"/api/studies/{study}").json()
    stored = next(a for a in doc["analyses"] if a["id"] == back["id"])
    assert stored["structures"][0]["corrected_points"] is None

    # the assessment used 20 mm2: out of date, like after any other correction (decision 012)
    found = client.get(f"{W}/studies/{study}/assessment").json()
    assert found["stale"]
    assert any("median_wrist right: 20 mm2 assessed" in x for x in found["stale_reasons"]), found
    assert client.get(f"/api/workflows/report/studies/{study}/preview").status_code == 422

    # its own audit event, and the correction's events stay
    events = _audit(store, "restore_automatic")
    structure_events = [e for e in events if e[0] == "structure"]
    assert [e[1] for e in structure_events] == [sid]
    assert structure_events[0][2]["n_points"] == len(auto_points)
    csa_event = next(e for e in events if e[0] == "measurement" and e[1] == csa["id"])
    assert csa_event[2]["old"] == pytest.approx(20.0, rel=1e-3)
    assert csa_event[2]["new"] == pytest.approx(auto_csa)
    assert [e[1] for e in _audit(store, "correct") if e[0] == "structure"] == [sid]


def test_restore_refuses_what_it_cannot_restore(client: TestClient, outlined: dict[str, Any]) -> None:
    sid = outlined["structure"]
    # an outline never corrected has nothing to restore
    r = client.post(f"{W}/structures/{sid}/restore")
    assert r.status_code == 409 and f"structure {sid}" in r.json()["detail"]
    assert client.post(f"{W}/structures/999999/restore").status_code == 404
    # a second restore after one correction: nothing left to restore
    sq = square_outline(outlined["row"], outlined["col"], 15.0)
    assert client.put(f"{W}/structures/{sid}/points", json={"points": sq}).status_code == 200
    assert client.post(f"{W}/structures/{sid}/restore").status_code == 200
    assert client.post(f"{W}/structures/{sid}/restore").status_code == 409


def test_favicon_is_no_404(client: TestClient) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 204 and r.content == b""
