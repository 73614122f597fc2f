"""The web API through FastAPI's test client: upload, browse, errors, authentication."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sonomsk.server.app import create_app
from sonomsk.server.auth import AuthConfig, hash_password
from sonomsk.store.db import Store

from ..store.conftest import make_dicom


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store, max_upload_bytes=2_000_000), raise_server_exceptions=False)


def test_upload_browse_and_frame(client: TestClient, tmp_path: Path) -> None:
    f = make_dicom(tmp_path / "a.dcm")
    r = client.post("/api/upload", files={"file": ("../../etc/a.dcm", f.read_bytes(), "application/dicom")})
    assert r.status_code == 201, r.text
    body = r.json()
    again = client.post("/api/upload", files={"file": ("a.dcm", f.read_bytes())})
    assert again.status_code == 200 and again.json()["created"] is False
    studies = client.get("/api/studies").json()
    assert len(studies) == 1 and studies[0]["instances"] == 1
    detail = client.get(f"/api/studies/{body['study_id']}").json()
    inst = detail["series"][0]["instances"][0]
    assert inst["label"] == "a.dcm"  # client path stripped
    assert inst["calibrated"] is True
    png = client.get(f"/api/instances/{inst['id']}/frames/0.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get(f"/api/instances/{inst['id']}/frames/5.png").status_code == 422


def test_a_study_names_its_patients_other_studies(client: TestClient, store: Store, tmp_path: Path) -> None:
    """The 'other study' choice comes from the study: the patient's other studies by study date,
    newest first (undated last), never another patient's, whatever the study list's search
    shows; none for a file without a patient identifier."""
    import numpy as np

    from sonomsk.core.image import UltrasoundImage, whole_image_region
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.store.models import Study

    def upload(k: int, meta: dict[str, str]) -> int:
        pixels = np.random.default_rng(k).integers(0, 255, (64, 80), dtype=np.uint8)
        image = UltrasoundImage.from_array(pixels, regions=(whole_image_region(64, 80, (0.1, 0.1)),))
        f = write_dicom(image, tmp_path / f"{k}.dcm", StudyInstanceUID=f"1.2.3.4{k}", **meta)
        return int(client.post("/api/upload", files={"file": (f.name, f.read_bytes())}).json()["study_id"])

    p1 = {"PatientID": "P1", "PatientName": "One^Patient"}
    ids = [
        upload(0, {**p1, "StudyDate": "20250301", "StudyDescription": "median 1"}),
        upload(1, {**p1, "StudyDate": "20260101", "StudyDescription": "median 2"}),
        upload(2, {"PatientID": "P2", "PatientName": "Two^Patient", "StudyDate": "20260201"}),
        upload(
            3, {**p1, "StudyDate": "20240101", "StudyDescription": "median 0"}
        ),  # an old prior, stored last
        upload(4, {**p1, "StudyDate": ""}),
    ]
    others = client.get(f"/api/studies/{ids[1]}").json()["other_studies"]
    assert others == [
        {"id": ids[0], "date": "20250301", "description": "median 1"},
        {"id": ids[3], "date": "20240101", "description": "median 0"},
        {"id": ids[4], "date": None, "description": None},
    ]
    assert client.get(f"/api/studies/{ids[2]}").json()["other_studies"] == []
    # files without a patient identifier stored by versions before decision 015 share one key
    unnamed = [upload(k, {"PatientID": "", "PatientName": ""}) for k in (5, 6)]
    with store.sessions() as session:
        first, second = (session.get(Study, i) for i in unnamed)
        first.patient.patient_key = "UNKNOWN"
        second.patient_id = first.patient_id
        session.commit()
    assert client.get(f"/api/studies/{unnamed[0]}").json()["other_studies"] == []


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"", 400),
        (b"not an image at all" * 10, 415),
        (b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\xff\xff\xff\xff", 400),
    ],
)
def test_malformed_uploads_get_4xx(client: TestClient, store: Store, payload: bytes, status: int) -> None:
    r = client.post("/api/upload", files={"file": ("x.dcm", payload)})
    assert 400 <= r.status_code < 500, r.text
    assert r.status_code == status
    assert "Traceback" not in r.text and "detail" in r.json()
    assert client.get("/api/studies").json() == []


def test_upload_size_limit(store: Store) -> None:
    c = TestClient(create_app(store, max_upload_bytes=1000), raise_server_exceptions=False)
    r = c.post("/api/upload", files={"file": ("big.dcm", b"x" * 5000)})
    assert r.status_code == 413


def test_malformed_requests(client: TestClient) -> None:
    assert client.get("/api/studies/999").status_code == 404
    assert client.get("/api/studies/abc").status_code == 422
    assert client.get("/api/instances/1/frames/x.png").status_code == 422
    assert client.post("/api/upload").status_code == 422
    assert client.get("/api/../../etc/passwd").status_code == 404
    assert client.get("/api/health").json()["status"] == "ok"
    assert "paths" in client.get("/openapi.json").json()


def test_authentication_required(store: Store) -> None:
    users = {"dr.a": hash_password("correct horse")}
    c = TestClient(
        create_app(store, auth=AuthConfig(token="t" * 20, users=users)), raise_server_exceptions=False
    )
    assert c.get("/api/studies").status_code == 401
    assert c.get("/api/health").status_code == 200
    assert c.get("/api/studies", headers={"Authorization": "Bearer " + "t" * 20}).status_code == 200
    assert c.get("/api/studies", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.post("/api/login", json={"username": "dr.a", "password": "wrong pass"}).status_code == 401
    r = c.post("/api/login", json={"username": "dr.a", "password": "correct horse"})
    assert r.status_code == 200
    assert c.get("/api/studies").status_code == 200  # session cookie


def test_password_hashing() -> None:
    from sonomsk.core.errors import InvalidParameterError
    from sonomsk.server.auth import verify_password

    h = hash_password("long enough")
    assert h.startswith("scrypt$") and "long enough" not in h
    assert verify_password("long enough", h) and not verify_password("long enougH", h)
    with pytest.raises(InvalidParameterError):
        hash_password("short")


def test_the_study_gives_the_age_at_the_study_for_the_assessment_form(
    client: TestClient, tmp_path: Path
) -> None:
    """The Assess form left age empty although birth and study dates were known, so a child was
    judged with adult lower limits (review ws15b F4); the study now gives the age it was made at."""
    import pydicom

    f = make_dicom(tmp_path / "a.dcm")
    ds = pydicom.dcmread(f)
    ds.PatientBirthDate, ds.StudyDate = "20150620", "20250619"
    ds.save_as(f)
    body = client.post("/api/upload", files={"file": ("a.dcm", f.read_bytes())}).json()
    patient = client.get(f"/api/studies/{body['study_id']}").json()["patient"]
    assert patient["age_at_study"] == 9  # one day short of ten


def test_age_at_reads_dicom_and_iso_dates_and_refuses_nonsense() -> None:
    from sonomsk.server.views import age_at

    assert age_at("19700301", "2025-01-15") == 54
    assert age_at("1970-03-01", "20250301") == 55
    assert age_at(None, "20250101") is None and age_at("19700101", "") is None
    assert age_at("20300101", "20250101") is None  # born after the study
    assert age_at("19701301", "20250101") is None  # month 13
