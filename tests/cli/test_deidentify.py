"""``sonomsk deidentify`` through ``main([...])``: files, folders, keys, refusals, JSON."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sonomsk.cli.main import main
from sonomsk.core.image import Axis, Region, RegionKind, UltrasoundImage
from sonomsk.io.deidentify import pseudonym
from sonomsk.io.dicom_write import write_dicom

from ..conftest import pydicom_data_dir, pydicom_test_dir


def _synthetic(path: Path, patient_id: str = "MRN-1") -> Path:
    array = np.full((100, 120), 255, dtype=np.uint8)
    array[20:90, 10:110] = 80
    region = Region((20, 10, 90, 110), RegionKind.TISSUE, Axis("mm", 0.1), Axis("mm", 0.1))
    image = UltrasoundImage.from_array(array, regions=(region,))
    return write_dicom(image, path, PatientName="Doe^Jane", PatientID=patient_id, BurnedInAnnotation="YES")


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_folder_batch_continues_past_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = pydicom_data_dir()
    if root is None:
        pytest.skip("pydicom-data not installed")
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(root / "gdcm-US-ALOKA-16.dcm", src / "aloka.dcm")
    shutil.copy(root / "OBXXXX1A.dcm", src / "sub" / "ob.dcm")
    shutil.copy(pydicom_test_dir() / "examples_rgb_color.dcm", src / "noregions.dcm")
    out = tmp_path / "out"
    assert main(["deidentify", str(src), str(out), "--key", "k", "--json"]) == 1
    report = _json(capsys)
    assert report["succeeded"] == 2 and report["failed"] == 1 and report["repeatable"] is True
    by_name = {Path(f["source"]).name: f for f in report["files"]}
    assert by_name["noregions.dcm"]["refused"] is True
    assert "no valid ultrasound region" in by_name["noregions.dcm"]["reason"]
    assert by_name["aloka.dcm"]["blanked_fraction"] > 0.1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "aloka.dcm",
        "sub/ob.dcm",
    ]
    assert pydicom.dcmread(out / "sub" / "ob.dcm").BurnedInAnnotation == "NO"


def test_key_sources_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _synthetic(tmp_path / "s.dcm")
    (tmp_path / "key.txt").write_text("the-key\n", encoding="utf-8")
    monkeypatch.delenv("SONOMSK_DEID_KEY", raising=False)
    assert main(["deidentify", str(src), str(tmp_path / "a.dcm"), "--key", "the-key"]) == 0
    assert (
        main(["deidentify", str(src), str(tmp_path / "b.dcm"), "--key-file", str(tmp_path / "key.txt")]) == 0
    )
    monkeypatch.setenv("SONOMSK_DEID_KEY", "the-key")
    assert main(["deidentify", str(src), str(tmp_path / "c.dcm")]) == 0
    ids = {pydicom.dcmread(tmp_path / f"{n}.dcm").PatientID for n in "abc"}
    assert ids == {pseudonym("MRN-1", "the-key")}
    assert "random key" not in capsys.readouterr().err


def test_no_key_uses_a_random_one_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SONOMSK_DEID_KEY", raising=False)
    src = _synthetic(tmp_path / "s.dcm")
    assert main(["deidentify", str(src), str(tmp_path / "o.dcm"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "random key" in captured.err and "not repeatable" in captured.err
    report = json.loads(captured.out)
    assert report["repeatable"] is False and report["files"][0]["random_key"] is True


def test_refuses_to_overwrite_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _synthetic(tmp_path / "s.dcm")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    assert main(["deidentify", str(src), str(src), "--key", "k"]) == 1
    assert "input file itself" in capsys.readouterr().err
    assert main(["deidentify", str(tmp_path), str(tmp_path / "out"), "--key", "k"]) == 1
    assert "inside IN" in capsys.readouterr().err
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.dcm"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep-box", "1,2,3"], "--keep-box"),
        (["--key-file", "/nonexistent/key"], "--key-file"),
        (["--key", ""], "--key"),
    ],
)
def test_bad_options_name_the_option(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _synthetic(tmp_path / "s.dcm")
    assert main(["deidentify", str(src), str(tmp_path / "o.dcm"), *args]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.dcm").exists()


def test_text_output_and_keep_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _synthetic(tmp_path / "s.dcm")
    (tmp_path / "out").mkdir()
    assert (
        main(["deidentify", str(src), str(tmp_path / "out"), "--key", "k", "--keep-box", "10,20,59,89"]) == 0
    )
    assert "keep box 10,20,59,89 kept" in capsys.readouterr().out
    ds = pydicom.dcmread(tmp_path / "out" / "s.dcm")
    frame = ds.pixel_array
    assert not frame[:, 60:].any() and frame[20:90, 10:60].all()
