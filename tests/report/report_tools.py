"""Helpers of the report tests: external tools (dciodvfy, poppler), skipped when absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} not installed (apt-get install {'dicom3tools' if name == 'dciodvfy' else 'poppler-utils'})"
        )
    return path


def dciodvfy_errors(path: Path) -> list[str]:
    """The error lines dciodvfy prints for a DICOM file (warnings are not errors)."""
    exe = need_tool("dciodvfy")
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


def pdf_text(path: Path) -> str:
    exe = need_tool("pdftotext")
    proc = subprocess.run(
        [exe, "-layout", str(path), "-"], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout
