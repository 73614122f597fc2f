"""Load and faults against a real server process: concurrent uploads, a kill mid-upload."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sonomsk.store.db import open_store
from sonomsk.store.repository import count_instances

from ..store.conftest import make_dicom
from .conftest import free_port


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SONOMSK_HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sonomsk.cli.main", "serve", "--port", str(port), "--exit-after", "240"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died")
    proc.kill()
    raise RuntimeError("server did not start in 60 s")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    port = free_port()
    home = tmp_path / "home"
    proc = _start(home, port)
    try:
        yield f"http://127.0.0.1:{port}", home, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_twenty_concurrent_uploads(server: tuple[str, Path, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    url, _home, _ = server
    files = [make_dicom(tmp_path / f"u{i}.dcm", i, patient_id=f"C{i % 3}") for i in range(20)]

    def send(path: Path) -> int:
        with httpx.Client(timeout=60) as c:
            return c.post(f"{url}/api/upload", files={"file": (path.name, path.read_bytes())}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(send, files + files[:5]))  # 5 repeats must not be stored twice
    assert codes[:20] == [201] * 20
    assert all(c in (200, 201) for c in codes[20:])
    with httpx.Client(timeout=30) as c:
        studies = c.get(f"{url}/api/studies").json()
    assert sum(s["instances"] for s in studies) == 20


def test_kill_mid_upload_loses_nothing_committed(
    server: tuple[str, Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, home, proc = server
    committed = [make_dicom(tmp_path / f"k{i}.dcm", 100 + i) for i in range(5)]
    with httpx.Client(timeout=60) as c:
        for f in committed:
            assert c.post(f"{url}/api/upload", files={"file": (f.name, f.read_bytes())}).status_code == 201

    big = make_dicom(tmp_path / "big.dcm", 999)
    payload = big.read_bytes() + b"\x00" * (8 * 1024 * 1024)

    def slow_body() -> Iterator[bytes]:
        boundary = b"--sonomskboundary\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.dcm"\r\n\r\n'
        for i in range(0, len(payload), 64 * 1024):
            yield payload[i : i + 64 * 1024]
            time.sleep(0.01)
        yield b"\r\n--sonomskboundary--\r\n"

    def upload() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                f"{url}/api/upload",
                content=slow_body(),
                headers={"Content-Type": "multipart/form-data; boundary=sonomskboundary"},
                timeout=60,
            )

    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(upload)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        fut.result(timeout=60)

    store = open_store(home=home)
    try:
        assert count_instances(store) == 5
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        from sqlalchemy import select

        from sonomsk.store.models import Instance

        with store.sessions() as s:
            for inst in s.scalars(select(Instance)):
                assert store.blobs.verify(inst.sha256)
    finally:
        store.close()
