"""De-identification: keyed pseudonyms in the headers, burned-in text blanked in the pixels.

Headers follow the DICOM PS3.15 Basic Application Level Confidentiality Profile through
dicognito (repeatable replacement UIDs, dates shifted by a keyed offset, addresses and
institutions replaced) with these additions: dates move back by a keyed whole number of days
(62 to 729; :func:`date_offset_days`), so that times of day are kept and a date shifts to the
same day whether or not its data set carries a time (an SR or SEG of the study, which knows the
study's date but not its time, agrees with its images whatever the hour of the scan); every
person name, the Patient ID and the Accession Number become :func:`pseudonym` values (the same
ones the report room writes into its exports), the birth date is removed (the age is kept),
private tags, overlays, curves, icon images and free-text comments are removed. The key itself
is never written; a fingerprint of it is.

Pixels: every pixel outside the union of the image's valid ultrasound regions (tissue, colour or
power Doppler, spectral Doppler, M-mode), or outside a box the user chooses, is set to 0 in every
frame; the file is written uncompressed (explicit VR little endian) with decoded pixels. What
cannot be blanked safely (no region and no box, encapsulated video, video files, still images
without a region sidecar or a box) is refused with :class:`DeidentificationError` and nothing is
written.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk import __version__
from sonomsk.core.errors import (
    CalibrationWarning,
    CorruptDataError,
    DeidentificationError,
    InvalidParameterError,
)
from sonomsk.core.image import Region, RegionKind, UltrasoundImage

#: Region kinds whose pixels are ultrasound data and are kept; everything else is blanked.
KEPT_KINDS = frozenset(
    {
        RegionKind.TISSUE,
        RegionKind.COLOR_DOPPLER,
        RegionKind.POWER_DOPPLER,
        RegionKind.SPECTRAL_DOPPLER,
        RegionKind.M_MODE,
    }
)
#: Elements removed outright (free text and identifiers dicognito leaves in place), PS3.15 X.
REMOVED_KEYWORDS = frozenset(
    {
        "AcquisitionComments",
        "AdditionalPatientHistory",
        "AdmittingDiagnosesDescription",
        "Allergies",
        "DerivationDescription",
        "DeviceSerialNumber",
        "EthnicGroup",
        "FrameComments",
        "IconImageSequence",
        "ImageComments",
        "InterpretationText",
        "IssuerOfPatientID",
        "MedicalAlerts",
        "OtherPatientIDsSequence",
        "PatientAddress",
        "PatientComments",
        "PatientInsurancePlanCodeSequence",
        "PatientMotherBirthName",
        "PatientState",
        "PatientTelephoneNumbers",
        "PerformedProcedureStepDescription",
        "PersonIdentificationCodeSequence",
        "ReasonForStudy",
        "ReasonForTheRequestedProcedure",
        "RequestedProcedureComments",
        "RequestedProcedureDescription",
        "ScheduledProcedureStepDescription",
        "SeriesDescription",
        "StudyComments",
        "StudyDescription",
        "TextComments",
    }
)
#: Elements replaced by :func:`pseudonym` of their value (besides every PN element).
PSEUDONYM_KEYWORDS = frozenset({"PatientID", "AccessionNumber"})
#: Elements emptied (type 2 elements that must stay present).
EMPTIED_KEYWORDS = frozenset({"PatientBirthDate", "PatientBirthTime"})
#: Pixel-module elements that no longer describe the decoded, blanked pixels.
_STALE_PIXEL_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "PixelPaddingValue",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
)
_VIDEO_TS = frozenset(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109))
_STILL_SUFFIXES = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
}
#: Ages above this are written as 90 (the HIPAA Safe Harbor ceiling).
_MAX_AGE_YEARS = 89


# -- keys and pseudonyms ---------------------------------------------------------------------
def _check_key(key: str) -> bytes:
    if not isinstance(key, str) or not key:
        raise InvalidParameterError("key: expected a non-empty de-identification key")
    return key.encode("utf-8")


def pseudonym(value: str, key: str) -> str:
    """A repeatable pseudonym of ``value``: ``ANON`` and 12 base-32 characters of HMAC-SHA256.

    16 characters in all (60 keyed bits), so it fits every DICOM text VR (SH is 16 long).

    The same value and key always give the same pseudonym; another key gives another one. Leading
    and trailing blanks and DICOM's trailing ``^`` separators are ignored; an empty value stays
    empty.
    """
    k = _check_key(key)
    text = str(value).strip().rstrip("^=").strip()
    if not text:
        return ""
    digest = hmac.new(k, b"pseudonym\x00" + text.encode("utf-8"), hashlib.sha256).digest()
    return "ANON" + base64.b32encode(digest).decode("ascii")[:12]


def key_fingerprint(key: str) -> str:
    """12 hex digits identifying a key (to tell which key was used); the key cannot be recovered."""
    return hmac.new(_check_key(key), b"sonomsk-deid-fingerprint", hashlib.sha256).hexdigest()[:12]


def random_key() -> str:
    """A fresh random key: pseudonyms made with it cannot be linked to any other run."""
    return secrets.token_hex(16)


def _dicognito_seed(key: str) -> str:
    return hmac.new(_check_key(key), b"sonomsk-deid-dicognito-seed", hashlib.sha256).hexdigest()


#: the range of the keyed date offset, in days back: dicognito's own (62 to 730 days)
DATE_OFFSET_DAYS = (62, 730)


def date_offset_days(key: str) -> int:
    """The keyed number of days (negative) by which de-identification moves every date back.

    Whole days: dicognito's own offset is a number of hours, so a date with a time of day late
    enough (a scan at 23:00) moved to another day than the same date without a time (the SR and
    SEG of the study, which carry no study time), and dcentvfy found the study's date differing
    between the de-identified images and their report (CI of 2026-11-22, run at 14:15 UTC)."""
    lo, hi = DATE_OFFSET_DAYS
    digest = hmac.new(_check_key(key), b"sonomsk-deid-date-offset-days", hashlib.sha256).digest()
    return -(lo + int.from_bytes(digest[:8], "big") % (hi - lo))


def deidentify_record(patient: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A plain patient record with name and id pseudonymised, the birth date cut to the year.

    Keeps ``sex`` and ``age``; every other key (address, phone, ...) is dropped. A birth date that
    does not start with a four-digit year is removed.
    """
    _check_key(key)
    out: dict[str, Any] = {}
    for name in ("name", "id"):
        value = patient.get(name)
        out[name] = (pseudonym(str(value), key) or None) if value not in (None, "") else None
    birth = str(patient.get("birth_date") or "").strip()
    out["birth_date"] = birth[:4] if len(birth) >= 4 and birth[:4].isdigit() else None
    for name in ("sex", "age"):
        if name in patient:
            out[name] = patient[name]
    return out


# -- headers ---------------------------------------------------------------------------------
def _element_handler(key: str) -> Any:
    from dicognito.datetimeanonymizer import DateTimeAnonymizer
    from dicognito.element_anonymizer import ElementAnonymizer
    from pydicom.multival import MultiValue

    dates = DateTimeAnonymizer(24 * date_offset_days(key))  # whole days (date_offset_days)

    class _Handler(ElementAnonymizer):
        """Runs before dicognito's own handlers: pseudonyms, removals, emptied elements and the
        whole-day date shift."""

        def __call__(self, dataset: Any, data_element: Any) -> bool:
            keyword = data_element.keyword
            if keyword in REMOVED_KEYWORDS:
                del dataset[data_element.tag]
                return True
            if keyword in EMPTIED_KEYWORDS:
                data_element.value = ""
                return True
            if data_element.VR in ("DA", "DT"):
                return bool(dates(dataset, data_element))
            if data_element.VR == "PN" or keyword in PSEUDONYM_KEYWORDS:
                if data_element.value in (None, ""):
                    return True
                if isinstance(data_element.value, MultiValue):
                    data_element.value = [pseudonym(str(v), key) for v in data_element.value]
                else:
                    data_element.value = pseudonym(str(data_element.value), key)
                return True
            return False

        def describe_actions(self) -> Iterator[str]:
            yield "Replace PN, PatientID and AccessionNumber with keyed HMAC-SHA256 pseudonyms"
            yield "Move DA and DT values back by a keyed whole number of days (times of day kept)"
            yield from (f"Remove {k}" for k in sorted(REMOVED_KEYWORDS))
            yield from (f"Empty {k}" for k in sorted(EMPTIED_KEYWORDS))

    return _Handler()


def _age_from_dates(ds: Any) -> str | None:
    birth = str(ds.get("PatientBirthDate", "") or "")
    when = next((str(ds.get(k)) for k in ("StudyDate", "AcquisitionDate", "ContentDate") if ds.get(k)), "")
    try:
        b = _dt.datetime.strptime(birth[:8], "%Y%m%d").date()
        s = _dt.datetime.strptime(when[:8], "%Y%m%d").date()
    except ValueError:
        return None
    years = s.year - b.year - ((s.month, s.day) < (b.month, b.day))
    return None if years < 0 else f"{min(years, _MAX_AGE_YEARS + 1):03d}Y"


def _cap_age(value: str) -> str:
    text = value.strip()
    if len(text) == 4 and text[:3].isdigit() and text[3] == "Y" and int(text[:3]) > _MAX_AGE_YEARS:
        return f"{_MAX_AGE_YEARS + 1:03d}Y"
    return text


def _method_codes() -> list[Any]:
    from pydicom.dataset import Dataset

    items = []
    for value, meaning in (
        ("113100", "Basic Application Confidentiality Profile"),
        ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
        ("113108", "Retain Patient Characteristics Option"),
    ):
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    return items


def deidentify_dataset(ds: Any, *, key: str, pixel_note: str | None = None) -> Any:
    """De-identify the header of a pydicom Dataset in place and return it.

    Parameters
    ----------
    ds
        A pydicom Dataset (with or without file meta and pixel data).
    key
        The de-identification key: the same key gives the same pseudonyms, UIDs and date shift.
    pixel_note
        How the pixel data was cleaned (set by :func:`deidentify_dicom` after blanking). Without
        it, ``PatientIdentityRemoved`` is YES only when the data set has no pixel data or
        already declares ``BurnedInAnnotation`` NO.
    """
    from dicognito import __version__ as dicognito_version
    from dicognito.anonymizer import Anonymizer
    from pydicom.dataset import FileMetaDataset

    _check_key(key)
    age = ds.get("PatientAge")
    if age:
        ds.PatientAge = _cap_age(str(age))
    elif "PatientBirthDate" in ds:
        computed = _age_from_dates(ds)
        if computed:
            ds.PatientAge = computed
    ds.remove_private_tags()
    for tag in [e.tag for e in ds if 0x5000 <= e.tag.group <= 0x60FF and e.tag.group % 2 == 0]:
        del ds[tag]  # curves (50xx) and overlays (60xx) can hold burned-in style graphics and text
    added_meta = not hasattr(ds, "file_meta") or ds.file_meta is None
    if added_meta:
        ds.file_meta = FileMetaDataset()
    previous_method = ds.get("DeidentificationMethod")
    anonymizer = Anonymizer(seed=_dicognito_seed(key))
    anonymizer.add_element_handler(_element_handler(key))
    anonymizer.anonymize(ds)
    if added_meta:
        del ds.file_meta
    methods = [
        f"sonomsk {__version__} PS3.15 basic profile",
        f"dicognito {dicognito_version}, keyed pseudonyms",
        f"key fingerprint {key_fingerprint(key)}",
    ]
    if previous_method:  # an earlier de-identification stays on record
        earlier = [previous_method] if isinstance(previous_method, str) else list(previous_method)
        methods[:0] = [str(v)[:64] for v in earlier if str(v) not in ("", "DICOGNITO")]
    clean = pixel_note is not None
    if clean:
        methods.append(str(pixel_note)[:64])
    ds.DeidentificationMethod = methods
    codes = _method_codes()
    if clean:
        codes.insert(1, _code("113101", "Clean Pixel Data Option"))
        ds.BurnedInAnnotation = "NO"
    ds.DeidentificationMethodCodeSequence = codes
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    declared_clean = str(ds.get("BurnedInAnnotation", "") or "").upper() == "NO"
    ds.PatientIdentityRemoved = "YES" if (clean or not has_pixels or declared_clean) else "NO"
    return ds


def _code(value: str, meaning: str) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def _flatten(ds: Any, prefix: tuple[int, ...] = ()) -> dict[tuple[int, ...], str]:
    out: dict[tuple[int, ...], str] = {}
    for elem in ds:
        path = (*prefix, int(elem.tag))
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                out.update(_flatten(item, (*path, i)))
        elif int(elem.tag) != 0x7FE00010:
            out[path] = repr(elem.value)
    return out


def count_changes(before: Any, after: Any) -> tuple[int, int]:
    """(removed, replaced) elements between two data sets, nested sequences included."""
    a = _flatten(before)
    b = _flatten(after)
    if hasattr(before, "file_meta") and hasattr(after, "file_meta"):
        a.update({(0, *k): v for k, v in _flatten(before.file_meta).items()})
        b.update({(0, *k): v for k, v in _flatten(after.file_meta).items()})
    removed = sum(1 for k in a if k not in b)
    replaced = sum(1 for k, v in a.items() if k in b and b[k] != v)
    return removed, replaced


# -- files -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeidReport:
    """What :func:`deidentify_dicom` did to one file."""

    source: str
    output: str
    key_fingerprint: str
    random_key: bool
    removed_tags: int
    replaced_tags: int
    blanked_fraction: float
    kept_boxes: tuple[tuple[int, int, int, int], ...]
    kept_by: str
    frames: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "refused": False,
            "key_fingerprint": self.key_fingerprint,
            "random_key": self.random_key,
            "removed_tags": self.removed_tags,
            "replaced_tags": self.replaced_tags,
            "blanked_fraction": self.blanked_fraction,
            "kept_boxes_xyxy": [[c0, r0, c1 - 1, r1 - 1] for r0, c0, r1, c1 in self.kept_boxes],
            "kept_by": self.kept_by,
            "frames": self.frames,
            "notes": list(self.notes),
        }


def parse_keep_box(text: str) -> tuple[int, int, int, int]:
    """``"x0,y0,x1,y1"`` (inclusive pixels) to a tuple of four integers."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InvalidParameterError(f"--keep-box: expected x0,y0,x1,y1 as four integers, got {text!r}")
    return (values[0], values[1], values[2], values[3])


def _keep_box_to_region_box(
    keep_box: Sequence[int], rows: int, cols: int, source: Path
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in keep_box)
    if not (0 <= x0 <= x1 < cols and 0 <= y0 <= y1 < rows):
        raise InvalidParameterError(
            f"keep_box {x0},{y0},{x1},{y1}: expected 0 <= x0 <= x1 < {cols} and 0 <= y0 <= y1 < {rows} "
            f"(inclusive pixels of {source})"
        )
    return (y0, x0, y1 + 1, x1 + 1)


def kept_regions(image: UltrasoundImage) -> tuple[Region, ...]:
    """The valid regions whose pixels are ultrasound data (kept when blanking)."""
    return tuple(r for r in image.regions if r.valid and r.kind in KEPT_KINDS)


def keep_mask(rows: int, cols: int, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """Boolean (row, col) mask: True inside the union of half-open boxes (row0, col0, row1, col1)."""
    mask = np.zeros((rows, cols), dtype=bool)
    for r0, c0, r1, c1 in boxes:
        mask[max(r0, 0) : min(r1, rows), max(c0, 0) : min(c1, cols)] = True
    return mask


def _check_paths(src: Path, dst: Path) -> None:
    if dst.is_dir():
        raise InvalidParameterError(f"output {dst}: is a folder; give a file name")
    if not dst.parent.is_dir():
        raise InvalidParameterError(f"output {dst}: folder {dst.parent} does not exist")
    same = src.resolve() == dst.resolve()
    if not same and dst.exists():
        try:
            same = os.path.samefile(src, dst)
        except OSError:
            same = False
    if same:
        raise DeidentificationError(f"output {dst}: is the input file itself; refusing to overwrite it")


def _atomic_write(dst: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def deidentify_dicom(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    key: str | None,
    keep_box: Sequence[int] | None = None,
) -> DeidReport:
    """De-identify one file (DICOM, or a PNG/JPEG/TIFF/BMP still) into ``dst``.

    Parameters
    ----------
    src, dst
        Input and output files; ``dst`` must differ from ``src`` and its folder must exist.
    key
        The de-identification key; None makes a random one (pseudonyms are then not repeatable).
    keep_box
        ``(x0, y0, x1, y1)`` inclusive pixels (x = column, y = row): keep only this area instead
        of the image's ultrasound regions.

    Raises
    ------
    DeidentificationError
        When the file cannot be de-identified safely; nothing is written.
    InvalidParameterError, and the reader's errors
        For bad parameters and unreadable input, naming the file.
    """
    from sonomsk.io.sniff import STILL_FORMATS, FileFormat, check_path, sniff

    source = check_path(src)
    out = Path(dst)
    _check_paths(source, out)
    made_key = key is None
    use_key = random_key() if key is None else key
    _check_key(use_key)
    fmt = sniff(source)
    if fmt is FileFormat.DICOM:
        return _deidentify_dicom_file(source, out, use_key, made_key, keep_box)
    if fmt in STILL_FORMATS:
        return _deidentify_still(source, out, use_key, made_key, keep_box)
    raise DeidentificationError(
        f"{source}: {fmt.value} files are not de-identified (only DICOM and still images can be "
        "blanked safely); refusing"
    )


def _choose_boxes(
    image: UltrasoundImage, source: Path, keep_box: Sequence[int] | None
) -> tuple[list[tuple[int, int, int, int]], str]:
    if keep_box is not None:
        box = _keep_box_to_region_box(keep_box, image.rows, image.columns, source)
        x0, y0, x1, y1 = (int(v) for v in keep_box)
        return [box], f"keep box {x0},{y0},{x1},{y1}"
    regions = kept_regions(image)
    return [r.box for r in regions], f"{len(regions)} ultrasound region(s)"


def _blank_frames(image: UltrasoundImage, mask: np.ndarray) -> np.ndarray:
    outside = ~mask
    first = np.asarray(image.frame(0))
    out = np.empty((image.n_frames, *first.shape), dtype=first.dtype)
    for i in range(image.n_frames):
        frame = np.array(image.frame(i), copy=True)
        frame[outside] = 0
        out[i] = frame
    return out


def _deidentify_dicom_file(
    source: Path, out: Path, key: str, made_key: bool, keep_box: Sequence[int] | None
) -> DeidReport:
    import copy

    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            head = pydicom.dcmread(source, stop_before_pixels=True)
    except Exception as exc:
        raise CorruptDataError(f"{source}: the DICOM header cannot be parsed ({exc})") from None
    ts = str(head.file_meta.get("TransferSyntaxUID", "")) if hasattr(head, "file_meta") else ""
    if ts in _VIDEO_TS:
        raise DeidentificationError(
            f"{source}: encapsulated video ({ts}) cannot be blanked and re-encoded safely; refusing"
        )
    from sonomsk.io.read import read

    image = read(source)
    boxes, kept_by = _choose_boxes(image, source, keep_box)
    burned = str(head.get("BurnedInAnnotation", "") or "").strip().upper()
    if not boxes:
        if burned != "NO":
            raise DeidentificationError(
                f"{source}: no valid ultrasound region to keep and BurnedInAnnotation is not NO; "
                "burned-in text cannot be located (give --keep-box x0,y0,x1,y1); refusing"
            )
        boxes, kept_by = [(0, 0, image.rows, image.columns)], "whole image (BurnedInAnnotation NO)"
    mask = keep_mask(image.rows, image.columns, boxes)
    pixels = _blank_frames(image, mask)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(source)
    original = copy.deepcopy(ds)
    _fix_clipped_regions(ds, image)
    blanked = float(1.0 - mask.mean())
    note = f"pixels outside {kept_by} set to 0" if blanked > 0 else f"pixels kept: {kept_by}"
    deidentify_dataset(ds, key=key, pixel_note=note)
    removed, replaced = count_changes(original, ds)
    _set_pixels(ds, pixels, image)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _atomic_write(out, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
    return DeidReport(
        source=str(source),
        output=str(out),
        key_fingerprint=key_fingerprint(key),
        random_key=made_key,
        removed_tags=removed,
        replaced_tags=replaced,
        blanked_fraction=round(blanked, 6),
        kept_boxes=tuple(boxes),
        kept_by=kept_by,
        frames=image.n_frames,
        notes=tuple(image.warnings),
    )


def _fix_clipped_regions(ds: Any, image: UltrasoundImage) -> None:
    """Write back the boxes the reader clipped (vendor off-by-one), so the output is valid."""
    items = ds.get("SequenceOfUltrasoundRegions") or []
    for region in image.regions:
        index = region.attributes.get("index")
        if not region.valid or index is None or not 0 <= int(index) < len(items):
            continue
        item = items[int(index)]
        _, _, r1, c1 = region.box
        if int(item.RegionLocationMaxX1) > c1 - 1 >= int(item.RegionLocationMinX0):
            item.RegionLocationMaxX1 = c1 - 1
        if int(item.RegionLocationMaxY1) > r1 - 1 >= int(item.RegionLocationMinY0):
            item.RegionLocationMaxY1 = r1 - 1


def _set_pixels(ds: Any, pixels: np.ndarray, image: UltrasoundImage) -> None:
    if pixels.dtype not in (np.uint8, np.uint16, np.int16, np.int8):
        raise DeidentificationError(
            f"{image.provenance.source_path}: decoded pixels of type {pixels.dtype} cannot be written; refusing"
        )
    colour = pixels.ndim == 4
    photometric = "RGB" if colour else "MONOCHROME2"
    bits = pixels.dtype.itemsize * 8
    stored = bits
    if not colour and bits == 16:
        declared = int(ds.get("BitsStored", 16) or 16)
        top = int(np.abs(pixels).max(initial=0))
        stored = declared if 0 < declared <= 16 and top < (1 << declared) else 16
    for keyword in _STALE_PIXEL_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    if "PixelData" in ds:
        del ds.PixelData
    data = pixels if pixels.shape[0] > 1 else pixels[0]
    ds.set_pixel_data(np.ascontiguousarray(data), photometric, stored, generate_instance_uid=False)
    if pixels.shape[0] > 1 and "NumberOfFrames" not in ds:
        ds.NumberOfFrames = pixels.shape[0]


def _deidentify_still(
    source: Path, out: Path, key: str, made_key: bool, keep_box: Sequence[int] | None
) -> DeidReport:
    from sonomsk.io.read import read
    from sonomsk.io.sidecar import find_sidecar

    fmt = _STILL_SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise InvalidParameterError(
            f"output {out}: expected a still-image name ending in {sorted(_STILL_SUFFIXES)}"
        )
    sidecar = find_sidecar(source, None)
    has_regions = False
    if sidecar is not None:
        try:
            has_regions = "regions" in json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, TypeError):
            has_regions = False
    if keep_box is None and not has_regions:
        raise DeidentificationError(
            f"{source}: a still image has no ultrasound regions; give --keep-box x0,y0,x1,y1 or a "
            "sidecar with regions; refusing"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        image = read(source, detect_scale=False)
    boxes, kept_by = _choose_boxes(image, source, keep_box)
    if not boxes:
        raise DeidentificationError(f"{source}: the sidecar names no ultrasound region to keep; refusing")
    mask = keep_mask(image.rows, image.columns, boxes)
    pixels = _blank_frames(image, mask)
    if fmt == "JPEG" and pixels.dtype != np.uint8:
        raise InvalidParameterError(f"output {out}: JPEG cannot hold {pixels.dtype} pixels; use .png or .tif")
    from PIL import Image

    frames = [Image.fromarray(p) for p in pixels]

    def write(tmp: str) -> None:
        extra: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
        if len(frames) > 1:
            frames[0].save(tmp, format=fmt, save_all=True, append_images=frames[1:], **extra)
        else:
            frames[0].save(tmp, format=fmt, **extra)

    _atomic_write(out, write)
    if has_regions:
        regions = [_sidecar_region(r) for r in image.regions if r.valid and r.spacing_mm is not None]
        text = json.dumps({"regions": regions}, indent=2)
        _atomic_write(out.with_name(out.name + ".json"), lambda tmp: Path(tmp).write_text(text, "utf-8"))
    return DeidReport(
        source=str(source),
        output=str(out),
        key_fingerprint=key_fingerprint(key),
        random_key=made_key,
        removed_tags=0,
        replaced_tags=0,
        blanked_fraction=round(float(1.0 - mask.mean()), 6),
        kept_boxes=tuple(boxes),
        kept_by=kept_by,
        frames=image.n_frames,
        notes=("still image: written from decoded pixels only; embedded metadata is not copied",),
    )


def _sidecar_region(region: Region) -> dict[str, Any]:
    r0, c0, r1, c1 = region.box
    spacing = region.spacing_mm
    assert spacing is not None
    return {
        "bbox": [c0, r0, c1 - 1, r1 - 1],
        "kind": region.kind.value,
        "spacing_mm": [spacing[1], spacing[0]],
    }
