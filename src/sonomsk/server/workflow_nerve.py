"""The nerve-study workflow of the workstation: sites and sides, outlines, CSA, assessment.

Mounted at ``/api/workflows/nerve`` (see :mod:`sonomsk.server.workflows`); the browser panel is
``static/workflows/nerve.js``. Thin: it calls the public API of :mod:`sonomsk.nerve`,
:mod:`sonomsk.vision` and :mod:`sonomsk.knowledge` and stores through
:mod:`sonomsk.store.repository`.

Outlines are stored as closed polygons of [row, col] pixel points, resampled to evenly spaced
vertices along the traced boundary (so that a point can be dragged in the viewer). Every
measure, automatic or after a correction, is computed from that polygon by the same function,
so a correction changes a value only through the edit itself. The automatic value is kept; the
corrected value is stored beside it with who and when, the outline and all its measures in one
transaction (:func:`sonomsk.store.repository.correct_outline`); a measure that fails on the
corrected outline is stored as a corrected failure, never with the previous number (decision 008).

The CSA of an image is the ``area_cross_section`` of its nerve outline (the corrected value when
corrected) when it has one outline; with several, of the one the clinician chose (``accepted``:
drawn by a click or a box, corrected, or accepted); with several candidates it is unusable until
the clinician accepts or discards outlines (:func:`image_outline`, decision 008). With several
images of one site and side the largest counts (as :func:`sonomsk.nerve.assess.assess` asks for
one CSA per site and side). Uncalibrated images (px2) are listed but never assessed.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the endpoint annotations
# (request models defined inside build_router) at definition time.

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import (
    BackendUnavailableError,
    ConflictError,
    InvalidParameterError,
    MeasurementError,
    StoreError,
)
from sonomsk.core.results import MeasurementSet
from sonomsk.store.db import Store

KIND_OUTLINE = "nerve_morphology"
KIND_ASSESSMENT = "nerve_assessment"
KIND_WITHDRAWN = "nerve_assessment_withdrawn"  # the clinician withdrew the assessments before it
METHOD_VERSION = f"sonomsk {__version__} workflow_nerve 1"
#: Vertices of a stored outline: one per this many px of perimeter, within the bounds below.
OUTLINE_PX_PER_VERTEX = 4.0
OUTLINE_MIN_VERTICES = 16
OUTLINE_MAX_VERTICES = 256
#: Outlines the clinician drew (``result.source``): stored as ``accepted``.
MANUAL_SOURCES = ("click", "box")


# --------------------------------------------------------------------------- image helpers


def resample_outline(points: np.ndarray) -> list[list[float]]:
    """Evenly spaced vertices (by arc length) along a closed (row, col) polygon."""
    pts = np.asarray(points, dtype=np.float64)
    closed = np.vstack([pts, pts[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    total = float(seg.sum())
    if total <= 0:
        raise MeasurementError("outline: degenerate (zero perimeter)")
    n = int(np.clip(round(total / OUTLINE_PX_PER_VERTEX), OUTLINE_MIN_VERTICES, OUTLINE_MAX_VERTICES))
    n = min(n, len(pts)) if len(pts) >= 3 else 3
    s = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, total, n, endpoint=False)
    rows = np.interp(targets, s, closed[:, 0])
    cols = np.interp(targets, s, closed[:, 1])
    return [[round(float(r), 2), round(float(c), 2)] for r, c in zip(rows, cols, strict=True)]


def _interactive() -> Any:
    """:mod:`sonomsk.nerve.interactive` when installed (it is optional here), else None."""
    import importlib.util

    if importlib.util.find_spec("sonomsk.nerve.interactive") is None:
        return None
    return importlib.import_module("sonomsk.nerve.interactive")


def measure_outline(
    image: Any, points: list[list[float]], *, frame: int, context: dict[str, Any]
) -> MeasurementSet:
    """Every morphology measure of the nerve inside the (row, col) polygon ``points``.

    Measured by :func:`sonomsk.nerve.interactive.measure_contour` (area and perimeter from the
    polygon itself, the other measures from its pixels).
    """
    from sonomsk.nerve.interactive import measure_contour
    from sonomsk.vision.contours import Contour

    contour = Contour(points=np.asarray(points, dtype=np.float64), label="nerve")
    ms = measure_contour(image, contour, structure="nerve", frame=frame)
    extra = {**context, "frame": frame, "outline_vertices": len(points)}
    return MeasurementSet(
        measurements=tuple(dataclasses.replace(m, context={**m.context, **extra}) for m in ms.measurements),
        findings=ms.findings,
        source=ms.source,
        analysis=ms.analysis or "nerve_morphology",
    )


def segment_nerves(
    image: Any, *, frame: int, backend: str | None
) -> tuple[list[np.ndarray], str, str | None]:
    """Automatic nerve outlines of one frame: (polygons (N, 2) row/col, backend used, note)."""
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.contours import contours_from_mask
    from sonomsk.vision.postprocess import labels_from_probabilities

    name = backend or DEFAULT_BACKEND
    note = None
    try:
        b = get_backend(name)
    except BackendUnavailableError as exc:
        if backend is not None:
            raise
        b = get_backend("classical")
        note = f"{exc}; used the classical fallback, which does not find nerves: click inside the nerve, or drag a box around it, to outline it"
    labels = labels_from_probabilities(b.probabilities(image.frame(frame)), ("nerve",))
    polys = [c.points for c in contours_from_mask(labels == 1, "nerve") if c.area(spacing=None) >= 9]
    return polys, b.name, note


def outline_click(image: Any, row: float, col: float, *, frame: int) -> tuple[np.ndarray, str, str | None]:
    """The outline of the nerve under a click: (N, 2) row/col polygon, the rule of decision 004
    that drew it, and a warning for the clinician (the model sees a vessel there) or None."""
    if not (0 <= row < image.rows and 0 <= col < image.columns):
        raise InvalidParameterError(
            f"row, col: expected a pixel inside {image.rows} x {image.columns}, got ({row:.1f}, {col:.1f})"
        )
    click_outline = getattr(_interactive(), "click_outline", None)
    if click_outline is not None:
        found = click_outline(image, int(row), int(col), frame=frame)
        return np.asarray(found.contour.points), found.method, found.note
    from sonomsk.vision.classical import outline_classical
    from sonomsk.vision.contours import Contour

    mask = outline_classical(image.grey_frame(frame), int(row), int(col))
    return np.asarray(Contour.from_mask(mask, "nerve").points), "classical", None


def outline_box(image: Any, box: tuple[float, float, float, float], *, frame: int) -> tuple[np.ndarray, str]:
    """The outline of the nerve in a box (top, left, bottom, right px) drawn around it: (N, 2)
    row/col polygon and the rule of decision 005 that drew it."""
    from sonomsk.nerve.interactive import outline_in_box

    found = outline_in_box(image, *box, frame=frame)
    return np.asarray(found.contour.points), found.method


def canonical_level(site: str | None, level: str | None) -> str | None:
    """``level`` as the workstation keeps it: None for the site's default level, whether it was
    left out or named, so that one level is never counted as two (decision 013)."""
    from sonomsk.nerve.sites import default_level

    if not site or not level:
        return None
    try:
        return None if level == default_level(site) else level
    except InvalidParameterError:  # an unknown site: the level stays as given and is refused later
        return level


def site_detail(site: str | None, level: str | None, trunk: str | None) -> tuple[str | None, str | None]:
    """The checked (level, trunk) of an image at ``site``: a level only where the site has
    several (None: the site's default level), a trunk only at ``brachial_plexus_trunk``."""
    from sonomsk.nerve.assess_model import TRUNKS
    from sonomsk.reference.nerve_csa import check_level

    level = level.strip().lower() if level and level.strip() else None
    trunk = trunk.strip().lower() if trunk and trunk.strip() else None
    if level is not None:
        if site is None:
            raise InvalidParameterError("level: assign a site first")
        check_level(site, level)
    if trunk is not None:
        if site != "brachial_plexus_trunk":
            raise InvalidParameterError(f"trunk: only for site brachial_plexus_trunk, got site {site}")
        if trunk not in TRUNKS:
            raise InvalidParameterError(f"trunk: expected one of {', '.join(TRUNKS)}, got {trunk!r}")
    return canonical_level(site, level), trunk


# --------------------------------------------------------------------------- store helpers


def _instance(session: Any, instance_id: int) -> Any:
    from sonomsk.store.models import Instance

    inst = session.get(Instance, instance_id)
    if inst is None:
        raise StoreError(f"instance {instance_id}: not found")
    return inst


def _check_frame(frame: int, n: int) -> int:
    if not 0 <= frame < n:
        raise InvalidParameterError(f"frame: expected 0..{n - 1}, got {frame}")
    return frame


def _load(request: Any, store: Store, instance_id: int, frame: int) -> tuple[Any, dict[str, Any]]:
    with store.sessions() as session:
        inst = _instance(session, instance_id)
        _check_frame(frame, inst.frames)
        info = {"instance": inst.id, "study_id": inst.series.study_id, "site": inst.site, "side": inst.side}
        sha = inst.sha256
    return request.app.state.load_image(sha), info


def _measure_and_record(
    store: Store,
    image: Any,
    info: dict[str, Any],
    poly: np.ndarray,
    *,
    frame: int,
    source: str,
    backend: str | None,
    actor: str,
    method: str | None = None,
    note: str | None = None,
) -> int:
    """Resample a new outline, measure it and store both; the analysis id. An outline the
    clinician drew (a click or a box) is stored as ``accepted``: the clinician chose it."""
    from sonomsk.store.repository import record_analysis

    points = resample_outline(poly)
    return record_analysis(
        store,
        study_id=info["study_id"],
        instance_id=info["instance"],
        kind=KIND_OUTLINE,
        method_version=METHOD_VERSION,
        measurements=measure_outline(image, points, frame=frame, context={**info, "source": source}),
        structures=[
            {
                "label": "nerve",
                "kind": "nerve",
                "frame": frame,
                "points": points,
                "accepted": source in MANUAL_SOURCES,
            }
        ],
        result={
            "source": source,
            "backend": backend,
            **({"method": method} if method else {}),
            **({"note": note} if note else {}),
            "frame": frame,
            "site": info["site"],
            "side": info["side"],
        },
        actor=actor,
    )


def _replace_automatic_outlines(store: Store, instance_id: int, frame: int, *, actor: str) -> int:
    """Discard the automatic outlines of one frame that nobody accepted or corrected, before the
    automatic segmentation runs again (a second run would otherwise add duplicates, and the
    image's CSA would wait for a choice between identical outlines). Returns how many."""
    from sqlalchemy import select

    from sonomsk.store.models import Analysis
    from sonomsk.store.repository import discard_outline

    with store.sessions() as session:
        stale = [
            s.id
            for a in session.scalars(
                select(Analysis).where(Analysis.instance_id == instance_id, Analysis.kind == KIND_OUTLINE)
            ).all()
            if (a.result or {}).get("source") == "auto"
            for s in a.structures
            if s.frame == frame and not s.accepted and s.corrected_points is None
        ]
    for sid in stale:
        discard_outline(store, int(sid), kind=KIND_OUTLINE, actor=actor)
    return len(stale)


def _analysis(store: Store, analysis_id: int) -> dict[str, Any]:
    from sonomsk.server.views import _analysis_dict
    from sonomsk.store.models import Analysis

    with store.sessions() as session:
        a = session.get(Analysis, analysis_id)
        if a is None:
            raise StoreError(f"analysis {analysis_id}: not found")
        return _analysis_dict(a)


def image_outline(analyses: list[Any]) -> tuple[Any | None, str | None]:
    """The nerve outline analysis whose CSA is the image's, of all of the image's ``analyses``
    of :data:`KIND_OUTLINE`: (analysis, None), or (None, why none is).

    One outline: it. Several: the one whose outline the clinician chose (``accepted``: drawn
    by a click or a box, corrected, or accepted). Never the last stored: with several
    candidates (none or more than one accepted) the image has no CSA until the clinician
    accepts or discards outlines.
    """
    if not analyses:
        return None, "no nerve outline"
    if len(analyses) == 1:
        return analyses[0], None
    chosen = [a for a in analyses if any(s.accepted for s in a.structures)]
    if len(chosen) == 1:
        return chosen[0], None
    n = len(chosen) or len(analyses)
    return None, f"{n} nerve outlines on this image: accept or discard one"


def csa_table(store: Store, study_id: int) -> list[dict[str, Any]]:
    """One row per image: its CSA (corrected when corrected) from :func:`image_outline`."""
    from sqlalchemy import select

    from sonomsk.store.models import Analysis, Study

    rows = []
    with store.sessions() as session:
        study = session.get(Study, study_id)
        if study is None:
            raise StoreError(f"study {study_id}: not found")
        for se in study.series:
            for inst in se.instances:
                outlines = list(
                    session.scalars(
                        select(Analysis)
                        .where(Analysis.instance_id == inst.id, Analysis.kind == KIND_OUTLINE)
                        .order_by(Analysis.id)
                    ).all()
                )
                a, why = image_outline(outlines)
                m = next((x for x in a.measurements if x.name == "area_cross_section"), None) if a else None
                row: dict[str, Any] = {
                    "instance_id": inst.id,
                    "label": inst.original_name,
                    "site": inst.site,
                    "side": inst.side,
                    "level": inst.level,
                    "trunk": inst.trunk,
                    "analysis_id": a.id if a else None,
                    "structure_id": a.structures[0].id if a and a.structures else None,
                    "outlines": len(outlines),
                    "csa": m.value if m else None,
                    # the automatic value of a correction stored apart in other units (its
                    # outline left the calibrated region) is the outline's it corrects (ws15d N1)
                    "auto_csa": _automatic_value(m)["value"] if m else None,
                    "auto_unit": _automatic_value(m)["unit"] if m else None,
                    "unit": m.unit if m else None,
                    "corrected": bool(
                        m and (m.corrected_value is not None or m.corrected_failure is not None)
                    ),
                }
                row["usable"], row["reason"] = _usable(row, m, why)
                rows.append(row)
    return rows


def _usable(row: dict[str, Any], m: Any, why: str | None = None) -> tuple[bool, str | None]:
    if not row["site"] or not row["side"]:
        return False, "no site/side assigned"
    if why is not None:
        return False, why
    if m is None:
        return False, "no nerve outline"
    if m.value is None:
        return False, f"CSA failed: {m.failure}"
    if m.unit != "mm2":
        why_px = (m.data or {}).get("context", {}).get("uncalibrated_reason") or "uncalibrated image"
        return False, f"{why_px}: CSA in {m.unit}, not comparable with reference values"
    return True, None


@dataclasses.dataclass
class _Chosen:
    site: str
    side: str
    csa: float
    instances: list[int]
    level: str | None = None
    trunk: str | None = None

    def request_item(self) -> dict[str, Any]:
        """The measurement as ``sonomsk.nerve.assess`` takes it (level and trunk only when set)."""
        item: dict[str, Any] = {"site": self.site, "side": self.side, "csa_mm2": round(self.csa, 3)}
        if self.level:
            item["level"] = self.level
        if self.trunk:
            item["trunk"] = self.trunk
        return item


def choose_csa(rows: list[dict[str, Any]]) -> list[_Chosen]:
    """One CSA per (site, side, level, trunk): the largest over the usable images of it (sorted by
    site, side, then level and trunk). Images of one site and side at two levels stay apart
    (their limits differ); :func:`check_one_level` refuses them before an assessment."""
    from sonomsk.nerve.choose import choose_largest_csa

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["usable"]:
            level = canonical_level(r["site"], r.get("level")) or ""
            groups.setdefault((level, r.get("trunk") or ""), []).append(r)
    out: list[_Chosen] = []
    for (level, trunk), group in groups.items():
        chosen = choose_largest_csa((r["site"], r["side"], float(r["csa"]), r["instance_id"]) for r in group)
        out.extend(
            _Chosen(c.site, c.side, c.csa_mm2, list(c.references), level or None, trunk or None)
            for c in chosen
        )
    return sorted(out, key=lambda c: (c.site, c.side, c.level or "", c.trunk or ""))


def check_one_level(chosen: list[_Chosen]) -> None:
    """Refuse images of one site, side (and trunk) measured at different levels: the assessment
    takes one CSA per site and side, and a largest-of rule across levels would compare values
    with different limits."""
    levels: dict[tuple[str, str, str], set[str]] = {}
    for c in chosen:
        levels.setdefault((c.site, c.side, c.trunk or ""), set()).add(c.level or "default level")
    for (site, side, trunk), found in sorted(levels.items()):
        if len(found) > 1:
            where = f"{site} {side}" + (f" ({trunk} trunk)" if trunk else "")
            raise InvalidParameterError(
                f"measurements: {where} has images at {len(found)} levels ({', '.join(sorted(found))}); "
                "the assessment takes one level per site and side: clear the site of the images at the other level"
            )


def _source_text(limit: dict[str, Any]) -> str | None:
    """``Dutch ULN table (...) [median, wrist]``: the short citation and the row of the source."""
    from sonomsk.reference.loader import citation_short

    if not limit.get("source"):
        return None
    label = limit.get("source_label")
    return citation_short(limit["source"]) + (f" [{label}]" if label else "")


def profile_rows(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    """CSA per site along each nerve with its limit, in the order of the site vocabulary."""
    from sonomsk.nerve.sites import site_info, site_names

    order = {s: i for i, s in enumerate(site_names())}
    # a site judged by a Goedee criterion (a trunk in the Utrecht plane has no normal limit, only
    # the > 8 mm2 criterion): the table says so beside its status
    positive = {
        (p["site"], p["side"], round(float(p["csa_mm2"]), 3)): p
        for p in (assessment.get("goedee") or {}).get("positive_sites", [])
    }
    rows = []
    for m in assessment.get("measurements", []):
        lim = m.get("limit") or {}
        cit = lim.get("citation") or {}
        crit = positive.get((m["site"], m["side"], round(float(m["csa_mm2"]), 3)))
        rows.append(
            {
                "nerve": site_info(m["site"]).nerve,
                "site": m["site"],
                "side": m["side"],
                "trunk": m.get("trunk"),
                "level": m.get("level"),
                "criterion": None if crit is None else f"> {crit['cutoff']:g} mm2: Goedee criterion met",
                "order": order.get(m["site"], 999),
                "csa": m["csa_mm2"],
                "uln": lim.get("uln_mm2"),
                "lln": lim.get("lln_mm2"),
                "status": m["status"],
                "borderline": bool(m.get("borderline")),
                "ratio": m.get("ratio_to_uln"),
                "source": _source_text(lim),
                "evidence": cit.get("evidence"),
                "caveat": cit.get("caveat"),
                # the limit's own notes (a fallback and its population) and the row's (borderline,
                # age, covariates): what the table alone does not say
                "notes": [*(lim.get("notes") or ()), *(m.get("notes") or ())],
            }
        )
    rows.sort(key=lambda r: (r["nerve"], r["side"], r["order"]))
    return rows


def run_assessment(store: Store, study_id: int, body: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Assess the study's CSA values, rank the differential, store both; returns the JSON."""
    from sonomsk.knowledge.differential import rank
    from sonomsk.nerve.assess import assess
    from sonomsk.store.repository import record_analysis

    rows = csa_table(store, study_id)
    chosen = choose_csa(rows)
    check_one_level(chosen)
    if not chosen:
        reasons = sorted({f"{r['label']}: {r['reason']}" for r in rows if r["reason"]})
        raise InvalidParameterError(
            "measurements: no calibrated nerve CSA with a site and side in this study"
            + (f" ({'; '.join(reasons[:4])})" if reasons else "")
        )
    patient = {k: v for k, v in (body.get("patient") or {}).items() if v not in (None, "")}
    request: dict[str, Any] = {
        "patient": patient,
        "measurements": [{**c.request_item(), "meta": {"instances": c.instances}} for c in chosen],
    }
    if body.get("reference_set"):
        request["reference_set"] = body["reference_set"]
    result = assess(request)
    a = result.to_dict()
    findings_doc: dict[str, Any] = {"nerve_assessment": a}  # rank reads assess output as it is
    dpatient = {k: patient[k] for k in ("age", "sex") if k in patient}
    for k in ("onset", "symmetry"):
        if (body.get("clinical") or {}).get(k):
            dpatient[k] = body["clinical"][k]
    if dpatient:
        findings_doc["patient"] = dpatient
    if body.get("findings"):
        findings_doc["findings"] = body["findings"]
    differential = rank(findings_doc).to_dict()
    out: dict[str, Any] = {
        "request": request,
        "assessment": a,
        "profile": profile_rows(a),
        "differential": differential,
        "images": rows,
    }
    out["analysis_id"] = record_analysis(
        store,
        study_id=study_id,
        instance_id=None,
        kind=KIND_ASSESSMENT,
        method_version=METHOD_VERSION,
        measurements=MeasurementSet(findings=result.findings, analysis=KIND_ASSESSMENT),
        result={k: out[k] for k in ("request", "assessment", "profile", "differential", "images")},
        actor=actor,
    )
    out["stale"], out["stale_reasons"] = False, []
    return out


def current_inputs(store: Store, study_id: int) -> list[dict[str, Any]]:
    """The (site, side, CSA) an assessment of the study would use now, as its request lists them."""
    return [c.request_item() for c in choose_csa(csa_table(store, study_id))]


def stale_reasons(assessed: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[str]:
    """How the CSA values an assessment used (``assessed``, its request's measurements) differ
    from those the study gives now (``current``): one line per site and side; empty when the
    assessment still describes the study (decision 012)."""

    def key(m: dict[str, Any]) -> tuple[str, str, str, str]:
        return (m["site"], m["side"], m.get("trunk") or "", canonical_level(m["site"], m.get("level")) or "")

    old = {key(m): float(m["csa_mm2"]) for m in assessed}
    new = {key(m): float(m["csa_mm2"]) for m in current}
    reasons = []
    for k in sorted(old.keys() | new.keys()):
        o, n = old.get(k), new.get(k)
        site, side, trunk, level = k
        label = f"{site} {side}" + (f" {trunk} trunk" if trunk else "") + (f" ({level})" if level else "")
        if o is not None and n is not None and abs(o - n) < 5e-4:
            continue
        if n is None:
            reasons.append(f"{label}: {o:g} mm2 assessed, no usable CSA now")
        elif o is None:
            reasons.append(f"{label}: {n:g} mm2 now, not in the assessment")
        else:
            reasons.append(f"{label}: {o:g} mm2 assessed, {n:g} mm2 now")
    return reasons


def latest_assessment(store: Store, study_id: int) -> dict[str, Any] | None:
    """The study's latest stored assessment with ``stale`` (and ``stale_reasons``): whether the
    CSA values it used are still those the study's outlines, sites and sides give now."""
    from sqlalchemy import select

    from sonomsk.store.models import Analysis

    with store.sessions() as session:
        rows = session.scalars(
            select(Analysis)
            .where(Analysis.study_id == study_id, Analysis.kind.in_((KIND_ASSESSMENT, KIND_WITHDRAWN)))
            .order_by(Analysis.id)
        ).all()
        a = current_assessment(rows)
        if a is None:
            return None
        found = {**a.result, "analysis_id": a.id}
    reasons = stale_reasons(found["request"]["measurements"], current_inputs(store, study_id))
    return {**found, "stale": bool(reasons), "stale_reasons": reasons}


def current_assessment(analyses: Sequence[Any]) -> Any | None:
    """Of a study's analyses in the order they were stored, its assessment now: the latest
    assessment, unless a withdrawal names it or a later one (a withdrawal hides what it names and
    everything before; one written while another assessment was made leaves that one standing)."""
    latest = None
    for a in analyses:
        if a.kind == KIND_ASSESSMENT:
            latest = a
        elif (
            a.kind == KIND_WITHDRAWN
            and latest is not None
            and int((a.result or {}).get("withdraws", -1)) >= int(latest.id)
        ):
            latest = None
    return latest


def withdraw_assessment(store: Store, study_id: int, analysis_id: int, *, actor: str) -> dict[str, Any]:
    """Withdraw the study's nerve assessment ``analysis_id`` (decision 012): it stays stored, in
    the audit log and in reports already made, but no longer counts as the study's assessment, so
    a study whose outlines no longer support one can be reported without it. Only the study's
    latest assessment can be withdrawn: one the clinician did not see (assessed since, in another
    tab or by a colleague) is refused with 409."""
    from sonomsk.core.results import MeasurementSet
    from sonomsk.store.repository import record_analysis

    found = latest_assessment(store, study_id)
    if found is None:
        raise StoreError(f"study {study_id}: assessment not found (nothing to withdraw)")
    withdrawn = int(found["analysis_id"])
    if withdrawn != analysis_id:
        raise ConflictError(
            f"study {study_id}: assessment {analysis_id} is not the study's latest ({withdrawn}): "
            "reload the study before withdrawing"
        )
    record_analysis(
        store,
        study_id=study_id,
        instance_id=None,
        kind=KIND_WITHDRAWN,
        method_version=METHOD_VERSION,
        measurements=MeasurementSet(analysis=KIND_WITHDRAWN),
        result={"withdraws": withdrawn, "was_stale": found["stale"], "stale_reasons": found["stale_reasons"]},
        actor=actor,
    )
    return {"study_id": study_id, "withdrawn": withdrawn}


def check_current(assessment: dict[str, Any] | None, study_id: int) -> None:
    """Raise when the study's latest assessment (:func:`latest_assessment`) no longer describes
    it: a report must not show a pattern computed from CSA values that are no longer the measured
    ones (decision 012)."""
    if assessment is None or not assessment["stale"]:
        return
    reasons = assessment["stale_reasons"]
    shown = "; ".join(reasons[:3]) + (f"; {len(reasons) - 3} more" if len(reasons) > 3 else "")
    raise InvalidParameterError(
        f"study {study_id}: the nerve assessment is out of date ({shown}): run the assessment again"
    )


def _check_points(points: Any, rows: int, cols: int) -> list[list[float]]:
    if not isinstance(points, list) or len(points) < 3:
        raise InvalidParameterError("points: expected at least 3 [row, col] points in px")
    out = []
    for i, p in enumerate(points):
        if not isinstance(p, list | tuple) or len(p) != 2 or any(isinstance(v, bool) for v in p):
            raise InvalidParameterError(f"points[{i}]: expected [row, col] in px, got {p!r}")
        r, c = float(p[0]), float(p[1])
        if not (
            math.isfinite(r) and math.isfinite(c) and -0.5 <= r <= rows - 0.5 and -0.5 <= c <= cols - 0.5
        ):
            raise InvalidParameterError(f"points[{i}]: expected a point inside {rows} x {cols} px, got {p!r}")
        out.append([round(r, 2), round(c, 2)])
    return out


def apply_correction(
    request: Any, store: Store, structure_id: int, points: Any, *, actor: str
) -> dict[str, Any]:
    """Store a corrected outline and every measure recomputed from it; returns the analysis.

    The outline is checked and measured first (a bad one raises and nothing is stored), then the
    outline and every measurement are stored in one transaction
    (:func:`sonomsk.store.repository.correct_outline`): a measure that fails on the corrected
    outline gets that failure as its corrected state. ``not_corrected`` lists those failures.
    """
    from sonomsk.store.repository import correct_outline

    with store.sessions() as session:
        s = _outline_structure(session, structure_id)
        a = s.analysis
        inst = _instance(session, a.instance_id)
        rows_px, cols_px, sha, frame = inst.rows, inst.columns, inst.sha256, s.frame
        analysis_id = a.id
        info = {"instance": inst.id, "site": inst.site, "side": inst.side}
        units = {(m.name, m.label): m.unit for m in a.measurements}
    pts = _check_points(points, rows_px, cols_px)
    image = request.app.state.load_image(sha)
    ms = measure_outline(image, pts, frame=frame, context={**info, "corrected": True})
    if any(
        m.value is not None and (m.name, m.label) in units and units[m.name, m.label] != m.unit
        for m in ms.measurements
    ):
        return _correction_in_other_units(store, structure_id, pts, ms, frame=frame, actor=actor)
    failed = correct_outline(store, structure_id, pts, ms, kind=KIND_OUTLINE, actor=actor)
    out = _analysis(store, analysis_id)
    out["not_corrected"] = failed
    return out


def _correction_in_other_units(
    store: Store,
    structure_id: int,
    points: list[list[float]],
    ms: MeasurementSet,
    *,
    frame: int,
    actor: str,
) -> dict[str, Any]:
    """A corrected outline measured in other units than the outline it corrects (it left its
    calibrated tissue region: px2 where the outline had mm2, or came back into it).

    A stored measurement keeps one unit for its automatic and corrected values (a px2 number is
    never stored beside an mm2 one under one unit), so the corrected outline is stored as a new
    outline of the image (``source`` "corrected", ``corrects`` the structure id), measured as a
    click or box outline of the same geometry is (px2 with the reason "outline leaves the
    calibrated tissue region"), and chosen as the image's outline; the outline it corrects stays
    stored with its own values (the clinician may accept it again).

    It is recorded as any correction is (review ws15d N1): the new outline's points are its
    corrected points (the automatic points of the outline it corrects kept as its automatic
    ones), every measure's value is its corrected value with who and when, and each has no
    automatic value in its own unit (``auto_failure`` says why); the automatic value and unit of
    the outline it corrects are kept in the measure's data (``auto_other_unit``) for the CSA list
    and the report's provenance. One transaction, audited as ``analyse`` then ``correct``
    events like :func:`sonomsk.store.repository.correct_outline`. Returns the new analysis, with
    ``not_corrected`` (measures that failed on the new outline) and ``corrects`` the structure id.
    """
    import datetime as dt

    from sonomsk.store.models import Analysis, MeasurementRow, StructureRow
    from sonomsk.store.repository import _accept_only, audit

    why = next(
        (
            str(m.context["uncalibrated_reason"])
            for m in ms.measurements
            if m.context.get("uncalibrated_reason")
        ),
        None,
    )
    now = dt.datetime.now(dt.UTC)
    failed: list[str] = []
    with store.sessions() as session, session.begin():
        s = _outline_structure(session, structure_id)
        a = s.analysis
        inst = _instance(session, a.instance_id)
        old_auto = {
            (m.name, m.label): {**_automatic_value(m), "current": m.value, "current_unit": m.unit}
            for m in a.measurements
        }
        analysis = Analysis(
            study_id=a.study_id,
            instance_id=inst.id,
            kind=KIND_OUTLINE,
            method_version=METHOD_VERSION,
            result={
                "source": "corrected",
                "corrects": structure_id,
                **({"note": f"measured in px: {why}"} if why else {}),
                "frame": frame,
                "site": inst.site,
                "side": inst.side,
            },
        )
        session.add(analysis)
        session.flush()
        audit(session, actor, "analyse", "analysis", analysis.id, kind=KIND_OUTLINE, corrects=structure_id)
        row = StructureRow(
            analysis_id=analysis.id,
            label=s.label,
            kind=s.kind,
            frame=frame,
            auto_points=[list(map(float, p)) for p in s.auto_points],
            corrected_points=[[float(r), float(c)] for r, c in points],
            corrected_by=actor,
            corrected_at=now,
            accepted=False,
        )
        session.add(row)
        session.flush()
        others = _accept_only(session, row, KIND_OUTLINE)  # correcting an outline chooses it
        audit(
            session,
            actor,
            "correct",
            "structure",
            row.id,
            n_points=len(points),
            unaccepted=others,
            corrects=structure_id,
        )
        for m in ms.measurements:
            auto = old_auto.get((m.name, m.label))
            data = m.to_dict()
            in_unit = auto is not None and auto["unit"] == m.unit  # back in the automatic unit
            if auto is not None and not in_unit:
                data["auto_other_unit"] = {
                    "value": auto["value"],
                    "unit": auto["unit"],
                    "failure": auto["failure"],
                    "structure": structure_id,
                }
            mrow = MeasurementRow(
                analysis_id=analysis.id,
                name=m.name,
                unit=m.unit,
                label=m.label,
                auto_value=auto["value"] if auto is not None and in_unit else None,
                auto_failure=(
                    auto["failure"]
                    if auto is not None and in_unit
                    else f"the automatic outline (structure {structure_id}) is measured in "
                    f"{auto['unit'] if auto else 'other units'}"
                ),
                corrected_value=m.value,
                corrected_failure=None if m.value is not None else (m.failure or "no value"),
                corrected_by=actor,
                corrected_at=now,
                data=data,
            )
            session.add(mrow)
            session.flush()
            if m.value is None:
                failed.append(f"{m.name}: {mrow.corrected_failure}")
            audit(
                session,
                actor,
                "correct",
                "measurement",
                mrow.id,
                old=auto["current"] if auto else None,
                old_unit=auto["current_unit"] if auto else None,
                new=m.value,
                unit=m.unit,
                auto=auto["value"] if auto else None,
                failure=mrow.corrected_failure,
            )
        new_id = int(analysis.id)
    out = _analysis(store, new_id)
    out["not_corrected"] = failed
    out["corrects"] = structure_id
    return out


def _automatic_value(m: Any) -> dict[str, Any]:
    """The automatic value, unit and failure of a stored measure: its own, or, for a measure of a
    corrected outline stored apart (:func:`_correction_in_other_units`), those it keeps of the
    outline it corrects."""
    other = (m.data or {}).get("auto_other_unit")
    if m.auto_value is None and isinstance(other, dict):
        return {"value": other.get("value"), "unit": other.get("unit"), "failure": other.get("failure")}
    return {"value": m.auto_value, "unit": m.unit, "failure": m.auto_failure}


def _outline_structure(session: Any, structure_id: int) -> Any:
    """The structure row of a nerve outline of an image (404 when absent, 422 otherwise)."""
    from sonomsk.store.repository import outline_row

    return outline_row(session, structure_id, KIND_OUTLINE)


def restore_automatic_outline(store: Store, structure_id: int, *, actor: str) -> int:
    """Undo the correction of a nerve outline: its automatic points and values count again.

    The automatic points (``auto_points``) and values (``auto_value``/``failure``) are kept with
    the outline when it is corrected (decision 008); this clears the corrected points and every
    measurement's corrected state in one transaction and writes the restore to the audit log as
    its own event (``restore_automatic``, with the corrected values it replaces), beside the
    correction's own events. The outline stays the image's chosen one (``accepted``). As with a
    correction, an assessment that used the corrected CSA is then out of date
    (:func:`latest_assessment`). Returns the outline's analysis id.
    """
    import datetime as dt

    from sonomsk.store.repository import audit

    with store.sessions() as session:
        corrects = (_outline_structure(session, structure_id).analysis.result or {}).get("corrects")
    if corrects is not None:
        return _restore_stored_apart(store, structure_id, int(corrects), actor=actor)
    with store.sessions() as session, session.begin():
        s = _outline_structure(session, structure_id)
        a = s.analysis
        if s.corrected_points is None:
            raise ConflictError(f"structure {structure_id}: not corrected, nothing to restore")
        if not s.auto_points or len(s.auto_points) < 3:
            raise ConflictError(f"structure {structure_id}: no automatic outline kept, nothing to restore")
        when = s.corrected_at.isoformat() if isinstance(s.corrected_at, dt.datetime) else None
        audit(
            session,
            actor,
            "restore_automatic",
            "structure",
            structure_id,
            n_points=len(s.auto_points),
            replaced_points=len(s.corrected_points),
            corrected_by=s.corrected_by,
            corrected_at=when,
        )
        s.corrected_points = None
        s.corrected_by = None
        s.corrected_at = None
        for m in a.measurements:
            if m.corrected_value is None and m.corrected_failure is None:
                continue
            old, old_failure = m.corrected_value, m.corrected_failure
            m.corrected_value = None
            m.corrected_failure = None
            m.corrected_by = None
            m.corrected_at = None
            audit(
                session,
                actor,
                "restore_automatic",
                "measurement",
                m.id,
                old=old,
                old_failure=old_failure,
                new=m.auto_value,
                failure=m.auto_failure,
            )
        return int(a.id)


def _restore_stored_apart(store: Store, structure_id: int, corrects: int, *, actor: str) -> int:
    """Undo a correction stored as a new outline in other units (:func:`_correction_in_other_units`):
    the outline it corrects, still stored with its own values, is the image's outline again
    (accepted) and the correction is discarded (both audited). Returns the analysis id of the
    outline it corrects."""
    from sonomsk.store.repository import accept_outline, discard_outline

    with store.sessions() as session:
        try:
            _outline_structure(session, corrects)
        except StoreError:
            raise ConflictError(
                f"structure {structure_id}: the outline it corrects (structure {corrects}) was discarded, "
                "nothing to restore"
            ) from None
    aid = accept_outline(store, corrects, kind=KIND_OUTLINE, actor=actor)
    discard_outline(store, structure_id, kind=KIND_OUTLINE, actor=actor)
    # the outline it corrects may itself carry a correction (in place, or stored apart): the
    # button promises the automatic outline, so restore that one too (review ws16b 2)
    with store.sessions() as session:
        earlier = _outline_structure(session, corrects)
        still_corrected = (
            earlier.corrected_points is not None
            or (earlier.analysis.result or {}).get("corrects") is not None
        )
    if still_corrected:
        return restore_automatic_outline(store, corrects, actor=actor)
    return aid


# --------------------------------------------------------------------------- router


def build_router(store: Store) -> Any:
    """The FastAPI router of the nerve workflow (mounted at /api/workflows/nerve)."""
    from fastapi import APIRouter, Request
    from pydantic import BaseModel, Field, field_validator

    from sonomsk.server.views import DbId, DbIdQuery

    router = APIRouter()

    class SiteBody(BaseModel):
        """The site and side of an image, with the measurement level where the site has several
        and the trunk of a ``brachial_plexus_trunk`` image (all four replace the stored ones)."""

        site: str | None = None
        side: str | None = None
        level: str | None = None
        trunk: str | None = None

    class SegmentBody(BaseModel):
        frame: int = 0
        backend: str | None = None

    def _no_boolean(v: Any) -> Any:
        if isinstance(v, bool):  # JSON true/false would otherwise be read as 1.0/0.0
            raise ValueError("expected a number of px, got a boolean")
        return v

    class ClickBody(BaseModel):
        """A click in frame px (viewer positions)."""

        row: float
        col: float
        frame: int = 0

        @field_validator("row", "col", "frame", mode="before")
        @classmethod
        def _a_number(cls, v: Any) -> Any:
            return _no_boolean(v)

    class BoxBody(BaseModel):
        """A drawn box in frame px (viewer positions: pixel (r, c) covers [r, r + 1) x [c, c + 1))."""

        top: float
        left: float
        bottom: float
        right: float
        frame: int = 0

        @field_validator("top", "left", "bottom", "right", "frame", mode="before")
        @classmethod
        def _a_number(cls, v: Any) -> Any:
            return _no_boolean(v)

    class PointsBody(BaseModel):
        """A corrected outline: [row, col] points in frame px."""

        points: list[list[float]] = Field(min_length=3, max_length=2000)

        @field_validator("points", mode="before")
        @classmethod
        def _numbers(cls, v: Any) -> Any:
            if isinstance(v, list):
                for p in v:
                    if isinstance(p, list):
                        for x in p:
                            _no_boolean(x)
            return v

    class AssessBody(BaseModel):
        patient: dict[str, Any] = Field(default_factory=dict)
        clinical: dict[str, Any] = Field(default_factory=dict)
        findings: dict[str, Any] = Field(default_factory=dict)
        reference_set: str | None = None

    def actor(request: Request) -> str:
        return str(getattr(request.state, "user", "local"))

    @router.get("/sites")
    def sites() -> dict[str, Any]:
        from sonomsk.nerve.assess_model import TRUNKS
        from sonomsk.nerve.sites import SIDES, default_level, site_info, site_names

        return {
            "sides": list(SIDES),
            "trunks": list(TRUNKS),
            "sites": [
                {**dataclasses.asdict(site_info(s)), "default_level": default_level(s)} for s in site_names()
            ],
        }

    @router.put("/instances/{instance_id}/site")
    def set_site(instance_id: DbId, body: SiteBody, request: Request) -> dict[str, Any]:
        from sonomsk.nerve.sites import check_side, site_info
        from sonomsk.store.repository import audit

        site = (body.site.strip().lower() or None) if body.site else None
        if site:
            site_info(site, parameter="site")
        side = check_side(body.side) if body.side else None
        level, trunk = site_detail(site, body.level, body.trunk)
        with store.sessions() as session, session.begin():
            inst = _instance(session, instance_id)
            inst.site, inst.side, inst.level, inst.trunk = site, side, level, trunk
            audit(
                session,
                actor(request),
                "assign_site",
                "instance",
                instance_id,
                site=site,
                side=side,
                level=level,
                trunk=trunk,
            )
        return {"instance_id": instance_id, "site": site, "side": side, "level": level, "trunk": trunk}

    @router.post("/instances/{instance_id}/segment")
    def segment(instance_id: DbId, body: SegmentBody, request: Request) -> dict[str, Any]:
        image, info = _load(request, store, instance_id, body.frame)
        polys, backend, note = segment_nerves(image, frame=body.frame, backend=body.backend)
        replaced = _replace_automatic_outlines(store, instance_id, body.frame, actor=actor(request))
        if replaced:
            extra = f"replaced {replaced} earlier automatic outline(s) of this frame that nobody had accepted or corrected"
            note = extra if note is None else f"{note}; {extra}"
        ids = [
            _measure_and_record(
                store,
                image,
                info,
                poly,
                frame=body.frame,
                source="auto",
                backend=backend,
                actor=actor(request),
            )
            for poly in polys
        ]
        if not ids and note is None:
            note = f"backend {backend} found no nerve on frame {body.frame}: click inside the nerve, or drag a box around it, to outline it"
        return {"backend": backend, "note": note, "analyses": [_analysis(store, i) for i in ids]}

    def _prompt_outline(
        request: Request,
        instance_id: int,
        frame: int,
        source: str,
        draw: Callable[[Any], tuple[Any, str, str | None]],
    ) -> dict[str, Any]:
        """Outline a nerve from a clinician's prompt (``draw(image)`` gives the polygon, the rule
        that drew it and a note), measure and store it."""
        image, info = _load(request, store, instance_id, frame)
        poly, method, note = draw(image)
        aid = _measure_and_record(
            store,
            image,
            info,
            poly,
            frame=frame,
            source=source,
            backend=None,
            actor=actor(request),
            method=method,
            note=note,
        )
        return _analysis(store, aid)

    @router.post("/instances/{instance_id}/outline")
    def outline(instance_id: DbId, body: ClickBody, request: Request) -> dict[str, Any]:
        return _prompt_outline(
            request,
            instance_id,
            body.frame,
            "click",
            lambda image: outline_click(image, body.row, body.col, frame=body.frame),
        )

    @router.post("/instances/{instance_id}/outline-box")
    def outline_in_box(instance_id: DbId, body: BoxBody, request: Request) -> dict[str, Any]:
        box = (body.top, body.left, body.bottom, body.right)
        return _prompt_outline(
            request,
            instance_id,
            body.frame,
            "box",
            lambda image: (*outline_box(image, box, frame=body.frame), None),
        )

    @router.put("/structures/{structure_id}/points")
    def correct(structure_id: DbId, body: PointsBody, request: Request) -> dict[str, Any]:
        return apply_correction(request, store, structure_id, body.points, actor=actor(request))

    @router.post("/structures/{structure_id}/restore")
    def restore(structure_id: DbId, request: Request) -> dict[str, Any]:
        """Undo a correction: the automatic outline and values count again (audited)."""
        aid = restore_automatic_outline(store, structure_id, actor=actor(request))
        return _analysis(store, aid)

    @router.delete("/structures/{structure_id}")
    def discard(structure_id: DbId, request: Request) -> dict[str, Any]:
        """Discard a nerve outline with its measurements (one transaction)."""
        from sonomsk.store.repository import discard_outline

        aid = discard_outline(store, structure_id, kind=KIND_OUTLINE, actor=actor(request))
        return {"structure_id": structure_id, "analysis_id": aid, "discarded": True}

    @router.post("/structures/{structure_id}/accept")
    def accept(structure_id: DbId, request: Request) -> dict[str, Any]:
        """Choose this nerve outline as its image's (the image's other outlines are unaccepted)."""
        from sonomsk.store.repository import accept_outline

        aid = accept_outline(store, structure_id, kind=KIND_OUTLINE, actor=actor(request))
        return _analysis(store, aid)

    @router.get("/studies/{study_id}/csa")
    def csa(study_id: DbId) -> list[dict[str, Any]]:
        return csa_table(store, study_id)

    @router.post("/studies/{study_id}/assess")
    def assess_study(study_id: DbId, body: AssessBody, request: Request) -> dict[str, Any]:
        return run_assessment(store, study_id, body.model_dump(), actor=actor(request))

    @router.get("/studies/{study_id}/assessment")
    def assessment(study_id: DbId) -> dict[str, Any]:
        found = latest_assessment(store, study_id)
        if found is None:
            raise StoreError(f"study {study_id}: assessment not found (run the assessment first)")
        return found

    @router.delete("/studies/{study_id}/assessment")
    def withdraw(study_id: DbId, analysis_id: DbIdQuery, request: Request) -> dict[str, Any]:
        return withdraw_assessment(store, study_id, analysis_id, actor=actor(request))

    @router.get("/instances/{instance_id}/contralateral")
    def contralateral(instance_id: DbId) -> dict[str, Any]:
        with store.sessions() as session:
            inst = _instance(session, instance_id)
            if not inst.site or not inst.side:
                raise InvalidParameterError(f"instance {instance_id}: assign a site and side first")
            site, other = inst.site, "left" if inst.side == "right" else "right"
            for se in inst.series.study.series:
                for i in se.instances:
                    if i.site == site and i.side == other:
                        return {"instance_id": i.id, "site": i.site, "side": i.side}
        raise StoreError(f"instance {instance_id}: contralateral image ({site}, {other}) not found")

    return router
