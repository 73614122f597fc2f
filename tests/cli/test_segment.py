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


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_32_bit_tiffs_give_the_measures_of_the_8_bit_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Float (0-255) and 32-bit integer TIFFs of an 8-bit image are read faithfully: the same
    labels and the same mean echo as the 8-bit file (was 257x too small)."""
    image, _ = simulate_scene("nerve", seed=3, overrides={"csa_mm2": 12.0})
    grey = image.frame(0)
    assert grey.dtype == np.uint8
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(grey).save(folder / "g8.tif")
    Image.fromarray(grey.astype(np.float32)).save(folder / "gf255.tif")
    Image.fromarray(grey.astype(np.int32)).save(folder / "gi32.tif")
    out, table = tmp_path / "out", tmp_path / "m.csv"
    assert main(["segment", str(folder), "--out", str(out), "--csv", str(table)]) == 0
    capsys.readouterr()
    rows = _csv_rows(table)
    by_file: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_file.setdefault(Path(r["file"]).stem, []).append(r)
    assert by_file["g8"] and any(r["mean_echo"] for r in by_file["g8"])
    labels8 = np.asarray(Image.open(out / "g8.png"))
    for stem in ("gf255", "gi32"):
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"{stem}.png")), labels8)
        for a, b in zip(by_file[stem], by_file["g8"], strict=True):
            assert {k: v for k, v in a.items() if k != "file"} == {k: v for k, v in b.items() if k != "file"}


def test_a_0_1_float_usgra_image_gives_the_labels_of_the_8_bit_file(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model's input is standardised (zero mean, unit SD), so a 0-1 float copy of a real
    image is segmented as the 8-bit file (was read as an all-zero uint16 frame). Its mean echo is
    withheld with its reason in the notes column: a 0-1 scale cannot be told from a nearly black
    0-255 one (the morphology contract)."""
    src = shared_data / "usgra-seg" / "images" / "0000.png"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    grey = np.asarray(Image.open(src).convert("L"))
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(grey).save(folder / "g8.png")
    Image.fromarray(grey.astype(np.float32) / 255.0).save(folder / "gf01.tif")
    out, table = tmp_path / "out", tmp_path / "m.csv"
    assert main(["segment", str(folder), "--out", str(out), "--csv", str(table)]) == 0
    err = capsys.readouterr().err
    labels8 = np.asarray(Image.open(out / "g8.png"))
    assert (labels8 == 1).any()
    np.testing.assert_array_equal(np.asarray(Image.open(out / "gf01.png")), labels8)
    rows = _csv_rows(table)
    r8 = [r for r in rows if r["file"].endswith("g8.png")]
    r01 = [r for r in rows if r["file"].endswith("gf01.tif")]
    for a, b in zip(r01, r8, strict=True):
        assert a["area_px"] == b["area_px"] and a["circularity"] == b["circularity"]
        assert b["mean_echo"] and not a["mean_echo"]
        assert "mean_echo: grey scale unknown: float grey values within 0-1" in a["notes"]
    assert "Traceback" not in err


def test_spacing_mm_does_not_override_a_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--spacing-mm is for uncalibrated inputs: a still image's sidecar wins, as a DICOM file's
    regions do, and a note on stderr names the file whose calibration was kept."""
    image, truth = simulate_scene("nerve", seed=3, overrides={"csa_mm2": 12.0})
    folder = tmp_path / "in"
    folder.mkdir()
    png = folder / "withsidecar.png"
    Image.fromarray(image.frame(0)).save(png)
    sr, sc = truth.spacing_mm
    (folder / "withsidecar.json").write_text(f'{{"spacing_mm": [{sr}, {sc}]}}')
    plain = folder / "plain.png"
    Image.fromarray(image.frame(0)).save(plain)
    out, table = tmp_path / "out", tmp_path / "m.csv"
    assert (
        main(["segment", str(png), str(plain), "--spacing-mm", "0.1", "--out", str(out), "--csv", str(table)])
        == 0
    )
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "--spacing-mm" in line]
    assert notes == [
        f"sonomsk: note: {png}: --spacing-mm 0.1 ignored: the image is calibrated by its JSON sidecar"
    ]
    rows = _csv_rows(table)
    cal = [r for r in rows if r["file"] == str(png)]
    given = [r for r in rows if r["file"] == str(plain)]
    assert cal and len(cal) == len(given)
    for a, b in zip(cal, given, strict=True):
        assert float(a["area_mm2"]) == pytest.approx(int(a["area_px"]) * sr * sc, abs=1e-3)
        assert float(b["area_mm2"]) == pytest.approx(int(b["area_px"]) * 0.01, abs=1e-3)
