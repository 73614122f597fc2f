"""`sonomsk segment`: label images of the input's size, a CSV row per structure, batch errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomsk.cli.main import main
from sonomsk.cli.segment import CSV_COLUMNS
from sonomsk.io.dicom_write import write_dicom
from sonomsk.simulate.api import simulate_scene
from sonomsk.vision.backends import get_backend

pytestmark = pytest.mark.skipif(
    not get_backend("onnx-unet").is_available(), reason="the ONNX model is not installed"
)


def test_batch_writes_labels_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, truth = simulate_scene("nerve", seed=3, overrides={"csa_mm2": 12.0})
    (tmp_path / "in").mkdir()
    write_dicom(image, tmp_path / "in" / "calibrated.dcm")
    png = tmp_path / "in" / "uncalibrated.png"
    Image.fromarray(image.frame(0)[:400, :300]).save(png)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out, table = tmp_path / "out", tmp_path / "m.csv"
    code = main(["segment", str(tmp_path / "in"), "--out", str(out), "--csv", str(table)])
    assert code == 1  # the broken file fails, the others are done
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err
    labels = np.asarray(Image.open(out / "calibrated.png"))
    assert labels.shape == (image.rows, image.columns) and set(np.unique(labels)) <= {0, 1, 2}
    assert np.asarray(Image.open(out / "uncalibrated.png")).shape == (400, 300)
    rows = list(csv.DictReader(table.open()))
    assert rows and list(rows[0]) == list(CSV_COLUMNS)
    cal = [
        r for r in rows if r["file"].endswith("calibrated.dcm") and not r["file"].endswith("uncalibrated.dcm")
    ]
    unc = [r for r in rows if r["file"].endswith("uncalibrated.png")]
    assert cal and all(r["area_mm2"] for r in cal)
    sr, sc = truth.spacing_mm
    for r in cal:
        assert float(r["area_mm2"]) == pytest.approx(int(r["area_px"]) * sr * sc, rel=0.03)
        assert r["perimeter_unit"] == "mm"
    assert all(r["area_mm2"] == "" and r["perimeter_unit"] == "px" for r in unc)  # no silent millimetres


def test_bad_structures_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segment", str(tmp_path), "--out", str(tmp_path / "o"), "--structures", "tendon"]) == 1
    assert "structures" in capsys.readouterr().err
