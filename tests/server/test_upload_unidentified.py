"""Uploads without patient data are never merged with another patient's images."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomsk.server.app import create_app
from sonomsk.store.db import Store

from .test_workflow_nerve import require_dicom_reader, simulated_nerve_dicom

# a still image has no calibration: the reader warns, and the upload is stored in pixels
pytestmark = pytest.mark.filterwarnings("ignore::sonomsk.core.errors.CalibrationWarning")

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (120, 160), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _up(client: TestClient, name: str, data: bytes, into: int | None = None) -> dict[str, object]:
    params = {"into_study": into} if into is not None else None
    r = client.post("/api/upload", files={"file": (name, data)}, params=params)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def test_still_images_without_patient_data_get_a_study_each(client: TestClient) -> None:
    a, b = _up(client, "a.png", _png(1)), _up(client, "b.png", _png(2))
    assert a["study_id"] != b["study_id"]
    patients = {client.get(f"/api/studies/{x['study_id']}").json()["patient"]["key"] for x in (a, b)}
    assert len(patients) == 2 and all(p.startswith("UNIDENTIFIED-") for p in patients)


def test_the_user_may_put_them_in_the_open_study(client: TestClient, tmp_path: Path) -> None:
    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "n.dcm", csa_mm2=10.0, seed=1)
    dicom = _up(client, "n.dcm", (tmp_path / "n.dcm").read_bytes())
    joined = _up(client, "c.png", _png(3), into=int(dicom["study_id"]))  # type: ignore[call-overload]
    assert joined["study_id"] == dicom["study_id"]
    # a file with its own patient identity keeps its own study
    simulated_nerve_dicom(
        tmp_path / "m.dcm", csa_mm2=10.0, seed=2, patient_id="OTHER", study_uid="1.2.826.0.1.3680043.8.498.2"
    )
    other = _up(client, "m.dcm", (tmp_path / "m.dcm").read_bytes(), into=int(dicom["study_id"]))  # type: ignore[call-overload]
    assert other["study_id"] != dicom["study_id"]


def test_an_unknown_study_to_join_stores_nothing(client: TestClient, store: Store) -> None:
    from sonomsk.store.repository import count_instances

    r = client.post("/api/upload", files={"file": ("d.png", _png(4))}, params={"into_study": 999})
    assert r.status_code == 404 and "study 999: not found" in r.json()["detail"], r.text
    assert count_instances(store) == 0


def test_a_study_uid_of_another_patient_is_refused(client: TestClient, store: Store, tmp_path: Path) -> None:
    """Two files share a StudyInstanceUID but name different patients: the second is refused
    (a fault of the data), never merged into the first patient's study."""
    from sonomsk.store.repository import count_instances

    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=1, patient_id="ALICE")
    simulated_nerve_dicom(tmp_path / "b.dcm", csa_mm2=10.0, seed=2, patient_id="BOB")  # same study UID
    _up(client, "a.dcm", (tmp_path / "a.dcm").read_bytes())
    r = client.post("/api/upload", files={"file": ("b.dcm", (tmp_path / "b.dcm").read_bytes())})
    assert r.status_code >= 400 and "already stored for another patient" in r.json()["detail"], r.text
    assert "BOB" not in r.json()["detail"] and count_instances(store) == 1


def _anonymous(path: Path, seed: int, study_uid: str, series_uid: str) -> bytes:
    import pydicom

    simulated_nerve_dicom(path, csa_mm2=10.0, seed=seed, study_uid=study_uid)
    ds = pydicom.dcmread(path)
    ds.PatientID, ds.SeriesInstanceUID = "", series_uid
    ds.save_as(path)
    return path.read_bytes()


def test_an_anonymous_dicom_exam_stays_one_study(client: TestClient, tmp_path: Path) -> None:
    """Anonymised images of one exam (one StudyInstanceUID, no PatientID) share one study and
    one unidentified patient; before, the second was refused or left an orphan patient."""
    require_dicom_reader()
    study, series = "1.2.826.0.1.3680043.8.498.7", "1.2.826.0.1.3680043.8.498.71"
    a = _up(client, "a1.dcm", _anonymous(tmp_path / "a1.dcm", 1, study, series))
    b = _up(client, "a2.dcm", _anonymous(tmp_path / "a2.dcm", 2, study, series))
    assert a["study_id"] == b["study_id"]
    assert client.get(f"/api/studies/{a['study_id']}").json()["patient"]["key"].startswith("UNIDENTIFIED-")


def test_joining_an_open_study_never_lands_elsewhere(client: TestClient, tmp_path: Path) -> None:
    """An anonymous DICOM whose series is already stored in study A, put into study B: it is in
    B, as the reply says (before, it went into A's series and the reply named B)."""
    require_dicom_reader()
    series = "1.2.826.0.1.3680043.8.498.81"
    a = _up(client, "a.dcm", _anonymous(tmp_path / "a.dcm", 1, "1.2.826.0.1.3680043.8.498.8", series))
    b = _up(client, "b.png", _png(5))
    joined = _up(
        client,
        "c.dcm",
        _anonymous(tmp_path / "c.dcm", 2, "1.2.826.0.1.3680043.8.498.8", series),
        into=int(b["study_id"]),
    )  # type: ignore[call-overload]
    assert joined["study_id"] == b["study_id"] != a["study_id"]
    listed = [
        i["id"]
        for se in client.get(f"/api/studies/{b['study_id']}").json()["series"]
        for i in se["instances"]
    ]
    assert joined["instance_id"] in listed


def test_an_anonymous_exam_stored_by_an_older_version_keeps_growing(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    """Before decision 015 every file without a PatientID went to the patient 'UNKNOWN': the rest
    of such an exam, sent again, joins that study instead of being refused as another patient's."""
    from sonomsk.store.models import Patient, Study

    require_dicom_reader()
    study, series = "1.2.826.0.1.3680043.8.498.9", "1.2.826.0.1.3680043.8.498.91"
    first = _up(client, "a1.dcm", _anonymous(tmp_path / "a1.dcm", 1, study, series))
    with store.sessions() as session, session.begin():  # as an older version stored it
        session.get(Study, first["study_id"]).patient.patient_key = "UNKNOWN"
    more = _up(client, "a2.dcm", _anonymous(tmp_path / "a2.dcm", 2, study, series))
    assert more["study_id"] == first["study_id"]
    with store.sessions() as session:
        assert [p.patient_key for p in session.query(Patient).all()] == ["UNKNOWN"]


def test_a_conflict_is_409_whatever_the_file_is_called(client: TestClient, tmp_path: Path) -> None:
    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=1, patient_id="ALICE")
    simulated_nerve_dicom(tmp_path / "b.dcm", csa_mm2=10.0, seed=2, patient_id="BOB")
    _up(client, "a.dcm", (tmp_path / "a.dcm").read_bytes())
    r = client.post("/api/upload", files={"file": ("nerve not found.dcm", (tmp_path / "b.dcm").read_bytes())})
    assert r.status_code == 409 and r.json()["error"] == "ConflictError", r.text


def _blob_files(store: Store) -> set[str]:
    return {p.name for p in store.blobs.root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def test_a_refused_upload_leaves_no_file_in_the_store(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    """The blob of a file the database refuses (a conflict) is never written: a store keeps only
    files that an instance names."""
    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=1, patient_id="ALICE")
    simulated_nerve_dicom(tmp_path / "b.dcm", csa_mm2=10.0, seed=2, patient_id="BOB")
    _up(client, "a.dcm", (tmp_path / "a.dcm").read_bytes())
    before = _blob_files(store)
    assert len(before) == 1
    r = client.post("/api/upload", files={"file": ("b.dcm", (tmp_path / "b.dcm").read_bytes())})
    assert r.status_code == 409, r.text
    assert _blob_files(store) == before


def test_a_stored_sop_instance_uid_with_another_patient_or_other_pixels_is_refused(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    """One SOP Instance UID names one image: a file reusing it for another patient or with other
    pixels is a conflict (409), never "already stored" (which would open the stored patient's
    image as if it were the upload); the same image in other bytes is already stored."""
    import copy

    import pydicom

    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=12.0, seed=1, patient_id="ALICE")
    first = _up(client, "a.dcm", (tmp_path / "a.dcm").read_bytes())
    ds = pydicom.dcmread(tmp_path / "a.dcm")

    other_patient = copy.deepcopy(ds)
    other_patient.PatientID = "BOB"
    other_patient.save_as(tmp_path / "bob.dcm")
    r = client.post("/api/upload", files={"file": ("bob.dcm", (tmp_path / "bob.dcm").read_bytes())})
    assert r.status_code == 409 and "SOP Instance UID is already stored with other content" in r.text, r.text

    simulated_nerve_dicom(tmp_path / "c.dcm", csa_mm2=20.0, seed=1, patient_id="ALICE")
    new_pixels = pydicom.dcmread(tmp_path / "c.dcm")
    new_pixels.SOPInstanceUID = ds.SOPInstanceUID
    new_pixels.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    new_pixels.SeriesInstanceUID = ds.SeriesInstanceUID
    new_pixels.save_as(tmp_path / "c2.dcm")
    r = client.post("/api/upload", files={"file": ("c2.dcm", (tmp_path / "c2.dcm").read_bytes())})
    assert r.status_code == 409, r.text

    recalibrated = copy.deepcopy(ds)  # the same pixels with another calibration
    for region in recalibrated.SequenceOfUltrasoundRegions:
        region.PhysicalDeltaX = float(region.PhysicalDeltaX) * 2
        region.PhysicalDeltaY = float(region.PhysicalDeltaY) * 2
    recalibrated.save_as(tmp_path / "recal.dcm")
    r = client.post("/api/upload", files={"file": ("recal.dcm", (tmp_path / "recal.dcm").read_bytes())})
    assert r.status_code == 409, r.text

    same = copy.deepcopy(ds)
    same.ImageComments = "sent again by the scanner"  # other bytes, the same image
    same.save_as(tmp_path / "again.dcm")
    again = _up(client, "again.dcm", (tmp_path / "again.dcm").read_bytes())
    assert again["instance_id"] == first["instance_id"] and again["created"] is False


def test_an_anonymous_image_put_into_a_study_and_sent_again_is_already_stored(
    client: TestClient, tmp_path: Path
) -> None:
    """A file without a patient identifier joined to a study by the user (into_study) is stored
    under that study's patient; the same file sent again is the same image, not a conflict."""
    require_dicom_reader()
    simulated_nerve_dicom(tmp_path / "a.dcm", csa_mm2=10.0, seed=1, patient_id="ALICE")
    study = _up(client, "a.dcm", (tmp_path / "a.dcm").read_bytes())["study_id"]
    anon = _anonymous(
        tmp_path / "anon.dcm", 7, "1.2.826.0.1.3680043.8.498.77", "1.2.826.0.1.3680043.8.498.771"
    )
    first = _up(client, "anon.dcm", anon, into=int(study))  # type: ignore[call-overload]
    assert first["study_id"] == study
    again = _up(client, "anon.dcm", anon, into=int(study))  # type: ignore[call-overload]
    assert again["instance_id"] == first["instance_id"] and again["created"] is False
    import pydicom

    other_bytes = pydicom.dcmread(tmp_path / "anon.dcm")
    other_bytes.ImageComments = "sent again"  # the same image in other bytes
    other_bytes.save_as(tmp_path / "again.dcm")
    again = _up(client, "again.dcm", (tmp_path / "again.dcm").read_bytes(), into=int(study))  # type: ignore[call-overload]
    assert again["instance_id"] == first["instance_id"] and again["created"] is False
