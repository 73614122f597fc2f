"""Done-when of the foundation issue: `sonomsk info --json` reports every pydicom-data and pydicom
ultrasound file correctly, including each region as the header declares it."""

from __future__ import annotations

import json

import pydicom
import pytest

from sonomsk.cli.main import main

from ..io.test_dicom_read import US_FILES, _path


def test_info_json_reports_every_ultrasound_file(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [_path(name, package) for name, package, *_ in US_FILES]
    code = main(["info", *map(str, paths), "--json"])
    assert code == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["path"] for e in entries] == [str(p) for p in paths]
    for (name, _pkg, frames, rows, cols, channels, n_cal, _w), entry, path in zip(
        US_FILES, entries, paths, strict=True
    ):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert (entry["frames"], entry["rows"], entry["columns"], entry["channels"]) == (
            frames,
            rows,
            cols,
            channels,
        ), name
        assert entry["transfer_syntax"] == ds.file_meta.TransferSyntaxUID
        assert entry["photometric_interpretation"] == ds.PhotometricInterpretation
        assert entry["manufacturer"] == (str(ds.get("Manufacturer", "")).strip() or None)
        assert entry["calibrated"] is (n_cal > 0)
        items = ds.get("SequenceOfUltrasoundRegions", [])
        assert len(entry["regions"]) == len(items), name
        for region, item in zip(entry["regions"], items, strict=True):
            declared = [
                item.RegionLocationMinX0,
                item.RegionLocationMinY0,
                item.RegionLocationMaxX1,
                item.RegionLocationMaxY1,
            ]
            x0, y0, x1, y1 = region["bbox"]
            assert [x0, y0] == declared[:2], name
            # a box is reported as declared, or clipped by at most 1 px to the image (with a warning)
            assert 0 <= declared[2] - x1 <= 1 and 0 <= declared[3] - y1 <= 1, name
            if region["spacing_mm"] is not None:
                assert item.PhysicalUnitsXDirection == 3 and item.PhysicalUnitsYDirection == 3  # cm
                assert region["spacing_mm"][0] == pytest.approx(10 * float(item.PhysicalDeltaX))
                assert region["spacing_mm"][1] == pytest.approx(10 * float(item.PhysicalDeltaY))
            else:
                assert region["reason"] or region["kind"] != "tissue" or not region["valid"]
