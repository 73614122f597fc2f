"""JSON sidecars calibrate still images and videos; every bad value is an InvalidParameterError
naming the sidecar file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sonomsk
from sonomsk.core.errors import CalibrationWarning, InvalidParameterError
from sonomsk.core.image import RegionKind
from sonomsk.io.sidecar import find_sidecar, regions_from_sidecar


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((100, 200), 80, dtype=np.uint8)).save(path)
    return path


def write(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"spacing_mm": 0.1}, (0.1, 0.1)),
        ({"spacing_mm": [0.1, 0.2]}, (0.1, 0.2)),
        ({"pixels_per_cm": 115.25}, (10 / 115.25, 10 / 115.25)),
        ({"spacing_mm": 0.05, "source": "phantom", "note": "measured"}, (0.05, 0.05)),
    ],
)
def test_whole_image_forms(content: dict[str, object], expected: tuple[float, float], png: Path) -> None:
    write(png.with_suffix(".json"), content)
    image = sonomsk.read(png)
    assert image.metadata["calibration_source"] == "sidecar"
    assert image.spacing_mm() == pytest.approx(expected)
    assert image.regions[0].box == (0, 0, 100, 200)


def test_regions_form_converts_inclusive_xy_to_row_col(png: Path) -> None:
    write(
        png.with_suffix(".json"),
        {
            "regions": [
                {"bbox": [10, 5, 109, 94], "kind": "tissue", "spacing_mm": [0.2, 0.1]},
                {"bbox": [120, 0, 199, 99], "kind": "spectral_doppler", "spacing_mm": 0.3},
            ]
        },
    )
    image = sonomsk.read(png)
    tissue, doppler = image.regions
    assert tissue.box == (5, 10, 95, 110)  # (row0, col0, row1, col1), half-open
    assert tissue.spacing_mm == (0.1, 0.2)  # (row, col) from [col, row]
    assert doppler.kind is RegionKind.SPECTRAL_DOPPLER
    assert image.spacing_mm(row=50, col=50) == (0.1, 0.2)


def test_name_dot_json_is_preferred_over_stem_json(png: Path) -> None:
    write(png.with_name("scan.png.json"), {"spacing_mm": 0.1})
    write(png.with_suffix(".json"), {"spacing_mm": 0.2})
    assert find_sidecar(png, None) == png.with_name("scan.png.json")
    assert sonomsk.read(png).spacing_mm() == (0.1, 0.1)


def test_explicit_sidecar(png: Path, tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "calibration.json", {"spacing_mm": 0.25})
    assert sonomsk.read(png, sidecar=elsewhere).spacing_mm() == (0.25, 0.25)


def test_explicit_sidecar_missing(png: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"nope\.json: no such file"):
        sonomsk.read(png, sidecar=tmp_path / "nope.json")


def test_no_sidecar_means_px(png: Path) -> None:
    with pytest.warns(CalibrationWarning, match="no calibration: results in px"):
        image = sonomsk.read(png)
    assert image.calibrated is False and image.regions == ()


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ({"spacing_mm": 0.1, "spacing": 0.1}, "'spacing'"),
        ({"spacing_mm": 0.0}, "spacing_mm"),
        ({"spacing_mm": -0.1}, "spacing_mm"),
        ({"spacing_mm": 11}, "spacing_mm"),
        ({"spacing_mm": "0.1"}, "spacing_mm"),
        ({"spacing_mm": True}, "spacing_mm"),
        ({"spacing_mm": [0.1, 0.2, 0.3]}, "spacing_mm"),
        ({"spacing_mm": [0.1, None]}, "spacing_mm[1]"),
        ({"pixels_per_cm": 0}, "pixels_per_cm"),
        ({"pixels_per_cm": "many"}, "pixels_per_cm"),
        ({"regions": []}, "regions"),
        ({"regions": "all"}, "regions"),
        ({"regions": [5]}, "regions[0]"),
        ({"regions": [{"bbox": [0, 0, 10], "spacing_mm": 0.1}]}, "regions[0].bbox"),
        ({"regions": [{"bbox": [0, 0, 10.5, 10], "spacing_mm": 0.1}]}, "regions[0].bbox"),
        ({"regions": [{"bbox": [0, 0, 200, 10], "spacing_mm": 0.1}]}, "regions[0].bbox"),  # x1 = columns
        ({"regions": [{"bbox": [20, 0, 10, 10], "spacing_mm": 0.1}]}, "regions[0].bbox"),  # x0 > x1
        ({"regions": [{"bbox": [0, 0, 10, 10], "spacing_mm": 0.1, "kind": "bone"}]}, "regions[0].kind"),
        ({"regions": [{"bbox": [0, 0, 10, 10]}]}, "regions[0].spacing_mm"),
        ({"note": "no calibration at all"}, "expected spacing_mm, pixels_per_cm or regions"),
        ([0.1, 0.1], "expected a JSON object"),
    ],
)
def test_bad_sidecar_names_file_and_key(content: object, key: str, png: Path) -> None:
    sidecar = write(png.with_suffix(".json"), content)
    with pytest.raises(InvalidParameterError) as info:
        sonomsk.read(png)
    message = str(info.value)
    assert "\n" not in message
    assert sidecar.name in message and key in message, message


def test_sidecar_that_is_not_json(png: Path) -> None:
    png.with_suffix(".json").write_text("spacing_mm = 0.1")
    with pytest.raises(InvalidParameterError, match=r"scan\.json: not readable JSON"):
        sonomsk.read(png)


def test_regions_from_sidecar_directly(tmp_path: Path) -> None:
    sidecar = write(tmp_path / "s.json", {"spacing_mm": [0.1, 0.2]})
    (region,) = regions_from_sidecar(sidecar, 30, 40)
    assert region.box == (0, 0, 30, 40) and region.spacing_mm == (0.1, 0.2)


def test_a_sidecar_wins_over_the_caller_spacing_and_says_so(png: Path) -> None:
    """The sidecar is the image's calibration, as DICOM regions are: a caller's spacing (the
    command line's --spacing-mm for a whole batch) does not override it."""
    write(png.with_suffix(".json"), {"spacing_mm": [0.05, 0.06]})
    image = sonomsk.read(png, spacing_mm=0.1)
    assert image.metadata["calibration_source"] == "sidecar"
    assert image.spacing_mm() == (0.05, 0.06)
    assert any("(0.1 x 0.1 mm/px, row x col) was ignored" in w for w in image.warnings)


def test_caller_spacing_calibrates_a_sidecar_without_a_tissue_calibration(png: Path) -> None:
    """A sidecar that calibrates only a Doppler strip leaves the tissue to the caller's spacing
    (docs/errors.md: used only when no region gives a valid tissue calibration)."""
    write(
        png.with_suffix(".json"),
        {"regions": [{"bbox": [150, 0, 199, 99], "kind": "spectral_doppler", "spacing_mm": 0.3}]},
    )
    image = sonomsk.read(png, spacing_mm=0.1)
    assert image.metadata["calibration_source"] == "caller"
    assert [r.kind for r in image.regions] == [RegionKind.SPECTRAL_DOPPLER, RegionKind.TISSUE]
    assert image.spacing_mm() == (0.1, 0.1)
    assert image.provenance.operations == ("calibration: caller-supplied spacing_mm (0.1, 0.1)",)


def test_an_annotation_json_beside_the_image_is_not_read_as_its_sidecar(png: Path) -> None:
    """labelme writes <stem>.json beside the image: it has no sidecar key, so it is not the image's
    calibration (was: 'unknown key' for every annotated image, even with the caller's spacing)."""
    write(
        png.with_suffix(".json"), {"version": "5.2.1", "shapes": [], "imagePath": png.name, "imageHeight": 80}
    )
    image = sonomsk.read(png, spacing_mm=0.05)
    assert image.calibrated and image.regions[-1].spacing_mm == (0.05, 0.05)
    assert any("not read as its calibration" in w for w in image.warnings)
    with pytest.warns(CalibrationWarning, match="no calibration: results in px"):
        image = sonomsk.read(png)
    assert image.calibrated is False
    assert any("not read as its calibration" in w for w in image.warnings)
