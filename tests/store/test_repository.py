from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from sonomsk.core.errors import SonomskError, StoreError
from sonomsk.core.results import Finding, Measurement, MeasurementSet, Method
from sonomsk.store import repository as repo
from sonomsk.store.db import Store, open_store
from sonomsk.store.models import AuditLog, Instance, MeasurementRow, Patient, StructureRow, Study

from .conftest import make_dicom

METHOD = Method(function="test", version="1")


def _count(store: Store, model: type) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _analyse(store: Store, study_id: int, instance_id: int) -> int:
    ms = MeasurementSet(
        measurements=(
            Measurement(name="area_cross_section", value=12.5, unit="mm2", method=METHOD, label="nerve#1"),
        ),
        findings=(Finding(rule_id="r", rule_version="1", outcome="enlarged"),),
    )
    return repo.record_analysis(
        store,
        study_id=study_id,
        instance_id=instance_id,
        kind="nerve",
        method_version="1",
        measurements=ms,
        structures=[{"label": "nerve#1", "kind": "nerve", "points": [[1, 1], [1, 5], [5, 5]]}],
        actor="dr.a",
    )


def exercise_store(store: Store, tmp_path: Path) -> None:
    f1 = make_dicom(tmp_path / "a.dcm", 1)
    r1 = repo.import_file(store, f1, actor="dr.a")
    assert r1.created
    again = repo.import_file(store, f1, actor="dr.a")
    assert not again.created and again.instance_id == r1.instance_id
    r2 = repo.import_file(store, make_dicom(tmp_path / "b.dcm", 2, study_uid=None), actor="dr.a")
    assert r2.created
    assert repo.count_instances(store) == 2
    assert store.blobs.verify(r1.sha256)
    studies = repo.list_studies(store, query="P1")
    assert {s["patient_key"] for s in studies} == {"P1"}

    aid = _analyse(store, r1.study_id, r1.instance_id)
    with store.sessions() as s:
        mid = s.scalars(select(MeasurementRow.id).where(MeasurementRow.analysis_id == aid)).one()
        sid = s.scalars(select(StructureRow.id).where(StructureRow.analysis_id == aid)).one()
    repo.correct_measurement(store, mid, 11.0, actor="dr.b")
    repo.correct_structure(store, sid, [[0, 0], [0, 4], [4, 4], [4, 0]], actor="dr.b")
    with store.sessions() as s:
        row = s.get(MeasurementRow, mid)
        assert row is not None
        assert row.auto_value == 12.5 and row.corrected_value == 11.0 and row.value == 11.0
        assert row.corrected_by == "dr.b" and row.corrected_at is not None
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions.count("import") == 2 and "correct" in actions and "analyse" in actions

    rid = repo.save_report(store, r1.study_id, {"x": 1}, actor="dr.a", pdf=b"%PDF-1.4 test")
    repo.sign_report(store, rid, actor="dr.a")
    with pytest.raises(StoreError, match="already signed"):
        repo.sign_report(store, rid, actor="dr.b")
    with pytest.raises(StoreError, match="finite"):
        repo.correct_measurement(store, mid, float("nan"), actor="x")
    with pytest.raises(StoreError, match="not found"):
        repo.correct_measurement(store, 999999, 1.0, actor="x")


def test_sqlite_store(sqlite_store: Store, tmp_path: Path) -> None:
    exercise_store(sqlite_store, tmp_path)


@pytest.mark.postgres
def test_postgres_store(postgres_url: str, tmp_path: Path) -> None:
    store = open_store(postgres_url, home=tmp_path / "pg-home")
    try:
        exercise_store(store, tmp_path)
    finally:
        store.close()


def test_bad_file_stores_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    repo.import_file(sqlite_store, make_dicom(tmp_path / "ok.dcm"))
    before = (_count(sqlite_store, Instance), _count(sqlite_store, Patient))
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00" + b"1.2")
    with pytest.raises(SonomskError):
        repo.import_file(sqlite_store, bad)
    assert (_count(sqlite_store, Instance), _count(sqlite_store, Patient)) == before


def test_failure_mid_import_leaves_no_half_record(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated crash after patient/study rows were flushed")

    monkeypatch.setattr(repo, "audit", boom)
    with pytest.raises(RuntimeError):
        repo.import_file(sqlite_store, make_dicom(tmp_path / "c.dcm", patient_id="CRASH"))
    assert _count(sqlite_store, Patient) == 0
    assert _count(sqlite_store, Study) == 0
    assert _count(sqlite_store, Instance) == 0


def test_blob_ids_are_validated(sqlite_store: Store) -> None:
    with pytest.raises(StoreError, match="hex"):
        sqlite_store.blobs.path_for("../../etc/passwd")


@pytest.mark.filterwarnings("ignore:The value length")  # writing the over-long values on purpose
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_header_text_longer_than_the_store_allows_is_cut_and_a_long_uid_refused(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """Real files break the standard's lengths; PostgreSQL refuses text longer than its column
    (SQLite keeps it), so the header is cut to the columns for every database. A UID cut short
    could name another object: it is refused."""
    import pydicom

    from sonomsk.core.errors import CorruptDataError

    path = make_dicom(tmp_path / "long.dcm", patient_id="LONG")
    ds = pydicom.dcmread(path)
    ds.StudyDescription, ds.PatientSex, ds.AccessionNumber = "d" * 300, "UNKNOWNX1", "a" * 70
    ds.save_as(path)
    result = repo.import_file(sqlite_store, path)
    with sqlite_store.sessions() as session:
        study = session.get(Study, result.study_id)
        assert len(study.description) == 256 and len(study.accession) == 64
        assert session.query(Patient).filter_by(patient_key="LONG").one().sex == "UNKNOWNX"
    ds.SOPInstanceUID = "1." + "2" * 70
    ds.save_as(tmp_path / "uid.dcm")
    with pytest.raises(CorruptDataError, match="sop_uid has 72 characters; at most 64"):
        repo.import_file(sqlite_store, tmp_path / "uid.dcm")
    # a patient identifier cut short could merge two patients: refused too
    ds = pydicom.dcmread(path)
    ds.PatientID, ds.SOPInstanceUID = "X" * 128 + "-BOB", "1.2.3.4.5"
    ds.save_as(tmp_path / "pid.dcm")
    with pytest.raises(CorruptDataError, match="patient_id has 132 characters; at most 128"):
        repo.import_file(sqlite_store, tmp_path / "pid.dcm")
