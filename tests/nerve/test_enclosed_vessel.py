"""Decision 014: a nerve's CSA is everything its outline encloses, in batch and workstation alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sonomsk.cli.segment import _row
from sonomsk.core.image import UltrasoundImage
from sonomsk.nerve.interactive import measure_contour
from sonomsk.nerve.segment import segment_frame


class _RingWithVessel:
    """A backend that sees a nerve disc with a vessel disc inside it."""

    name = "test-enclosed"

    def __init__(self, nerve: np.ndarray, vessel: np.ndarray) -> None:
        self.nerve, self.vessel = nerve, vessel

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> None:
        return None

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        prob = np.zeros((3, *frame.shape[:2]), np.float32)
        prob[2] = self.vessel
        prob[1] = self.nerve & ~self.vessel
        prob[0] = 1.0 - prob[1] - prob[2]
        return prob


@pytest.mark.parametrize("vessel_radius", [0, 12, 16])
def test_batch_and_workstation_agree_on_a_nerve_around_a_vessel(
    monkeypatch: pytest.MonkeyPatch, vessel_radius: int
) -> None:
    from sonomsk.vision import backends

    yy, xx = np.mgrid[:512, :512]
    nerve = (yy - 256) ** 2 + (xx - 256) ** 2 <= 40**2
    vessel = (yy - 256) ** 2 + (xx - 250) ** 2 <= vessel_radius**2 if vessel_radius else np.zeros_like(nerve)
    monkeypatch.setitem(backends._REGISTRY, "test-enclosed", "unused:unused")
    monkeypatch.setitem(backends._INSTANCES, "test-enclosed", _RingWithVessel(nerve, vessel))
    image = UltrasoundImage.from_array(np.where(vessel, 5, 90).astype(np.uint8))
    seg = segment_frame(image, backend="test-enclosed")
    (n,) = [i for i in seg.instances if i.kind == "nerve"]
    batch = next(m for m in n.measurements if m.name == "area_cross_section")
    assert batch.unit == "px2"  # no calibration: pixels, and it says so
    from sonomsk.vision.contours import Contour

    outline = Contour(points=n.points, label="nerve")
    workstation = measure_contour(image, outline).by_name("area_cross_section")[0]
    assert batch.value == pytest.approx(float(nerve.sum()), rel=0.005)  # the vessel inside counts
    assert batch.value == pytest.approx(workstation.value, rel=0.01)
    kept = [i for i in seg.instances if i.kind == "vessel"]
    row = _row(Path("f.png"), 0, n, seg.backend)  # the batch CSV row says what the nerve encloses
    if vessel_radius >= 12:  # large enough to keep: outlined and measured as itself too
        (v,) = kept
        area = next(m for m in v.measurements if m.name == "area_cross_section")
        assert area.value == pytest.approx(float(vessel.sum()), rel=0.005)
        assert batch.context["enclosed_other_px"] == int(vessel.sum())
        assert row["enclosed_other_px"] == int(vessel.sum()) and row["area_px"] == int(nerve.sum())
    else:
        assert kept == [] and "enclosed_other_px" not in batch.context
        assert row["enclosed_other_px"] == 0
