"""RESULTS built from the store carry the same assessment and differential shape as the demo's.

The stored assessment analysis holds the full ``sonomsk.nerve.assess`` dict and the full
``knowledge.differential.rank(...).to_dict()``; the report built from the server path must show
what a reader needs from them: per-site CSA, limit, ratio, status, source with its evidence
caveat, the indices, the pattern and its explanation, and the differential's candidates with
supporting/against findings, their citations and the relative weight (not a probability).
"""

from __future__ import annotations

import html as html_lib
import warnings
from pathlib import Path
from typing import Any

import pytest

from sonomsk.report.sections import fmt
from sonomsk.server.app import create_app
from sonomsk.server.results_builder import build_results
from sonomsk.store.db import Store

from .test_workflow_nerve import require_dicom_reader, simulated_nerve_dicom

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "/api/workflows/nerve"


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


@pytest.fixture()
def assessed(client: TestClient, tmp_path: Path) -> int:
    """A study with the right median nerve at the wrist (enlarged) and forearm, and the left wrist."""
    require_dicom_reader()
    study = None
    for i, (site, side, csa) in enumerate(
        (("median_wrist", "right", 16.0), ("median_forearm", "right", 7.0), ("median_wrist", "left", 8.0))
    ):
        path = tmp_path / f"{site}_{side}.dcm"
        truth = simulated_nerve_dicom(path, csa_mm2=csa, seed=10 + i)
        up = client.post("/api/upload", files={"file": (path.name, path.read_bytes())})
        assert up.status_code == 201, up.text
        study, iid = up.json()["study_id"], up.json()["instance_id"]
        assert (
            client.put(f"{BASE}/instances/{iid}/site", json={"site": site, "side": side}).status_code == 200
        )
        row, col = truth["centroid_px"]
        r = client.post(f"{BASE}/instances/{iid}/outline", json={"row": row, "col": col})
        assert r.status_code == 200, r.text
    r = client.post(f"{BASE}/studies/{study}/assess", json={"patient": {"age": 55, "sex": "F"}})
    assert r.status_code == 200, r.text
    assert isinstance(study, int)
    return study


def test_results_carry_the_full_assessment_and_differential(store: Store, assessed: int) -> None:
    stored = store_assessment(store, assessed)
    res = build_results(store, assessed)
    assert res["nerve_assessment"] == stored["assessment"]
    assert res["differential"] == stored["differential"]
    assert {"entrapment_indices", "side_to_side", "explanation", "reference_set"} <= set(
        res["nerve_assessment"]
    )
    assert res["nerve_assessment"]["measurements"][0]["limit"]["citation"]["text"]


def store_assessment(store: Store, study_id: int) -> dict[str, Any]:
    from sonomsk.server.workflow_nerve import latest_assessment

    a = latest_assessment(store, study_id)
    assert a is not None
    return a


def test_report_from_the_server_path_shows_what_a_reader_needs(
    client: TestClient, store: Store, assessed: int
) -> None:
    r = client.get(f"/api/workflows/report/studies/{assessed}/preview")
    assert r.status_code == 200, r.text
    page = html_lib.unescape(r.text)
    a = store_assessment(store, assessed)["assessment"]
    d = store_assessment(store, assessed)["differential"]
    nerve = page[page.index('id="section-nerve_assessment"') : page.index('id="section-differential"')]
    for m in a["measurements"]:
        lim = m["limit"]
        for piece in (m["site"], fmt(m["csa_mm2"]), fmt(lim["uln_mm2"]), fmt(m["ratio_to_uln"]), m["status"]):
            assert piece in nerve, piece
        cit = lim["citation"]
        assert cit["text"] in nerve
        if cit.get("caveat"):
            assert f"[{cit['evidence']}: {cit['caveat']}]" in nerve
    indices = [i for i in [*a["entrapment_indices"], *a["side_to_side"]] if i["value"] is not None]
    assert indices, "the scenario computes the wrist-to-forearm ratio and a side-to-side comparison"
    for i in indices:
        assert i["label"] in nerve and fmt(i["value"]) in nerve
    assert "Pattern:" in nerve and a["pattern"] in nerve and a["explanation"] in nerve
    assert a["reference_set"]["title"] in nerve

    diff = page[page.index('id="section-differential"') :]
    assert d["intended_use"] in diff
    assert d["candidates"], "an enlarged median nerve at the wrist ranks candidates"
    assert "relative weight (not a probability)" in diff
    for c in d["candidates"]:
        assert c["name"] in diff and fmt(c["relative_weight"]) in diff
        for x in [*c["supporting"], *c["against"]]:
            note = f"; note: {x['note']}" if x.get("note") else ""
            assert fmt(f"{x['statement']} ({x['state']}; LR {fmt(x['likelihood_ratio'])}{note})") in diff
        for cit in c["citations"]:
            assert str(cit.get("text") or cit.get("source")) in diff
    top = d["candidates"][0]
    assert top["supporting"], "the top candidate has a supporting finding"


def test_exports_of_server_results_keep_the_indices(store: Store, assessed: int, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from sonomsk.report.fhir import bundle_dict, validate_bundle
    from sonomsk.report.results import StudyResults
    from sonomsk.report.tables import write_xlsx

    res = build_results(store, assessed)
    a = res["nerve_assessment"]
    computed = [i for i in [*a["entrapment_indices"], *a["side_to_side"]] if i["value"] is not None]
    data = bundle_dict(StudyResults.from_dict(res))
    validate_bundle(data)
    texts = {
        e["resource"]["code"]["text"]: e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    wfr = next(i for i in computed if i["name"] == "wrist_forearm_ratio")
    obs = texts[f"{wfr['label'].replace('_', ' ')} ({wfr['side']})"]  # each index names its side
    assert obs["valueQuantity"]["value"] == wfr["value"]
    assert obs["interpretation"][0]["coding"][0]["code"] == ("A" if wfr["abnormal"] else "N")
    assert str(wfr["cutoff"]) in obs["note"][0]["text"] and wfr["citation_short"] in obs["note"][0]["text"]
    assert all(f"{i['label'].replace('_', ' ')} ({i['side']})" in texts for i in computed)

    wb = load_workbook(write_xlsx(res, tmp_path / "t.xlsx"))
    sheet = list(wb["nerve_indices"].iter_rows(values_only=True))
    assert len(sheet) - 1 == len(a["entrapment_indices"]) + len(a["side_to_side"])
    na = list(wb["nerve_assessment"].iter_rows(values_only=True))
    assert {"csa_mm2", "limit.uln_mm2", "ratio_to_uln", "status"} <= set(na[0])


def test_demo_and_workstation_choose_the_same_csa() -> None:
    from sonomsk.core.results import Measurement, Method
    from sonomsk.report.assemble import NerveImageAnalysis, nerve_csa_by_site
    from sonomsk.report.results import ImageRef
    from sonomsk.server.workflow_nerve import choose_csa

    images = [
        ("median_wrist", "right", 10.0),
        ("median_wrist", "right", 12.5),
        ("median_forearm", "right", 7.0),
        ("median_wrist", "left", 9.0),
    ]
    analyses = [
        NerveImageAnalysis(
            image=ImageRef(id=f"img{i}", rows=10, cols=10, spacing_mm=(0.1, 0.1)),
            site=site,
            side=side,
            measurements=(
                Measurement(name="area_cross_section", value=csa, unit="mm2", method=Method("t", "1")),
            ),
        )
        for i, (site, side, csa) in enumerate(images)
    ]
    rows = [
        {"instance_id": i, "site": site, "side": side, "csa": csa, "usable": True}
        for i, (site, side, csa) in enumerate(images)
    ]
    demo = nerve_csa_by_site(analyses)
    workstation = choose_csa(rows)
    assert demo == [{"site": c.site, "side": c.side, "csa_mm2": c.csa} for c in workstation]
    assert [c.instances for c in workstation] == [[2], [3], [0, 1]]
