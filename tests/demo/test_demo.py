"""The bundled demo study analysed end to end: every export exists and passes its real consumer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonomsk.cli.main import main
from sonomsk.demo.study import demo_files, manifest
from sonomsk.vision.backends import get_backend

from ..report.report_tools import dciodvfy_errors, need_tool, pdf_text

pytestmark = pytest.mark.skipif(
    not get_backend("onnx-unet").is_available(), reason="the ONNX model is not installed"
)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def test_demo_files_are_synthetic_calibrated_dicom() -> None:
    import sonomsk

    files = demo_files()
    assert len(files) == len(manifest()["images"]) == 6
    for path, entry in files:
        image = sonomsk.read(path)
        assert image.calibrated and image.metadata["format"] == "DICOM"
        assert entry["truth"]["nerve"]["csa_mm2_raster"] > 0


def test_every_export_is_written(demo_out: Path) -> None:
    for name in (
        "results.json",
        "report.html",
        "report.pdf",
        "report_sr.dcm",
        "report_fhir.json",
        "measurements.csv",
    ):
        assert (demo_out / name).stat().st_size > 0, name
    assert list(demo_out.glob("outlines_seg*.dcm"))
    results = json.loads((demo_out / "results.json").read_text())
    assert len(results["images"]) == 6
    assert results["nerve_assessment"]["pattern"] in (
        "normal",
        "focal_entrapment",
        "multifocal_nonentrapment",
        "diffuse",
        "reduced",
        "indeterminate",
    )
    assert results["differential"]["intended_use"]


def test_sr_and_seg_pass_highdicom_and_dciodvfy(demo_out: Path) -> None:
    import highdicom as hd
    import pydicom

    sr = (
        hd.sr.srread(demo_out / "report_sr.dcm")
        if hasattr(hd.sr, "srread")
        else pydicom.dcmread(demo_out / "report_sr.dcm")
    )
    assert sr.Modality == "SR"
    seg = hd.seg.segread(sorted(demo_out.glob("outlines_seg*.dcm"))[0])
    assert seg.Modality == "SEG" and seg.number_of_segments >= 1
    need_tool("dciodvfy")
    for f in [demo_out / "report_sr.dcm", *demo_out.glob("outlines_seg*.dcm")]:
        assert dciodvfy_errors(f) == [], f


def test_fhir_bundle_validates(demo_out: Path) -> None:
    from sonomsk.report.fhir import validate_bundle

    bundle = validate_bundle(json.loads((demo_out / "report_fhir.json").read_text()))
    assert bundle.type in ("collection", "document", "transaction")


def test_pdf_holds_the_measured_values(demo_out: Path) -> None:
    need_tool("pdftotext")
    text = pdf_text(demo_out / "report.pdf")
    results = json.loads((demo_out / "results.json").read_text())
    csa = [m for m in results["measurements"] if m["name"] == "area_cross_section"]
    assert csa
    from sonomsk.report.sections import fmt

    for m in csa:  # as the report prints them (its own number format)
        assert fmt(m["value"]) in text, m["context"].get("site")


def test_pdf_stays_readable_in_length(demo_out: Path) -> None:
    """A six-image nerve study fits in a short report (a generic all-columns table once made 99 pages)."""
    import subprocess

    need_tool("pdfinfo")
    info = subprocess.run(
        ["pdfinfo", str(demo_out / "report.pdf")], capture_output=True, text=True, check=True
    ).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert 2 <= pages <= 20
