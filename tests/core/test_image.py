from __future__ import annotations

import numpy as np
import pytest

from sonomsk.core.errors import CalibrationError, InvalidParameterError
from sonomsk.core.image import (
    ArrayFrames,
    Axis,
    Region,
    RegionKind,
    UltrasoundImage,
    whole_image_region,
)


def _dual_pane() -> UltrasoundImage:
    arr = np.arange(4 * 60 * 100, dtype=np.uint16).reshape(4, 60, 100) % 251
    left = Region((10, 0, 60, 50), RegionKind.TISSUE, Axis("mm", 0.2), Axis("mm", 0.2))
    right = Region((10, 50, 60, 100), RegionKind.TISSUE, Axis("mm", 0.1), Axis("mm", 0.1))
    return UltrasoundImage.from_array(arr.astype(np.uint8), regions=(left, right), frame_time_s=0.05)


def test_shape_and_frames() -> None:
    img = _dual_pane()
    assert img.shape == (4, 60, 100, 1)
    assert img.frame(2).shape == (60, 100)
    assert img.frame(-1).shape == (60, 100)
    with pytest.raises(InvalidParameterError, match="frame index"):
        img.frame(4)


def test_colour_from_array() -> None:
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    img = UltrasoundImage.from_array(rgb, photometric="RGB")
    assert img.shape == (1, 30, 40, 3)
    grey = img.grey_frame(0)
    assert grey.shape == (30, 40)
    assert grey[0, 0] == pytest.approx(0.299 * 255, rel=1e-5)


def test_pixels_are_read_only() -> None:
    img = _dual_pane()
    with pytest.raises(ValueError):
        img.frame(0)[0, 0] = 1


def test_spacing_per_pane_and_no_silent_mm() -> None:
    img = _dual_pane()
    assert img.calibrated
    assert img.spacing_mm(row=20, col=10) == (0.2, 0.2)
    assert img.spacing_mm(row=20, col=70) == (0.1, 0.1)
    with pytest.raises(CalibrationError, match="different"):
        img.spacing_mm()
    with pytest.raises(CalibrationError, match="px"):
        img.spacing_mm(row=5, col=5)  # above both panes


def test_invalid_region_gives_no_mm() -> None:
    r = Region(
        (0, 0, 10, 10), RegionKind.TISSUE, Axis("mm", 0.1), Axis("mm", 0.1), valid=False, reason="box outside"
    )
    assert r.spacing_mm is None
    img = UltrasoundImage.from_array(np.zeros((10, 10), np.uint8), regions=(r,))
    assert not img.calibrated
    with pytest.raises(CalibrationError):
        img.spacing_mm()


def test_non_spatial_axis_is_not_mm() -> None:
    r = Region((0, 0, 10, 10), RegionKind.SPECTRAL_DOPPLER, Axis("cm/s", 1.0), Axis("s", 0.01))
    assert r.spacing_mm is None


def test_crop_updates_regions() -> None:
    img = _dual_pane().crop(20, 30, 50, 80)
    assert img.shape == (4, 30, 50, 1)
    boxes = sorted(r.box for r in img.regions)
    assert boxes == [(0, 0, 30, 20), (0, 20, 30, 50)]
    assert img.spacing_mm(row=5, col=25) == (0.1, 0.1)
    assert "crop" in img.provenance.operations[-1]
    np.testing.assert_array_equal(img.frame(1), _dual_pane().frame(1)[20:50, 30:80])


def test_crop_rejects_bad_box() -> None:
    with pytest.raises(InvalidParameterError, match="crop box"):
        _dual_pane().crop(0, 0, 61, 10)


def test_crop_drops_regions_outside() -> None:
    img = _dual_pane().crop(0, 0, 10, 100)
    assert img.regions == ()
    assert not img.calibrated


def test_resample_scales_spacing_and_boxes() -> None:
    img = UltrasoundImage.from_array(
        np.zeros((2, 40, 60), np.uint8), regions=(whole_image_region(40, 60, (0.2, 0.3)),)
    )
    out = img.resample(2.0)
    assert out.shape == (2, 80, 120, 1)
    assert out.regions[0].box == (0, 0, 80, 120)
    assert out.spacing_mm() == pytest.approx((0.1, 0.15))
    with pytest.raises(InvalidParameterError):
        img.resample(0)


def test_select_frames_is_lazy() -> None:
    calls: list[int] = []

    class Counting(ArrayFrames):
        def get(self, index: int) -> np.ndarray:
            calls.append(index)
            return super().get(index)

    src = Counting(np.zeros((100, 8, 8), np.uint8))
    img = UltrasoundImage(frames=src)
    sel = img.select_frames([5, 7])
    assert calls == []
    assert sel.n_frames == 2
    sel.frame(1)
    assert calls == [7]
    with pytest.raises(InvalidParameterError):
        img.select_frames([100])


def test_array_frames_rejects_wrong_rank() -> None:
    with pytest.raises(InvalidParameterError, match="dimensions"):
        ArrayFrames(np.zeros((3, 3)))
