"""A synthetic demo study, analysed end to end, for the report's tests, docs and demos.

:func:`build_example_study` writes calibrated ultrasound DICOMs of a nerve phantom (an ellipse of
known size) into a folder, outlines the nerve, measures its cross-sectional area from the outline
and assembles a complete :class:`~sonomsk.report.results.StudyResults` with a nerve assessment,
a differential, a muscle section and a procedure record. The reference values come with their
sources from ``data/example_study.json``; no value describes a real patient.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.results import Measurement, Method
from sonomsk.report.results import (
    ImageRef,
    MethodVersion,
    Patient,
    SignOff,
    Structure,
    StructureKind,
    Study,
    StudyResults,
)

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def example_inputs() -> dict[str, Any]:
    """The demo study's inputs and reference values (with sources) from the data file."""
    text = resources.files("sonomsk.report").joinpath("data/example_study.json").read_text("utf-8")
    return dict(json.loads(text))


def ellipse_contour(
    center: tuple[float, float], semi_axes_px: tuple[float, float], n: int = 64
) -> tuple[tuple[float, float], ...]:
    """A closed polygon (row, col) of ``n`` points on an ellipse with semi-axes (row, col) in px."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    rows = center[0] + semi_axes_px[0] * np.sin(t)
    cols = center[1] + semi_axes_px[1] * np.cos(t)
    return tuple((round(float(r), 3), round(float(c), 3)) for r, c in zip(rows, cols, strict=True))


def polygon_area_px(contour: tuple[tuple[float, float], ...]) -> float:
    """Shoelace area of a closed (row, col) polygon in px2."""
    pts = np.asarray(contour, dtype=float)
    r, c = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(r, np.roll(c, -1)) - np.dot(c, np.roll(r, -1))) / 2.0)


def _phantom(
    rows: int, cols: int, center: tuple[float, float], semi: tuple[float, float], seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    speckle = rng.rayleigh(1.0, (rows, cols))
    rr, cc = np.mgrid[0:rows, 0:cols]
    d = np.sqrt(((rr - center[0]) / semi[0]) ** 2 + ((cc - center[1]) / semi[1]) ** 2)
    tissue = 70.0 + 20.0 * np.sin(rr / 9.0)
    tissue = np.where(d < 1.0, 35.0, tissue)  # hypoechoic fascicles
    tissue = np.where((d >= 1.0) & (d < 1.15), 170.0, tissue)  # bright epineurium
    return np.clip(tissue * speckle * 0.8, 0, 255).astype(np.uint8)


def build_example_study(folder: str | os.PathLike[str], *, seed: int = 0) -> StudyResults:
    """Write the demo DICOMs into ``folder`` and return the analysed study's RESULTS.

    Parameters
    ----------
    folder
        An existing, writable folder for ``wrist.dcm`` and ``forearm.dcm``.
    seed
        Seed of the speckle of the phantom images.
    """
    from pydicom.uid import generate_uid

    from sonomsk.core.image import UltrasoundImage, whole_image_region
    from sonomsk.io.dicom_write import write_dicom

    spec = example_inputs()
    out = Path(folder)
    spacing = (float(spec["spacing_mm"][0]), float(spec["spacing_mm"][1]))
    study_uid, series_uid = generate_uid(), generate_uid()
    today = _dt.date.today().isoformat()
    rows, cols = 240, 320
    images, structures, measurements = [], [], []
    csa: dict[str, float] = {}
    for k, site in enumerate(spec["nerve_sites"]):
        semi_px = (site["semi_axes_mm"][0] / spacing[0], site["semi_axes_mm"][1] / spacing[1])
        center = (rows * 0.45, cols * 0.5)
        pixels = _phantom(rows, cols, center, semi_px, seed + k)
        image = UltrasoundImage.from_array(pixels, regions=(whole_image_region(rows, cols, spacing),))
        sop_uid = generate_uid()
        path = out / f"{site['site']}.dcm"
        write_dicom(
            image,
            path,
            PatientName=spec["patient"]["name"],
            PatientID=spec["patient"]["id"],
            PatientBirthDate=spec["patient"]["birth_date"].replace("-", ""),
            PatientSex=spec["patient"]["sex"],
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series_uid,
            SOPInstanceUID=sop_uid,
            InstanceNumber=k + 1,
            SeriesDescription=spec["study"]["description"],
            StudyDescription=spec["study"]["description"],
        )
        image_id = f"img{k + 1}"
        images.append(
            ImageRef(
                id=image_id,
                path=str(path),
                sop_instance_uid=sop_uid,
                sop_class_uid=US_IMAGE_STORAGE,
                study_uid=study_uid,
                series_uid=series_uid,
                rows=rows,
                cols=cols,
                spacing_mm=spacing,
                description=f"{site['nerve']} nerve, {site['site']}, {site['side']}",
            )
        )
        contour = ellipse_contour(center, semi_px)
        sid = f"{site['nerve']}-{site['site']}-{site['side']}"
        structures.append(
            Structure(
                id=sid,
                image=image_id,
                label=f"{site['nerve']} nerve",
                kind=StructureKind.NERVE,
                contour=contour,
                site=site["site"],
                side=site["side"],
            )
        )
        area = polygon_area_px(contour) * spacing[0] * spacing[1]
        csa[site["site"]] = round(area, 3)
        measurements.append(
            Measurement(
                name="area_cross_section",
                value=round(area, 3),
                unit="mm2",
                method=Method(function="sonomsk.report.example.polygon_area_px", version=__version__),
                label=f"{site['nerve']} nerve",
                context={
                    "site": site["site"],
                    "side": site["side"],
                    "frame": 0,
                    "image": image_id,
                    "structure": sid,
                },
            )
        )
    return StudyResults(
        study=Study(study_uid=study_uid, accession="DEMO-ACC-1", date=today, **spec["study"]),
        patient=Patient(**spec["patient"]),
        images=tuple(images),
        structures=tuple(structures),
        measurements=tuple(measurements),
        nerve_assessment=_assessment(spec, csa),
        differential=spec["differential"],
        muscle={
            "threshold": spec["muscle_threshold"],
            "muscles": spec["muscles"],
            "note": "synthetic demo values",
        },
        procedure=spec["procedure"],
        methods=(
            MethodVersion(name="sonomsk", version=__version__),
            MethodVersion(
                name="sonomsk.report.example.polygon_area_px",
                version=__version__,
                note="area of the drawn outline (shoelace) times the pixel area",
            ),
        ),
        signoff=SignOff(),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        software_version=__version__,
    )


def _assessment(spec: dict[str, Any], csa: dict[str, float]) -> dict[str, Any]:
    """A nerve assessment in the shape ``sonomsk nerve assess`` is expected to give."""
    rows = []
    for site in spec["nerve_sites"]:
        ref = spec["reference"][f"{site['nerve']} {site['site']}"]
        limit = ref["mean"] + 2.0 * ref["sd"]
        value = csa[site["site"]]
        rows.append(
            {
                "nerve": site["nerve"],
                "site": site["site"],
                "side": site["side"],
                "csa": round(value, 2),
                "unit": "mm2",
                "limit": round(limit, 2),
                "limit_kind": ref["limit_kind"],
                "source": ref["source"],
                "evidence": ref["evidence"],
                "ratio": round(value / limit, 2),
                "z": round((value - ref["mean"]) / ref["sd"], 2),
                "status": "enlarged" if value > limit else "normal",
            }
        )
    wfr = csa["wrist"] / csa["forearm"]
    wl = spec["wfr_limit"]
    index = {
        "name": "wrist_forearm_ratio",
        "value": round(wfr, 2),
        "unit": "1",
        "limit": wl["value"],
        "source": wl["source"],
        "evidence": wl["evidence"],
        "caveat": wl["caveat"],
        "status": "abnormal" if wfr > wl["value"] else "normal",
    }
    enlarged = [r["site"] for r in rows if r["status"] == "enlarged"]
    return {
        "measurements": rows,
        "indices": [index],
        "pattern": "focal" if len(enlarged) == 1 else ("none" if not enlarged else "multifocal"),
        "explanation": (
            f"Median nerve enlarged at: {', '.join(enlarged) or 'no site'}; "
            f"wrist-to-forearm ratio {wfr:.2f} (limit {wl['value']}, [B])."
        ),
    }
