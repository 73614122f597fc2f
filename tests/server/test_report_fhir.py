"""The workstation offers a report's FHIR R4 bundle beside its PDF, HTML and SR (review ws10c,
finding F3): made from the report's frozen RESULTS, preliminary for a draft, final once signed,
behind the same authentication as every other route, and linked from the report card."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from sonomsk.report.api import write_fhir
from sonomsk.report.fhir import validate_bundle
from sonomsk.server.app import create_app
from sonomsk.store.db import Store

from .test_browser import CHROMIUM, _upload_one_nerve, _wait_for, page  # noqa: F401  (pytest fixture)
from .test_workflow_report import analysed  # noqa: F401  (pytest fixture)

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "/api/workflows/report"


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


def _frozen(store: Store, report_id: int) -> dict[str, Any]:
    from sonomsk.store.models import Report

    with store.sessions() as session:
        return dict(session.get(Report, report_id).results)


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_signed_report_fhir_is_the_frozen_results_bundle(
    client: TestClient,
    analysed: dict[str, Any],  # noqa: F811
    store: Store,
    tmp_path: Path,
) -> None:
    rep = client.post(f"{BASE}/studies/{analysed['study']}/reports", json={"sign": True}).json()
    r = client.get(f"{BASE}/reports/{rep['id']}/fhir")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert f'filename="sonomsk-report-{rep["id"]}-fhir.json"' in r.headers["content-disposition"]
    bundle = r.json()
    validate_bundle(bundle)
    (report,) = _resources(bundle, "DiagnosticReport")
    assert report["status"] == "final"
    (patient,) = _resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == "NERVE1"
    frozen = _frozen(store, rep["id"])
    csa = next(m for m in frozen["measurements"] if m["name"] == "area_cross_section")
    obs = [o for o in _resources(bundle, "Observation") if o["code"]["text"].startswith("area cross section")]
    assert [o["valueQuantity"]["value"] for o in obs] == [pytest.approx(csa["value"])]
    # the same bytes as `sonomsk export --fhir` of the frozen RESULTS
    assert r.content == write_fhir(frozen, tmp_path / "cli.json").read_bytes()

    # a later correction changes the study, not the signed report's bundle
    moved = [[p[0] + 5, p[1]] for p in analysed["square"]]
    put = client.put(
        f"/api/workflows/nerve/structures/{analysed['structure']}/points", json={"points": moved}
    )
    assert put.status_code == 200
    assert client.get(f"{BASE}/reports/{rep['id']}/fhir").content == r.content


def test_draft_fhir_is_preliminary_until_signed(
    client: TestClient,
    analysed: dict[str, Any],  # noqa: F811
) -> None:
    """Like the SR (PARTIAL for a draft), a draft's bundle downloads and says preliminary."""
    draft = client.post(f"{BASE}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    first = client.get(f"{BASE}/reports/{draft['id']}/fhir")
    assert first.status_code == 200
    (report,) = _resources(first.json(), "DiagnosticReport")
    assert report["status"] == "preliminary"
    assert client.post(f"{BASE}/reports/{draft['id']}/sign").json()["status"] == "signed"
    (report,) = _resources(client.get(f"{BASE}/reports/{draft['id']}/fhir").json(), "DiagnosticReport")
    assert report["status"] == "final"


def test_unknown_report_and_authentication(store: Store) -> None:
    from sonomsk.server.auth import AuthConfig

    token = "s3cret-token-0123456789"
    c = TestClient(create_app(store, auth=AuthConfig(token=token)), raise_server_exceptions=False)
    assert c.get(f"{BASE}/reports/1/fhir").status_code == 401
    assert c.get(f"{BASE}/reports/1/sr").status_code == 401  # the same rule as the SR
    missing = c.get(f"{BASE}/reports/999/fhir", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and "report 999" in missing.json()["detail"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed at /usr/bin/chromium")
def test_the_report_card_downloads_the_fhir_bundle(page: Any, server: str, tmp_path: Path) -> None:  # noqa: F811
    import httpx

    iid, truth = _upload_one_nerve(page, tmp_path / "median.dcm", csa_mm2=12.0, seed=9)
    row, col = truth["centroid_px"]
    assert httpx.post(
        f"{server}/api/workflows/nerve/instances/{iid}/outline", json={"row": row, "col": col}
    ).is_success
    study = page.evaluate("SONO.state.study.id")
    rid = httpx.post(f"{server}{BASE}/studies/{study}/reports", json={"sign": True}, timeout=120).json()["id"]
    page.evaluate("SONO.reloadStudy()")
    page.click('#workflow-tabs button[data-workflow="report"]')
    _wait_for(page, f"document.querySelector('[data-testid=report-fhir-{rid}]') !== null")
    with page.expect_download() as got:
        page.click(f'[data-testid="report-fhir-{rid}"]')
    path = tmp_path / "bundle.json"
    got.value.save_as(path)
    bundle = json.loads(path.read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle"
    assert _resources(bundle, "DiagnosticReport")[0]["status"] == "final"
