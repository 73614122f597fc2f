"""Fixtures of the server tests: a store in a temporary folder and a real `sonomsk serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sonomsk.store.db import Store, open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(home=tmp_path / "home")
    yield s
    s.close()


@pytest.fixture()
def live_server(tmp_path: Path) -> Iterator[str]:
    """`sonomsk serve` on 127.0.0.1 with a temporary data folder; it stops by itself."""
    import httpx

    port = free_port()
    env = dict(os.environ, SONOMSK_HOME=str(tmp_path / "home"))
    env.pop("SONOMSK_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sonomsk", "serve", "--port", str(port), "--exit-after", "300"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 60 s")
            time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture()
def server(live_server: str) -> str:
    return live_server
