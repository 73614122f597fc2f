"""DICOM exports via highdicom: a TID 1500 measurement report (SR) and a segmentation (SEG).

Both reference the study's images by their UIDs as RESULTS records them; the reference data
sets ("evidence") are built from RESULTS, so no source file is needed and a de-identified export
(``deidentify_key``) references exactly the UIDs that the de-identified images get.

SR: one Comprehensive 3D SR with a TID 1500 Measurement Report; every outlined structure that has
coded measurements becomes a planar ROI group (TID 1410) with its outline as a closed SCOORD
POLYLINE in image pixel coordinates (column, row), its source image and frame, its finding type
and site (with laterality), and its measurements with UCUM units. A nerve at a site of the
vocabulary (``median_wrist``...) has the nerve as its finding site with the level measured as
topographical modifier, and its body region as a second finding site (:func:`finding_sites`); the
area of the largest fascicle has its own concept, never the CSA's. SEG: one binary segment per
outlined structure, on the frames of its image.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import InvalidParameterError, MeasurementError
from sonomsk.report.codes import (
    LOCAL_SCHEME,
    code,
    local_schemes,
    measurement_concept,
    measurement_derivation,
    nerve_site,
    side_code,
    structure_code,
    unit_code,
)
from sonomsk.report.results import ImageRef, Structure, StudyResults, as_results

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote and what it could not encode (with the reason)."""

    path: Path
    written: int
    skipped: tuple[str, ...] = ()


def _prepare(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str], deidentify_key: str | None
) -> StudyResults:
    r = as_results(results)
    if deidentify_key is not None:
        from sonomsk.report.deid import deidentify_results

        r = deidentify_results(r, deidentify_key)
    return r


def _content_uids(results: StudyResults, *seed: object) -> Callable[..., str]:
    """UIDs made from the results' content (serialised once) and ``seed``: the same frozen results
    (a signed or stored draft report, downloaded again) give the same SR and SEG objects, so a
    PACS receiving one twice holds one object, not two reports; other content gives other UIDs."""
    from pydicom.uid import generate_uid

    content = results.to_json(indent=None)

    def uid(*parts: object) -> str:
        return str(generate_uid(entropy_srcs=[content, *map(str, (*seed, *parts))]))

    return uid


def _iso_time(value: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time, or None when missing or unreadable."""
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _dicom_datetime(value: str | None) -> str | None:
    """An ISO 8601 date-time (or a bare year, after de-identification) as a DICOM DT, or None."""
    if value and re.fullmatch(r"\d{4}", value):
        return value
    t = _iso_time(value)
    if t is None:
        return None
    if t.tzinfo is None:
        return t.strftime("%Y%m%d%H%M%S")
    return t.strftime("%Y%m%d%H%M%S%z")


def _dicom_date(value: str | None) -> str:
    digits = re.sub(r"\D", "", value or "")
    return digits if len(digits) == 8 else ""


def _person_name(value: str | None, *, login: bool = False) -> str:
    """A DICOM person name (PN). A single component gets a trailing caret (family name only);
    up to three component groups ('='), five components ('^') each, each group at most 64
    characters; a backslash (the value separator) becomes '/'. A ``login`` name (a workstation
    user) is not a PN: an '=' in it is kept as '-' rather than starting a new group (the caret
    highdicom asks for is taken off again by :func:`_logins_as_written`)."""
    if not value or not value.strip():
        return ""
    v = value.replace("\\", "/").strip()
    if login:
        v = v.replace("=", "-")
    if "^" not in v and "=" not in v:
        return v[:63] + "^"
    return "=".join("^".join(group.split("^")[:5])[:64] for group in v.split("=")[:3])


def _long_string(value: str) -> str:
    """A DICOM LO value: no backslash, at most 64 characters."""
    return value.replace("\\", "/").strip()[:64]


def evidence_dataset(results: StudyResults, image: ImageRef) -> Any:
    """A reference data set for ``image`` (patient, study, series, SOP and geometry) from RESULTS."""
    from pydicom.dataset import Dataset

    if not image.sop_instance_uid:
        raise InvalidParameterError(f"image {image.id}: sop_instance_uid is required for a DICOM export")
    study_uid = image.study_uid or results.study.study_uid
    if not study_uid or not image.series_uid:
        raise InvalidParameterError(
            f"image {image.id}: study and series UIDs are required for a DICOM export"
        )
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names in any script survive (highdicom copies it)
    ds.SOPClassUID = image.sop_class_uid or (
        US_MULTIFRAME_STORAGE if image.n_frames > 1 else US_IMAGE_STORAGE
    )
    ds.SOPInstanceUID = image.sop_instance_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = image.series_uid
    ds.Modality = "US"
    ds.PatientName = _person_name(results.patient.name)
    ds.PatientID = results.patient.id or ""
    ds.PatientBirthDate = _dicom_date(results.patient.birth_date)
    ds.PatientSex = (
        (results.patient.sex or "")[:1].upper() if (results.patient.sex or "")[:1].upper() in "MFO" else ""
    )
    ds.StudyDate = _dicom_date(results.study.date)
    ds.StudyTime = ""
    ds.StudyID = ""
    ds.AccessionNumber = (results.study.accession or "")[:16]
    ds.ReferringPhysicianName = _person_name(results.study.referring)
    if results.study.description:  # General Study: the SR repeats the study's own (review ws14c F6)
        ds.StudyDescription = _long_string(results.study.description)
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Rows = image.rows
    ds.Columns = image.cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PatientOrientation = ""
    if image.n_frames > 1:
        ds.NumberOfFrames = image.n_frames
    return ds


def is_dicom_image(image: ImageRef) -> bool:
    """Whether ``image`` is a DICOM object that can be referenced: it has a SOP Instance UID.

    An image read from a PNG, JPEG, TIFF or video has none in RESULTS (the workstation gives such
    an upload a store key, never a UID in RESULTS; review ws14c F3): an SR or FHIR bundle never
    names an instance that no archive holds."""
    return bool(image.sop_instance_uid)


def non_dicom_source(results: StudyResults, image: ImageRef) -> str:
    """How an export names a non-DICOM source image: its id, format and sha256 as RESULTS keeps
    them (``extra["non_dicom_images"][id]``, written by the workstation), in de-identified
    RESULTS the keyed hash that replaces the sha256 (review ws15d N2), else its file name."""
    info = results.extra.get("non_dicom_images")
    entry = info.get(image.id) if isinstance(info, Mapping) else None
    if isinstance(entry, Mapping) and entry.get("sha256"):
        fmt = f"{entry['format']} " if entry.get("format") else ""
        return f"image {image.id} ({fmt}file sha256 {entry['sha256']})"
    if isinstance(entry, Mapping) and entry.get("keyed_hash"):
        fmt = f"{entry['format']} " if entry.get("format") else ""
        return f"image {image.id} ({fmt}file, keyed hash {entry['keyed_hash']})"
    name = Path(image.path).name if image.path else None
    return f"image {image.id}" + (f" (file {name})" if name else "")


def _study_dataset(results: StudyResults) -> Any:
    """Patient and study attributes for an SR that references no DICOM image (every outline is
    on a non-DICOM image): the same as an evidence data set, with a UID that is never recorded."""
    from pydicom.dataset import Dataset

    if not results.study.study_uid:
        raise InvalidParameterError("study: study_uid is required for a DICOM export")
    ref = ImageRef(
        id="study",
        sop_instance_uid=_content_uids(results)("study-placeholder"),
        study_uid=results.study.study_uid,
        series_uid=_content_uids(results)("study-placeholder-series"),
        rows=1,
        cols=1,
    )
    ds: Dataset = evidence_dataset(results, ref)
    return ds


def _outline_text(image: ImageRef, contour: tuple[tuple[float, float], ...], source: str) -> str:
    """The outline of a structure on a non-DICOM image as text: no SCOORD (it would need a DICOM
    source image), the same DICOM image coordinates the SCOORD would hold."""
    pts = " ".join(f"{x:.2f}/{y:.2f}" for x, y in _closed_xy(contour)[:-1])
    frame = f", frame {image.frame + 1} of {image.n_frames}" if image.n_frames > 1 else ""
    return (
        f"Outline on {source}{frame}, which is not a DICOM object (no image reference): closed polygon "
        f"in image coordinates (column/row, top-left pixel corner 0/0): {pts}"
    )


def _comment(text: str) -> Any:
    import highdicom as hd

    return hd.sr.TextContentItem(
        name=code("DCM", "121106").coded_concept(),
        value=text,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )


def _closed_xy(contour: tuple[tuple[float, float], ...]) -> np.ndarray:
    """A closed SCOORD polyline in DICOM image coordinates from a (row, col) outline.

    sonomsk's pixel r covers r - 0.5 .. r + 0.5 (its centre is r); DICOM image coordinates
    (PS3.3 C.18.6.1.2) put the top-left corner of the top-left pixel at 0.0\\0.0, its centre at
    0.5\\0.5, in (column, row) order: each point is shifted by +0.5 in both axes (a reader of the
    SCOORD subtracts it again, :func:`contour_from_scoord`)."""
    pts = np.array([[c + 0.5, r + 0.5] for r, c in contour], dtype=float)
    return np.vstack([pts, pts[:1]])


def contour_from_scoord(graphic_data: Any) -> tuple[tuple[float, float], ...]:
    """The (row, col) pixel-centre outline of a closed SCOORD POLYLINE in DICOM image
    coordinates (column, row): the inverse of the writer's +0.5 shift, the closing point dropped."""
    xy = np.asarray(graphic_data, dtype=float).reshape(-1, 2)
    if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    return tuple((float(y - 0.5), float(x - 0.5)) for x, y in xy)


def _nerve_name(structure: Structure, measurements: list[Any]) -> str | None:
    """The nerve of a structure: a measurement's ``context.nerve``, else its label without
    "nerve" ("median nerve" -> "median")."""
    for m in measurements:
        if m.context.get("nerve"):
            return str(m.context["nerve"])
    label = (structure.label or "").strip().lower()
    return label[: -len(" nerve")].strip() if label.endswith(" nerve") else None


def _context(measurements: list[Any], key: str) -> str | None:
    """The first value of ``key`` the measurements' contexts give (a root's level, a trunk)."""
    return next((str(m.context[key]) for m in measurements if m.context.get(key)), None)


def _level(site: str | None, measurements: list[Any]) -> str | None:
    """The measurement level of a structure: the one declared, else the site's default level,
    which is the level its CSA was judged at (``sonomsk.nerve.sites.default_level``: a root with
    no level given is an interscalene one)."""
    declared = _context(measurements, "level")
    if declared or not site:
        return declared
    from sonomsk.core.errors import SonomskError
    from sonomsk.nerve.sites import default_level

    try:
        return default_level(site)
    except SonomskError:  # a site outside the vocabulary: no default
        return None


def structure_site(structure: Structure, measurements: list[Any]) -> str | None:
    """The site of a structure: its own, else the first its measurements name."""
    if structure.site:
        return structure.site
    return next((str(m.context["site"]) for m in measurements if m.context.get("site")), None)


def finding_sites(structure: Structure, measurements: list[Any]) -> tuple[list[Any], bool]:
    """The TID 1410 finding sites of a structure, and whether they use the local coding scheme.

    A nerve at a site of the code table's vocabulary: the nerve (SCT where PS3.16 codes it, else
    the local scheme) with laterality and the level measured as Topographical modifier, then the
    body region (SCT) with laterality where the table has one. Anything else: the structure's
    kind with laterality."""
    import highdicom as hd

    side = side_code(structure.side)
    lat = side.coded_concept() if side else None
    where = None
    if structure.kind.value == "nerve":
        site = structure_site(structure, measurements)
        where = nerve_site(
            site,
            _nerve_name(structure, measurements),
            level=_level(site, measurements),
            trunk=_context(measurements, "trunk"),
        )
    if where is None:
        kind = structure_code(structure.kind.value).coded_concept()
        return [hd.sr.FindingSite(anatomic_location=kind, laterality=lat)], False
    sites = [
        hd.sr.FindingSite(
            anatomic_location=where.nerve.coded_concept(),
            laterality=lat,
            topographical_modifier=where.level.coded_concept(),
        )
    ]
    if where.region is not None:
        sites.append(
            hd.sr.FindingSite(
                anatomic_location=where.region.coded_concept(),
                laterality=lat,
                topographical_modifier=None
                if where.region_level is None
                else where.region_level.coded_concept(),
            )
        )
    used = {where.nerve.scheme, where.level.scheme} | ({where.region.scheme} if where.region else set())
    used |= {where.region_level.scheme} if where.region_level else set()
    return sites, LOCAL_SCHEME in used


def _tracking_text(structure: Structure, site: str | None, measurements: list[Any]) -> str:
    """The tracking identifier: id, label, site, trunk, level and side (readable without the codes)."""
    trunk = _context(measurements, "trunk")
    parts = (
        structure.label,
        site,
        trunk and f"{trunk} trunk",
        _level(site, measurements),
        structure.side,
    )
    what = ", ".join(x for x in parts if x)
    return f"{structure.id} ({what})"[:64]


def sr_dataset(
    results: StudyResults,
    *,
    series_number: int = 900,
    observer: str | None = None,
    uid_seed: str = "",
) -> tuple[Any, list[str]]:
    """The TID 1500 SR data set and the list of what was not encoded (with reasons).

    Its UIDs come from the results and ``uid_seed`` (a stored report's id: two reports of equal
    results are two objects); the same results and seed give the same object."""
    import highdicom as hd

    skipped: list[str] = []
    uid = _content_uids(results, uid_seed)
    evidence: dict[str, Any] = {}
    groups = []
    used: set[int] = set()
    local_used = False
    for s in results.structures:
        ms = results.measurements_of(s)
        if s.contour is None:
            skipped.append(f"structure {s.id}: no contour (only a mask) for an SCOORD")
            continue
        image = results.image(s.image)
        items = []
        failed: list[str] = []
        for m in ms:
            concept = measurement_concept(m.name)
            if not m.ok:
                skipped.append(f"measurement {m.name} of {s.id}: failed ({m.failure})")
                failed.append(f"{m.name.replace('_', ' ')} not measured: {m.failure}")
            elif concept is None:
                skipped.append(f"measurement {m.name} of {s.id}: no code in the code table")
            else:
                derivation = measurement_derivation(m.name)
                local_used |= LOCAL_SCHEME in (concept.scheme, derivation.scheme if derivation else "")
                items.append(
                    hd.sr.Measurement(
                        name=concept.coded_concept(),
                        value=float(m.value),  # type: ignore[arg-type]
                        unit=unit_code(m.unit).coded_concept(),
                        derivation=derivation.coded_concept() if derivation else None,
                        algorithm_id=hd.sr.AlgorithmIdentification(
                            name=m.method.function[:64], version=m.method.version[:64]
                        ),
                    )
                )
                used.add(id(m))
        if not items and not failed:
            skipped.append(f"structure {s.id}: no coded measurement")
            continue
        # an outline whose measurements all failed is still reported: the outline, with the
        # reasons as text (review ws14c F1: a signed report with outlines always has an SR)
        texts = [_comment(f"{s.id}: {why}") for why in failed] if not items else []
        kind = structure_code(s.kind.value).coded_concept()
        sites, local = finding_sites(s, ms)
        local_used |= local
        tracking = hd.sr.TrackingIdentifier(
            uid=uid("tracking", s.id), identifier=_tracking_text(s, structure_site(s, ms), ms)
        )
        group: Any
        if not is_dicom_image(image):
            # no SCOORD (it needs a DICOM source image) and no invented UID: a measurement group
            # (TID 1501) with the outline's coordinates and the source file as text (review ws14c F3)
            source_text = non_dicom_source(results, image)
            skipped.append(f"image reference of {s.id}: {source_text} is not a DICOM object")
            group = hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking,
                finding_type=kind,
                finding_sites=sites,
                measurements=items or None,
            )
            texts.append(_comment(_outline_text(image, s.contour, source_text)))
        else:
            ev = evidence.setdefault(image.id, evidence_dataset(results, image))
            frames = [s.frame + 1] if image.n_frames > 1 else None
            source = hd.sr.SourceImageForRegion(
                referenced_sop_class_uid=ev.SOPClassUID,
                referenced_sop_instance_uid=ev.SOPInstanceUID,
                referenced_frame_numbers=frames,
            )
            region = hd.sr.ImageRegion(
                graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                graphic_data=_closed_xy(s.contour),
                source_image=source,
            )
            group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking,
                referenced_region=region,
                finding_type=kind,
                finding_sites=sites,
                measurements=items or None,
            )
        if texts:
            group[0].ContentSequence.extend(texts)
        groups.append(group)
    for m in results.measurements:
        if (
            id(m) not in used
            and m.ok
            and not any(m in results.measurements_of(s) for s in results.structures)
        ):
            skipped.append(f"measurement {m.name}: not tied to an outlined structure")
    if not groups:
        raise MeasurementError("SR: no outlined structure to report (each needs a contour)")
    if observer:
        obs = hd.sr.ObserverContext(
            observer_type=code("DCM", "121006").coded_concept(),
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=_person_name(observer, login=True)
            ),
        )
    else:
        obs = hd.sr.ObserverContext(
            observer_type=code("DCM", "121007").coded_concept(),
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=uid("device"),
                name="sonomsk",
                model_name=f"sonomsk {__version__}",
            ),
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=obs if observer else None,
            observer_device_context=None if observer else obs,
        ),
        procedure_reported=code("LN", "25061-3").coded_concept(),
        imaging_measurements=groups,
    )
    signed = results.signoff.state.value != "draft" and bool(results.signoff.by)
    # verified only by a named person: a report signed on a workstation without sign-in has no
    # identified signer (results.UNIDENTIFIED_SIGNER_NOTE; review ws14c F6)
    verified = signed and not signer_unidentified(results)
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence.values()) or [_study_dataset(results)],
        content=report[0],
        series_number=series_number,
        series_instance_uid=uid("sr-series"),
        sop_instance_uid=uid("sr"),
        instance_number=1,
        manufacturer="sonomsk",
        series_description="sonomsk measurements",
        # a signed report is attested by the person who signed it: complete, final and verified
        # (VerificationFlag VERIFIED with the signer as Verifying Observer); a draft is none of these
        is_complete=signed,
        is_final=signed,
        is_verified=verified,
        verifying_observer_name=_person_name(results.signoff.by, login=True) if verified else None,
        verifying_organization=_long_string(results.study.institution or "not recorded")
        if verified
        else None,
        institution_name=_long_string(results.study.institution) if results.study.institution else None,
        coding_schemes=_local_scheme_items() if local_used else None,
    )
    if not evidence:  # the placeholder gave only patient and study attributes: it is no evidence
        for keyword in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
            if keyword in sr:
                delattr(sr, keyword)
    if observer:
        _logins_as_written(sr, {_person_name(observer, login=True)})
    _set_predecessor(sr, results)
    when = _dicom_datetime(results.signoff.at) if verified else None
    if when is not None:  # verified when it was signed, not when this copy was made
        sr.VerifyingObserverSequence[0].VerificationDateTime = when
    # a de-identified draft has no creation time left: the study's year stands in
    _date_from_results(sr, results.signoff.at if signed else (results.created or results.study.date))
    return sr, skipped


def _logins_as_written(ds: Any, written: set[str]) -> None:
    """Write the signer's login back as it is (review ws15d N5): the store keeps no display name,
    and highdicom's person-name check asks for a single component to end in '^', which declares
    the login a family name ("asmith^"). Every PN element (nested ones too) holding one of
    ``written`` with such a caret loses it; a name the signer gave in PN form keeps its own."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _logins_as_written(item, written)
        elif (
            elem.VR == "PN"
            and str(elem.value) in written
            and str(elem.value).endswith("^")
            and "^" not in str(elem.value).rstrip("^")
        ):
            elem.value = str(elem.value).rstrip("^")


def signer_unidentified(results: StudyResults) -> bool:
    """Whether the report was signed without an identified person (its sign-off note says so)."""
    from sonomsk.report.results import UNIDENTIFIED_SIGNER_NOTE

    return (results.signoff.note or "").startswith(UNIDENTIFIED_SIGNER_NOTE)


def sr_uids(results: StudyResults, uid_seed: str = "") -> dict[str, str]:
    """The Series and SOP Instance UIDs the SR of ``results`` (with ``uid_seed``) gets, without
    building it: a later report names them as its predecessor."""
    uid = _content_uids(results, uid_seed)
    return {"series_uid": uid("sr-series"), "sop_instance_uid": uid("sr")}


#: SOP Class of the SR (Comprehensive 3D SR).
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


def _set_predecessor(sr: Any, results: StudyResults) -> None:
    """Predecessor Documents Sequence (PS3.3 C.17.2.3): the SR of the signed report this one
    replaces, as ``results.extra["supersedes"]`` names it (``study_uid``, ``series_uid``,
    ``sop_instance_uid``)."""
    from pydicom.dataset import Dataset

    prev = results.extra.get("supersedes")
    if not isinstance(prev, Mapping) or not prev.get("sop_instance_uid") or not prev.get("series_uid"):
        return
    sop = Dataset()
    sop.ReferencedSOPClassUID = COMPREHENSIVE_3D_SR
    sop.ReferencedSOPInstanceUID = str(prev["sop_instance_uid"])
    series = Dataset()
    series.SeriesInstanceUID = str(prev["series_uid"])
    series.ReferencedSOPSequence = [sop]
    study = Dataset()
    study.StudyInstanceUID = str(prev.get("study_uid") or sr.StudyInstanceUID)
    study.ReferencedSeriesSequence = [series]
    sr.PredecessorDocumentsSequence = [study]


def _local_scheme_items() -> list[Any]:
    """Coding Scheme Identification items of the local scheme (type 1C: a designator not in
    PS3.16 must be identified in the data set that uses it)."""
    from highdicom.coding_schemes import CodingSchemeIdentificationItem

    return [
        CodingSchemeIdentificationItem(
            designator=designator,
            name=info.get("name"),
            version=info.get("version"),
            responsible_organization=info.get("organization"),
        )
        for designator, info in local_schemes().items()
    ]


def _date_from_results(ds: Any, value: str | None) -> None:
    """Content, instance-creation and contribution date-times from the frozen results (the
    signature's time, else their creation), not the time this copy is written: one SOP Instance
    UID then names one object, byte for byte. A value de-identified to its year gives 1 January of
    that year at 00:00 (the dates of a de-identified export keep their year only); a missing or
    unreadable value leaves highdicom's own (now)."""
    t = dt.datetime(int(value), 1, 1) if value and re.fullmatch(r"\d{4}", value) else _iso_time(value)
    if t is None:
        return
    if t.tzinfo is not None:
        # local time, as the study's own dates and times are read without TimezoneOffsetFromUTC
        # (VerificationDateTime keeps its offset)
        t = t.astimezone()
    date, time = t.strftime("%Y%m%d"), t.strftime("%H%M%S")
    ds.ContentDate, ds.ContentTime = date, time
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    for item in ds.get("ContributingEquipmentSequence", []):
        item.ContributionDateTime = date + time
    if "SeriesDate" in ds:
        ds.SeriesDate, ds.SeriesTime = date, time


def write_sr(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    deidentify_key: str | None = None,
    uid_seed: str = "",
) -> ExportSummary:
    """Write the study's measurements as a DICOM SR (TID 1500) file (``uid_seed``: see
    :func:`sr_dataset`).

    Raises
    ------
    MeasurementError
        When no structure has an outline (contour).
    """
    r = _prepare(results, deidentify_key)
    observer = r.signoff.by if r.signoff.state.value != "draft" and not signer_unidentified(r) else None
    sr, skipped = sr_dataset(r, observer=observer, uid_seed=uid_seed)
    if deidentify_key is not None:
        from sonomsk.report.deid import mark_deidentified

        mark_deidentified(sr, deidentify_key, r.patient.name)
    out = Path(path)
    sr.save_as(out, enforce_file_format=True)
    n = sum(1 for s in r.structures if not any(x.startswith(f"structure {s.id}:") for x in skipped))
    return ExportSummary(path=out, written=n, skipped=tuple(skipped))


def structure_mask(structure: Structure, image: ImageRef) -> np.ndarray:
    """Boolean (row, col) mask of a structure from its contour (or its mask file)."""
    if structure.contour is not None:
        from skimage.draw import polygon

        pts = np.asarray(structure.contour)
        mask = np.zeros((image.rows, image.cols), dtype=bool)
        rr, cc = polygon(pts[:, 0], pts[:, 1], shape=mask.shape)
        mask[rr, cc] = True
        return mask
    if structure.mask_path is None:
        raise MeasurementError(f"structure {structure.id}: neither a contour nor a mask file")
    p = Path(structure.mask_path)
    arr = np.load(p) if p.suffix == ".npy" else np.asarray(__import__("PIL.Image").Image.open(p))
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.shape != (image.rows, image.cols):
        raise MeasurementError(
            f"{p}: mask of {arr.shape} does not match image {image.id} of {image.rows} x {image.cols} px"
        )
    return arr > 0


def write_seg(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    deidentify_key: str | None = None,
) -> list[ExportSummary]:
    """Write the outlines as DICOM SEG, one file per outlined image.

    With one outlined image the file is ``path``; with several, ``<stem>_<image id><suffix>``.
    A frame of a cine (multi-frame image without a frame of reference) cannot be segmented by
    highdicom; such structures are listed in ``skipped``.

    Raises
    ------
    MeasurementError
        When the study has no outlined single-frame image.
    """
    import highdicom as hd

    r = _prepare(results, deidentify_key)
    uid = _content_uids(r)
    outlined = [s for s in r.structures if s.contour is not None or s.mask_path is not None]
    by_image: dict[str, list[Structure]] = {}
    skipped: list[str] = []
    for s in outlined:
        if not is_dicom_image(r.image(s.image)):
            skipped.append(
                f"structure {s.id}: on {non_dicom_source(r, r.image(s.image))}, not a DICOM object"
            )
            continue
        if r.image(s.image).n_frames > 1:
            skipped.append(
                f"structure {s.id}: on a frame of a cine, which highdicom cannot segment without a frame of reference"
            )
            continue
        by_image.setdefault(s.image, []).append(s)
    if not by_image:
        non_dicom = sorted({s.image for s in outlined if not is_dicom_image(r.image(s.image))})
        cine = sorted({s.image for s in outlined if is_dicom_image(r.image(s.image))})
        if non_dicom and not cine:  # the real reason (review ws15d N4)
            info = r.extra.get("non_dicom_images")
            formats = sorted(
                {
                    str(e["format"])
                    for e in (info.values() if isinstance(info, Mapping) else ())
                    if isinstance(e, Mapping) and e.get("format")
                }
            )
            raise MeasurementError(
                f"SEG: no outlined image is a DICOM object (image {', '.join(non_dicom)}"
                f"{': ' + '/'.join(formats) + ' file' if formats else ''}), so there is no DICOM image "
                "frame for a segmentation to reference"
            )
        raise MeasurementError(
            "SEG: the study has no outlined single-frame image"
            + (f" ({len(non_dicom)} outlined image(s) are not DICOM objects)" if non_dicom else "")
        )
    out = Path(path)
    summaries = []
    category = code("SCT", "91723000").coded_concept()
    family = code("DCM", "123110").coded_concept()
    for k, (image_id, structs) in enumerate(by_image.items()):
        image = r.image(image_id)
        pixels = np.stack([structure_mask(s, image) for s in structs], axis=-1)[np.newaxis]
        descriptions = [
            hd.seg.SegmentDescription(
                segment_number=j + 1,
                segment_label=f"{s.label} ({s.id})"[:64],
                segmented_property_category=category,
                segmented_property_type=structure_code(s.kind.value).coded_concept(),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
                algorithm_identification=hd.AlgorithmIdentificationSequence(
                    name="sonomsk", version=__version__, family=family
                ),
            )
            for j, s in enumerate(structs)
        ]
        seg = hd.seg.Segmentation(
            source_images=[evidence_dataset(r, image)],
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=uid("seg-series", image_id),
            series_number=901 + k,
            sop_instance_uid=uid("seg", image_id),
            instance_number=1,
            manufacturer="sonomsk",
            manufacturer_model_name="sonomsk",
            software_versions=__version__,
            device_serial_number="none",
            series_description="sonomsk outlines",
        )
        if "PatientOrientation" not in seg:
            seg.PatientOrientation = ""  # type 2C in the General Image module (no frame of reference)
        signed = r.signoff.state.value != "draft" and bool(r.signoff.by)
        # content and creation times from the frozen results (a de-identified export has only the
        # year left), as the SR's: never the time (on the exam day, the date) of this copy
        _date_from_results(seg, r.signoff.at if signed else (r.created or r.study.date))
        if deidentify_key is not None:
            from sonomsk.report.deid import mark_deidentified

            mark_deidentified(seg, deidentify_key, r.patient.name)
        target = out if len(by_image) == 1 else out.with_name(f"{out.stem}_{_safe(image_id)}{out.suffix}")
        seg.save_as(target, enforce_file_format=True)
        summaries.append(ExportSummary(path=target, written=len(structs), skipped=tuple(skipped)))
    return summaries


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
