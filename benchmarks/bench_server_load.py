"""Load benchmark of the workstation: concurrent uploads over HTTP and a storescu push of 1000 images.

    python benchmarks/bench_server_load.py [--images 1000] [--uploads 20]

Starts `sonomsk serve` (127.0.0.1, temporary data folder, stops by itself) and the DICOM node,
pushes with dcmtk's /usr/bin/storescu, and prints a Markdown table (medians of the repeats).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from sonomsk.core.image import UltrasoundImage, whole_image_region
from sonomsk.io.dicom_write import write_dicom


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make(folder: Path, n: int, offset: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(offset)
    out = []
    for i in range(n):
        arr = rng.integers(0, 255, (256, 256), dtype=np.uint8)
        img = UltrasoundImage.from_array(arr, regions=(whole_image_region(256, 256, (0.1, 0.1)),))
        out.append(write_dicom(img, folder / f"{offset + i:05d}.dcm", PatientID=f"LOAD{i % 20}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sonomsk-bench-"))
    http_port, dicom_port = free_port(), free_port()
    env = dict(os.environ, SONOMSK_HOME=str(tmp / "home"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sonomsk",
            "serve",
            "--port",
            str(http_port),
            "--dicom-port",
            str(dicom_port),
            "--exit-after",
            "1800",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        upload_times = []
        for rep in range(args.repeats):
            files = make(tmp / f"up{rep}", args.uploads, 100000 * (rep + 1))

            def send(p: Path) -> int:
                with httpx.Client(timeout=120) as c:
                    return c.post(f"{url}/api/upload", files={"file": (p.name, p.read_bytes())}).status_code

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.uploads) as pool:
                codes = list(pool.map(send, files))
            upload_times.append(time.perf_counter() - t0)
            assert codes == [201] * args.uploads, codes
        folder = tmp / "push"
        make(folder, args.images, 0)
        t0 = time.perf_counter()
        r = subprocess.run(
            ["/usr/bin/storescu", "-aec", "SONOMSK", "+sd", "127.0.0.1", str(dicom_port), str(folder)],
            capture_output=True,
            text=True,
        )
        push_s = time.perf_counter() - t0
        assert r.returncode == 0, r.stderr[-500:]
        studies = httpx.get(f"{url}/api/studies?limit=5000", timeout=60).json()
        stored = sum(s["instances"] for s in studies)
        expected = args.images + args.uploads * args.repeats
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print("| load | result |")
        print("|---|---|")
        print(
            f"| {args.uploads} concurrent HTTP uploads (256x256 DICOM), median of {args.repeats} | {statistics.median(upload_times):.2f} s for all {args.uploads} |"
        )
        print(
            f"| {args.images} images pushed by dcmtk storescu in one association | {push_s:.1f} s ({args.images / push_s:.0f} images/s) |"
        )
        print(f"| instances in the store afterwards | {stored} of {expected} sent (each stored once) |")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
