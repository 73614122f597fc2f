"""``sonomsk differential`` through main([...])."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonomsk.cli.main import main

VIGNETTES = Path(__file__).resolve().parents[1] / "knowledge" / "vignettes"


def _write(tmp_path: Path, doc: object) -> str:
    p = tmp_path / "findings.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    return str(p)


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((VIGNETTES / "gbs.json").read_text())["input"]
    assert main(["differential", _write(tmp_path, doc), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["candidates"][0]["condition"] == "gbs"
    assert "not a diagnosis" in out["intended_use"].lower()
    assert out["method"]["name"] == "sonomsk.knowledge.differential"


def test_text_output_shows_intended_use_and_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((VIGNETTES / "cts.json").read_text())["input"]
    assert main(["differential", _write(tmp_path, doc)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("INTENDED USE:")
    assert "1. Carpal tunnel syndrome" in out
    assert "for     median_enlarged_carpal_tunnel = present" in out
    assert "tai2012 [A]" in out


def test_unknown_finding_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["differential", _write(tmp_path, {"findings": {"bogus_sign": "present"}})]) == 1
    err = capsys.readouterr().err
    assert "findings.bogus_sign" in err and "findings.json" in err
    assert len(err.strip().splitlines()) == 1


def test_empty_findings_cannot_rank(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["differential", _write(tmp_path, {}), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["can_rank"] is False and out["missing_discriminators"]


def test_bad_json_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["differential", str(bad)]) == 1
    assert "bad.json" in capsys.readouterr().err
    assert main(["differential", str(tmp_path / "nope.json")]) == 1
    assert "nope.json" in capsys.readouterr().err
    assert main(["differential"]) == 1
    assert "FINDINGS" in capsys.readouterr().err


def test_vocabulary_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["differential", "--vocabulary", "--json"]) == 0
    vocab = json.loads(capsys.readouterr().out)
    assert "conduction_block" in vocab and vocab["conduction_block"]["domain"] == "ncs_emg"


def test_text_output_shows_b_caveats_and_marks_conventional_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((VIGNETTES / "mpnst.json").read_text())["input"]
    assert main(["differential", _write(tmp_path, doc)]) == 0
    out = capsys.readouterr().out
    # mass > 5 cm comes from a [B] teaching source (Radiopaedia): its caveat must be printed
    assert "caveat radiopaedia_mpnst [B]: secondary teaching source" in out
    # a qualitative weight must never read like a published likelihood ratio
    assert "(conventional weight, not published)" in out
    assert "(frequency)" in out


def test_text_output_shows_how_a_likelihood_ratio_was_assembled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ratio built from figures of different comparisons says so where the clinician reads it:
    Goedee 2017's shortened-protocol sensitivity with the full criterion's specificity, and the
    GBS sparing figures, published against acute-onset CIDP only."""
    f = tmp_path / "f.json"
    f.write_text(
        json.dumps(
            {
                "findings": {
                    "proximal_median_or_plexus_enlarged": "present",
                    "sensory_nerve_sparing": "present",
                }
            }
        )
    )
    assert main(["differential", str(f)]) == 0
    out = capsys.readouterr().out
    assert (
        "note: a pair assembled by sonomsk: the sensitivity is the lower bound of the published 83-95%" in out
    )
    assert "for GBS against acute-onset CIDP only (33 GBS, 34 CIDP)" in out
