"""``sonomsk report`` and ``sonomsk export`` through ``main([...])``: the demo study end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sonomsk.cli.main import main
from sonomsk.report.example import build_example_study
from sonomsk.report.results import save_results


@pytest.fixture(scope="module")
def results_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli_report")
    return save_results(build_example_study(folder), folder / "results.json")


def test_report_pdf_and_html(results_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "r.pdf"
    assert main(["report", str(results_file), "--out", str(pdf), "--paper", "letter", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"out": str(pdf), "format": "pdf", "paper": "letter", "deidentified": False}
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Nerve assessment" in text and "DEMO-0001" in text
    html = tmp_path / "r.html"
    assert main(["report", str(results_file), "--out", str(html)]) == 0
    assert 'id="section-differential"' in html.read_text(encoding="utf-8")


def test_export_everything(results_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import highdicom as hd

    args = [
        "export",
        str(results_file),
        "--sr",
        str(tmp_path / "sr.dcm"),
        "--seg",
        str(tmp_path / "seg.dcm"),
        "--fhir",
        str(tmp_path / "b.json"),
        "--csv",
        str(tmp_path / "t.csv"),
        "--xlsx",
        str(tmp_path / "t.xlsx"),
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outputs"]["sr"]["structures"] == 2
    assert [Path(s["path"]).name for s in out["outputs"]["seg"]] == ["seg_img1.dcm", "seg_img2.dcm"]
    assert isinstance(hd.sr.srread(tmp_path / "sr.dcm"), hd.sr.Comprehensive3DSR)
    assert hd.seg.segread(tmp_path / "seg_img1.dcm").number_of_segments == 1
    assert json.loads((tmp_path / "b.json").read_text())["resourceType"] == "Bundle"
    assert (tmp_path / "t.csv").read_text().count("\n") == 3
    assert (tmp_path / "t.xlsx").stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "{r}", "--out", "{t}/r.docx"], "expected a .pdf or .html"),
        (["report", "{t}/missing.json", "--out", "{t}/r.pdf"], "missing.json: no such file"),
        (["report", "{r}", "--out", "{t}/no/r.pdf"], "does not exist"),
        (["report", "{r}", "--out", "{t}/r.pdf", "--key", "k"], "--key: only meaningful with --deidentify"),
        (["report", "{r}", "--out", "{t}/r.pdf", "--sections", "nope"], "sections: unknown"),
        (["export", "{r}"], "give at least one of"),
        (["export", "{r}", "--sr", "{t}/no/sr.dcm"], "--sr"),
        (["export", "{r}", "--csv", "{r}"], "is the RESULTS input; refusing to overwrite it"),
        (["export", "{r}", "--csv", "{t}/same.out", "--fhir", "{t}/same.out"], "also given to --fhir"),
        (["export", "{r}", "--sr", "{t}"], "is a folder; expected a file name"),
        (
            ["export", "{r}", "--sr", "{t}/out_img1.dcm", "--seg", "{t}/out.dcm"],
            "may be the name of a SEG file",
        ),
    ],
)
def test_errors_are_one_line(
    results_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(r=results_file, t=tmp_path) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_paper_choice_is_checked(results_file: Path, tmp_path: Path) -> None:
    assert main(["report", str(results_file), "--out", str(tmp_path / "r.pdf"), "--paper", "a3"]) == 2


def test_export_leaves_its_input_alone(results_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results.json"
    copy.write_bytes(results_file.read_bytes())
    before = copy.read_bytes()
    assert main(["export", str(copy), "--csv", str(copy)]) == 1
    assert copy.read_bytes() == before


def test_an_unwritable_output_is_a_one_line_error(
    results_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path the system refuses (not a missing folder: /proc cannot hold files) names the file,
    not an internal error."""
    assert main(["report", str(results_file), "--out", "/proc/sonomsk-r.html"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sonomsk: error: ") and "internal error" not in err and err.count("\n") == 1


def test_export_csv_of_an_assessment_only_results_says_where_the_csas_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RESULTS made from `sonomsk nerve assess` input have no image measurements: the CSV (image
    measurements) is then a header only, and the command says where the CSAs went."""
    from sonomsk.nerve.assess import assess
    from sonomsk.report.results import Study, StudyResults

    na = assess({"measurements": [{"site": "median_wrist", "side": "right", "csa_mm2": 14.0}]}).to_dict()
    results = StudyResults(nerve_assessment=na, study=Study(study_uid="1.2.826.0.1.3680043.8.498.78"))
    path = save_results(results, tmp_path / "r.json")
    assert main(["export", str(path), "--csv", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert (
        "the 1 CSA(s) of its nerve assessment are in the XLSX sheet nerve_assessment and the FHIR bundle"
        in out
    )
