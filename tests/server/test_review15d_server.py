"""Review ws15d N1: a clinician's correction that takes an outline out of its calibrated tissue
region (stored apart, in px2) is recorded as a correction everywhere: the CSA list says
corrected and keeps the automatic mm2 value, the RESULTS say "corrected" with who and when, and
the audit log has the correction events."""

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

W = "/api/workflows/nerve"
R = "/api/workflows/report"


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


@pytest.fixture()
def corrected(client: TestClient) -> dict[str, Any]:
    """gdcm-US-ALOKA-16: a box outline in the left pane (mm2), one point dragged into the right
    pane (the correction leaves the calibrated region)."""
    pytest.importorskip("data_store", reason="pydicom-data (data_store) is not installed")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("gdcm-US-ALOKA-16.dcm")
    if path is None:
        pytest.skip("gdcm-US-ALOKA-16.dcm is not in the installed pydicom-data")
    up = client.post("/api/upload", files={"file": ("a.dcm", Path(path).read_bytes(), "application/dicom")})
    assert up.status_code == 201, up.text
    inst, study = up.json()["instance_id"], up.json()["study_id"]
    r = client.put(f"{W}/instances/{inst}/site", json={"site": "median_wrist", "side": "right"})
    assert r.status_code == 200, r.text
    box = client.post(
        f"{W}/instances/{inst}/outline-box",
        json={"top": 250, "left": 250, "bottom": 300, "right": 320, "frame": 0},
    )
    assert box.status_code == 200, box.text
    a = box.json()
    auto = next(m for m in a["measurements"] if m["name"] == "area_cross_section")
    assert auto["unit"] == "mm2"
    s = a["structures"][0]
    pts = [list(p) for p in s["points"]]
    right = max(range(len(pts)), key=lambda i: pts[i][1])
    pts[right][1] = 350.0
    put = client.put(f"{W}/structures/{s['id']}/points", json={"points": pts})
    assert put.status_code == 200, put.text
    return {"instance": inst, "study": study, "auto": auto, "old": s["id"], "new": put.json()}


def test_the_csa_list_says_corrected_and_keeps_the_automatic_mm2_value(
    client: TestClient, corrected: dict[str, Any]
) -> None:
    table = client.get(f"{W}/studies/{corrected['study']}/csa").json()
    row = next(r for r in table if r["instance_id"] == corrected["instance"])
    assert row["unit"] == "px2"
    assert row["corrected"] is True
    assert row["auto_csa"] == pytest.approx(corrected["auto"]["value"])
    assert row["auto_unit"] == "mm2"
    assert row["csa"] != pytest.approx(row["auto_csa"])
    new = corrected["new"]
    s = new["structures"][0]
    assert s["corrected_by"] == "local" and s["corrected_points"] is not None
    area = next(m for m in new["measurements"] if m["name"] == "area_cross_section")
    assert area["corrected_by"] == "local" and area["corrected_value"] == pytest.approx(row["csa"])


def test_results_record_the_outline_as_corrected_with_who_when_and_the_automatic_value(
    client: TestClient, corrected: dict[str, Any], store: Store
) -> None:
    from sonomsk.server.results_builder import build_results

    results = build_results(store, corrected["study"])
    m = next(x for x in results["measurements"] if x["name"] == "area_cross_section")
    assert m["unit"] == "px2"
    assert m["context"]["outline"] == "corrected"
    prov = m["provenance"]
    assert prov["corrected_by"] == "local"
    assert prov["corrected_at"] and prov["corrected_at"][:2] == "20"
    assert prov["auto_value"] == pytest.approx(corrected["auto"]["value"])
    assert prov["auto_unit"] == "mm2"


def test_the_correction_is_audited_as_any_correction_is(
    client: TestClient, corrected: dict[str, Any], store: Store
) -> None:
    from sqlalchemy import select

    from sonomsk.store.models import AuditLog

    sid = corrected["new"]["structures"][0]["id"]
    with store.sessions() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "correct")).all()
        events = [(r.entity, r.entity_id, r.actor, dict(r.detail)) for r in rows]
    structure = [e for e in events if e[0] == "structure" and e[1] == sid]
    assert structure and structure[0][2] == "local" and structure[0][3]["corrects"] == corrected["old"]
    area_id = next(m["id"] for m in corrected["new"]["measurements"] if m["name"] == "area_cross_section")
    area = [e for e in events if e[0] == "measurement" and e[1] == area_id]
    assert area and area[0][3]["auto"] == pytest.approx(corrected["auto"]["value"])


def test_restoring_the_automatic_outline_brings_back_the_outline_it_corrects(
    client: TestClient, corrected: dict[str, Any]
) -> None:
    sid = corrected["new"]["structures"][0]["id"]
    r = client.post(f"{W}/structures/{sid}/restore")
    assert r.status_code == 200, r.text
    table = client.get(f"{W}/studies/{corrected['study']}/csa").json()
    row = next(x for x in table if x["instance_id"] == corrected["instance"])
    assert row["outlines"] == 1 and row["unit"] == "mm2" and row["corrected"] is False
    assert row["csa"] == pytest.approx(corrected["auto"]["value"])


def test_restore_after_an_in_place_and_an_out_of_region_correction_returns_to_the_automatic_outline(
    client: TestClient,
) -> None:
    """A correction inside the pane, then one across the border: "Restore automatic outline"
    brought back the first correction, not the automatic outline (review ws16b 2)."""
    pytest.importorskip("data_store", reason="pydicom-data (data_store) is not installed")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("gdcm-US-ALOKA-16.dcm")
    if path is None:
        pytest.skip("gdcm-US-ALOKA-16.dcm is not in the installed pydicom-data")
    up = client.post("/api/upload", files={"file": ("a.dcm", Path(path).read_bytes(), "application/dicom")})
    inst, study = up.json()["instance_id"], up.json()["study_id"]
    client.put(f"{W}/instances/{inst}/site", json={"site": "median_wrist", "side": "right"})
    a = client.post(
        f"{W}/instances/{inst}/outline-box",
        json={"top": 250, "left": 250, "bottom": 300, "right": 320, "frame": 0},
    ).json()
    s = a["structures"][0]
    auto = next(m["value"] for m in a["measurements"] if m["name"] == "area_cross_section")
    pts = [list(p) for p in s["points"]]
    right = max(range(len(pts)), key=lambda i: pts[i][1])
    pts[right][1] = 330.0  # still in the calibrated pane: corrected in place
    assert client.put(f"{W}/structures/{s['id']}/points", json={"points": pts}).status_code == 200
    pts[right][1] = 350.0  # across the border: stored apart in px2
    new = client.put(f"{W}/structures/{s['id']}/points", json={"points": pts}).json()
    newest = max(st["id"] for st in new["structures"])
    r = client.post(f"{W}/structures/{newest}/restore")
    assert r.status_code == 200, r.text
    (row,) = client.get(f"{W}/studies/{study}/csa").json()
    assert row["corrected"] is False and row["csa"] == pytest.approx(auto), row
