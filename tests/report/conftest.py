"""Fixtures of the report tests: the synthetic demo study, analysed end to end, and tool checks."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import pytest

from sonomsk.report.example import build_example_study
from sonomsk.report.results import StudyResults


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("example_study")


@pytest.fixture(scope="session")
def example(example_dir: Path) -> StudyResults:
    """The demo study: two calibrated phantom DICOMs, outlines, CSA, assessment, differential, ..."""
    return build_example_study(example_dir)


@pytest.fixture()
def signed(example: StudyResults) -> StudyResults:
    from sonomsk.report.results import SignOff

    return dataclasses.replace(
        example, signoff=SignOff(state="signed", by="Dr^Signer", at="2026-01-02T10:00:00")
    )


@pytest.fixture()
def fake_deidentify(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in for sonomsk.io.deidentify with the agreed names, keyed and deterministic."""
    import hashlib

    from pydicom.uid import generate_uid

    mod = types.ModuleType("sonomsk.io.deidentify")

    def pseudonym(value: str, key: str) -> str:
        return "ANON-" + hashlib.sha256(f"{key}|{value}".encode()).hexdigest()[:10].upper()

    def deidentify_record(patient: dict, key: str) -> dict:
        out = dict(patient)
        out["name"] = pseudonym(str(patient.get("name")), key)
        out["id"] = pseudonym(str(patient.get("id")), key)
        out["birth_date"] = (patient.get("birth_date") or "")[:4] or None
        return out

    def deidentify_dataset(ds, key: str):
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            if kw in ds:
                setattr(ds, kw, generate_uid(entropy_srcs=[key, str(getattr(ds, kw))]))
        return ds

    mod.pseudonym = pseudonym  # type: ignore[attr-defined]
    mod.deidentify_record = deidentify_record  # type: ignore[attr-defined]
    mod.deidentify_dataset = deidentify_dataset  # type: ignore[attr-defined]
    import sonomsk.io

    monkeypatch.setitem(sys.modules, "sonomsk.io.deidentify", mod)
    monkeypatch.setattr(sonomsk.io, "deidentify", mod, raising=False)
    return mod
