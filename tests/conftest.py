"""Fixtures shared by every test room."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$SONOMSK_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("SONOMSK_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real expert-labelled data; tests that use it skip with a reason when it is absent."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SONOMSK_DATA to the shared/data folder)")
    return root


def pydicom_data_dir() -> Path | None:
    """The data folder of the installed ``pydicom-data`` package (never downloads)."""
    try:
        import data_store  # the import name of the pydicom-data package
    except ImportError:
        return None
    return Path(data_store.__file__).parent / "data"


def pydicom_test_dir() -> Path:
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files"
