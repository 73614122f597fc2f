"""Sequence of Ultrasound Regions -> Region: boxes, kinds, units and the reasons for rejection."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from sonomsk.core.errors import CalibrationWarning, FormatWarning
from sonomsk.core.image import RegionKind
from sonomsk.core.units import Unit
from sonomsk.io.regions import parse_regions, region_kind


def item(
    box: tuple[int, int, int, int],
    *,
    spatial_format: int = 1,
    data_type: int = 1,
    units: tuple[int, int] = (3, 3),
    delta: tuple[float, float] = (0.01, 0.02),
) -> Dataset:
    """One region: box as DICOM (x0, y0, x1, y1) inclusive; units and deltas as (X, Y)."""
    d = Dataset()
    d.RegionSpatialFormat, d.RegionDataType = spatial_format, data_type
    d.RegionLocationMinX0, d.RegionLocationMinY0, d.RegionLocationMaxX1, d.RegionLocationMaxY1 = box
    d.PhysicalUnitsXDirection, d.PhysicalUnitsYDirection = units
    d.PhysicalDeltaX, d.PhysicalDeltaY = delta
    return d


def parse(*items: Dataset, rows: int = 100, cols: int = 200) -> tuple[list, list[str]]:  # type: ignore[type-arg]
    ds = Dataset()
    ds.SequenceOfUltrasoundRegions = list(items)
    return parse_regions(ds, rows, cols, source="scan.dcm")


@pytest.mark.parametrize(
    ("spatial_format", "data_type", "kind"),
    [
        (1, 1, RegionKind.TISSUE),
        (1, 2, RegionKind.COLOR_DOPPLER),
        (3, 3, RegionKind.SPECTRAL_DOPPLER),  # PW
        (3, 4, RegionKind.SPECTRAL_DOPPLER),  # CW
        (2, 1, RegionKind.M_MODE),
        (4, 10, RegionKind.OTHER),  # ECG trace
        (0, 13, RegionKind.OTHER),  # grey bar
        (5, 14, RegionKind.OTHER),  # colour bar graphics
    ],
)
def test_kind_from_spatial_format_and_data_type(
    spatial_format: int, data_type: int, kind: RegionKind
) -> None:
    assert region_kind(spatial_format, data_type) is kind


def test_tissue_box_is_half_open_and_cm_become_mm() -> None:
    (region,), notes = parse(item((10, 5, 109, 84), delta=(0.01, 0.02)))
    assert notes == []
    assert region.box == (5, 10, 85, 110)  # (row0, col0, row1, col1)
    assert (region.rows, region.cols) == (80, 100)
    assert region.col_axis == region.col_axis.__class__(unit=Unit.MM.value, delta=pytest.approx(0.1))
    assert region.spacing_mm == pytest.approx((0.2, 0.1))  # (row, col): Y 0.02 cm, X 0.01 cm
    assert region.valid and region.reason is None


def test_m_mode_and_spectral_axes_keep_their_units() -> None:
    regions, notes = parse(
        item((0, 0, 99, 49), spatial_format=2, data_type=1, units=(4, 3), delta=(0.005, 0.02)),
        item((0, 50, 99, 99), spatial_format=3, data_type=3, units=(4, 7), delta=(0.01, 1.5)),
    )
    assert notes == []  # valid regions of their kinds
    m_mode, spectral = regions
    assert m_mode.valid and m_mode.spacing_mm is None  # time on X: no (row, col) mm spacing
    assert m_mode.kind is RegionKind.M_MODE
    assert (m_mode.col_axis.unit, m_mode.col_axis.delta) == ("s", 0.005)
    assert m_mode.row_axis.unit == "mm" and m_mode.row_axis.delta == pytest.approx(0.2)
    assert spectral.kind is RegionKind.SPECTRAL_DOPPLER
    assert (spectral.row_axis.unit, spectral.row_axis.delta) == ("cm/s", 1.5)
    assert spectral.spacing_mm is None  # never millimetres from a Doppler spectrum


def test_dual_pane_gives_two_calibrated_tissue_regions() -> None:
    (left, right), notes = parse(item((0, 0, 99, 99)), item((100, 0, 199, 99)))
    assert notes == []
    assert left.box[3] == right.box[1] == 100
    assert left.spacing_mm == right.spacing_mm is not None


def test_box_outside_the_pixels_is_rejected_with_a_warning() -> None:
    with pytest.warns(CalibrationWarning, match=r"scan\.dcm: region 1 box .* does not fit the 200 x 100 px"):
        (region,), notes = parse(item((84, 31, 595, 414)))
    assert region.valid is False and region.spacing_mm is None
    assert "does not fit" in (region.reason or "")
    assert len(notes) == 1 and "no millimetres" in notes[0]


def test_tissue_region_with_non_spatial_units_is_rejected() -> None:
    with pytest.warns(CalibrationWarning, match="non-spatial units"):
        (region,), _ = parse(item((0, 0, 99, 99), units=(0, 0), delta=(0.0, 0.0)))
    assert region.valid is False and region.spacing_mm is None


@pytest.mark.parametrize("delta", [0.0, -0.0, 1.0, float("nan")])  # 1 cm = 10 mm per pixel: implausible
def test_implausible_pixel_size_is_rejected(delta: float) -> None:
    with pytest.warns(CalibrationWarning):
        (region,), _ = parse(item((0, 0, 99, 99), delta=(delta, delta)))
    assert region.valid is False and region.spacing_mm is None


def test_box_one_pixel_past_the_edge_is_clipped_and_said() -> None:
    with pytest.warns(FormatWarning, match="ends 1 px beyond the image"):
        (region,), notes = parse(item((120, 60, 200, 99)))  # x1 = Columns (Philips style)
    assert region.box == (60, 120, 100, 200)
    assert region.valid and region.spacing_mm is not None
    assert any("clipped" in n for n in notes)


def test_region_without_location_is_skipped_and_said() -> None:
    broken = Dataset()
    broken.RegionSpatialFormat, broken.RegionDataType = 1, 1
    regions, notes = parse(broken, item((0, 0, 9, 9)))
    assert len(regions) == 1
    assert any("no usable location" in n for n in notes)


def test_no_sequence_gives_no_regions() -> None:
    assert parse_regions(Dataset(), 10, 10, source="x.dcm") == ([], [])
