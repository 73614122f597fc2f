"""A truncated still image is an error even after a library switched Pillow to lenient loading."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import sonomsk
from sonomsk.core.errors import CorruptDataError


def test_truncated_png_fails_even_when_pillow_is_lenient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # what importing WeasyPrint does
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128), dtype=np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(CorruptDataError, match=r"cut\.png"):
        sonomsk.read(path, spacing_mm=0.1)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for the library that wanted it
