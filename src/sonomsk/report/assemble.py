"""From per-image nerve analyses to the study RESULTS: assessment, differential and report data.

Used by ``sonomsk demo`` and by the workstation, so that a study analysed on the command line and
one analysed in the browser produce the same RESULTS. The cross-sectional area of each site and
side is the (corrected when corrected) ``area_cross_section`` in mm2; uncalibrated areas (px2)
are kept in the RESULTS but never enter the assessment, which needs millimetres.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sonomsk import __version__
from sonomsk.core.results import Measurement
from sonomsk.core.units import Unit
from sonomsk.report.results import (
    ImageRef,
    MethodVersion,
    Patient,
    SignOff,
    Structure,
    Study,
    StudyResults,
)


@dataclass(frozen=True)
class NerveImageAnalysis:
    """One analysed image: its reference, site and side, outlines and measurements."""

    image: ImageRef
    site: str | None
    side: str | None
    structures: Sequence[Structure] = ()
    measurements: Sequence[Measurement] = ()
    methods: Sequence[MethodVersion] = field(default_factory=tuple)


def nerve_csa_by_site(analyses: Sequence[NerveImageAnalysis]) -> list[dict[str, Any]]:
    """``[{site, side, csa_mm2}]`` for the assessment: the largest nerve CSA per site and side.

    The largest outlined nerve of an image is taken as the nerve of that site (an image shows one
    nerve of interest); images without site/side or without a calibrated area are skipped.
    """
    from sonomsk.nerve.choose import choose_largest_csa

    chosen = choose_largest_csa(
        (a.site, a.side, float(m.value), a.image.id)
        for a in analyses
        for m in a.measurements
        if m.name == "area_cross_section"
        and m.unit == Unit.MM2.value
        and m.value is not None
        and m.context.get("structure_kind", "nerve") == "nerve"
    )
    return [{"site": c.site, "side": c.side, "csa_mm2": round(c.csa_mm2, 2)} for c in chosen]


def assess_and_rank(
    csa: Sequence[Mapping[str, Any]],
    patient_info: Mapping[str, Any],
    clinician_findings: Mapping[str, Any] | None = None,
    *,
    reference_set: str | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The nerve assessment and the differential (both as JSON dicts), or None when no CSA."""
    from sonomsk.knowledge.differential import rank
    from sonomsk.nerve.assess import assess

    if not csa:
        return None, None
    patient = {
        k: v
        for k, v in patient_info.items()
        if k in ("age", "sex", "height_cm", "weight_kg", "wrist_circumference_cm")
    }
    assessment = assess(
        {"patient": patient, "measurements": [dict(m) for m in csa]}, reference_set=reference_set
    ).to_dict()
    findings_doc: dict[str, Any] = {"nerve_assessment": assessment}
    if clinician_findings:
        findings_doc["findings"] = dict(clinician_findings)
    differential = rank(findings_doc).to_dict()
    return assessment, differential


def assemble_study(
    *,
    study: Study,
    patient: Patient,
    patient_info: Mapping[str, Any],
    analyses: Sequence[NerveImageAnalysis],
    clinician_findings: Mapping[str, Any] | None = None,
    procedure: Mapping[str, Any] | None = None,
    signoff: SignOff | None = None,
    reference_set: str | None = None,
) -> StudyResults:
    """The RESULTS of a nerve study from its analysed images."""
    csa = nerve_csa_by_site(analyses)
    assessment, differential = assess_and_rank(
        csa, patient_info, clinician_findings, reference_set=reference_set
    )
    methods: dict[tuple[str, str], MethodVersion] = {
        ("sonomsk", __version__): MethodVersion(name="sonomsk", version=__version__)
    }
    for a in analyses:
        for mv in a.methods:
            methods.setdefault((mv.name, mv.version), mv)
    if assessment is not None:
        methods.setdefault(
            ("sonomsk.nerve.assess", __version__),
            MethodVersion(name="sonomsk.nerve.assess", version=__version__),
        )
    if differential is not None:
        version = (
            str(differential.get("method", {}).get("version", __version__))
            if isinstance(differential.get("method"), dict)
            else __version__
        )
        methods.setdefault(
            ("sonomsk.knowledge.differential", version),
            MethodVersion(name="sonomsk.knowledge.differential", version=version),
        )
    return StudyResults(
        study=study,
        patient=patient,
        images=tuple(a.image for a in analyses),
        structures=tuple(s for a in analyses for s in a.structures),
        measurements=tuple(m for a in analyses for m in a.measurements),
        nerve_assessment=assessment,
        differential=differential,
        procedure=procedure,
        methods=tuple(methods.values()),
        signoff=signoff or SignOff(),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        software_version=__version__,
    )
