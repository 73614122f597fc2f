"""Informatics review ws14c through the workstation: SR/FHIR of a PNG upload (F3), the images'
Patient ID and study attributes in the SR, no VERIFIED "local^" (F6, F7), upload warnings (F11)."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from sonomsk.server.app import create_app
from sonomsk.store.db import Store

W = "/api/workflows/nerve"
R = "/api/workflows/report"
BOX = {"top": 200, "left": 200, "bottom": 260, "right": 270, "frame": 0}


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


def _upload(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    r = client.post("/api/upload", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _outline_and_sign(client: TestClient, up: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Site, a box outline, a signed report; returns its SR (pydicom) and FHIR bundle."""
    site = client.put(
        f"{W}/instances/{up['instance_id']}/site", json={"site": "median_wrist", "side": "right"}
    )
    assert site.status_code == 200, site.text
    box = client.post(f"{W}/instances/{up['instance_id']}/outline-box", json=BOX)
    assert box.status_code == 200, box.text
    rep = client.post(f"{R}/studies/{up['study_id']}/reports", json={"sign": True})
    assert rep.status_code == 201, rep.text
    rid = rep.json()["id"]
    sr = client.get(f"{R}/reports/{rid}/sr")
    assert sr.status_code == 200, sr.text
    fhir = client.get(f"{R}/reports/{rid}/fhir")
    assert fhir.status_code == 200, fhir.text
    return pydicom.dcmread(io.BytesIO(sr.content)), json.loads(fhir.content)


def _texts(ds: Any) -> list[str]:
    out = []
    for item in ds.get("ContentSequence", []):
        if item.ValueType == "TEXT":
            out.append(str(item.TextValue))
        out.extend(_texts(item))
    return out


def test_sr_and_fhir_of_a_png_upload_reference_no_invented_instance(client: TestClient) -> None:
    from PIL import Image

    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (320, 400), dtype=np.uint8)).save(buf, format="PNG")
    from sonomsk.core.errors import CalibrationWarning

    with pytest.warns(CalibrationWarning):  # a PNG has no calibration: measured in px
        up = _upload(client, "scan.png", buf.getvalue())
    stored_uid = client.get(f"/api/instances/{up['instance_id']}").json().get("sop_uid")
    with warnings.catch_warnings():  # every later read of the PNG warns the same (asserted above)
        warnings.simplefilter("ignore", CalibrationWarning)
        sr, bundle = _outline_and_sign(client, up)
    assert "CurrentRequestedProcedureEvidenceSequence" not in sr
    dump = str(sr)
    assert "1.2.840.10008.5.1.4.1.1.6.1" not in dump  # no US Image Storage instance is referenced
    if stored_uid:
        assert stored_uid not in dump
    outline = [t for t in _texts(sr) if t.startswith("Outline on image")]
    assert len(outline) == 1 and up["sha256"] in outline[0] and "PNG" in outline[0]
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "ImagingStudy" not in kinds
    # a PNG has no Patient ID: neither the SR nor FHIR gets the store's placeholder
    assert sr.PatientID == ""
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert "identifier" not in patient


def test_sr_of_an_anonymous_dicom_repeats_the_images_identity_and_is_not_verified_by_local(
    client: TestClient, tmp_path: Path
) -> None:
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    image, _ = simulate_scene("nerve", seed=5, overrides={"vary": False, "csa_mm2": 10.0, "artery": False})
    path = write_dicom(
        image,
        tmp_path / "anon.dcm",
        PatientID="",
        PatientName="Citizen^Jan",
        StudyInstanceUID="1.2.826.0.1.3680043.8.498.77",
        StudyDescription="nerve study",
        InstitutionName="Test Hospital",
        ReferringPhysicianName="Ref^Doc",
    )
    src = pydicom.dcmread(path)
    up = _upload(client, "anon.dcm", path.read_bytes())
    sr, bundle = _outline_and_sign(client, up)
    assert sr.PatientID == src.PatientID == ""
    assert "UNIDENTIFIED" not in str(sr)
    assert sr.StudyInstanceUID == src.StudyInstanceUID
    assert sr.StudyDescription == "nerve study"
    assert str(sr.ReferringPhysicianName) == "Ref^Doc"
    assert sr.InstitutionName == "Test Hospital"
    # the test client signs without sign-in: the workstation's user "local" is nobody identified
    assert sr.VerificationFlag == "UNVERIFIED"
    assert "VerifyingObserverSequence" not in sr
    assert "local^" not in str(sr)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert "identifier" not in patient


def test_upload_warnings_name_the_uploaded_file(client: TestClient) -> None:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("examples_ybr_color.dcm")
    if path is None:
        pytest.skip("examples_ybr_color.dcm is not among pydicom's test files")
    from sonomsk.core.errors import CalibrationWarning

    with pytest.warns(CalibrationWarning, match="does not fit"):
        up = _upload(client, "ybr_clip.dcm", Path(path).read_bytes())
    found = client.get(f"/api/instances/{up['instance_id']}").json()["warnings"]
    assert found, "examples_ybr_color.dcm has a region outside its pixels: the reader warns"
    assert all("sonomsk-upload" not in w for w in found)
    assert any(w.startswith("ybr_clip.dcm") for w in found)
