"""The DICOM node against dcmtk's echoscu and storescu (real clients no one here wrote)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom.data
import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.server.dicom_node import DicomNode, start_dicom_node
from sonomsk.store.db import Store, open_store
from sonomsk.store.repository import count_instances

from ..store.conftest import make_dicom


def dcmtk(tool: str) -> str | None:
    """dcmtk's own tool (not pynetdicom's console script of the same name, which may come first on PATH)."""
    for candidate in (f"/usr/bin/{tool}", shutil.which(tool)):
        if candidate and Path(candidate).exists():
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30)
            if "dcmtk" in (out.stdout + out.stderr).lower():
                return candidate
    return None


STORESCU, ECHOSCU = dcmtk("storescu"), dcmtk("echoscu")
pytestmark = pytest.mark.skipif(
    STORESCU is None or ECHOSCU is None,
    reason="dcmtk (storescu, echoscu) not installed: Debian package dcmtk",
)


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[tuple[Store, DicomNode]]:
    store = open_store(home=tmp_path / "home")
    n = start_dicom_node(store, port=0, ae_title="SONOMSK", spool=tmp_path / "spool")
    try:
        yield store, n
    finally:
        n.stop()
        store.close()


def _run(*args: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)


def test_echoscu(node: tuple[Store, DicomNode]) -> None:
    _, n = node
    r = _run(ECHOSCU, "-aec", "SONOMSK", "127.0.0.1", str(n.port))
    assert r.returncode == 0, r.stderr


def test_wrong_called_ae_title_is_rejected(node: tuple[Store, DicomNode]) -> None:
    _, n = node
    r = _run(ECHOSCU, "-aec", "SOMEONE", "127.0.0.1", str(n.port))
    assert r.returncode != 0


def test_storescu_stores_once(node: tuple[Store, DicomNode], tmp_path: Path) -> None:
    store, n = node
    files = [str(make_dicom(tmp_path / f"img{i}.dcm", i)) for i in range(5)]
    r = _run(STORESCU, "-aec", "SONOMSK", "127.0.0.1", str(n.port), *files)
    assert r.returncode == 0, r.stderr
    assert count_instances(store) == 5 and n.stats.stored == 5
    r = _run(STORESCU, "-aec", "SONOMSK", "127.0.0.1", str(n.port), *files)
    assert r.returncode == 0, r.stderr
    assert count_instances(store) == 5 and n.stats.duplicates == 5


def test_non_ultrasound_is_refused(node: tuple[Store, DicomNode]) -> None:
    store, n = node
    ct = Path(pydicom.data.get_testdata_file("CT_small.dcm"))  # type: ignore[arg-type]
    _run(STORESCU, "-aec", "SONOMSK", "127.0.0.1", str(n.port), str(ct))
    assert n.stats.refused == 1
    assert count_instances(store) == 0


@pytest.mark.slow
def test_thousand_images_by_storescu(node: tuple[Store, DicomNode], tmp_path: Path) -> None:
    store, n = node
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1000):
        make_dicom(folder / f"{i:04d}.dcm", i, patient_id=f"P{i % 10}")
    r = _run(STORESCU, "-aec", "SONOMSK", "+sd", "127.0.0.1", str(n.port), str(folder))
    assert r.returncode == 0, r.stderr[-2000:]
    assert n.stats.stored == 1000 and n.stats.refused == 0
    assert count_instances(store) == 1000


def test_bad_ae_title() -> None:
    with pytest.raises(InvalidParameterError, match="AE title"):
        start_dicom_node(None, port=0, ae_title="THIS-TITLE-IS-FAR-TOO-LONG")  # type: ignore[arg-type]
