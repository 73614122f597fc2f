"""De-identification of RESULTS and of the DICOM sources of an export.

Calls :mod:`sonomsk.io.deidentify` (``deidentify_dataset(ds, key=...)``, ``pseudonym(value, key)``
and ``deidentify_record(patient, key)``), so that a report, an SR/SEG, a FHIR bundle and a CSV
made with the same key carry the same pseudonyms and the same replacement UIDs as the
de-identified images.

What changes: patient name/id/birth date/sex (by ``deidentify_record``); accession, operator,
referring physician and signer (pseudonyms); institution and study description (removed, as
the images' de-identification removes them); study date, signing and correction times (shifted
by the keyed offset the images' dates get, :func:`date_shift`; the year only where the
de-identifier shifts no dates) and the results' creation time (removed: it is usually the
exam's day); the sha256 of a non-DICOM source file (a keyed hash, :func:`keyed_file_hash`); every
Study/Series/SOP Instance UID (through ``deidentify_dataset`` on a tiny data set, so the mapping is
the images' mapping); file paths and path-like provenance (removed). Free text written by people
(indication, notes, sign-off note) is kept as written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from sonomsk.core.errors import BackendUnavailableError, DeidentificationError
from sonomsk.core.results import Measurement
from sonomsk.report.results import UNIDENTIFIED_LOGINS, ImageRef, Patient, StudyResults

_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _api() -> Any:
    import importlib

    try:
        deidentify = importlib.import_module("sonomsk.io.deidentify")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"de-identification needs sonomsk.io.deidentify, which is not available ({exc})"
        ) from None
    return deidentify


def deidentify_source(ds: Any, key: str) -> Any:
    """A de-identified copy of a pydicom Dataset (the source of an SR or SEG)."""
    import copy

    work = copy.deepcopy(ds)
    out = _api().deidentify_dataset(work, key=key)
    return work if out is None else out


def mark_deidentified(ds: Any, key: str, patient_name: str | None = None) -> Any:
    """Declare an SR or SEG made from de-identified RESULTS as de-identified, as
    :func:`sonomsk.io.deidentify.deidentify_dataset` declares the images: PatientIdentityRemoved
    YES (these objects hold no burned-in text), DeidentificationMethod (with the key fingerprint)
    and its code sequence (PS3.15 basic profile and the options the images' de-identification
    uses), and the pseudonym ``patient_name`` written as the de-identified images carry it
    (without the component separator a single-component PN otherwise gets). Returns ``ds``."""
    import copy

    api = _api()
    from pydicom.dataset import Dataset

    probe = Dataset()
    probe.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    probe.Modality = "US"
    out = api.deidentify_dataset(probe, key=key)
    probe = probe if out is None else out
    ds.PatientIdentityRemoved = "YES"
    if patient_name:
        ds.PatientName = patient_name
    # every pseudonymised person name in the images' form: a pseudonym is one component, written
    # without the trailing '^' the SR writer gives a family-name-only PN (review ws15d N3)
    for keyword in ("PatientName", "ReferringPhysicianName"):
        value = str(ds.get(keyword) or "")
        if value.endswith("^") and "^" not in value.rstrip("^") and "=" not in value:
            setattr(ds, keyword, value.rstrip("^"))
    if "StudyDescription" in ds:  # the images' de-identification removes it (PS3.15 basic profile)
        del ds.StudyDescription
    # the de-identifier's own method text; one that writes none: what was done, named here
    ds.DeidentificationMethod = copy.deepcopy(probe.get("DeidentificationMethod")) or (
        "sonomsk: RESULTS de-identified with keyed pseudonyms and UIDs"
    )
    if "DeidentificationMethodCodeSequence" in probe:
        ds.DeidentificationMethodCodeSequence = copy.deepcopy(probe.DeidentificationMethodCodeSequence)
    return ds


def map_uids(uids: Mapping[str, str | None], key: str) -> dict[str, str | None]:
    """Replacement UIDs for ``{keyword: uid}`` (keywords of ``_UID_KEYWORDS``), as the images get them."""
    from pydicom.dataset import Dataset

    present = {k: v for k, v in uids.items() if v}
    if not present:
        return dict(uids)
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.Modality = "US"
    for keyword, value in present.items():
        setattr(ds, keyword, value)
    out = _api().deidentify_dataset(ds, key=key)
    ds = ds if out is None else out
    mapped: dict[str, str | None] = {}
    for keyword, uid in uids.items():
        replaced = getattr(ds, keyword, None) if uid else None
        if uid and (not replaced or str(replaced) == uid):
            raise DeidentificationError(f"{keyword}: the de-identifier kept the original UID; refusing")
        mapped[keyword] = str(replaced) if replaced else None
    return mapped


def deidentify_results(results: StudyResults, key: str, *, keep_paths: bool = False) -> StudyResults:
    """The RESULTS with the patient pseudonymised and identifying study fields replaced.

    ``keep_paths`` keeps image file paths (for rendering pixels; never written to an export).

    Raises
    ------
    DeidentificationError
        When the de-identifier left the patient's name or id unchanged.
    """
    if not key:
        raise DeidentificationError("key: a non-empty de-identification key is required")
    api = _api()
    p = results.patient
    record = {"name": p.name, "id": p.id, "birth_date": p.birth_date, "sex": p.sex}
    new = dict(api.deidentify_record(dict(record), key))
    for field in ("name", "id"):
        if record[field] and new.get(field) == record[field]:
            raise DeidentificationError(
                f"patient {field}: the de-identifier kept the original value; refusing"
            )
    birth_year = _opt_str(new.get("birth_date"))
    # the age at the study (this year when the study has no date): 90 or older is one category
    # under HIPAA Safe Harbor, and a birth year would give the age back
    study_year = results.study.date[:4] if results.study.date else ""
    ref_year = int(study_year) if study_year.isdigit() else dt.date.today().year
    if birth_year and birth_year[:4].isdigit() and ref_year - int(birth_year[:4]) >= _AGE_CAP:
        birth_year = None
    patient = Patient(
        name=_opt_str(new.get("name")),
        id=_opt_str(new.get("id")),
        birth_date=birth_year,
        sex=_opt_str(new.get("sex")),
        pseudonymised=True,
    )

    def pseudo(value: str | None) -> str | None:
        return None if not value else str(api.pseudonym(value, key))

    def person(value: str | None) -> str | None:
        """A signer or corrector: pseudonymised, unless the login names nobody ("local")."""
        return value if value in UNIDENTIFIED_LOGINS else pseudo(value)

    shift = date_shift(key)

    def when(value: str | None) -> str | None:
        return shift_time(value, shift)

    s = results.study
    study_uid = map_uids({"StudyInstanceUID": s.study_uid}, key)["StudyInstanceUID"] if s.study_uid else None
    study = dataclasses.replace(
        s,
        study_uid=study_uid,
        accession=pseudo(s.accession),
        date=shift_date(s.date, shift),
        # removed, as the images' de-identification removes it (PS3.15 basic profile; ws15d N3)
        description=None,
        institution=None,
        operator=pseudo(s.operator),
        referring=pseudo(s.referring),
    )
    images = []
    for im in results.images:
        m = map_uids(
            {
                "StudyInstanceUID": im.study_uid,
                "SeriesInstanceUID": im.series_uid,
                "SOPInstanceUID": im.sop_instance_uid,
            },
            key,
        )
        images.append(
            dataclasses.replace(
                im,
                path=im.path if keep_paths else None,
                study_uid=m["StudyInstanceUID"],
                series_uid=m["SeriesInstanceUID"],
                sop_instance_uid=m["SOPInstanceUID"],
            )
        )
    signoff = dataclasses.replace(
        results.signoff,
        by=person(results.signoff.by),
        at=when(results.signoff.at),  # shifted as the study date (or its year only)
    )
    return dataclasses.replace(
        results,
        patient=patient,
        study=study,
        images=tuple(images),
        measurements=tuple(
            _scrub_measurement(m, images, results.images, person, lambda h: keyed_file_hash(h, key), when)
            for m in results.measurements
        ),
        signoff=signoff,
        created=None,  # made on the exam's day: a full timestamp would give the date back (FHIR issued)
        nerve_assessment=_cap_ages(results.nerve_assessment),
        differential=_cap_ages(results.differential),
        muscle=_cap_ages(results.muscle),
        procedure=_cap_ages(results.procedure),
        extra=_cap_ages(_map_file_hashes(_map_supersedes(results.extra, key, when), key)),
    )


def keyed_file_hash(sha256: str, key: str) -> str:
    """A keyed pseudonym of a file's sha256 (HMAC-SHA256 with the de-identification key, 32 hex
    digits): the same file and key give the same value, so a de-identified export still tells
    its images apart, but nobody without the key can link it to the original file (review ws15d
    N2: the plain hash names the uploaded screenshot, which may carry the patient's name)."""
    import hashlib
    import hmac

    if not key:
        raise DeidentificationError("key: a non-empty de-identification key is required")
    message = b"sonomsk-file-hash\x00" + str(sha256).strip().lower().encode("ascii", "replace")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


def _map_file_hashes(extra: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``extra`` with each non-DICOM image's ``sha256`` (``extra["non_dicom_images"]``) replaced
    by its :func:`keyed_file_hash` (``keyed_hash``)."""
    out = dict(extra)
    info = out.get("non_dicom_images")
    if not isinstance(info, Mapping):
        return out
    mapped: dict[str, Any] = {}
    for image_id, entry in info.items():
        if isinstance(entry, Mapping):
            e = {k: v for k, v in entry.items() if k != "sha256"}
            if entry.get("sha256"):
                e["keyed_hash"] = keyed_file_hash(str(entry["sha256"]), key)
            mapped[image_id] = e
        else:
            mapped[image_id] = entry
    out["non_dicom_images"] = mapped
    return out


def date_shift(key: str) -> dt.timedelta | None:
    """The keyed offset by which the de-identifier shifts the images' dates and times (the PS3.15
    modified-dates option), found by de-identifying a probe data set with this key; None when the
    de-identifier does not shift dates (then dates keep their year only)."""
    from pydicom.dataset import Dataset

    probe = Dataset()
    probe.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    probe.Modality = "US"
    probe.StudyDate, probe.StudyTime = "20000101", "000000"
    out = _api().deidentify_dataset(probe, key=key)
    probe = probe if out is None else out
    try:
        shifted = dt.datetime.strptime(
            str(probe.get("StudyDate") or "")[:8] + str(probe.get("StudyTime") or "000000")[:6],
            "%Y%m%d%H%M%S",
        )
    except ValueError:
        return None
    offset = shifted - dt.datetime(2000, 1, 1)
    return offset or None


def shift_date(value: str | None, shift: dt.timedelta | None) -> str | None:
    """An ISO date (YYYY-MM-DD) shifted as the de-identifier shifts a DICOM date without a time
    (its midnight plus the offset); its year only when there is no shift or it cannot be read."""
    if not value:
        return None
    try:
        day = dt.datetime.strptime(re.sub(r"\D", "", value)[:8], "%Y%m%d")
    except ValueError:
        day = None
    if shift is None or day is None:
        return value[:4]
    return (day + shift).date().isoformat()


def shift_time(value: str | None, shift: dt.timedelta | None) -> str | None:
    """An ISO date-time shifted by the images' offset; its year only without a shift."""
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        t = None
    if shift is None or t is None:
        return value[:4]
    return (t + shift).isoformat()


def _map_supersedes(
    extra: Mapping[str, Any], key: str, when: Callable[[str | None], str | None]
) -> dict[str, Any]:
    """``extra`` without the UIDs and signer of the report it supersedes (``extra["supersedes"]``):
    a de-identified SR gets UIDs made from its de-identified content, which a mapping of the
    original SR's UIDs would not name, so a de-identified SR has no Predecessor Documents
    Sequence; the earlier report's number and year stay."""
    out = dict(extra)
    prev = out.get("supersedes")
    if not isinstance(prev, Mapping):
        return out
    kept = {k: v for k, v in prev.items() if k in ("report", "signed_at")}
    if isinstance(kept.get("signed_at"), str):
        kept["signed_at"] = when(kept["signed_at"])
    out["supersedes"] = kept
    return out


#: Ages of 90 and above are one category under HIPAA Safe Harbor (the DICOM path writes 090Y).
_AGE_CAP = 90
_AGE_TEXT = re.compile(r"\bage (\d+(?:\.\d+)?) years?")


def _cap_ages(value: Any) -> Any:
    """A copy of a results section with every age of 90 or more made 90: ``age`` fields and the
    "age N years" of generated notes (the assessment's covariate notes quote the age)."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k == "age" and isinstance(v, int | float) and not isinstance(v, bool) and v >= _AGE_CAP:
                out[k] = _AGE_CAP
            else:
                out[k] = _cap_ages(v)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_cap_ages(v) for v in value)
    if isinstance(value, str):
        return _AGE_TEXT.sub(
            lambda m: f"age {_AGE_CAP} years or older" if float(m.group(1)) >= _AGE_CAP else m.group(0), value
        )
    return value


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _scrub_measurement(
    m: Measurement,
    new: list[ImageRef],
    old: tuple[ImageRef, ...],
    pseudo: Callable[[str | None], str | None],
    keyed: Callable[[str], str],
    when: Callable[[str | None], str | None],
) -> Measurement:
    """Paths out, UIDs mapped, file hashes (``sha256``, ``*hash*``) keyed, who corrected it
    pseudonymised (``*_by``) and when shifted (``*_at``), as the sign-off is."""
    uid_map = {
        o.sop_instance_uid: n.sop_instance_uid for o, n in zip(old, new, strict=True) if o.sop_instance_uid
    }
    prov: dict[str, Any] = {}
    for k, v in m.provenance.items():
        if "path" in k.lower() or "file" in k.lower():
            continue
        if isinstance(v, str) and v in uid_map:
            v = uid_map[v]
        elif ("sha256" in k.lower() or "hash" in k.lower()) and isinstance(v, str):
            k, v = "keyed_hash", keyed(v)
        elif k.endswith("_by") and isinstance(v, str):
            v = pseudo(v)
        elif k.endswith("_at") and isinstance(v, str):
            v = when(v)
        prov[k] = v
    return dataclasses.replace(m, provenance=prov)
