"""Every scene renders, is calibrated, and its truth matches a measurement of it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.image import RegionKind
from sonomsk.simulate.api import scene_names, simulate_scene
from sonomsk.simulate.tissues import Label

SMALL = {"rows": 192, "cols": 192}
REQUIRED = {
    "nerve",
    "carpal-tunnel",
    "muscle-transverse",
    "muscle-longitudinal",
    "tendon",
    "vessel",
    "joint-effusion",
    "needle-inplane",
    "needle-outofplane",
    "injection",
    "fasciculation",
}


def test_all_required_scenes_exist() -> None:
    assert set(scene_names()) >= REQUIRED


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_scene_renders_calibrated_with_labels(name: str) -> None:
    image, truth = simulate_scene(name, seed=2, frames=2, overrides=SMALL)
    assert image.array.dtype == np.uint8 and image.shape[:3] == (2, 192, 192)
    spacing = image.spacing_mm()
    assert spacing == truth.spacing_mm
    assert spacing[0] * 192 == pytest.approx(
        truth.parameters["_depth"] if "_depth" in truth.parameters else image.metadata["depth_mm"]
    )
    assert truth.labels.shape == (2, 192, 192)
    assert len(np.unique(truth.labels[0])) >= 3  # several structures, not an empty mask
    assert 20 < float(image.array.mean()) < 200  # neither black nor saturated


def test_nerve_csa_is_exact_to_the_pixel_grid() -> None:
    image, truth = simulate_scene("nerve", seed=5, overrides={"csa_mm2": 10.0})
    nerve = truth.structure("nerve")
    sr, sc = image.spacing_mm()
    measured = float(truth.mask(Label.NERVE).sum()) * sr * sc  # what a measurement of the mask gives
    assert measured == pytest.approx(nerve["csa_mm2_raster"], abs=1e-9)
    assert abs(measured - 10.0) <= 0.5 * sr * sc  # 10.0 mm2 to within half a pixel
    assert abs(nerve["csa_mm2_analytic"] - measured) / measured < 0.01
    assert round(measured, 1) == 10.0


def test_same_seed_same_pixels_other_seed_other_anatomy() -> None:
    a, ta = simulate_scene("carpal-tunnel", seed=11, overrides=SMALL)
    b, _ = simulate_scene("carpal-tunnel", seed=11, overrides=SMALL)
    c, tc = simulate_scene("carpal-tunnel", seed=12, overrides=SMALL)
    assert np.array_equal(a.array, b.array)
    assert not np.array_equal(a.array, c.array)
    assert ta.parameters["csa_mm2"] != tc.parameters["csa_mm2"]


def test_in_plane_needle_tip_truth_moves_and_converts_to_px() -> None:
    _image, truth = simulate_scene("needle-inplane", seed=1, frames=6)
    tips = [f["needle"]["tip_mm"] for f in truth.frames]
    assert tips[-1][0] > tips[0][0]  # deeper each frame
    s = truth.spacing_mm[0]
    for f in truth.frames:
        row, col = f["needle"]["tip_px"]
        assert row == pytest.approx(f["needle"]["tip_mm"][0] / s)
        assert col == pytest.approx(f["needle"]["tip_mm"][1] / s)
    # the needle is drawn where the truth says
    last = truth.frames[-1]["needle"]["tip_px"]
    assert (
        truth.labels[-1][
            round(last[0]) - 2 : round(last[0]) + 3, round(last[1]) - 4 : round(last[1]) + 1
        ].max()
        == Label.NEEDLE
    )


def test_needle_visibility_falls_with_steeper_angle() -> None:
    def shaft_brightness(angle: float) -> float:
        image, truth = simulate_scene(
            "needle-inplane",
            seed=3,
            frames=1,
            overrides={"angle_deg": angle, "start_mm": 60.0, "vary": False},
        )
        mask = truth.mask(Label.NEEDLE)
        return float(image.array[0][mask].mean())

    assert shaft_brightness(15.0) > shaft_brightness(45.0) + 10


def test_out_of_plane_needle_reports_elevation_and_crossing() -> None:
    _, truth = simulate_scene("needle-outofplane", seed=1, frames=12)
    elev = [f["needle"]["tip_elevation_mm"] for f in truth.frames]
    assert elev[0] < 0 < elev[-1]
    assert truth.frames[-1]["needle"]["tip_beyond_plane"]
    assert (truth.labels[-1] == Label.NEEDLE).any() and not (truth.labels[0] == Label.NEEDLE).any()


@pytest.mark.parametrize("kind", ["perineural", "intramuscular", "intravascular"])
def test_injectate_area_grows_except_intravascular(kind: str) -> None:
    _, truth = simulate_scene("injection", seed=1, frames=5, overrides={"kind": kind, **SMALL})
    areas = [f["injectate"]["area_mm2_raster"] for f in truth.frames]
    if kind == "intravascular":
        assert max(areas) == 0.0
    else:
        assert areas[0] == 0.0 and areas[-1] > areas[2] > 0.0
        assert areas[-1] == pytest.approx(truth.frames[-1]["injectate"]["area_mm2_model"], rel=0.3)


def test_fasciculation_events_have_time_place_and_size() -> None:
    image, truth = simulate_scene("fasciculation", seed=4, frames=45, overrides={"rate_per_s": 3.0, **SMALL})
    events = truth.parameters["fasciculation_events"]
    assert events and all(
        {"onset_s", "duration_s", "centre_mm", "radius_mm", "centre_px"} <= set(e) for e in events
    )
    assert image.frame_time_s == pytest.approx(1 / 30)
    ev = events[0]
    during = [f for f in truth.frames if ev["onset_s"] <= f["time_s"] < ev["onset_s"] + ev["duration_s"]]
    assert during and all(
        any(a["onset_s"] == ev["onset_s"] for a in f["fasciculations_active"]) for f in during
    )
    # the twitch moves speckle: frames during an event differ more than frames at rest
    i = during[len(during) // 2]["index"]
    quiet = [f["index"] for f in truth.frames if not f["fasciculations_active"]]
    arr = image.array.astype(float)
    assert len(quiet) > 1
    assert np.abs(arr[i] - arr[quiet[0]]).mean() > np.abs(arr[quiet[1]] - arr[quiet[0]]).mean()


def test_colour_doppler_region_and_velocity_truth() -> None:
    image, truth = simulate_scene(
        "vessel", seed=1, overrides={"view": "longitudinal", "doppler": "color", "tilt_deg": 20.0}
    )
    assert image.channels == 3
    kinds = [r.kind for r in image.regions]
    assert RegionKind.TISSUE in kinds and RegionKind.COLOR_DOPPLER in kinds
    assert truth.velocity_axial_cm_s is not None
    v_peak = truth.frames[0]["peak_velocity_cm_s"]
    assert np.abs(truth.velocity_axial_cm_s).max() == pytest.approx(
        v_peak * math.cos(math.radians(70.0)), rel=0.05
    )
    r0, c0, r1, c1 = truth.doppler["box_px"]
    rgb = image.array[0][r0:r1, c0:c1].astype(int)
    assert ((rgb[..., 0] - rgb[..., 2]) > 60).sum() > 100  # red pixels where flow comes towards the probe


def test_arterial_pulsation_changes_radius() -> None:
    _, truth = simulate_scene("vessel", seed=1, frames=20, overrides=SMALL)
    radii = [f["artery_radius_mm"] for f in truth.frames]
    assert max(radii) > min(radii) * 1.03


def test_muscle_longitudinal_truth_parameters() -> None:
    _, truth = simulate_scene(
        "muscle-longitudinal", seed=1, overrides={"pennation_deg": 20.0, "thickness_mm": 18.0}
    )
    m = truth.structure("muscle")
    assert m["pennation_angle_deg"] == 20.0 and m["thickness_mm"] == 18.0
    s = truth.spacing_mm[0]
    col = truth.shape[1] // 2
    rows = np.nonzero(truth.labels[0][:, col] == Label.MUSCLE)[0]
    assert len(rows) * s == pytest.approx(18.0, abs=2 * s)


def test_effusion_depth_matches_mask() -> None:
    _, truth = simulate_scene("joint-effusion", seed=1, overrides={"effusion_depth_mm": 6.0})
    e = truth.structure("effusion")
    assert e["depth_mm_raster"] == pytest.approx(6.0, abs=2 * truth.spacing_mm[0])


def test_nerve_vessel_labels_follow_usgra_convention() -> None:
    _, truth = simulate_scene("nerve", seed=3, overrides={"artery": True, **SMALL})
    lab = truth.nerve_vessel_labels()
    assert set(np.unique(lab)) == {0, 1, 2}


def test_bad_parameters_name_themselves() -> None:
    with pytest.raises(InvalidParameterError, match="scene"):
        simulate_scene("liver")
    with pytest.raises(InvalidParameterError, match="bogus"):
        simulate_scene("nerve", overrides={"bogus": "1"})
    with pytest.raises(InvalidParameterError, match="csa_mm2"):
        simulate_scene("nerve", overrides={"csa_mm2": "big"})
    with pytest.raises(InvalidParameterError, match="frames"):
        simulate_scene("nerve", frames=0)
    with pytest.raises(InvalidParameterError, match="frequency_mhz"):
        simulate_scene("nerve", frequency_mhz=30.0)
