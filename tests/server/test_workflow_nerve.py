"""The nerve workflow through the web API: sites, click outline, correction, assessment."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from sonomsk.server.app import create_app
from sonomsk.server.workflow_nerve import choose_csa, resample_outline
from sonomsk.store.db import Store


def require_dicom_reader() -> None:
    """Skip when ``sonomsk.read`` cannot read DICOM yet (the reader module is not installed)."""
    if importlib.util.find_spec("sonomsk.io.dicom") is None:
        pytest.skip("the DICOM reader sonomsk.io.dicom is not installed: uploaded DICOM files cannot be read")


SPACING = 0.05859375  # mm per px of the simulator's default 30 mm / 512 px field


def square_outline(row: float, col: float, csa_mm2: float) -> list[list[float]]:
    """A square outline of ``csa_mm2`` centred on (row, col) at the simulator's SPACING."""
    half = (csa_mm2 / SPACING**2) ** 0.5 / 2
    return [
        [row - half, col - half],
        [row - half, col + half],
        [row + half, col + half],
        [row + half, col - half],
    ]


def simulated_nerve_dicom(
    path: Path,
    *,
    csa_mm2: float,
    seed: int,
    patient_id: str = "NERVE1",
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
) -> dict[str, Any]:
    """A calibrated DICOM of a simulated transverse nerve; returns the nerve's truth."""
    from sonomsk.io.dicom_write import write_dicom
    from sonomsk.simulate.api import simulate_scene

    image, truth = simulate_scene(
        "nerve", seed=seed, overrides={"vary": False, "csa_mm2": csa_mm2, "artery": False}
    )
    write_dicom(
        image,
        path,
        PatientID=patient_id,
        PatientName="Nerve^Test",
        PatientSex="F",
        StudyInstanceUID=study_uid,
        StudyDescription="nerve study",
    )
    nerve = next(s for s in truth.structures if s["name"] == "nerve")
    return nerve


@pytest.fixture()
def client(store: Store) -> TestClient:
    return TestClient(create_app(store), raise_server_exceptions=False)


def _upload(client: TestClient, path: Path) -> dict[str, Any]:
    r = client.post("/api/upload", files={"file": (path.name, path.read_bytes(), "application/dicom")})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture()
def two_sides(client: TestClient, tmp_path: Path) -> dict[str, Any]:
    require_dicom_reader()
    right = simulated_nerve_dicom(tmp_path / "right.dcm", csa_mm2=16.0, seed=1)
    left = simulated_nerve_dicom(tmp_path / "left.dcm", csa_mm2=9.0, seed=2)
    r = _upload(client, tmp_path / "right.dcm")
    lft = _upload(client, tmp_path / "left.dcm")
    assert r["study_id"] == lft["study_id"]
    return {
        "study": r["study_id"],
        "right": r["instance_id"],
        "left": lft["instance_id"],
        "truth": (right, left),
    }


def test_sites_vocabulary(client: TestClient) -> None:
    body = client.get("/api/workflows/nerve/sites").json()
    names = [s["name"] for s in body["sites"]]
    assert "median_wrist" in names and body["sides"] == ["left", "right"]
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/workflows/nerve/structures/{structure_id}/points" in paths
    assert "/api/workflows/report/reports/{report_id}/send" in paths


def test_assign_site_and_reject_unknown(client: TestClient, two_sides: dict[str, Any]) -> None:
    iid = two_sides["right"]
    r = client.put(f"/api/workflows/nerve/instances/{iid}/site", json={"site": "median_wrist", "side": "R"})
    assert r.status_code == 200 and r.json() == {
        "instance_id": iid,
        "site": "median_wrist",
        "side": "right",
        "level": None,
        "trunk": None,
    }
    inst = client.get(f"/api/instances/{iid}").json()
    assert (inst["site"], inst["side"]) == ("median_wrist", "right")
    bad = client.put(
        f"/api/workflows/nerve/instances/{iid}/site", json={"site": "median_knee", "side": "right"}
    )
    assert bad.status_code == 422 and "site" in bad.json()["detail"]
    assert client.put("/api/workflows/nerve/instances/999/site", json={"site": None}).status_code == 404


def test_click_outline_correct_and_recompute(client: TestClient, two_sides: dict[str, Any]) -> None:
    iid = two_sides["right"]
    truth = two_sides["truth"][0]
    row, col = truth["centroid_px"]
    r = client.post(f"/api/workflows/nerve/instances/{iid}/outline", json={"row": row, "col": col})
    assert r.status_code == 200, r.text
    analysis = r.json()
    csa = next(m for m in analysis["measurements"] if m["name"] == "area_cross_section")
    assert csa["unit"] == "mm2" and csa["value"] > 0
    structure = analysis["structures"][0]
    assert len(structure["points"]) >= 16
    # the outline lies around the click
    pts = np.asarray(structure["points"])
    assert abs(pts[:, 0].mean() - row) < 15 and abs(pts[:, 1].mean() - col) < 15

    # correct it to an exact square of 60 x 60 px around the click: every measure is recomputed
    r0, c0 = round(row) - 30, round(col) - 30
    square = [[r0, c0], [r0, c0 + 60], [r0 + 60, c0 + 60], [r0 + 60, c0]]
    put = client.put(f"/api/workflows/nerve/structures/{structure['id']}/points", json={"points": square})
    assert put.status_code == 200, put.text
    after = put.json()
    new = next(m for m in after["measurements"] if m["name"] == "area_cross_section")
    assert new["auto_value"] == pytest.approx(csa["value"])  # the automatic value is kept
    assert new["corrected_value"] == pytest.approx(60 * 60 * SPACING**2, rel=0.05)
    assert new["value"] == new["corrected_value"] and new["corrected_by"] == "local"
    perim = next(m for m in after["measurements"] if m["name"] == "perimeter")
    assert perim["corrected_value"] == pytest.approx(4 * 60 * SPACING, rel=0.06)
    assert after["structures"][0]["corrected_points"] == square
    assert after["structures"][0]["auto_points"] == structure["auto_points"]


def test_correction_rejects_bad_points(client: TestClient, two_sides: dict[str, Any]) -> None:
    iid = two_sides["right"]
    row, col = two_sides["truth"][0]["centroid_px"]
    sid = client.post(f"/api/workflows/nerve/instances/{iid}/outline", json={"row": row, "col": col}).json()[
        "structures"
    ][0]["id"]
    url = f"/api/workflows/nerve/structures/{sid}/points"
    assert client.put(url, json={"points": [[1, 1], [2, 2]]}).status_code == 422
    outside = client.put(url, json={"points": [[1, 1], [1, 900], [50, 50]]})
    assert outside.status_code == 422 and "points[1]" in outside.json()["detail"]
    assert (
        client.put(
            "/api/workflows/nerve/structures/999/points", json={"points": [[1, 1], [1, 5], [5, 5]]}
        ).status_code
        == 404
    )


def test_click_outside_image_is_refused(client: TestClient, two_sides: dict[str, Any]) -> None:
    r = client.post(
        f"/api/workflows/nerve/instances/{two_sides['right']}/outline", json={"row": -5, "col": 10}
    )
    assert r.status_code == 422 and "row, col" in r.json()["detail"]


def test_box_outline_is_stored_and_measured(client: TestClient, two_sides: dict[str, Any]) -> None:
    iid = two_sides["right"]
    truth = two_sides["truth"][0]
    row, col = truth["centroid_px"]
    half_w, half_h = (a / SPACING for a in truth["semi_axes_mm"])  # angle 0: the long axis across
    box = {"top": row - half_h, "left": col - half_w, "bottom": row + half_h, "right": col + half_w}
    r = client.post(f"/api/workflows/nerve/instances/{iid}/outline-box", json=box)
    assert r.status_code == 200, r.text
    analysis = r.json()
    assert analysis["result"]["source"] == "box"
    if _interactive_model_available():
        assert analysis["result"]["method"] == "refinement_window"
    csa = next(m for m in analysis["measurements"] if m["name"] == "area_cross_section")
    assert csa["unit"] == "mm2"
    if _interactive_model_available():  # the classical fallback outlines the nerve less exactly
        assert csa["value"] == pytest.approx(truth["csa_mm2_raster"], rel=0.1)
    pts = np.asarray(analysis["structures"][0]["points"])
    assert abs(pts[:, 0].mean() - row) < 10 and abs(pts[:, 1].mean() - col) < 10
    assert (
        pts[:, 0].min() >= box["top"] - 0.1 * 2 * half_h - 1
        and pts[:, 1].max() <= box["right"] + 0.1 * 2 * half_w + 1
    )
    listed = client.get(f"/api/studies/{two_sides['study']}").json()["analyses"]
    assert any(a["id"] == analysis["id"] for a in listed)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ({"top": 50, "left": 50, "bottom": 10, "right": 90}, "top <= bottom"),
        ({"top": 900, "left": 900, "bottom": 950, "right": 950}, "at least 3 x 3"),
        ({"top": 10, "left": 10, "bottom": 40}, "right"),
        ({"top": -1e300, "left": -1e300, "bottom": 1e300, "right": 1e300}, "mostly inside"),
        ({"top": True, "left": 10, "bottom": 40, "right": 40}, "boolean"),
        ({"top": "10", "left": 10, "bottom": 40, "right": 40, "frame": 3}, "frame"),
    ],
)
def test_bad_box_is_refused(
    client: TestClient, two_sides: dict[str, Any], box: dict[str, Any], message: str
) -> None:
    r = client.post(f"/api/workflows/nerve/instances/{two_sides['right']}/outline-box", json=box)
    assert r.status_code == 422 and message in str(r.json()["detail"])
    listed = client.get(f"/api/studies/{two_sides['study']}").json()["analyses"]
    assert not listed  # nothing was stored


def _interactive_model_available() -> bool:
    from sonomsk.vision.backends import get_backend

    return bool(get_backend("onnx-unet").is_available())


def test_segment_endpoint_answers(client: TestClient, two_sides: dict[str, Any]) -> None:
    r = client.post(f"/api/workflows/nerve/instances/{two_sides['right']}/segment", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["backend"] in ("onnx-unet", "classical")
    if not body["analyses"]:
        assert "click inside the nerve" in body["note"]
    for a in body["analyses"]:
        assert any(m["name"] == "area_cross_section" and m["unit"] == "mm2" for m in a["measurements"])


def test_assessment_uses_corrected_csa_and_ranks_differential(
    client: TestClient, two_sides: dict[str, Any]
) -> None:
    study, right, left = two_sides["study"], two_sides["right"], two_sides["left"]
    base = "/api/workflows/nerve"
    nothing = client.post(f"{base}/studies/{study}/assess", json={})
    assert nothing.status_code == 422 and "no calibrated nerve CSA" in nothing.json()["detail"]
    assert client.get(f"{base}/studies/{study}/assessment").status_code == 404
    for iid, side, truth in ((right, "right", two_sides["truth"][0]), (left, "left", two_sides["truth"][1])):
        client.put(f"{base}/instances/{iid}/site", json={"site": "median_wrist", "side": side})
        row, col = truth["centroid_px"]
        a = client.post(f"{base}/instances/{iid}/outline", json={"row": row, "col": col}).json()
        # correct each outline to a square whose area is known: 18 mm2 right, 8 mm2 left
        target = 18.0 if side == "right" else 8.0
        half = (target / SPACING**2) ** 0.5 / 2
        sq = [
            [row - half, col - half],
            [row - half, col + half],
            [row + half, col + half],
            [row + half, col - half],
        ]
        assert (
            client.put(
                f"{base}/structures/{a['structures'][0]['id']}/points", json={"points": sq}
            ).status_code
            == 200
        )

    table = client.get(f"{base}/studies/{study}/csa").json()
    assert all(r["usable"] and r["corrected"] for r in table)
    r = client.post(f"{base}/studies/{study}/assess", json={"patient": {"age": 50, "sex": "F"}})
    assert r.status_code == 200, r.text
    body = r.json()
    csa = {(m["site"], m["side"]): m["csa_mm2"] for m in body["assessment"]["measurements"]}
    assert csa[("median_wrist", "right")] == pytest.approx(18.0, rel=0.04)
    assert csa[("median_wrist", "left")] == pytest.approx(8.0, rel=0.06)
    judged = {(m["site"], m["side"]): m for m in body["assessment"]["measurements"]}
    uln = judged[("median_wrist", "right")]["limit"]["uln_mm2"]
    assert csa[("median_wrist", "left")] < uln < csa[("median_wrist", "right")]  # the scenario's premise
    assert judged[("median_wrist", "right")]["status"] == "enlarged"
    assert judged[("median_wrist", "left")]["status"] == "normal"
    from sonomsk.reference.loader import citation_short

    right_row = next(p for p in body["profile"] if p["side"] == "right")
    lim = judged[("median_wrist", "right")]["limit"]
    assert right_row["uln"] == lim["uln_mm2"] and right_row["source"].startswith(
        citation_short(lim["source"])
    )
    assert {p["side"] for p in body["profile"]} == {"left", "right"} and all(
        p["uln"] for p in body["profile"]
    )
    diff = body["differential"]
    assert diff["intended_use"].startswith("Decision support")
    assert diff["inputs"]["median_enlarged_carpal_tunnel"]["state"] == "present"
    assert "carpal" in diff["candidates"][0]["name"].lower()
    stored = client.get(f"{base}/studies/{study}/assessment").json()
    assert (
        stored["analysis_id"] == body["analysis_id"]
        and stored["assessment"]["pattern"] == body["assessment"]["pattern"]
    )


def test_contralateral(client: TestClient, two_sides: dict[str, Any]) -> None:
    base = "/api/workflows/nerve"
    right, left = two_sides["right"], two_sides["left"]
    assert client.get(f"{base}/instances/{right}/contralateral").status_code == 422  # no site yet
    client.put(f"{base}/instances/{right}/site", json={"site": "ulnar_elbow", "side": "right"})
    assert client.get(f"{base}/instances/{right}/contralateral").status_code == 404
    client.put(f"{base}/instances/{left}/site", json={"site": "ulnar_elbow", "side": "left"})
    assert client.get(f"{base}/instances/{right}/contralateral").json()["instance_id"] == left
    assert client.get(f"{base}/instances/{left}/contralateral").json()["instance_id"] == right


def test_resample_outline_keeps_area() -> None:
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    circle = np.stack([100 + 30 * np.sin(t), 120 + 30 * np.cos(t)], axis=1)
    pts = np.asarray(resample_outline(circle))
    assert 16 <= len(pts) <= 64
    r, c = pts[:, 0], pts[:, 1]
    area = abs(np.dot(r, np.roll(c, 1)) - np.dot(c, np.roll(r, 1))) / 2
    assert area == pytest.approx(np.pi * 30**2, rel=0.01)


def test_choose_csa_takes_largest_usable() -> None:
    rows = [
        {"instance_id": 1, "site": "median_wrist", "side": "right", "csa": 10.0, "usable": True},
        {"instance_id": 2, "site": "median_wrist", "side": "right", "csa": 12.5, "usable": True},
        {"instance_id": 3, "site": "median_wrist", "side": "left", "csa": 99.0, "usable": False},
    ]
    chosen = choose_csa(rows)
    assert len(chosen) == 1 and chosen[0].csa == 12.5 and chosen[0].instances == [1, 2]


def test_assessment_output_feeds_the_differential_directly() -> None:
    from sonomsk.knowledge.differential import rank
    from sonomsk.nerve.assess import assess

    a = assess(
        {
            "patient": {"age": 50},
            "measurements": [
                {"site": "median_wrist", "side": "right", "csa_mm2": 15.0},
                {"site": "median_forearm", "side": "right", "csa_mm2": 7.0},
                {"site": "fibular_head", "side": "left", "csa_mm2": 7.0},
                {"site": "c5_root", "side": "left", "csa_mm2": 11.0},
            ],
        }
    ).to_dict()
    inputs = rank({"nerve_assessment": a}).to_dict()["inputs"]
    assert inputs["median_enlarged_carpal_tunnel"]["state"] == "present"
    assert inputs["fibular_enlarged_fibular_head"]["state"] == "absent"
    assert inputs["root_enlargement"]["state"] == "present"


class _TruthBackend:
    """A stand-in segmentation backend that answers the simulator's exact nerve mask."""

    name = "truth"

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        prob = np.zeros((3, *self.mask.shape), dtype=np.float32)
        prob[1] = self.mask
        prob[0] = 1.0 - prob[1]
        return prob


def test_automatic_outline_measures_the_segmented_nerve(monkeypatch: pytest.MonkeyPatch) -> None:
    """segment -> resampled polygon -> morphology: the CSA of an exact mask comes back within 3%."""
    from sonomsk.server.workflow_nerve import measure_outline, segment_nerves
    from sonomsk.simulate.api import simulate_scene
    from sonomsk.vision import backends

    image, truth = simulate_scene(
        "nerve", seed=4, overrides={"vary": False, "csa_mm2": 12.0, "artery": False}
    )
    nerve = next(s for s in truth.structures if s["name"] == "nerve")
    monkeypatch.setitem(backends._REGISTRY, "truth", "unused:unused")
    monkeypatch.setitem(backends._INSTANCES, "truth", _TruthBackend(truth.labels[0] == 1))
    polys, used, note = segment_nerves(image, frame=0, backend="truth")
    assert used == "truth" and note is None and len(polys) == 1
    pts = resample_outline(polys[0])
    ms = measure_outline(image, pts, frame=0, context={"site": "median_wrist"})
    (csa,) = ms.by_name("area_cross_section")
    assert csa.unit == "mm2" and csa.value == pytest.approx(nerve["area_mm2_raster"], rel=0.03)
    assert csa.context["site"] == "median_wrist" and csa.context["outline_vertices"] == len(pts)


def test_uncalibrated_outline_is_in_px() -> None:
    from sonomsk.core.image import UltrasoundImage
    from sonomsk.server.workflow_nerve import measure_outline

    grey = np.full((100, 120), 60, dtype=np.uint8)
    grey[30:70, 40:90] = 120
    image = UltrasoundImage.from_array(grey)  # no regions: no calibration
    ms = measure_outline(image, [[30, 40], [30, 90], [70, 90], [70, 40]], frame=0, context={})
    (csa,) = ms.by_name("area_cross_section")
    assert csa.unit == "px2" and csa.value == pytest.approx(40 * 50, rel=0.06)


def test_doppler_region_reaches_vascularity() -> None:
    """With a power-Doppler region the vascularity measure looks at it (not 'no Doppler region')."""
    from sonomsk.server.workflow_nerve import measure_outline
    from sonomsk.simulate.api import simulate_scene
    from sonomsk.vision.contours import Contour

    image, truth = simulate_scene("nerve", seed=1, overrides={"doppler": "power", "vary": False})
    pts = resample_outline(Contour.from_mask(truth.labels[0] == 1).points)
    (vasc,) = measure_outline(image, pts, frame=0, context={}).by_name("fraction_vascular")
    assert vasc.value is not None or "outside the Doppler region" in str(vasc.failure)
    assert "no colour/power Doppler region" not in str(vasc.failure)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"site": "median_wrist", "side": "right", "level": "foraminal"}, "no level at median_wrist"),
        ({"site": "c5_root", "side": "right", "level": "axillary"}, "'interscalene', 'foraminal'"),
        ({"site": None, "side": "right", "level": "foraminal"}, "assign a site first"),
        ({"site": "c5_root", "side": "right", "trunk": "upper"}, "only for site brachial_plexus_trunk"),
        ({"site": "brachial_plexus_trunk", "side": "right", "trunk": "posterior"}, "upper, middle, lower"),
    ],
)
def test_site_level_and_trunk_are_checked(
    client: TestClient, two_sides: dict[str, Any], body: dict[str, Any], match: str
) -> None:
    base, iid = "/api/workflows/nerve", two_sides["right"]
    ok = {"site": "c6_root", "side": "left", "level": "foraminal"}
    assert client.put(f"{base}/instances/{iid}/site", json=ok).json()["level"] == "foraminal"
    r = client.put(f"{base}/instances/{iid}/site", json=body)
    assert r.status_code == 422 and match in r.json()["detail"], r.text
    inst = next(
        i
        for se in client.get(f"/api/studies/{two_sides['study']}").json()["series"]
        for i in se["instances"]
        if i["id"] == iid
    )
    assert (inst["site"], inst["side"], inst["level"], inst["trunk"]) == (
        "c6_root",
        "left",
        "foraminal",
        None,
    )


def _outline_square(client: TestClient, iid: int, truth: dict[str, Any], csa_mm2: float) -> None:
    base = "/api/workflows/nerve"
    row, col = truth["centroid_px"]
    a = client.post(f"{base}/instances/{iid}/outline", json={"row": row, "col": col}).json()
    half = (csa_mm2 / SPACING**2) ** 0.5 / 2
    sq = [
        [row - half, col - half],
        [row - half, col + half],
        [row + half, col + half],
        [row + half, col - half],
    ]
    r = client.put(f"{base}/structures/{a['structures'][0]['id']}/points", json={"points": sq})
    assert r.status_code == 200, r.text


def test_trunk_in_the_utrecht_plane_reaches_the_goedee_criterion(
    client: TestClient, two_sides: dict[str, Any]
) -> None:
    """Decision 013: the workstation sends the image's level and trunk; only a trunk declared in
    the Utrecht protocol plane is judged by Goedee's >8 mm2 (decision 007)."""
    base, study = "/api/workflows/nerve", two_sides["study"]
    iid = two_sides["right"]
    _outline_square(client, iid, two_sides["truth"][0], 12.0)
    plain = {"site": "brachial_plexus_trunk", "side": "right", "trunk": "upper"}
    assert client.put(f"{base}/instances/{iid}/site", json=plain).status_code == 200
    first = client.post(f"{base}/studies/{study}/assess", json={}).json()
    (m,) = first["request"]["measurements"]
    assert m["trunk"] == "upper" and "level" not in m
    assert not first["assessment"]["goedee"]["met"]
    utrecht = {**plain, "level": "utrecht_protocol"}
    assert client.put(f"{base}/instances/{iid}/site", json=utrecht).status_code == 200
    stale = client.get(f"{base}/studies/{study}/assessment").json()
    assert stale["stale"] and any("upper trunk (utrecht_protocol)" in r for r in stale["stale_reasons"])
    second = client.post(f"{base}/studies/{study}/assess", json={}).json()
    (m,) = second["request"]["measurements"]
    assert (m["level"], m["trunk"]) == ("utrecht_protocol", "upper")
    goedee = second["assessment"]["goedee"]
    assert goedee["met"] and goedee["positive_sites"][0]["csa_mm2"] == pytest.approx(12.0, rel=0.05)
    (judged,) = second["assessment"]["measurements"]
    assert judged["level"] == "utrecht_protocol" and judged["trunk"] == "upper"
    # the profile table says which trunk, at which level, and that the criterion judged it
    (row,) = second["profile"]
    assert (row["trunk"], row["level"], row["status"]) == ("upper", "utrecht_protocol", "no_reference")
    assert row["criterion"] == "> 8 mm2: Goedee criterion met"
    (plain_row,) = first["profile"]
    assert plain_row["criterion"] is None


def _study_instance(client: TestClient, study: int, iid: int) -> dict[str, Any]:
    doc = client.get(f"/api/studies/{study}").json()
    return next(i for se in doc["series"] for i in se["instances"] if i["id"] == iid)


def _two_images_at(
    client: TestClient, two_sides: dict[str, Any], bodies: list[dict[str, Any]], csa: list[float]
) -> None:
    """Outline both images of ``two_sides`` as squares of ``csa`` mm2 and give them ``bodies``."""
    for iid, truth, body, area in zip(
        (two_sides["right"], two_sides["left"]), two_sides["truth"], bodies, csa, strict=True
    ):
        _outline_square(client, iid, truth, area)
        r = client.put(f"/api/workflows/nerve/instances/{iid}/site", json=body)
        assert r.status_code == 200, r.text


def test_one_site_at_two_levels_is_refused(client: TestClient, two_sides: dict[str, Any]) -> None:
    base, study = "/api/workflows/nerve", two_sides["study"]
    at = {"site": "c5_root", "side": "right"}
    _two_images_at(client, two_sides, [{**at, "level": "foraminal"}, {**at, "level": None}], [9.0, 9.0])
    r = client.post(f"{base}/studies/{study}/assess", json={})
    assert r.status_code == 422 and "c5_root right has images at 2 levels" in r.json()["detail"], r.text
    # the same level on both: one CSA, the larger, as before
    body = {"site": "c5_root", "side": "right", "level": "foraminal"}
    assert client.put(f"{base}/instances/{two_sides['left']}/site", json=body).status_code == 200
    ok = client.post(f"{base}/studies/{study}/assess", json={})
    assert ok.status_code == 200, ok.text
    (m,) = ok.json()["request"]["measurements"]
    assert m["level"] == "foraminal" and sorted(m["meta"]["instances"]) == sorted(
        [two_sides["right"], two_sides["left"]]
    )


def test_the_default_level_named_or_left_out_is_one_level(
    client: TestClient, two_sides: dict[str, Any]
) -> None:
    """Decision 013: naming a site's default level is the same as leaving it out; the two
    images are one level (one CSA, the larger), and naming it later does not make the stored
    assessment out of date."""
    base, study = "/api/workflows/nerve", two_sides["study"]
    at = {"site": "c5_root", "side": "right"}
    _two_images_at(client, two_sides, [{**at, "level": "interscalene"}, {**at, "level": None}], [9.0, 11.0])
    for iid in (two_sides["right"], two_sides["left"]):
        assert _study_instance(client, two_sides["study"], iid)["level"] is None
    ok = client.post(f"{base}/studies/{study}/assess", json={})
    assert ok.status_code == 200, ok.text
    (m,) = ok.json()["request"]["measurements"]
    assert "level" not in m and m["csa_mm2"] == pytest.approx(11.0, rel=0.05)
    assert sorted(m["meta"]["instances"]) == sorted([two_sides["right"], two_sides["left"]])
    body = {"site": "c5_root", "side": "right", "level": "interscalene"}
    assert client.put(f"{base}/instances/{two_sides['left']}/site", json=body).status_code == 200
    assert client.get(f"{base}/studies/{study}/assessment").json()["stale"] is False
    sites = client.get(f"{base}/sites").json()["sites"]
    assert next(s for s in sites if s["name"] == "c5_root")["default_level"] == "interscalene"


def test_plexus_trunk_images_with_and_without_a_trunk_are_assessed(
    client: TestClient, two_sides: dict[str, Any]
) -> None:
    """One image names its trunk, the other does not: two measurements, never a server error."""
    base, study = "/api/workflows/nerve", two_sides["study"]
    at = {"site": "brachial_plexus_trunk", "side": "right"}
    _two_images_at(client, two_sides, [{**at, "trunk": "upper"}, {**at, "trunk": None}], [9.0, 9.0])
    r = client.post(f"{base}/studies/{study}/assess", json={})
    assert r.status_code == 200, r.text
    trunks = sorted(m.get("trunk") or "" for m in r.json()["request"]["measurements"])
    assert trunks == ["", "upper"]


def test_a_blank_site_is_no_site(client: TestClient, two_sides: dict[str, Any]) -> None:
    base, iid = "/api/workflows/nerve", two_sides["right"]
    r = client.put(f"{base}/instances/{iid}/site", json={"site": "  ", "side": "right"})
    assert r.status_code == 200 and r.json()["site"] is None, r.text
