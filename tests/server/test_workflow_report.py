"""The report workflow: RESULTS from the store, preview, sign-off, PDF, SR and sending it by DICOM."""

from __future__ import annotations

import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from sonomsk.core.errors import InvalidParameterError, NetworkError
from sonomsk.server.app import create_app
from sonomsk.server.dicom_node import start_dicom_node
from sonomsk.server.dicom_send import check_ae_title, send_dicom
from sonomsk.store.db import Store, open_store
from sonomsk.store.repository import count_instances

from .conftest import free_port
from .test_workflow_nerve import SPACING, require_dicom_reader, simulated_nerve_dicom

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
STORESCP = Path("/usr/bin/storescp")  # dcmtk's (a pynetdicom app of the same name may be on PATH)


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


@pytest.fixture()
def analysed(client: TestClient, tmp_path: Path) -> dict[str, Any]:
    """A study with one outlined, corrected and assessed median nerve."""
    require_dicom_reader()
    truth = simulated_nerve_dicom(tmp_path / "wrist.dcm", csa_mm2=15.0, seed=3)
    up = client.post(
        "/api/upload", files={"file": ("wrist.dcm", (tmp_path / "wrist.dcm").read_bytes())}
    ).json()
    study, iid = up["study_id"], up["instance_id"]
    base = "/api/workflows/nerve"
    client.put(f"{base}/instances/{iid}/site", json={"site": "median_wrist", "side": "right"})
    row, col = truth["centroid_px"]
    a = client.post(f"{base}/instances/{iid}/outline", json={"row": row, "col": col}).json()
    half = (16.0 / SPACING**2) ** 0.5 / 2  # a square of 16 mm2
    square = [
        [row - half, col - half],
        [row - half, col + half],
        [row + half, col + half],
        [row + half, col - half],
    ]
    sid = a["structures"][0]["id"]
    assert client.put(f"{base}/structures/{sid}/points", json={"points": square}).status_code == 200
    assert client.post(f"{base}/studies/{study}/assess", json={"patient": {"age": 60}}).status_code == 200
    return {
        "study": study,
        "instance": iid,
        "structure": sid,
        "square": square,
        "path": tmp_path / "wrist.dcm",
    }


def test_results_from_store(client: TestClient, analysed: dict[str, Any]) -> None:
    r = client.get(f"/api/workflows/report/studies/{analysed['study']}/results")
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["schema"] == "sonomsk.study-results" and res["signoff"]["state"] == "draft"
    assert res["patient"]["id"] == "NERVE1" and res["study"]["description"] == "nerve study"
    (image,) = res["images"]
    assert image["spacing_mm"] == pytest.approx([SPACING, SPACING]) and image["key"] is True
    (structure,) = res["structures"]
    assert structure["contour"] == [[pytest.approx(v, abs=0.006) for v in p] for p in analysed["square"]]
    assert (structure["site"], structure["side"]) == ("median_wrist", "right")
    csa = next(m for m in res["measurements"] if m["name"] == "area_cross_section")
    assert csa["value"] == pytest.approx(16.0, rel=0.05) and csa["unit"] == "mm2"
    assert csa["provenance"]["corrected_by"] == "local" and csa["provenance"]["auto_value"] != csa["value"]
    assert csa["context"]["structure"] == structure["id"] and csa["context"]["outline"] == "corrected"
    na = res["nerve_assessment"]
    assert na["measurements"][0]["csa_mm2"] == pytest.approx(csa["value"], rel=1e-3)
    assert na["measurements"][0]["limit"]["uln_mm2"] > 0 and na["pattern"]
    assert res["differential"]["intended_use"].startswith("Decision support")


def test_preview_sign_pdf_and_immutability(
    client: TestClient, analysed: dict[str, Any], store: Store
) -> None:
    base = "/api/workflows/report"
    study = analysed["study"]
    html = client.get(f"{base}/studies/{study}/preview")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Nerve assessment" in html.text and "median_wrist" in html.text
    assert client.get(f"{base}/studies/{study}/reports").json() == []  # a preview stores nothing

    r = client.post(f"{base}/studies/{study}/reports", json={"sign": True})
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["status"] == "signed" and rep["signed_by"] == "local" and rep["has_pdf"]
    pdf = client.get(f"{base}/reports/{rep['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    again = client.post(f"{base}/reports/{rep['id']}/sign")
    assert again.status_code == 409 and "cannot change" in again.json()["detail"]
    stored = client.get(f"{base}/reports/{rep['id']}/html").text
    assert "signed" in stored

    # later corrections do not change the signed report
    client.put(
        f"/api/workflows/nerve/structures/{analysed['structure']}/points",
        json={"points": [[p[0] + 5, p[1]] for p in analysed["square"]]},
    )
    from sonomsk.store.models import Report

    with store.sessions() as session:
        frozen = session.get(Report, rep["id"]).results
    assert frozen["structures"][0]["contour"] == [
        [pytest.approx(v, abs=0.006) for v in p] for p in analysed["square"]
    ]
    assert client.get(f"{base}/reports/{rep['id']}/pdf").content == pdf.content


def test_sr_download_and_unsigned_send_refused(
    client: TestClient, analysed: dict[str, Any], tmp_path: Path
) -> None:
    base = "/api/workflows/report"
    rep = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    assert rep["status"] == "draft"
    sr = client.get(f"{base}/reports/{rep['id']}/sr")
    assert sr.status_code == 200
    (tmp_path / "sr.dcm").write_bytes(sr.content)
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    assert ds.SOPClassUID == COMPREHENSIVE_3D_SR and ds.PatientID == "NERVE1"
    send = client.post(
        f"{base}/reports/{rep['id']}/send", json={"host": "127.0.0.1", "port": 104, "called_ae": "X"}
    )
    assert send.status_code == 422 and "sign it before sending" in send.json()["detail"]
    assert client.post(f"{base}/reports/{rep['id']}/sign").json()["status"] == "signed"
    bad = client.post(
        f"{base}/reports/{rep['id']}/send", json={"host": "127.0.0.1", "port": 104, "called_ae": "A" * 17}
    )
    assert bad.status_code == 422 and "called_ae" in bad.json()["detail"]
    closed = free_port()  # nothing listens there
    down = client.post(
        f"{base}/reports/{rep['id']}/send", json={"host": "127.0.0.1", "port": closed, "called_ae": "PACS"}
    )
    assert down.status_code == 502 and "association" in down.json()["detail"]


@pytest.mark.skipif(not STORESCP.exists(), reason="dcmtk's storescp not installed (Debian package dcmtk)")
def test_send_sr_to_dcmtk_storescp(
    client: TestClient, analysed: dict[str, Any], tmp_path: Path, store: Store
) -> None:
    base = "/api/workflows/report"
    rep = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": True}).json()
    out = tmp_path / "received"
    out.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [str(STORESCP), "-aet", "DCMTKSCP", "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "storescp died"
            time.sleep(0.1)
        r = client.post(
            f"{base}/reports/{rep['id']}/send",
            json={"host": "127.0.0.1", "port": port, "called_ae": "DCMTKSCP"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] and body["status"] == "0x0000" and body["sop_class_uid"] == COMPREHENSIVE_3D_SR
        deadline = time.monotonic() + 10
        files: list[Path] = []
        while time.monotonic() < deadline and not files:
            files = [f for f in out.iterdir() if f.is_file()]
            time.sleep(0.1)
        assert len(files) == 1
        ds = pydicom.dcmread(files[0])
        assert ds.SOPInstanceUID == body["sop_instance_uid"] and ds.SOPClassUID == COMPREHENSIVE_3D_SR
        # signed, but by the test client's unauthenticated user "local": nobody identified, so the SR
        # is complete and unverified (review ws14c F6)
        assert ds.VerificationFlag == "UNVERIFIED" and ds.CompletionFlag == "COMPLETE"
        from sqlalchemy import select

        from sonomsk.store.models import AuditLog

        with store.sessions() as session:
            rows = session.scalars(select(AuditLog).where(AuditLog.action == "send_sr")).all()
            assert [(r.entity_id, r.detail["outcome"], r.detail["destination"]) for r in rows] == [
                (rep["id"], "sent", f"DCMTKSCP@127.0.0.1:{port}")
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_send_to_own_dicom_node(tmp_path: Path, analysed: dict[str, Any], client: TestClient) -> None:
    """Our node stores ultrasound images and refuses non-images (an SR): both answers reach the sender."""
    other = open_store(home=tmp_path / "node-home")
    node = start_dicom_node(other, port=0, ae_title="SONONODE", spool=tmp_path / "spool")
    try:
        result = send_dicom(analysed["path"], host="127.0.0.1", port=node.port, called_ae="SONONODE")
        assert result.ok and result.status == 0 and count_instances(other) == 1 and node.stats.stored == 1
        rep = client.post(
            f"/api/workflows/report/studies/{analysed['study']}/reports", json={"sign": True}
        ).json()
        r = client.post(
            f"/api/workflows/report/reports/{rep['id']}/send",
            json={"host": "127.0.0.1", "port": node.port, "called_ae": "SONONODE"},
        )
        assert r.status_code == 502 and "0xC000" in r.json()["detail"]
        assert node.stats.refused == 1 and count_instances(other) == 1
        with pytest.raises(NetworkError, match="association rejected"):
            send_dicom(analysed["path"], host="127.0.0.1", port=node.port, called_ae="SOMEONE")
    finally:
        node.stop()
        other.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host": "bad host!", "port": 104, "called_ae": "A"}, "host"),
        ({"host": "127.0.0.1", "port": 0, "called_ae": "A"}, "port"),
        ({"host": "127.0.0.1", "port": 104, "called_ae": ""}, "called_ae"),
        ({"host": "127.0.0.1", "port": 104, "called_ae": "A", "calling_ae": "x\\y"}, "calling_ae"),
    ],
)
def test_send_validates_parameters(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    f = tmp_path / "x.dcm"
    f.write_bytes(b"not dicom")
    with pytest.raises(InvalidParameterError, match=match):
        send_dicom(f, **kwargs)


def test_structure_labels() -> None:
    from sonomsk.server.results_builder import structure_label

    assert structure_label("median_wrist") == "median nerve"
    assert structure_label("c5_root") == "C5 root"
    assert structure_label("brachial_plexus_trunk") == "brachial plexus"


def test_send_refuses_non_dicom(tmp_path: Path) -> None:
    f = tmp_path / "x.dcm"
    f.write_bytes(b"not dicom")
    with pytest.raises(InvalidParameterError, match=r"x\.dcm"):
        send_dicom(f, host="127.0.0.1", port=104, called_ae="A")
    assert check_ae_title("  PACS ") == "PACS"


def test_stale_assessment_is_flagged_and_kept_out_of_reports(
    client: TestClient, analysed: dict[str, Any]
) -> None:
    """Decision 012: an outline corrected after the assessment makes it out of date; the
    workstation says so and a report refuses it until the assessment is run again."""
    base, study = "/api/workflows/nerve", analysed["study"]
    fresh = client.get(f"{base}/studies/{study}/assessment").json()
    assert fresh["stale"] is False and fresh["stale_reasons"] == []
    # shrink the corrected square to about 9 mm2
    (r0, c0), (r2, c2) = analysed["square"][0], analysed["square"][2]
    cy, cx, half = (r0 + r2) / 2, (c0 + c2) / 2, (9.0 / SPACING**2) ** 0.5 / 2
    smaller = [[cy - half, cx - half], [cy - half, cx + half], [cy + half, cx + half], [cy + half, cx - half]]
    assert (
        client.put(f"{base}/structures/{analysed['structure']}/points", json={"points": smaller}).status_code
        == 200
    )
    stale = client.get(f"{base}/studies/{study}/assessment").json()
    assert stale["stale"] is True
    (reason,) = stale["stale_reasons"]
    assert reason.startswith("median_wrist right: 1") and "mm2 assessed, 9" in reason
    for r in (
        client.get(f"/api/workflows/report/studies/{study}/results"),
        client.get(f"/api/workflows/report/studies/{study}/preview"),
        client.post(f"/api/workflows/report/studies/{study}/reports", json={"sign": True}),
    ):
        assert r.status_code == 422 and "nerve assessment is out of date" in r.json()["detail"], r.text
    assert client.get(f"/api/workflows/report/studies/{study}/reports").json() == []
    # a site change is a change of input too; assessing again makes the report possible
    client.put(f"{base}/instances/{analysed['instance']}/site", json={"site": "median_wrist", "side": "left"})
    moved = client.get(f"{base}/studies/{study}/assessment").json()
    assert moved["stale"] and len(moved["stale_reasons"]) == 2
    again = client.post(f"{base}/studies/{study}/assess", json={"patient": {"age": 60}}).json()
    assert again["stale"] is False
    assert client.get(f"{base}/studies/{study}/assessment").json()["stale"] is False
    res = client.get(f"/api/workflows/report/studies/{study}/results")
    assert res.status_code == 200, res.text
    (m,) = res.json()["nerve_assessment"]["measurements"]
    assert (m["side"], m["csa_mm2"]) == ("left", pytest.approx(9.0, rel=0.05))


def test_stale_reasons_name_each_change() -> None:
    from sonomsk.server.workflow_nerve import stale_reasons

    assessed = [
        {"site": "median_wrist", "side": "right", "csa_mm2": 14.2},
        {"site": "ulnar_elbow", "side": "right", "csa_mm2": 9.0},
    ]
    assert stale_reasons(assessed, [dict(m) for m in assessed]) == []
    assert stale_reasons(assessed, [{**assessed[0], "csa_mm2": 14.2004}, assessed[1]]) == []
    now = [
        {"site": "median_wrist", "side": "right", "csa_mm2": 12.1},
        {"site": "sural_calf", "side": "left", "csa_mm2": 3.0},
    ]
    assert stale_reasons(assessed, now) == [
        "median_wrist right: 14.2 mm2 assessed, 12.1 mm2 now",
        "sural_calf left: 3 mm2 now, not in the assessment",
        "ulnar_elbow right: 9 mm2 assessed, no usable CSA now",
    ]


def test_signing_a_draft_signs_its_results_and_pdf(
    client: TestClient, analysed: dict[str, Any], store: Store, tmp_path: Path
) -> None:
    """A draft signed later says signed everywhere: RESULTS sign-off, PDF, SR completion flag
    (a draft's SR is PARTIAL)."""
    base = "/api/workflows/report"
    draft = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    draft_pdf = client.get(f"{base}/reports/{draft['id']}/pdf").content
    signed = client.post(f"{base}/reports/{draft['id']}/sign")
    assert signed.status_code == 200 and signed.json()["status"] == "signed", signed.text
    from sonomsk.store.models import Report

    with store.sessions() as session:
        frozen = session.get(Report, draft["id"]).results
    assert frozen["signoff"]["state"] == "signed" and frozen["signoff"]["by"] == "local"
    assert client.get(f"{base}/reports/{draft['id']}/pdf").content != draft_pdf
    (tmp_path / "sr.dcm").write_bytes(client.get(f"{base}/reports/{draft['id']}/sr").content)
    assert pydicom.dcmread(tmp_path / "sr.dcm").CompletionFlag == "COMPLETE"


def _put_points(client: TestClient, structure: int, points: list[list[float]]) -> None:
    r = client.put(f"/api/workflows/nerve/structures/{structure}/points", json={"points": points})
    assert r.status_code == 200, r.text


def test_a_draft_the_study_has_moved_past_cannot_be_signed(
    client: TestClient, analysed: dict[str, Any]
) -> None:
    """An outline changed after the draft was made: signing the draft is refused with what
    changed, the draft stays a draft, and a new report is made from the current results. A
    change that leaves the assessment out of date is refused for that (decision 012)."""
    base, nerve = "/api/workflows/report", "/api/workflows/nerve"
    study = analysed["study"]
    draft = client.post(f"{base}/studies/{study}/reports", json={"sign": False}).json()

    def listed() -> dict[int, Any]:
        return {r["id"]: r for r in client.get(f"{base}/studies/{study}/reports").json()}

    assert listed()[draft["id"]]["not_signable"] is None  # the draft still describes the study
    moved = [[p[0] + 2, p[1]] for p in analysed["square"]]  # same area: the assessment holds
    _put_points(client, analysed["structure"], moved)
    r = client.post(f"{base}/reports/{draft['id']}/sign")
    assert r.status_code == 422 and "the study changed since it was made" in r.json()["detail"], r.text
    assert "this draft can no longer be signed" in r.json()["detail"] and "outlines" in r.json()["detail"]
    # the list says so before anyone tries (the workstation then offers no Sign button)
    assert listed()[draft["id"]]["not_signable"] == r.json()["detail"]
    assert client.get(f"{base}/reports/{draft['id']}").json()["status"] == "draft"
    new = client.post(f"{base}/studies/{study}/reports", json={"sign": False}).json()
    (r0, c0), (r2, c2) = moved[0], moved[2]
    cy, cx, half = (r0 + r2) / 2, (c0 + c2) / 2, (9.0 / SPACING**2) ** 0.5 / 2
    smaller = [[cy - half, cx - half], [cy - half, cx + half], [cy + half, cx + half], [cy + half, cx - half]]
    _put_points(client, analysed["structure"], smaller)
    r = client.post(f"{base}/reports/{new['id']}/sign")
    assert r.status_code == 422 and "cannot sign this draft" in r.json()["detail"], r.text
    assert r.json()["detail"].endswith("then make a new report from the current results")
    assert "nerve assessment is out of date" in r.json()["detail"]
    assert client.post(f"{nerve}/studies/{study}/assess", json={"patient": {"age": 60}}).status_code == 200
    final = client.post(f"{base}/studies/{study}/reports", json={"sign": True})
    assert final.status_code == 201 and final.json()["status"] == "signed"
    statuses = {i: r["status"] for i, r in listed().items()}
    assert statuses == {draft["id"]: "draft", new["id"]: "draft", final.json()["id"]: "signed"}
    assert "not_signable" not in listed()[final.json()["id"]]  # a signed report is not asked


def test_withdrawing_a_stale_assessment_lets_the_study_be_reported(
    client: TestClient, analysed: dict[str, Any], store: Store
) -> None:
    """Every outline discarded after an assessment: nothing can be assessed again, so the
    clinician withdraws the assessment; reports then leave it out, and it stays on record."""
    base, nerve, study = "/api/workflows/report", "/api/workflows/nerve", analysed["study"]
    signed = client.post(f"{base}/studies/{study}/reports", json={"sign": True}).json()
    assert client.delete(f"{nerve}/structures/{analysed['structure']}").status_code == 200
    assert client.post(f"{nerve}/studies/{study}/assess", json={}).status_code == 422
    r = client.post(f"{base}/studies/{study}/reports", json={"sign": True})
    assert r.status_code == 422 and "out of date" in r.json()["detail"]
    kept = client.get(f"{nerve}/studies/{study}/assessment").json()["analysis_id"]
    assert client.delete(f"{nerve}/studies/{study}/assessment").status_code == 422  # which one?
    w = client.delete(f"{nerve}/studies/{study}/assessment", params={"analysis_id": kept})
    assert w.status_code == 200 and w.json()["withdrawn"] == kept, w.text
    gone = client.get(f"{nerve}/studies/{study}/assessment")
    assert gone.status_code == 404 and "assessment not found" in gone.json()["detail"]
    again = client.delete(f"{nerve}/studies/{study}/assessment", params={"analysis_id": kept})
    assert again.status_code == 404 and "nothing to withdraw" in again.json()["detail"]
    res = client.get(f"{base}/studies/{study}/results")
    assert res.status_code == 200 and res.json()["nerve_assessment"] is None, res.text
    assert res.json()["differential"] is None
    assert [m["name"] for m in res.json()["methods"]] == ["sonomsk"]  # no assessment, no method for one
    # the report says an assessment was made and withdrawn, and why it was out of date
    said = res.json()["extra"]["nerve_assessment_withdrawn"]
    assert said.startswith(
        "a nerve assessment was made and then withdrawn by the clinician (it was out of date"
    )
    assert "this report has no nerve assessment" in said
    made = client.post(f"{base}/studies/{study}/reports", json={"sign": True})
    assert made.status_code == 201
    html = client.get(f"{base}/reports/{made.json()['id']}/html").text
    assert "withdrawn by the clinician" in html
    from sonomsk.store.models import Analysis, Report

    with store.sessions() as session:  # the withdrawn assessment and the earlier report are kept
        assert session.get(Analysis, kept) is not None
        assert session.get(Report, signed["id"]).results["nerve_assessment"]["pattern"]
    # a new outline assessed after the withdrawal is the study's assessment again
    row, col = np.mean(analysed["square"], axis=0)
    new = client.post(f"{nerve}/instances/{analysed['instance']}/outline", json={"row": row, "col": col})
    assert new.status_code == 200, new.text
    assessed = client.post(f"{nerve}/studies/{study}/assess", json={})
    assert assessed.status_code == 200, assessed.text
    now = client.get(f"{nerve}/studies/{study}/assessment").json()
    assert now["analysis_id"] == assessed.json()["analysis_id"] > kept and now["stale"] is False
    res = client.get(f"{base}/studies/{study}/results").json()
    assert res["nerve_assessment"]["measurements"][0]["site"] == "median_wrist"


def test_a_draft_signs_whatever_version_made_it_and_wherever_the_store_lies(
    client: TestClient, analysed: dict[str, Any], store: Store
) -> None:
    """Only what the report shows decides whether a draft still describes the study: the
    version that made it, the store's file paths and keys an older version did not write do not."""
    from sonomsk.store.models import Report

    base = "/api/workflows/report"
    draft = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    with store.sessions() as session, session.begin():
        row = session.get(Report, draft["id"])
        old = dict(row.results)
        old["software_version"] = "0.0.9"
        old["methods"] = [{"name": "sonomsk", "version": "0.0.9"}]
        old["images"] = [{**i, "path": "/elsewhere/blobs/x"} for i in old["images"]]
        old.pop("extra", None)
        row.results = old
    r = client.post(f"{base}/reports/{draft['id']}/sign")
    assert r.status_code == 200 and r.json()["status"] == "signed", r.text


def test_two_signatures_at_once_give_one_signed_report_and_a_409(
    client: TestClient, analysed: dict[str, Any], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of two simultaneous signatures (simulated: the report is signed by another
    request while this one renders its PDF) is refused as a conflict, not a bad request."""
    from sonomsk.server import workflow_report
    from sonomsk.store.repository import sign_report

    base = "/api/workflows/report"
    draft = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    render = workflow_report.render_pdf_bytes

    def other_request_signs_first(results: dict[str, Any]) -> bytes:
        sign_report(store, draft["id"], actor="colleague")
        return render(results)

    monkeypatch.setattr(workflow_report, "render_pdf_bytes", other_request_signs_first)
    r = client.post(f"{base}/reports/{draft['id']}/sign")
    assert r.status_code == 409 and "already signed by colleague" in r.json()["detail"], r.text
    assert client.get(f"{base}/reports/{draft['id']}").json()["signed_by"] == "colleague"


def test_withdrawing_names_the_assessment_seen(client: TestClient, analysed: dict[str, Any]) -> None:
    """One tab shows assessment A; another assesses again (B): withdrawing A is refused (409)
    and B stays the study's assessment."""
    nerve, study = "/api/workflows/nerve", analysed["study"]
    seen = client.get(f"{nerve}/studies/{study}/assessment").json()["analysis_id"]
    newer = client.post(f"{nerve}/studies/{study}/assess", json={"patient": {"age": 60}}).json()[
        "analysis_id"
    ]
    r = client.delete(f"{nerve}/studies/{study}/assessment", params={"analysis_id": seen})
    assert r.status_code == 409 and f"is not the study's latest ({newer})" in r.json()["detail"], r.text
    assert client.get(f"{nerve}/studies/{study}/assessment").json()["analysis_id"] == newer


def test_the_report_shows_the_outline_that_gives_the_csa(
    client: TestClient, analysed: dict[str, Any]
) -> None:
    """A second outline drawn on the image: while none is chosen both are in the results, each
    saying it is not used; once one is accepted only that one is reported."""
    base, nerve, study = "/api/workflows/report", "/api/workflows/nerve", analysed["study"]
    row, col = np.mean(analysed["square"], axis=0)
    extra = client.post(
        f"{nerve}/instances/{analysed['instance']}/outline", json={"row": row, "col": col}
    ).json()
    # the corrected square and the new click are both chosen: no CSA, the assessment is stale
    client.delete(
        f"{nerve}/studies/{study}/assessment",
        params={"analysis_id": client.get(f"{nerve}/studies/{study}/assessment").json()["analysis_id"]},
    )
    res = client.get(f"{base}/studies/{study}/results").json()
    assert len(res["structures"]) == 2
    assert all(
        "(not used for the CSA: 2 nerve outlines on this image" in s["label"] for s in res["structures"]
    )
    # a stored report (draft or signed) is refused until the clinician chooses
    for sign in (False, True):
        r = client.post(f"{base}/studies/{study}/reports", json={"sign": sign})
        assert (
            r.status_code == 422 and "accept or discard one before making a report" in r.json()["detail"]
        ), r.text
    assert client.post(f"{nerve}/structures/{analysed['structure']}/accept").status_code == 200
    res = client.get(f"{base}/studies/{study}/results").json()
    (only,) = res["structures"]
    assert only["id"] == f"s{analysed['structure']}" and "not used" not in only["label"]
    assert {m["context"]["structure"] for m in res["measurements"]} == {only["id"]}
    assert extra["structures"][0]["id"] != analysed["structure"]


def test_a_withdrawal_written_while_another_assessment_was_made_leaves_that_one(
    client: TestClient, analysed: dict[str, Any], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tab 1 withdraws A while tab 2 assesses again (B): the withdrawal names A, so B stays the
    study's assessment (before, the withdrawal hid B, which nobody had seen)."""
    from sonomsk.server import workflow_nerve

    nerve, study = "/api/workflows/nerve", analysed["study"]
    seen = client.get(f"{nerve}/studies/{study}/assessment").json()["analysis_id"]
    real = workflow_nerve.latest_assessment
    made: list[int] = []

    def assess_in_between(store_: Store, study_id: int) -> Any:
        found = real(store_, study_id)
        if not made:  # tab 2 assesses after tab 1's check, before its write
            made.append(
                client.post(f"{nerve}/studies/{study}/assess", json={"patient": {"age": 60}}).json()[
                    "analysis_id"
                ]
            )
        return found

    monkeypatch.setattr(workflow_nerve, "latest_assessment", assess_in_between)
    w = client.delete(f"{nerve}/studies/{study}/assessment", params={"analysis_id": seen})
    monkeypatch.setattr(workflow_nerve, "latest_assessment", real)
    assert w.status_code == 200 and w.json()["withdrawn"] == seen, w.text
    now = client.get(f"{nerve}/studies/{study}/assessment")
    assert now.status_code == 200 and now.json()["analysis_id"] == made[0] > seen
    res = client.get(f"/api/workflows/report/studies/{study}/results").json()
    assert res["nerve_assessment"] is not None


@pytest.mark.parametrize("via", ["sign off", "draft then sign"])
def test_a_signed_report_is_one_sr_object_verified_when_it_was_signed(
    client: TestClient, analysed: dict[str, Any], store: Store, tmp_path: Path, via: str
) -> None:
    """Downloading a signed report's SR twice gives the same object (same UIDs), verified at the
    signature's time, which the store, the RESULTS and the PDF state alike."""
    import datetime as dt

    from sonomsk.store.models import Report

    base = "/api/workflows/report"
    rep = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": via == "sign off"}).json()
    if via != "sign off":
        assert client.post(f"{base}/reports/{rep['id']}/sign").status_code == 200
    with store.sessions() as session:
        row = session.get(Report, rep["id"])
        at, stored = row.results["signoff"]["at"], row.signed_at
    assert dt.datetime.fromisoformat(at) == stored.replace(tzinfo=stored.tzinfo or dt.UTC)
    copies = []
    for k in range(2):
        (tmp_path / f"sr{k}.dcm").write_bytes(client.get(f"{base}/reports/{rep['id']}/sr").content)
        copies.append(pydicom.dcmread(tmp_path / f"sr{k}.dcm"))
    a, b = copies
    # one object, byte for byte (content and creation times too: a PACS given it twice holds one)
    assert (tmp_path / "sr0.dcm").read_bytes() == (tmp_path / "sr1.dcm").read_bytes()
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    # signed by the test client's unauthenticated user "local": nobody identified, so the SR has no
    # Verifying Observer (review ws14c F6; a named signer's verification time: test_review14d_exports)
    assert a.VerificationFlag == "UNVERIFIED" and "VerifyingObserverSequence" not in a
    # content written at the signing time, in local time as the study's own times are
    signed_at = dt.datetime.fromisoformat(at)
    assert a.ContentDate + a.ContentTime == signed_at.astimezone().strftime("%Y%m%d%H%M%S")
    assert (a.ContentDate, a.ContentTime) == (b.ContentDate, b.ContentTime)
    # another report of the same study is another object
    other = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    (tmp_path / "other.dcm").write_bytes(client.get(f"{base}/reports/{other['id']}/sr").content)
    assert pydicom.dcmread(tmp_path / "other.dcm").SOPInstanceUID != a.SOPInstanceUID


@pytest.mark.filterwarnings("ignore::sonomsk.core.errors.CalibrationWarning")
def test_the_report_names_the_images_left_out_of_the_assessment(
    client: TestClient, analysed: dict[str, Any], tmp_path: Path, store: Store
) -> None:
    """An outlined image in px (uncalibrated) has no row in the assessment: the report says why,
    as the workstation's panel does."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 240), dtype=np.uint8)).save(
        tmp_path / "u.png"
    )
    up = client.post(
        "/api/upload",
        files={"file": ("u.png", (tmp_path / "u.png").read_bytes())},
        params={"into_study": analysed["study"]},
    ).json()
    base = "/api/workflows/nerve"
    assert client.put(
        f"{base}/instances/{up['instance_id']}/site", json={"site": "ulnar_elbow", "side": "right"}
    ).is_success
    box = {"top": 80, "left": 100, "bottom": 120, "right": 140}
    made = client.post(f"{base}/instances/{up['instance_id']}/outline-box", json=box)
    assert made.status_code == 200, made.text
    assert client.post(f"{base}/studies/{analysed['study']}/assess", json={"patient": {"age": 60}}).is_success
    results = client.get(f"/api/workflows/report/studies/{analysed['study']}/results").json()
    left_out = results["nerve_assessment"]["images_not_assessed"]
    assert len(left_out) == 1 and left_out[0].startswith("ulnar_elbow, right (image img")
    assert left_out[0].endswith("): uncalibrated image: CSA in px2, not comparable with reference values")
    assert "u.png" not in left_out[0]
    # a draft stored by the previous version (no such list) still signs: nothing else changed
    from sonomsk.store.models import Report

    rep = client.post(
        f"/api/workflows/report/studies/{analysed['study']}/reports", json={"sign": False}
    ).json()
    with store.sessions() as session, session.begin():
        row = session.get(Report, rep["id"])
        older = dict(row.results)
        older["nerve_assessment"] = {
            k: v for k, v in older["nerve_assessment"].items() if k != "images_not_assessed"
        }
        row.results = older
    signed = client.post(f"/api/workflows/report/reports/{rep['id']}/sign")
    assert signed.status_code == 200, signed.text
    html = client.get(f"/api/workflows/report/studies/{analysed['study']}/preview").text
    assert "Not assessed:" in html and "ulnar_elbow, right (image img" in html


def test_a_draft_of_another_sonomsk_version_says_so_when_it_cannot_be_signed(
    client: TestClient, analysed: dict[str, Any], store: Any
) -> None:
    """A draft written by an older sonomsk whose RESULTS differ only in how they are written:
    the refusal names the version change, not only "the study changed"."""
    from sonomsk.store.models import Report

    base = "/api/workflows/report"
    draft = client.post(f"{base}/studies/{analysed['study']}/reports", json={"sign": False}).json()
    with store.sessions() as session:
        row = session.get(Report, draft["id"])
        old = dict(row.results)
        old["software_version"] = "0.0.1"
        old["study"] = {**old["study"], "description": "written by the old version"}
        row.results = old
        session.commit()
    r = client.post(f"{base}/reports/{draft['id']}/sign")
    assert r.status_code == 422, r.text
    assert "or sonomsk changed how it writes them (draft made by 0.0.1, now" in r.json()["detail"]
    assert client.get(f"{base}/reports/{draft['id']}").json()["status"] == "draft"
