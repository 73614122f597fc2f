"""Reading DICOM ultrasound: single frames and cines, every common transfer syntax, lazily.

Multi-frame cines are decoded one frame at a time on request (pydicom reads only that frame's
data from the file), so a long cine never sits decoded in memory. Palette colour and YBR are
converted to RGB; 16-bit data stays 16-bit (palette LUTs of 16 bits are scaled to 8 bits).
Every decoder or parser failure is turned into a sonomsk error naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk.core.errors import (
    BackendUnavailableError,
    CorruptDataError,
    MissingPixelDataError,
    NotUltrasoundError,
    SonomskError,
    TruncatedDataError,
    UnsupportedDataError,
)
from sonomsk.core.image import FrameSource, Provenance, UltrasoundImage, whole_image_region
from sonomsk.core.units import time_to_s
from sonomsk.io.limits import check_dimensions
from sonomsk.io.regions import parse_regions
from sonomsk.io.sniff import file_sha256

#: SOP classes that hold ultrasound images (current and retired).
US_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",  # US Image Storage
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
        "1.2.840.10008.5.1.4.1.1.6",  # US Image Storage (retired)
        "1.2.840.10008.5.1.4.1.1.3.1",  # US Multi-frame Image Storage
        "1.2.840.10008.5.1.4.1.1.3",  # US Multi-frame Image Storage (retired)
    }
)
#: Video transfer syntaxes (MPEG-2, MPEG-4 AVC/H.264, HEVC): decoded with PyAV.
VIDEO_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.102",
        "1.2.840.10008.1.2.4.103",
        "1.2.840.10008.1.2.4.104",
        "1.2.840.10008.1.2.4.105",
        "1.2.840.10008.1.2.4.106",
        "1.2.840.10008.1.2.4.107",
        "1.2.840.10008.1.2.4.108",
    }
)
_NEEDS_GDCM = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}


def _decoder_name(ts: str) -> str:
    try:
        from pydicom.pixels.decoders.base import get_decoder

        plugins = get_decoder(ts).available_plugins
    except Exception:
        return "pydicom"
    return f"pydicom/{plugins[0]}" if plugins else "pydicom/native"


def _header(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, defer_size="256 KB")
    except InvalidDicomError as exc:
        raise CorruptDataError(f"{path}: not a valid DICOM file ({_short(exc)})") from None
    except (EOFError, OSError) as exc:
        raise TruncatedDataError(f"{path}: the DICOM file ends early ({_short(exc)})") from None
    except Exception as exc:
        if "unpack requires a buffer" in str(exc):  # struct.error on a cut element header
            raise TruncatedDataError(f"{path}: the DICOM file ends early ({_short(exc)})") from None
        raise CorruptDataError(f"{path}: the DICOM header cannot be parsed ({_short(exc)})") from None
    # pydicom stops quietly at the end of a cut file: detect it so that a truncated file is not
    # mistaken for an object without pixel data or without a header.
    if any("end of file" in str(w.message).lower() for w in caught):
        raise TruncatedDataError(f"{path}: the DICOM file ends early (a sequence or the pixel data is cut)")
    if len(ds) == 0:  # file meta information and nothing after it
        raise TruncatedDataError(f"{path}: the DICOM file ends before its data set (header only)")
    cut = None if _deflated(ds) else _cut_at(ds, path.stat().st_size)
    if cut is not None:
        raise TruncatedDataError(f"{path}: the DICOM file ends early ({cut})")
    return ds


def _deflated(ds: Any) -> bool:
    """Deflated transfer syntax: element offsets refer to the inflated stream, not the file."""
    meta = getattr(ds, "file_meta", None)
    return meta is not None and str(meta.get("TransferSyntaxUID", "")) == "1.2.840.10008.1.2.1.99"


def _cut_at(ds: Any, size: int) -> str | None:
    """Why the last element read shows the file was cut, or None (defined-length raw elements only)."""
    from pydicom.dataelem import RawDataElement

    elements = getattr(ds, "_dict", None)
    if not elements:
        return None
    last = elements[max(elements)]
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF:
        return None
    end = last.value_tell + last.length
    available = size - last.value_tell if last.value is None else len(last.value)
    if available < last.length:
        return f"element {last.tag} holds {max(available, 0)} of its {last.length} bytes"
    if 0 < size - end < 12:  # too short for another element header: a cut element header
        return f"{size - end} stray bytes after element {last.tag}"
    return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


def _int(ds: Any, keyword: str, default: int | None = None) -> int | None:
    try:
        value = ds.get(keyword, default)
        return default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return default


def _check_ultrasound(ds: Any, path: Path) -> None:
    modality = str(ds.get("Modality", "") or "").upper()
    sop = str(ds.get("SOPClassUID", "") or "")
    if modality == "US" or sop in US_SOP_CLASSES:
        return
    if not modality and not sop:
        raise CorruptDataError(
            f"{path}: the DICOM header has neither Modality nor SOP Class UID (damaged or not an image)"
        )
    what = modality or (sop and f"SOP class {sop}") or "unknown"
    raise NotUltrasoundError(f"{path}: {what} DICOM object, not an ultrasound image")


def _expected_native_bytes(frames: int, rows: int, cols: int, spp: int, bits: int) -> int:
    if bits == 1:
        return (frames * rows * cols * spp + 7) // 8
    return frames * rows * cols * spp * (bits // 8)


class DicomFrames:
    """Frames of a DICOM file, each decoded on request (the last one is cached)."""

    def __init__(
        self, path: Path, ds: Any, n_frames: int, frame_shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> None:
        self._path = path
        self._ds = ds
        self._n = n_frames
        self._shape = frame_shape
        self._dtype = dtype
        self._cache: tuple[int, np.ndarray] | None = None
        self.decode_count = 0

    @property
    def n_frames(self) -> int:
        return self._n

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    def get(self, index: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        from pydicom.pixels import pixel_array

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = pixel_array(str(self._path), index=index if self._n > 1 else None)
                frame = _to_display_space(raw, self._ds)
        except Exception as exc:
            raise _decode_error(self._path, self._ds, exc) from None
        self.decode_count += 1
        frame.flags.writeable = False
        self._cache = (index, frame)
        return frame


def _to_display_space(arr: np.ndarray, ds: Any) -> np.ndarray:
    """Palette -> RGB (8 bit), MONOCHROME1 -> MONOCHROME2; YBR is already RGB after decoding."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            top = int(rgb.max(initial=0))
            rgb = (rgb >> 8).astype(np.uint8) if top > 255 else rgb.astype(np.uint8)
        return np.ascontiguousarray(rgb)
    if photometric == "MONOCHROME1":
        bits = int(ds.get("BitsStored", 8) or 8)
        return np.asarray(((1 << bits) - 1) - arr.astype(np.int64), dtype=arr.dtype)
    return np.ascontiguousarray(arr)


def _decode_error(path: Path, ds: Any, exc: Exception) -> SonomskError:
    ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    text = _short(exc)
    # A decoder is missing only when pydicom says so; "exceptions were raised by all available
    # plugins" means the decoders ran and the data is damaged.
    missing = any(k in text.lower() for k in ("missing dependencies", "requires a plugin"))
    if ts in _NEEDS_GDCM and missing:
        return BackendUnavailableError(
            f"{path}: JPEG lossless needs python-gdcm (pip install 'sonomsk[gdcm]')"
        )
    if missing:
        return BackendUnavailableError(f"{path}: no installed decoder for transfer syntax {ts} ({text})")
    if isinstance(exc, NotImplementedError):
        return UnsupportedDataError(f"{path}: transfer syntax {ts} is not supported ({text})")
    if (
        isinstance(exc, EOFError)
        or "shorter" in text.lower()
        or "truncat" in text.lower()
        or "end of" in text.lower()
    ):
        return TruncatedDataError(f"{path}: pixel data shorter than the header promises ({text})")
    return CorruptDataError(f"{path}: pixel data cannot be decoded ({text})")


def _frame_time_s(ds: Any) -> float | None:
    for keyword, unit in (("FrameTime", "ms"),):
        value = ds.get(keyword)
        if value not in (None, ""):
            try:
                t = time_to_s(float(value), unit)
            except (TypeError, ValueError):
                continue
            if 0 < t < 10:
                return t
    vector = ds.get("FrameTimeVector")
    if vector:
        try:
            values = [float(v) for v in vector][1:]
            if values and all(v > 0 for v in values):
                return time_to_s(float(np.median(values)), "ms")
        except (TypeError, ValueError):
            pass
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _int(ds, keyword)
        if rate and rate > 0:
            return 1.0 / rate
    return None


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


def read_dicom(path: Path, *, spacing_mm: tuple[float, float] | None = None) -> UltrasoundImage:
    """Read a DICOM ultrasound image or cine (see :func:`sonomsk.read`)."""
    try:
        return _read_dicom(path, spacing_mm)
    except SonomskError:
        raise
    except Exception as exc:  # pydicom converts elements lazily: a damaged value fails here
        raise CorruptDataError(
            f"{path}: the DICOM header cannot be interpreted ({type(exc).__name__}: {_short(exc)})"
        ) from None


def _read_dicom(path: Path, spacing_mm: tuple[float, float] | None) -> UltrasoundImage:
    ds = _header(path)
    _check_ultrasound(ds, path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise MissingPixelDataError(f"{path}: the DICOM object has no pixel data")
    rows, cols = _int(ds, "Rows", 0) or 0, _int(ds, "Columns", 0) or 0
    frames = _int(ds, "NumberOfFrames", 1) or 1
    spp = _int(ds, "SamplesPerPixel", 1) or 1
    bits = _int(ds, "BitsAllocated", 8) or 8
    if bits not in (1, 8, 16, 32):
        raise UnsupportedDataError(f"{path}: {bits} bits allocated per sample are not supported")
    check_dimensions(path, frames, rows, cols, spp, max(1, bits // 8))
    ts = (
        str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
        if hasattr(ds, "file_meta")
        else "1.2.840.10008.1.2"
    )

    element = ds.get_item("PixelData")
    encapsulated = bool(getattr(element, "is_undefined_length", False)) or (
        hasattr(element, "length") and element.length == 0xFFFFFFFF
    )
    if not encapsulated and ts not in VIDEO_TRANSFER_SYNTAXES:
        length = getattr(element, "length", None)
        if length is None:
            length = len(ds.PixelData)
        value = getattr(element, "value", None)
        if isinstance(value, bytes | bytearray):  # read already: shorter than declared if cut
            length = min(length, len(value))
        elif (
            value is None and hasattr(element, "value_tell") and not _deflated(ds)
        ):  # deferred: what the file still holds
            length = min(length, path.stat().st_size - element.value_tell)
        expected = _expected_native_bytes(frames, rows, cols, spp, bits)
        if length < expected:
            raise TruncatedDataError(
                f"{path}: pixel data holds {max(length, 0)} bytes, the header promises {expected}"
            )

    warnings_out: list[str] = []
    if ts in VIDEO_TRANSFER_SYNTAXES:
        source = _video_source(path, ds)
        photometric = "RGB" if len(source.frame_shape) == 3 else "MONOCHROME2"
    else:
        photometric_stored = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
        colour = spp == 3 or photometric_stored == "PALETTE COLOR"
        shape: tuple[int, ...] = (rows, cols, 3) if colour else (rows, cols)
        first = DicomFrames(path, ds, frames, shape, np.dtype(np.uint8))
        sample = first.get(0)  # decode one frame now: errors surface at read time, not later
        if sample.shape != shape:
            raise CorruptDataError(
                f"{path}: decoded frame shape {sample.shape} differs from the header {shape}"
            )
        source = first
        first._dtype = sample.dtype
        photometric = "RGB" if colour else "MONOCHROME2"

    regions, notes = parse_regions(ds, rows, cols, source=str(path))
    warnings_out.extend(notes)
    image_regions = tuple(regions)
    calibrated = any(r.spacing_mm is not None for r in image_regions if r.kind.value == "tissue")
    if not calibrated:
        if spacing_mm is not None:
            image_regions = (*image_regions, whole_image_region(rows, cols, spacing_mm))
            warnings_out.append(
                f"{path}: calibration supplied by the caller ({spacing_mm[0]} x {spacing_mm[1]} mm/px)"
            )
        else:
            warnings_out.append("no calibration: results in px")

    metadata = {
        "format": "DICOM",
        "transfer_syntax": ts,
        "transfer_syntax_name": _ts_name(ts),
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "photometric_stored": _text(ds, "PhotometricInterpretation"),
        "modality": _text(ds, "Modality"),
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "series_instance_uid": _text(ds, "SeriesInstanceUID"),
        "bits_allocated": bits,
        "calibration_source": "dicom_regions" if calibrated else ("caller" if spacing_mm else "none"),
    }
    return UltrasoundImage(
        frames=source,
        regions=image_regions,
        provenance=Provenance(
            source_path=str(path),
            source_sha256=file_sha256(path),
            sop_instance_uid=_text(ds, "SOPInstanceUID"),
            reader="dicom",
            decoder="pyav" if ts in VIDEO_TRANSFER_SYNTAXES else _decoder_name(ts),
        ),
        photometric=photometric,
        frame_time_s=_frame_time_s(ds),
        metadata=metadata,
        warnings=tuple(warnings_out),
    )


def _ts_name(ts: str) -> str:
    from pydicom.uid import UID

    try:
        return str(UID(ts).name)
    except Exception:
        return ts


def _video_source(path: Path, ds: Any) -> FrameSource:
    """Encapsulated MPEG video: the bytes of every fragment, decoded with PyAV."""
    from pydicom.encaps import generate_fragments

    try:
        data = b"".join(generate_fragments(ds.PixelData))
    except Exception as exc:
        raise CorruptDataError(f"{path}: encapsulated video cannot be extracted ({_short(exc)})") from None
    try:
        from sonomsk.io.video import frames_from_bytes
    except ImportError as exc:  # pragma: no cover - video module ships with the package
        raise BackendUnavailableError(f"{path}: video decoding needs PyAV (pip install av): {exc}") from None
    try:
        return frames_from_bytes(data)
    except SonomskError as exc:
        raise CorruptDataError(f"{path}: {exc}") from None
