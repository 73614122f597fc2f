"""Store fixtures: a SQLite store in a temporary folder, and a real PostgreSQL server when present."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sonomsk.core.image import UltrasoundImage, whole_image_region
from sonomsk.io.dicom_write import write_dicom
from sonomsk.store.db import Store, open_store


def make_dicom(path: Path, seed: int = 0, *, patient_id: str = "P1", study_uid: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (64, 80), dtype=np.uint8)
    img = UltrasoundImage.from_array(arr, regions=(whole_image_region(64, 80, (0.1, 0.1)),))
    meta = {"PatientID": patient_id, "PatientName": "Test^Patient"}
    if study_uid:
        meta["StudyInstanceUID"] = study_uid
    return write_dicom(img, path, **meta)


@pytest.fixture()
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(home=tmp_path / "home")
    yield store
    store.close()


def _pg_bin() -> Path | None:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists():
            return root
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a throw-away PostgreSQL server on 127.0.0.1; skip with a reason when not installed."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg not installed (extra 'postgres')")
    import tempfile

    # pytest's own temporary folders are private to root; the server runs as another user
    root = Path(tempfile.mkdtemp(prefix="sonomsk-pg-"))
    data = root / "db"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run as the postgres system user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        os.chmod(root, 0o755)
        shutil.chown(root, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "sonomsk"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    sock_dir = root / "sock"
    sock_dir.mkdir()
    if run_as:
        shutil.chown(sock_dir, user="postgres")
    proc = subprocess.Popen(
        [
            *run_as,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sock_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql+psycopg://sonomsk@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(
                    f"host=127.0.0.1 port={port} user=sonomsk dbname=postgres", connect_timeout=1
                ).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.skip("PostgreSQL did not start within 30 s")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)  # only the folder made above
