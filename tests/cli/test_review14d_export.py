"""Review ws14c F8: `sonomsk export` writes every other output when one fails, then exits
non-zero with one line naming the failure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sonomsk.cli.main import main
from sonomsk.report.example import build_example_study
from sonomsk.report.results import save_results


def test_export_writes_the_other_outputs_when_the_seg_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = build_example_study(tmp_path)
    # every outline on a frame of a cine: highdicom cannot segment it, so the SEG fails
    cine = dataclasses.replace(
        example, images=tuple(dataclasses.replace(im, n_frames=3) for im in example.images)
    )
    results = save_results(cine, tmp_path / "results.json")
    out = tmp_path / "out"
    out.mkdir()
    rc = main(
        [
            "export",
            str(results),
            "--sr",
            str(out / "sr.dcm"),
            "--seg",
            str(out / "seg.dcm"),
            "--fhir",
            str(out / "f.json"),
            "--csv",
            str(out / "m.csv"),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["f.json", "m.csv", "sr.dcm"]
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert len(errors) == 1
    assert "--seg" in errors[0] and "SEG" in errors[0] and "--fhir" in errors[0]
    assert "fhir: " in captured.out and "csv: " in captured.out
