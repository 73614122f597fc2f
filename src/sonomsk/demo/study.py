"""The bundled demo study: its files, its manifest, and its end-to-end analysis.

``analyse_demo`` runs what a clinician's nerve study runs: automatic outlines, morphology, the
assessment against reference values, the differential, and the RESULTS with their report and
exports. ``load_demo_into_store`` puts the demo into the workstation's store (once).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import BackendUnavailableError, MeasurementError, SonomskError
from sonomsk.core.image import UltrasoundImage
from sonomsk.core.results import Measurement
from sonomsk.demo.build import DATA_DIR, MANIFEST


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / MANIFEST).read_text())
    return data


def demo_files() -> list[tuple[Path, dict[str, Any]]]:
    return [(DATA_DIR / e["file"], e) for e in manifest()["images"]]


@dataclass(frozen=True)
class AutoOutline:
    """The automatic nerve outline of one frame and the backend that made it."""

    points: np.ndarray | None
    backend: str
    note: str | None


def auto_nerve_outline(image: UltrasoundImage, *, frame: int = 0, backend: str | None = None) -> AutoOutline:
    """The largest automatically segmented nerve of a frame (demo images show one nerve each)."""
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.contours import contours_from_mask
    from sonomsk.vision.postprocess import labels_from_probabilities

    b = get_backend(backend or DEFAULT_BACKEND)
    labels = labels_from_probabilities(b.probabilities(image.frame(frame)), ("nerve",))
    contours = contours_from_mask(labels == 1, "nerve")
    if not contours:
        return AutoOutline(None, b.name, "no nerve found by the automatic segmentation")
    best = max(contours, key=lambda c: c.area(spacing=None))
    return AutoOutline(np.asarray(best.points), b.name, None)


def analyse_image(
    image: UltrasoundImage, image_id: str, site: str | None, side: str | None, *, backend: str | None = None
) -> tuple[list[Any], list[Measurement], str, str | None]:
    """Structures and measurements of one transverse nerve image."""
    from sonomsk.nerve.morphology import measure_mask
    from sonomsk.report.results import Structure, StructureKind
    from sonomsk.vision.contours import Contour

    outline = auto_nerve_outline(image, backend=backend)
    if outline.points is None:
        return [], [], outline.backend, outline.note
    contour = Contour(points=outline.points, label="nerve")
    mask = contour.to_mask((image.rows, image.columns))
    if not mask.any():
        raise MeasurementError(f"{image_id}: the automatic outline encloses no pixel")
    centre = outline.points.mean(axis=0)
    try:
        spacing: tuple[float, float] | None = image.spacing_mm(row=float(centre[0]), col=float(centre[1]))
    except Exception:
        spacing = None
    sid = f"{image_id}-nerve"
    context = {
        "site": site,
        "side": side,
        "frame": 0,
        "image": image_id,
        "structure": sid,
        "structure_kind": "nerve",
    }
    measurements = measure_mask(
        mask,
        image.grey_frame(0),
        spacing=spacing,
        structure="nerve",
        backend=outline.backend,
        context=context,
    )
    structure = Structure(
        id=sid,
        image=image_id,
        label="nerve",
        kind=StructureKind.NERVE,
        contour=tuple((float(r), float(c)) for r, c in outline.points),
        site=site,
        side=side,
    )
    return [structure], list(measurements), outline.backend, outline.note


def analyse_demo(
    out_dir: Path, *, backend: str | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Path]:
    """Analyse the demo study end to end and write results.json, report.html/.pdf, SR, SEG, FHIR, CSV."""
    import sonomsk
    from sonomsk.report import api
    from sonomsk.report.assemble import NerveImageAnalysis, assemble_study
    from sonomsk.report.results import ImageRef, MethodVersion, Patient, Study

    out_dir.mkdir(parents=True, exist_ok=True)
    m = manifest()
    analyses = []
    notes: list[str] = []
    for i, (path, entry) in enumerate(demo_files(), start=1):
        if progress:
            progress(f"analysing {path.name}")
        image = sonomsk.read(path)
        image_id = f"img{i}"
        spacing = image.spacing_mm() if image.calibrated else None
        ref = ImageRef(
            id=image_id,
            path=str(path),
            sop_instance_uid=image.provenance.sop_instance_uid,
            sop_class_uid=image.metadata.get("sop_class_uid"),
            study_uid=image.metadata.get("study_instance_uid") or m["study_uid"],
            series_uid=image.metadata.get("series_instance_uid"),
            rows=image.rows,
            cols=image.columns,
            spacing_mm=spacing,
            description=f"{entry['site']} {entry['side']}",
        )
        try:
            structures, measurements, used, note = analyse_image(
                image, image_id, entry["site"], entry["side"], backend=backend
            )
        except BackendUnavailableError as exc:
            structures, measurements, used, note = [], [], backend or "onnx-unet", str(exc)
        if note:
            notes.append(f"{path.name}: {note}")
        analyses.append(
            NerveImageAnalysis(
                image=ref,
                site=entry["site"],
                side=entry["side"],
                structures=structures,
                measurements=measurements,
                methods=(MethodVersion(name="sonomsk.nerve.morphology", version=__version__, backend=used),),
            )
        )
    notes.extend(_truth_comparison(analyses, m))
    p = m["patient"]
    results = assemble_study(
        study=Study(
            study_uid=m["study_uid"],
            description="Nerve ultrasound (synthetic demo)",
            indication="Numb right hand at night (synthetic demo)",
        ),
        patient=Patient(name=p["name"], id=p["id"], birth_date=p["birth_date"], sex=p["sex"]),
        patient_info=p,
        analyses=analyses,
    )
    outputs: dict[str, Path] = {"results": out_dir / "results.json"}
    outputs["results"].write_text(results.to_json())
    html = out_dir / "report.html"
    html.write_text(api.render_html(results))
    outputs["html"] = html
    exports: list[tuple[str, Callable[[], Any]]] = [
        ("pdf", lambda: api.render_pdf(results, out_dir / "report.pdf")),
        ("sr", lambda: api.write_sr(results, out_dir / "report_sr.dcm")),
        ("seg", lambda: api.write_seg(results, out_dir / "outlines_seg.dcm")),
        ("fhir", lambda: api.write_fhir(results, out_dir / "report_fhir.json")),
        ("csv", lambda: api.write_csv(results, out_dir / "measurements.csv")),
    ]
    for key, export in exports:
        try:
            export()
        except SonomskError as exc:  # one export failing must not hide the others
            notes.append(f"{key}: not written ({exc})")
    for key, name in (
        ("pdf", "report.pdf"),
        ("sr", "report_sr.dcm"),
        ("fhir", "report_fhir.json"),
        ("csv", "measurements.csv"),
    ):
        if (out_dir / name).exists():
            outputs[key] = out_dir / name
    segs = sorted(out_dir.glob("outlines_seg*.dcm"))
    if segs:
        outputs["seg"] = segs[0]
    if notes:
        (out_dir / "notes.txt").write_text("\n".join(notes) + "\n")
        outputs["notes"] = out_dir / "notes.txt"
    return outputs


def _truth_comparison(analyses: list[Any], m: dict[str, Any]) -> list[str]:
    """The demo is synthetic, so the automatic CSA can be checked against the simulator's truth."""
    truth = {(e["site"], e["side"]): e["truth"]["nerve"].get("csa_mm2_raster") for e in m["images"]}
    lines = ["automatic (unreviewed) nerve CSA against the simulator's truth:"]
    for a in analyses:
        measured = [x.value for x in a.measurements if x.name == "area_cross_section" and x.unit == "mm2"]
        true = truth.get((a.site, a.side))
        if not measured or true is None:
            lines.append(f"  {a.site} {a.side}: no automatic outline (truth {true} mm2)")
            continue
        got = max(measured)
        lines.append(
            f"  {a.site} {a.side}: measured {got:.2f} mm2, truth {true:.2f} mm2 ({100 * (got - true) / true:+.0f} %)"
        )
    lines.append(
        "outlines are proposals: review and correct them (sonomsk serve --demo) before reading the pattern"
    )
    return lines


def load_demo_into_store(store: Any, *, actor: str = "demo") -> int:
    """Import the demo images into a store (idempotent); returns the number of demo images."""
    from sonomsk.store.repository import import_file

    n = 0
    for path, entry in demo_files():
        import_file(store, path, actor=actor, original_name=path.name, site=entry["site"], side=entry["side"])
        n += 1
    return n
