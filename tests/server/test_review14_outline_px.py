"""Review ws14c F1: a corrected outline that leaves its calibrated tissue region keeps its px2
values with the reason (as a box of the same geometry does), is not used as mm2 by the
assessment, and the signed report still has an SR with the outline and its px2 area."""

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
LEAVES = "outline leaves the calibrated tissue region"


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


@pytest.fixture()
def aloka(client: TestClient) -> dict[str, Any]:
    """gdcm-US-ALOKA-16 (pydicom-data): two calibrated tissue panes, columns 32..335 and 336..639."""
    pytest.importorskip("data_store", reason="pydicom-data (data_store) is not installed")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("gdcm-US-ALOKA-16.dcm")
    if path is None:
        pytest.skip("gdcm-US-ALOKA-16.dcm is not in the installed pydicom-data")
    r = client.post(
        "/api/upload",
        files={"file": ("aloka.dcm", Path(path).read_bytes(), "application/dicom")},
    )
    assert r.status_code == 201, r.text
    up = r.json()
    site = client.put(
        f"{W}/instances/{up['instance_id']}/site", json={"site": "median_wrist", "side": "right"}
    )
    assert site.status_code == 200, site.text
    return {"instance": up["instance_id"], "study": up["study_id"]}


def _m(analysis: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in analysis["measurements"] if m["name"] == name)


def test_a_correction_leaving_the_calibrated_region_keeps_its_px2_values(
    client: TestClient, aloka: dict[str, Any], tmp_path: Path
) -> None:
    box = client.post(
        f"{W}/instances/{aloka['instance']}/outline-box",
        json={"top": 250, "left": 250, "bottom": 300, "right": 320, "frame": 0},
    )
    assert box.status_code == 200, box.text
    a = box.json()
    assert _m(a, "area_cross_section")["unit"] == "mm2"
    s = a["structures"][0]
    pts = [list(p) for p in s["points"]]
    right = max(range(len(pts)), key=lambda i: pts[i][1])
    pts[right][1] = 350.0  # into the right pane
    put = client.put(f"{W}/structures/{s['id']}/points", json={"points": pts})
    assert put.status_code == 200, put.text
    corrected = put.json()
    area = _m(corrected, "area_cross_section")
    assert area["unit"] == "px2" and area["value"] is not None and area["value"] > 100
    for name in ("perimeter",):
        assert _m(corrected, name)["unit"] == "px" and _m(corrected, name)["value"] is not None
    # the outline the clinician corrected is the image's outline, in px2 with the reason
    table = client.get(f"{W}/studies/{aloka['study']}/csa").json()
    row = next(r for r in table if r["instance_id"] == aloka["instance"])
    assert row["unit"] == "px2" and row["csa"] == pytest.approx(area["value"])
    assert row["usable"] is False and LEAVES in row["reason"]
    # the signed report's SR carries the outline and its px2 area (never a 400)
    rep = client.post(f"{R}/studies/{aloka['study']}/reports", json={"sign": True})
    assert rep.status_code in (200, 201), rep.text
    rid = rep.json()["id"]
    sr = client.get(f"{R}/reports/{rid}/sr")
    assert sr.status_code == 200, sr.text
    import pydicom

    out = tmp_path / "sr.dcm"
    out.write_bytes(sr.content)
    ds = pydicom.dcmread(out)
    units = [
        item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
        for item in _walk(ds)
        if "MeasuredValueSequence" in item
    ]
    assert "{px2}" in units
    assert any(getattr(item, "GraphicType", None) == "POLYLINE" for item in _walk(ds))
    # FHIR: the px2 CSA is there (as other px2 values are), nothing is dropped silently
    fh = client.get(f"{R}/reports/{rid}/fhir")
    assert fh.status_code == 200, fh.text
    obs = [
        e["resource"]
        for e in fh.json()["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and "area" in str(e["resource"].get("code", "")).lower()
    ]
    assert obs and all("valueQuantity" in o or "dataAbsentReason" in o for o in obs), obs
    assert any(o.get("valueQuantity", {}).get("code") == "{px2}" for o in obs)


def _walk(ds: Any) -> list[Any]:
    out = []
    for item in ds.get("ContentSequence", []):
        out.append(item)
        out.extend(_walk(item))
    return out


def test_a_second_signed_report_names_the_first_sr_as_predecessor(
    client: TestClient, aloka: dict[str, Any], tmp_path: Path
) -> None:
    import pydicom

    box = client.post(
        f"{W}/instances/{aloka['instance']}/outline-box",
        json={"top": 250, "left": 250, "bottom": 300, "right": 320, "frame": 0},
    )
    assert box.status_code == 200, box.text
    ids = []
    for _ in range(2):
        rep = client.post(f"{R}/studies/{aloka['study']}/reports", json={"sign": True})
        assert rep.status_code in (200, 201), rep.text
        ids.append(rep.json()["id"])
    srs = []
    for rid in ids:
        r = client.get(f"{R}/reports/{rid}/sr")
        assert r.status_code == 200, r.text
        (tmp_path / f"{rid}.dcm").write_bytes(r.content)
        srs.append(pydicom.dcmread(tmp_path / f"{rid}.dcm"))
    assert "PredecessorDocumentsSequence" not in srs[0]
    ref = srs[1].PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == srs[0].SOPInstanceUID
    f1, f2 = (client.get(f"{R}/reports/{rid}/fhir").json() for rid in ids)
    assert not {e["fullUrl"] for e in f1["entry"]} & {e["fullUrl"] for e in f2["entry"]}
