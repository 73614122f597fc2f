"""`sonomsk info`: describes DICOM, video and still images, in text and JSON, and reports bad
files without stopping the batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomsk.cli.main import main

from ..conftest import pydicom_data_dir, pydicom_test_dir

NATIVE_US = pydicom_test_dir() / "ExplVR_BigEnd.dcm"


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]], str]:
    code = main(["info", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_dicom_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, (entry,), err = run_json([str(NATIVE_US)], capsys)
    assert code == 0 and err == ""
    assert entry["format"] == "DICOM"
    assert (entry["frames"], entry["rows"], entry["columns"], entry["channels"]) == (1, 60, 80, 3)
    assert entry["transfer_syntax"] == "1.2.840.10008.1.2.2"
    assert entry["calibrated"] is False and entry["calibration_source"] == "none"
    assert "no calibration: results in px" in entry["warnings"]
    assert len(str(entry["sha256"])) == 64


def test_calibrated_dicom_regions_in_dicom_order(capsys: pytest.CaptureFixture[str]) -> None:
    data = pydicom_data_dir()
    if data is None:
        pytest.skip("pydicom-data is not installed (test extra)")
    code, (entry,), _ = run_json([str(data / "gdcm-US-ALOKA-16.dcm")], capsys)
    assert code == 0 and entry["calibrated"] is True
    regions = entry["regions"]
    assert isinstance(regions, list) and len(regions) >= 2
    for r in regions:
        x0, y0, x1, y1 = r["bbox"]
        assert 0 <= x0 <= x1 < 640 and 0 <= y0 <= y1 < 480  # inclusive, x = column


def test_spacing_option_calibrates_a_still(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(path)
    code, (entry,), _ = run_json([str(path), "--spacing-mm", "0.1", "0.2"], capsys)
    assert code == 0 and entry["calibrated"] is True and entry["calibration_source"] == "caller"
    assert entry["regions"][0]["spacing_mm"] == [0.2, 0.1]  # [column, row]
    assert entry["regions"][0]["bbox"] == [0, 0, 39, 29]


def test_paths_may_follow_the_spacing_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`info --spacing-mm 0.1 scan.png`: the path after the number is a path (before, a usage error)."""
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(path)
    code, (entry,), _ = run_json(["--spacing-mm", "0.1", str(path)], capsys)
    assert code == 0 and entry["regions"][0]["spacing_mm"] == [0.1, 0.1]
    assert main(["info", "--spacing-mm", "wide", str(path)]) == 2  # a usage error
    assert "--spacing-mm: expected a number in mm, got 'wide'" in capsys.readouterr().err


def test_bad_spacing_option_is_an_error_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(path)
    assert main(["info", str(path), "--spacing-mm", "0"]) == 1
    assert "spacing_mm" in capsys.readouterr().err


def test_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format PNG, 1 frame(s), 30 x 40 px" in out
    assert "calibrated: no (results in px)" in out


def test_folder_is_searched_recursively_skipping_hidden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "a" / "b" / "deep.png")
    (tmp_path / "a" / "top.dcm").write_bytes(NATIVE_US.read_bytes())
    (tmp_path / ".hidden" / "junk.bin").write_bytes(b"junk")
    code, entries, _ = run_json([str(tmp_path)], capsys)
    assert code == 0
    assert sorted(Path(str(e["path"])).name for e in entries) == ["deep.png", "top.dcm"]


def test_empty_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path)]) == 1
    assert "no input files" in capsys.readouterr().err


def test_bad_file_in_json_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "ct.dcm"
    bad.write_bytes((pydicom_test_dir() / "CT_small.dcm").read_bytes())
    code, entries, err = run_json([str(NATIVE_US), str(bad)], capsys)
    assert code == 1
    assert entries[0]["format"] == "DICOM"
    assert entries[1]["error_class"] == "NotUltrasoundError" and "ct.dcm" in str(entries[1]["error"])
    assert err.count("\n") == 1 and "ct.dcm" in err


def test_rejected_region_is_listed_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, (entry,), _ = run_json([str(pydicom_test_dir() / "examples_ybr_color.dcm")], capsys)
    assert code == 0 and entry["calibrated"] is False
    assert (entry["frames"], entry["photometric_interpretation"]) == (30, "YBR_FULL_422")
    (region,) = entry["regions"]
    assert region["bbox"] == [84, 31, 595, 414]  # as stored: DICOM inclusive corners
    assert region["valid"] is False and region["spacing_mm"] is None
    assert "does not fit the 320 x 240 px image" in str(region["reason"])


def test_dual_pane_spacing_is_column_then_row(capsys: pytest.CaptureFixture[str]) -> None:
    data = pydicom_data_dir()
    if data is None:
        pytest.skip("pydicom-data is not installed (test extra)")
    code, (entry,), _ = run_json([str(data / "gdcm-US-ALOKA-16.dcm")], capsys)
    assert code == 0
    kinds = [r["kind"] for r in entry["regions"]]
    assert kinds == ["tissue", "tissue", "other"]
    assert entry["regions"][0]["bbox"] == [32, 24, 335, 415]
    assert entry["regions"][0]["spacing_mm"] == pytest.approx([0.3826530650258064] * 2)
    assert entry["regions"][2]["spacing_mm"] is None


def test_a_dataset_folder_skips_files_that_are_not_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data set's LICENSE and CSV are not failures: info takes folders as segment does."""
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(tmp_path / "scan.png")
    (tmp_path / "LICENSE").write_text("CC BY 4.0\n")
    (tmp_path / "labels.csv").write_text("file,label\nscan.png,1\n")
    code, entries, err = run_json([str(tmp_path)], capsys)
    assert code == 0 and [Path(e["path"]).name for e in entries] == ["scan.png"]
    assert "skipped 2 file(s) that are not images" in err


def test_a_file_named_like_a_number_is_not_taken_as_a_spacing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((30, 40), 50, np.uint8)).save(tmp_path / "0.3", format="PNG")
    assert main(["info", "--spacing-mm", "0.1", "0.3", "a.png"]) == 2
    assert "'0.3' is a number and a file" in capsys.readouterr().err
