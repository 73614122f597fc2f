"""`sonomsk segment`: inputs (stems, --out folder, non-images), output checks, the CSV, warnings."""

from __future__ import annotations

import csv
import os
import shutil
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

#: The columns of the CSV before fascicles/vascularity were added: they never move.
OLD_COLUMNS = (
    "file",
    "frame",
    "structure",
    "instance",
    "area_px",
    "area_mm2",
    "perimeter",
    "perimeter_unit",
    "circularity",
    "flattening_ratio",
    "mean_echo",
    "hypoechoic_fraction",
    "backend",
)
#: The contract's columns (issue 4, requirement 3), in its order.
CONTRACT = (
    "file",
    "structure",
    "area_px",
    "area_mm2",
    "perimeter",
    "circularity",
    "flattening_ratio",
    "mean_echo",
    "hypoechoic_fraction",
)


@pytest.fixture(scope="module")
def nerve_dcm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image, _ = simulate_scene("nerve", seed=3, overrides={"csa_mm2": 12.0})
    path = tmp_path_factory.mktemp("scene") / "nerve.dcm"
    write_dicom(image, path)
    return path


def _png(path: Path, value: int = 90, size: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path, format="PNG")
    return path


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("sonomsk: error")]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------- 1. stems, --out folder


@pytest.mark.parametrize(
    "names",
    [("A/x.png", "B/x.png", "C/x_1.png"), ("A/x.png", "A/x.dcm"), ("A/Scan.png", "B/scan.png")],
)
def test_same_stem_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: tuple[str, ...]
) -> None:
    for name in names:
        _png(tmp_path / name)
    out, table = tmp_path / "out", tmp_path / "m.csv"
    code = main(["segment", *(str(tmp_path / n) for n in names), "--out", str(out), "--csv", str(table)])
    assert code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(tmp_path / names[0]) in err and str(tmp_path / names[1]) in err
    assert "rename" in err and "internal error" not in err
    assert not out.exists() and not table.exists()


def test_second_run_on_the_same_folder_gives_the_same_labels(tmp_path: Path, nerve_dcm: Path) -> None:
    nest = tmp_path / "nest"
    nest.mkdir()
    shutil.copy(nerve_dcm, nest / "x.dcm")
    out, table = nest / "labels", nest / "labels" / "m.csv"
    argv = ["segment", str(nest), "--out", str(out), "--csv", str(table)]
    assert main(argv) == 0
    first, first_rows = (out / "x.png").read_bytes(), _rows(table)
    assert main(argv) == 0
    assert (out / "x.png").read_bytes() == first
    assert sorted(p.name for p in out.iterdir()) == ["m.csv", "x.png"]
    assert _rows(table) == first_rows and {r["file"] for r in first_rows} == {str(nest / "x.dcm")}


def test_a_file_that_fails_on_a_rerun_loses_its_earlier_label_image(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nest = tmp_path / "nest"
    nest.mkdir()
    shutil.copy(nerve_dcm, nest / "x.dcm")
    shutil.copy(nerve_dcm, nest / "y.dcm")
    out, table = tmp_path / "labels", tmp_path / "m.csv"
    argv = ["segment", str(nest), "--out", str(out), "--csv", str(table)]
    assert main(argv) == 0
    assert (out / "y.png").is_file()
    (nest / "y.dcm").write_bytes(b"DICM but not really")  # the file is replaced by a broken one
    capsys.readouterr()
    assert main(argv) == 1
    # The CSV of this run has no row for y, so no label image of y may sit beside it.
    assert sorted(p.name for p in out.iterdir()) == ["x.png"]
    assert {r["file"] for r in _rows(table)} == {str(nest / "x.dcm")}
    captured = capsys.readouterr()
    assert any("y.dcm" in line for line in _errors(captured.err))
    notes = [line for line in captured.err.splitlines() if line.startswith("sonomsk: note")]
    assert notes == [
        f"sonomsk: note: {nest / 'y.dcm'}: the label image {out / 'y.png'} of an earlier run was removed "
        "(this input failed in this run)"
    ]
    assert "removed 1 label image(s) of earlier runs whose input failed now" in captured.out


# ----------------------------------------------------------------------------- 2. the CSV


def test_a_run_where_every_file_fails_leaves_the_csv_and_no_out_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "zero.png"
    bad.write_bytes(b"")
    table = tmp_path / "m.csv"
    table.write_text("file,structure\nearlier.dcm,nerve\n")
    out = tmp_path / "new" / "labels"
    assert main(["segment", str(bad), "--out", str(out), "--csv", str(table)]) == 1
    assert table.read_text() == "file,structure\nearlier.dcm,nerve\n"
    assert not (tmp_path / "new").exists()
    out_text = capsys.readouterr().out
    assert "segmented 0 of 1 file(s); no label image or CSV written" in out_text


def test_the_csv_is_replaced_atomically(
    tmp_path: Path, nerve_dcm: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "m.csv"
    table.write_text("old\n")
    calls: list[tuple[str, str]] = []

    def refuse(src: str, dst: str) -> None:
        calls.append((str(src), str(dst)))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    code = main(["segment", str(nerve_dcm), "--out", str(tmp_path / "o"), "--csv", str(table)])
    assert code == 1
    err = capsys.readouterr().err
    assert "--csv" in err and "internal error" not in err
    assert table.read_text() == "old\n"  # the earlier CSV is whole
    assert len(calls) == 1 and Path(calls[0][0]).parent == tmp_path and calls[0][1] == str(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "o"]  # no temporary file left
    monkeypatch.undo()
    assert main(["segment", str(nerve_dcm), "--out", str(tmp_path / "o"), "--csv", str(table)]) == 0
    assert _rows(table) and sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "o"]


# ----------------------------------------------------------------------------- 3. --out and --csv


def _bad_outputs(tmp: Path, image: Path) -> list[tuple[list[str], str]]:
    a_file = _png(tmp / "plain.png")
    (tmp / "folder").mkdir()
    cases = [
        (["--out", str(a_file / "sub")], "--out"),
        (["--out", str(a_file)], "--out"),
        (["--out", str(tmp / "o"), "--csv", str(tmp / "folder")], "--csv"),
        (["--out", str(tmp / "o"), "--csv", str(tmp / "missing" / "m.csv")], "--csv"),
        (["--out", str(tmp / "o"), "--csv", str(a_file / "m.csv")], "--csv"),
        (["--out", str(tmp / "o"), "--csv", str(image)], "--csv"),
    ]
    if Path("/proc/self").is_dir():  # Linux: places nobody (not even root) can write in
        cases += [
            (["--out", "/proc/sonomsk-nope"], "--out"),
            (["--out", str(tmp / "o"), "--csv", "/proc/sonomsk-nope.csv"], "--csv"),
        ]
    return cases


def test_unwritable_outputs_are_refused_before_the_batch(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "in" / "scan.dcm"
    image.parent.mkdir()
    shutil.copy(nerve_dcm, image)
    before = image.read_bytes()
    for options, option in _bad_outputs(tmp_path, image):
        code = main(["segment", str(image), *options])
        err = capsys.readouterr().err
        assert code == 1, options
        assert _errors(err) == err.strip().splitlines() and len(_errors(err)) == 1, (options, err)
        assert f"sonomsk: error: {option}:" in err and "internal error" not in err, (options, err)
        assert not (tmp_path / "o").exists(), options  # nothing segmented, no folder left
    assert image.read_bytes() == before  # --csv naming an input never overwrites it


# ----------------------------------------------------------------------------- 4. structures not found


def test_a_structure_not_found_is_warned_and_counted(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = _png(tmp_path / "blank.png", size=256)
    out, table = tmp_path / "o", tmp_path / "m.csv"
    code = main(["segment", str(blank), str(nerve_dcm), "--out", str(out), "--csv", str(table)])
    captured = capsys.readouterr()
    assert code == 0  # every file was read and segmented
    warned = [line for line in captured.err.splitlines() if "not found" in line]
    assert warned == [f"sonomsk: warning: {blank}: not found: nerve, vessel"]
    assert "segmented 2 of 2 file(s); 1 with a requested structure not found" in captured.out
    assert {r["file"] for r in _rows(table)} == {str(nerve_dcm)}


def test_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segment", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "Exit status: 0 when every file was read and segmented (even if some structures were not found)"
        in (text)
    )


# ----------------------------------------------------------------------------- 5. minor


def test_duplicate_structures_are_folded(tmp_path: Path, nerve_dcm: Path) -> None:
    twice, once = tmp_path / "twice.csv", tmp_path / "once.csv"
    assert (
        main(
            [
                "segment",
                str(nerve_dcm),
                "--out",
                str(tmp_path / "a"),
                "--csv",
                str(twice),
                "--structures",
                "nerve,nerve",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "segment",
                str(nerve_dcm),
                "--out",
                str(tmp_path / "b"),
                "--csv",
                str(once),
                "--structures",
                "nerve",
            ]
        )
        == 0
    )
    rows = _rows(twice)
    assert rows and rows == _rows(once)
    assert len({(r["structure"], r["instance"]) for r in rows}) == len(rows)


@pytest.mark.parametrize(
    ("options", "option"), [(["--backend", "nope"], "--backend"), (["--spacing-mm", "-1"], "--spacing-mm")]
)
def test_backend_and_spacing_are_checked_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], option: str
) -> None:
    inputs = [str(_png(tmp_path / f"{n}.png")) for n in "abc"]
    out = tmp_path / "o"
    assert main(["segment", *inputs, "--out", str(out), *options]) == 1
    err = capsys.readouterr().err
    assert len(_errors(err)) == 1 and f"sonomsk: error: {option}:" in err
    assert not out.exists()


def test_no_files_found_names_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "emptydir"
    empty.mkdir()
    assert main(["segment", str(empty), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"no image files found in {empty}" in err and not (tmp_path / "o").exists()


def test_only_images_in_a_folder_are_inputs(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(nerve_dcm, folder / "IM0001")  # DICOM without a suffix: recognised by its content
    (folder / "README.txt").write_text("notes\n")
    (folder / "IM0001.json").write_text('{"spacing_mm": [0.1, 0.1]}')  # a sidecar, not an input
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # claims an image: tried
    out, table = tmp_path / "o", tmp_path / "m.csv"
    code = main(["segment", str(folder), "--out", str(out), "--csv", str(table)])
    captured = capsys.readouterr()
    assert code == 1  # only broken.png fails
    notes = [line for line in captured.err.splitlines() if line.startswith("sonomsk: note")]
    assert len(notes) == 1 and "README.txt" in notes[0] and "IM0001.json" in notes[0]
    assert len(_errors(captured.err)) == 1 and "broken.png" in _errors(captured.err)[0]
    assert (out / "IM0001.png").is_file() and "segmented 1 of 2 file(s)" in captured.out
    assert {r["file"] for r in _rows(table)} == {str(folder / "IM0001")}
    (folder / "broken.png").unlink()
    assert main(["segment", str(folder), "--out", str(out)]) == 0  # a README no longer fails the run


def test_a_run_where_all_inputs_fail_exits_non_zero(tmp_path: Path) -> None:
    bad = [tmp_path / "a.dcm", tmp_path / "b.png"]
    bad[0].write_text("not dicom")
    bad[1].write_bytes(b"")
    assert main(["segment", *map(str, bad), "--out", str(tmp_path / "o")]) == 1


# ----------------------------------------------------------------------------- 6. CSV columns


def test_csv_keeps_the_contract_columns_and_only_appends() -> None:
    assert CSV_COLUMNS[: len(OLD_COLUMNS)] == OLD_COLUMNS
    positions = [CSV_COLUMNS.index(c) for c in CONTRACT]
    assert positions == sorted(positions)
    assert CSV_COLUMNS[len(OLD_COLUMNS) :] == (
        "fascicle_count",
        "fascicle_area_max_mm2",
        "vascular_fraction",
        "enclosed_other_px",
        "notes",
    )


@pytest.mark.parametrize("doppler", ["none", "power"])
def test_fascicles_and_vascularity_reach_the_csv(tmp_path: Path, doppler: str) -> None:
    from sonomsk.nerve.segment import segment_frame

    image, _ = simulate_scene("nerve", seed=1, overrides={"doppler": doppler})
    dcm = tmp_path / "scan.dcm"
    write_dicom(image, dcm)
    png = _png(tmp_path / "flat.png")
    Image.fromarray(image.grey_frame(0).astype(np.uint8)).save(png)  # the same pixels, no calibration
    table = tmp_path / "m.csv"
    assert main(["segment", str(dcm), str(png), "--out", str(tmp_path / "o"), "--csv", str(table)]) == 0
    rows = _rows(table)
    assert list(rows[0]) == list(CSV_COLUMNS)
    import sonomsk

    seg = segment_frame(sonomsk.read(dcm))
    nerves = [i for i in seg.instances if i.kind == "nerve"]
    csv_nerves = [r for r in rows if r["file"] == str(dcm) and r["structure"] == "nerve"]
    assert nerves and len(csv_nerves) == len(nerves)
    for inst, row in zip(nerves, csv_nerves, strict=True):
        by = {m.name: m for m in inst.measurements}
        for name, column in (
            ("count_fascicle", "fascicle_count"),
            ("area_fascicle_max", "fascicle_area_max_mm2"),
            ("fraction_vascular", "vascular_fraction"),
        ):
            m = by[name]
            if m.ok:
                assert float(row[column]) == pytest.approx(float(m.value), abs=1e-4), column
            else:
                assert row[column] == "", column
    assert all(r["vascular_fraction"] == "" for r in rows if r["structure"] == "vessel")
    if doppler == "none":
        assert all(r["vascular_fraction"] == "" for r in rows)
    unc = [r for r in rows if r["file"] == str(png)]
    assert all(r["fascicle_count"] == "" and r["fascicle_area_max_mm2"] == "" for r in unc)  # not resolved


def _dicom_object(path: Path, sop_class: str) -> Path:
    """A small DICOM object of ``sop_class`` (a DICOMDIR, a report...) with no image in it."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    if sop_class != "1.2.840.10008.1.3.10":  # a DICOMDIR has no SOP Class UID in its data set
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, meta.MediaStorageSOPInstanceUID, "SR"
    else:
        ds.FileSetID = "EXPORT"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicomdir_and_reports_beside_the_images_are_skipped(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder exported from a scanner: its DICOMDIR and a structured report are not images."""
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(nerve_dcm, folder / "IM0001")
    _dicom_object(folder / "DICOMDIR", "1.2.840.10008.1.3.10")
    _dicom_object(folder / "SR0001.dcm", "1.2.840.10008.5.1.4.1.1.88.33")
    out = tmp_path / "o"
    assert main(["segment", str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert _errors(captured.err) == []
    (note,) = [line for line in captured.err.splitlines() if line.startswith("sonomsk: note")]
    assert "DICOMDIR" in note and "SR0001.dcm" in note
    assert sorted(p.name for p in out.iterdir()) == ["IM0001.png"]
    # named on its own, a DICOMDIR is tried and refused with what it is
    code = main(["segment", str(folder / "DICOMDIR"), "--out", str(tmp_path / "o2")])
    (err,) = _errors(capsys.readouterr().err)
    assert code != 0 and "DICOMDIR (the index of a DICOM folder), not an image" in err


def test_an_image_whose_file_meta_names_another_class_is_still_segmented(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The data set's own SOP Class UID decides, as when the file is read alone: an ultrasound
    image whose file meta wrongly names a report is not skipped from a folder."""
    import pydicom

    folder = tmp_path / "export"
    folder.mkdir()
    ds = pydicom.dcmread(nerve_dcm)
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.save_as(folder / "IM0001")
    out = tmp_path / "o"
    assert main(["segment", str(folder), "--out", str(out)]) == 0
    assert _errors(capsys.readouterr().err) == []
    assert sorted(p.name for p in out.iterdir()) == ["IM0001.png"]


def test_a_report_written_without_the_dicom_preamble_is_skipped_too(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raw data set (no 128-byte preamble, no file meta) is read by content, as the reader
    reads it, so a structured report written that way is skipped, not failed."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(nerve_dcm, folder / "IM0001")
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.88.33", generate_uid(), "SR"
    pydicom.dcmwrite(folder / "SR0001", ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert (folder / "SR0001").read_bytes()[128:132] != b"DICM"
    out = tmp_path / "o"
    assert main(["segment", str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert _errors(captured.err) == []
    assert any(line.startswith("sonomsk: note") and "SR0001" in line for line in captured.err.splitlines())
    assert sorted(p.name for p in out.iterdir()) == ["IM0001.png"]


def test_json_output_holds_the_measurements_of_the_csv(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, table = tmp_path / "labels", tmp_path / "m.csv"
    capsys.readouterr()
    assert main(["segment", str(nerve_dcm), "--out", str(out), "--csv", str(table), "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    rows = _rows(table)
    instances = report[0]["instances"]
    assert len(instances) == len(rows) > 0
    for got, row in zip(instances, rows, strict=True):
        assert got["structure"] == row["structure"] and got["area_px"] == int(row["area_px"])
        assert got["area_mm2"] == pytest.approx(float(row["area_mm2"]))
        assert "file" not in got


# ----------------------------------------------------------------------------- 7. review ws10b


def test_a_run_that_writes_nothing_removes_nothing(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A re-run asking a frame the file does not have fails and writes nothing: the earlier
    label image stays beside the earlier CSV that describes it (was deleted)."""
    out, table = tmp_path / "labels", tmp_path / "m.csv"
    assert main(["segment", str(nerve_dcm), "--out", str(out), "--csv", str(table)]) == 0
    label, csv_text = (out / "nerve.png").read_bytes(), table.read_text()
    capsys.readouterr()
    for other_csv in (table, tmp_path / "other.csv"):
        argv = ["segment", str(nerve_dcm), "--frame", "3", "--out", str(out), "--csv", str(other_csv)]
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert "frame index" in captured.err and "removed" not in captured.err
        assert "no label image or CSV written; 1 earlier label image(s) kept" in captured.out
        assert (out / "nerve.png").read_bytes() == label and table.read_text() == csv_text
    assert not (tmp_path / "other.csv").exists()


def _measured_columns() -> list[str]:
    skip = {"file", "frame", "structure", "instance", "backend", "perimeter_unit", "notes"}
    return [c for c in CSV_COLUMNS if c not in skip]


def test_every_empty_cell_has_its_reason_in_notes(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A calibrated DICOM and the same pixels uncalibrated: each empty cell of the CSV is named in
    the row's notes with a reason, and --json rows carry the same notes as a list."""
    import json

    import sonomsk

    image = sonomsk.read(nerve_dcm)
    png = _png(tmp_path / "flat.png")
    Image.fromarray(image.frame(0)).save(png)
    out, table = tmp_path / "o", tmp_path / "m.csv"
    argv = ["segment", str(nerve_dcm), str(png), "--out", str(out), "--csv", str(table)]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = _rows(table)
    assert list(rows[0])[-1] == "notes" and {r["file"] for r in rows} == {str(nerve_dcm), str(png)}
    for row in rows:
        named = [part.partition(": ")[0].split(", ") for part in row["notes"].split("; ") if part]
        noted = [c for cols in named for c in cols]
        empty = [c for c in _measured_columns() if row[c] == ""]
        assert sorted(noted) == sorted(empty), row
        assert all(part.partition(": ")[2] for part in row["notes"].split("; ") if part), row
        if row["file"] == str(png):
            assert "area_mm2: uncalibrated image" in row["notes"]
        if row["structure"] == "vessel":
            assert "fascicle_count, fascicle_area_max_mm2, vascular_fraction: nerves only" in row["notes"]
    json_notes = ["; ".join(inst["notes"]) for entry in report for inst in entry["instances"]]
    assert json_notes == [r["notes"] for r in rows]


def test_a_calibrated_image_with_rows_in_px_says_why(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A still image whose sidecar calibrates only a corner: the file is calibrated, its
    structures leave the calibrated region, and the notes say so for the area and for the
    fascicles (was "not resolved: uncalibrated")."""
    import json

    import sonomsk

    png = tmp_path / "corner.png"
    Image.fromarray(sonomsk.read(nerve_dcm).frame(0)).save(png)
    (tmp_path / "corner.json").write_text('{"regions": [{"bbox": [0, 0, 19, 19], "spacing_mm": 0.06}]}')
    out = tmp_path / "o"
    assert main(["segment", str(png), "--out", str(out), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["calibrated"] is True and entry["instances"]
    leaves = "outline leaves the calibrated tissue region"
    for inst in entry["instances"]:
        assert inst["area_mm2"] is None and inst["perimeter_unit"] == "px"
        assert f"area_mm2: {leaves}" in inst["notes"]
        if inst["structure"] == "nerve":
            assert f"fascicle_count, fascicle_area_max_mm2: not resolved: {leaves}" in inst["notes"]


def test_help_documents_the_notes_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segment", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "notes (why each empty cell is empty" in text and "sonomsk:source" in text


def test_a_label_image_of_another_input_is_replaced_with_a_note(
    tmp_path: Path, nerve_dcm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two inputs with the same stem in separate runs: the second run's label image replaces the
    first's, and a note says so (each label PNG records a hash of its input's path, never the
    path, which may hold a patient's name)."""
    a, b = tmp_path / "a" / "x.dcm", tmp_path / "b" / "x.dcm"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copy(nerve_dcm, p)
    out = tmp_path / "o"
    assert main(["segment", str(a), "--out", str(out)]) == 0
    key_a = Image.open(out / "x.png").text["sonomsk:source"]
    assert key_a.startswith("sha256:") and "x.dcm" not in key_a and str(tmp_path) not in key_a
    assert main(["segment", str(a), "--out", str(out)]) == 0  # the same input again: no note
    assert [line for line in capsys.readouterr().err.splitlines() if "replaced" in line] == []
    assert main(["segment", str(b), "--out", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "replaced" in line]
    assert notes == [
        f"sonomsk: note: {out / 'x.png'}: replaced; it held the labels of another input, now those of {b}"
    ]
    key_b = Image.open(out / "x.png").text["sonomsk:source"]
    assert key_b.startswith("sha256:") and key_b != key_a
