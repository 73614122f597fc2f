"""Reading DICOM ultrasound: single frames and cines, every common transfer syntax, lazily.

The header is read up to the pixel data; the pixel data itself is only located (its element
header and, when compressed, its fragment headers: :mod:`sonomsk.io.dicom_layout`), so opening
a long cine costs O(1) memory. Frames are decoded one at a time on request (pydicom reads only
that frame's bytes from the file). Palette colour and YBR are converted to RGB, MONOCHROME1 to
MONOCHROME2; 16-bit grey stays 16-bit (palette LUTs of 16 bits are scaled to 8 bits). Every
decoder or parser failure is turned into a sonomsk error naming the file.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk.core.errors import (
    BackendUnavailableError,
    CorruptDataError,
    FormatWarning,
    MissingPixelDataError,
    NotUltrasoundError,
    SonomskError,
    TruncatedDataError,
    UnsupportedDataError,
)
from sonomsk.core.image import FrameSource, Provenance, UltrasoundImage, whole_image_region
from sonomsk.core.units import time_to_s
from sonomsk.io.dicom_layout import (
    PixelElement,
    check_fragments,
    read_fragments,
    read_pixel_element,
    walk_fragments,
)
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
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
#: JPEG family transfer syntaxes that python-gdcm decodes when pylibjpeg-libjpeg is absent.
_GDCM_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG baseline
        "1.2.840.10008.1.2.4.51",  # JPEG extended
        "1.2.840.10008.1.2.4.57",  # JPEG lossless
        "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    }
)
#: Decoding plug-ins of pydicom, in the order sonomsk tries them (fast, exact ones first).
PLUGIN_PREFERENCE = ("pylibjpeg", "gdcm", "pillow", "pyjpegls", "pydicom")


@dataclasses.dataclass(frozen=True)
class _Header:
    ds: Any
    transfer_syntax: str
    has_file_meta: bool
    pixel: PixelElement | None
    size: int


# -- header ------------------------------------------------------------------------------------


def _header(path: Path) -> _Header:
    import pydicom
    from pydicom.errors import InvalidDicomError

    size = path.stat().st_size
    try:
        with warnings.catch_warnings(record=True) as caught, path.open("rb") as fh:
            warnings.simplefilter("always")
            preamble = fh.read(132)
            fh.seek(0)
            ds = pydicom.dcmread(
                fh, stop_before_pixels=True, defer_size="256 KB", force=preamble[128:132] != b"DICM"
            )
            meta = getattr(ds, "file_meta", None)
            meta_ts = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
            ts = meta_ts or _guess_transfer_syntax(ds)
            pixel = None
            if ts != DEFLATED:  # offsets of a deflated data set refer to the inflated stream
                implicit, little = _encoding(ts, ds)
                pixel = read_pixel_element(
                    fh, fh.tell(), implicit_vr=implicit, little_endian=little, path=path
                )
    except SonomskError:
        raise
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
    cut = None if ts == DEFLATED else _cut_at(ds, size)
    if cut is not None:
        raise TruncatedDataError(f"{path}: the DICOM file ends early ({cut})")
    return _Header(ds=ds, transfer_syntax=ts, has_file_meta=bool(meta_ts), pixel=pixel, size=size)


def _guess_transfer_syntax(ds: Any) -> str:
    """The encoding pydicom found in a data set without file meta information."""
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit in (None, True):
        return IMPLICIT_VR_LITTLE_ENDIAN
    return EXPLICIT_VR_LITTLE_ENDIAN if little in (None, True) else EXPLICIT_VR_BIG_ENDIAN


def _encoding(ts: str, ds: Any) -> tuple[bool, bool]:
    """(implicit VR, little endian) of the data set's body."""
    from pydicom.uid import UID

    uid = UID(ts)
    if uid.is_transfer_syntax:
        return bool(uid.is_implicit_VR), bool(uid.is_little_endian)
    implicit, little = getattr(ds, "original_encoding", (False, True))
    return bool(implicit), little is not False


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


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


#: DICOM objects that are never images, by SOP class (exact) or SOP class prefix: what a folder
#: exported from a scanner or PACS holds beside its images.
NON_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.1.3.10": "DICOMDIR (the index of a DICOM folder)",
}
NON_IMAGE_SOP_PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report or key object selection",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
    "1.2.840.10008.5.1.4.1.1.66": "raw data, registration or segmentation",
}


def non_image_kind(sop_class: str) -> str | None:
    """What a DICOM object of ``sop_class`` is when it is never an image (a DICOMDIR, a report,
    a presentation state...), else None."""
    if sop_class in NON_IMAGE_SOP_CLASSES:
        return NON_IMAGE_SOP_CLASSES[sop_class]
    return next((k for pre, k in NON_IMAGE_SOP_PREFIXES.items() if sop_class.startswith(pre)), None)


def dicom_non_image(path: str | Path) -> str | None:
    """What the DICOM file at ``path`` is when it is never an image (:func:`non_image_kind`), else
    None (an image, or unknown: an unreadable header included). The dataset's own SOPClassUID
    decides, as when the file is read; the file meta's class only stands in when the dataset has
    none (a DICOMDIR). Reads the header only, never the pixels."""
    import pydicom

    try:
        # force: a DICOM file written without its preamble is still read, as the reader does
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["SOPClassUID"], force=True)
    except Exception:  # unknown: the reader reports the file's real fault
        return None
    sop = str(ds.get("SOPClassUID", "") or "")
    meta = getattr(ds, "file_meta", None)
    media_sop = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
    return non_image_kind(sop or media_sop)


def _check_ultrasound(ds: Any, path: Path) -> None:
    modality = str(ds.get("Modality", "") or "").upper()
    sop = str(ds.get("SOPClassUID", "") or "")
    meta = getattr(ds, "file_meta", None)
    media_sop = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
    kind = non_image_kind(sop or media_sop)
    if kind is not None:
        also = f" (modality {modality})" if modality else ""
        raise NotUltrasoundError(f"{path}: a DICOM {kind}{also}, not an image")
    if modality == "US" or sop in US_SOP_CLASSES:
        return
    if not modality and not sop:
        raise CorruptDataError(
            f"{path}: the DICOM header has neither Modality nor SOP Class UID (damaged or not an image)"
        )
    what = modality or (sop and f"SOP class {sop}") or "unknown"
    raise NotUltrasoundError(f"{path}: {what} DICOM object, not an ultrasound image")


def _expected_native_bytes(frames: int, rows: int, cols: int, spp: int, bits: int, photometric: str) -> int:
    if bits == 1:
        return (frames * rows * cols * spp + 7) // 8
    if photometric == "YBR_FULL_422" and spp == 3:  # two chroma samples shared by two pixels
        return frames * rows * cols * 2 * (bits // 8)
    return frames * rows * cols * spp * (bits // 8)


# -- decoding ----------------------------------------------------------------------------------


def decoder_plugins(ts: str, path: Path) -> tuple[str, ...]:
    """pydicom plug-ins able to decode ``ts``, in sonomsk's order; ``("",)`` for native data.

    Raises
    ------
    UnsupportedDataError
        When pydicom has no decoder at all for the transfer syntax.
    BackendUnavailableError
        When decoders exist but none of their packages is installed; names the package.
    """
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise UnsupportedDataError(
            f"{path}: transfer syntax {ts} ({_ts_name(ts)}) is not supported"
        ) from None
    if decoder.is_native:
        return ("",)
    available = list(decoder.available_plugins)
    if not available:
        if ts in _GDCM_SYNTAXES:
            raise BackendUnavailableError(
                f"{path}: {_ts_name(ts)} needs python-gdcm (pip install 'sonomsk[gdcm]')"
            )
        needed = "; ".join(decoder.missing_dependencies) or "a pydicom decoding plug-in"
        raise BackendUnavailableError(f"{path}: no installed decoder for {_ts_name(ts)} (install {needed})")
    rank = {name: i for i, name in enumerate(PLUGIN_PREFERENCE)}
    return tuple(sorted(available, key=lambda name: (rank.get(name, len(rank)), name)))


class DicomFrames:
    """Frames of a DICOM file, each decoded on request (the last one is cached).

    ``plugins`` are tried in order until one decodes a frame; the one that worked is tried first
    from then on and named by :attr:`decoder`.
    """

    def __init__(
        self,
        path: Path,
        ds: Any,
        n_frames: int,
        frame_shape: tuple[int, ...],
        dtype: np.dtype[Any],
        *,
        plugins: tuple[str, ...] = ("",),
        transfer_syntax: str | None = None,
    ) -> None:
        self._path = path
        self._ds = ds
        self._n = n_frames
        self._shape = frame_shape
        self._dtype = dtype
        self._plugins = plugins
        self._ts = transfer_syntax
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

    @property
    def decoder(self) -> str:
        """``pydicom/native`` or ``pydicom/<plug-in>`` (the plug-in that decoded the last frame)."""
        return f"pydicom/{self._plugins[0] or 'native'}"

    def get(self, index: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        from pydicom import pixels

        options: dict[str, Any] = {"index": index if self._n > 1 else None}
        if self._ts is not None:
            options["transfer_syntax_uid"] = self._ts
        failures: list[tuple[str, Exception]] = []
        frame: np.ndarray | None = None
        for plugin in self._plugins:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    raw = pixels.pixel_array(str(self._path), decoding_plugin=plugin, **options)
                    frame = _to_display_space(raw, self._ds)
            except Exception as exc:
                failures.append((plugin, exc))
                continue
            if plugin != self._plugins[0]:
                self._plugins = (plugin, *(p for p in self._plugins if p != plugin))
            break
        if frame is None:
            raise _decode_error(self._path, index, failures)
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
        return np.asarray(((1 << bits) - 1) - arr.astype(np.int64), dtype=arr.dtype.newbyteorder("="))
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def _decode_error(path: Path, index: int, failures: list[tuple[str, Exception]]) -> SonomskError:
    text = "; ".join(f"{plugin or 'native'}: {_short(exc)}" for plugin, exc in failures)[:300]
    lowered = text.lower()
    if any(isinstance(exc, NotImplementedError) for _, exc in failures) and "missing" not in lowered:
        return UnsupportedDataError(f"{path}: frame {index} cannot be decoded by pydicom ({text})")
    if "missing dependencies" in lowered or "requires a plugin" in lowered:
        return BackendUnavailableError(f"{path}: no installed decoder for frame {index} ({text})")
    if any(isinstance(exc, EOFError) for _, exc in failures) or any(
        k in lowered for k in ("shorter", "truncat", "end of", "less than expected")
    ):
        return TruncatedDataError(
            f"{path}: pixel data of frame {index} shorter than the header promises ({text})"
        )
    return CorruptDataError(f"{path}: frame {index} cannot be decoded ({text})")


def _bits_stored(ds: Any, bits_allocated: int) -> dict[str, int]:
    """``{"bits_stored": n}`` for grey images whose samples use n of their allocated bits (the
    full scale of a 12-bit image stored in 16 bits is 4095, not 65535); empty otherwise (colour
    is converted to 8-bit RGB, and a missing or impossible value says nothing)."""
    photometric = str(ds.get("PhotometricInterpretation", "") or "")
    try:
        stored = int(ds.get("BitsStored", 0) or 0)
    except (TypeError, ValueError):
        return {}
    if photometric.startswith("MONOCHROME") and 1 <= stored <= bits_allocated:
        return {"bits_stored": stored}
    return {}


def _frame_time_s(ds: Any) -> float | None:
    value = ds.get("FrameTime")
    if value not in (None, ""):
        try:
            t = time_to_s(float(value), "ms")
        except (TypeError, ValueError):
            t = 0.0
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


def _ts_name(ts: str) -> str:
    from pydicom.uid import UID

    try:
        name = str(UID(ts).name)
    except Exception:
        return ts
    return name or ts


# -- the reader --------------------------------------------------------------------------------


def read_dicom(path: Path, *, spacing_mm: tuple[float, float] | None = None) -> UltrasoundImage:
    """Read a DICOM ultrasound image or cine (called by :func:`sonomsk.read`).

    Parameters
    ----------
    path
        A DICOM file (Part 10, or a bare data set without preamble) of modality US or of an
        ultrasound SOP class.
    spacing_mm
        (row, column) pixel size in mm, used only when no region of the file gives a valid tissue
        calibration; it then calibrates one whole-image tissue region, recorded as caller-supplied.

    Returns
    -------
    UltrasoundImage
        Frames decoded lazily (one at a time); regions from the Sequence of Ultrasound Regions.

    Raises
    ------
    NotUltrasoundError, MissingPixelDataError, ImageTooLargeError, TruncatedDataError,
    CorruptDataError, UnsupportedDataError, BackendUnavailableError
        With a one-line message naming the file.
    """
    try:
        return _read_dicom(path, spacing_mm)
    except SonomskError:
        raise
    except Exception as exc:  # pydicom converts elements lazily: a damaged value fails here
        raise CorruptDataError(
            f"{path}: the DICOM header cannot be interpreted ({type(exc).__name__}: {_short(exc)})"
        ) from None


def _read_dicom(path: Path, spacing_mm: tuple[float, float] | None) -> UltrasoundImage:
    header = _header(path)
    ds, ts = header.ds, header.transfer_syntax
    _check_ultrasound(ds, path)
    if header.pixel is None and ts != DEFLATED:
        raise MissingPixelDataError(f"{path}: the DICOM object has no pixel data")
    rows, cols = _int(ds, "Rows", 0) or 0, _int(ds, "Columns", 0) or 0
    frames = _int(ds, "NumberOfFrames", 1) or 1
    spp = _int(ds, "SamplesPerPixel", 1) or 1
    bits = _int(ds, "BitsAllocated", 8) or 8
    photometric_stored = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
    if bits not in (1, 8, 16, 32):
        raise UnsupportedDataError(f"{path}: {bits} bits allocated per sample are not supported")
    check_dimensions(path, frames, rows, cols, spp, max(1, bits // 8))  # before any decoding

    video_bytes: bytes | None = None
    if header.pixel is not None:
        with path.open("rb") as fh:
            if header.pixel.encapsulated:
                fragments = walk_fragments(fh, header.pixel, header.size, path)
                if ts in VIDEO_TRANSFER_SYNTAXES:
                    video_bytes = read_fragments(fh, fragments)
                else:
                    check_fragments(fragments, frames, path)
            else:
                available = max(0, min(header.pixel.length, header.size - header.pixel.value_offset))
                expected = _expected_native_bytes(frames, rows, cols, spp, bits, photometric_stored)
                if available < expected:
                    raise TruncatedDataError(
                        f"{path}: pixel data holds {available} bytes, the header promises {expected}"
                    )

    notes: list[str] = []
    operations: list[str] = []
    source: FrameSource
    if ts in VIDEO_TRANSFER_SYNTAXES:
        source = _video_source(path, ds, video_bytes)
        photometric = "RGB" if len(source.frame_shape) == 3 else "MONOCHROME2"
        decoder = "pyav"
        if source.frame_shape[:2] != (rows, cols):
            note = (
                f"{path}: the video frames are {source.frame_shape[0]} x {source.frame_shape[1]} px, "
                f"the header says {rows} x {cols}; the video's size is used"
            )
            notes.append(note)
            warnings.warn(note, FormatWarning, stacklevel=3)
            rows, cols = source.frame_shape[0], source.frame_shape[1]
    else:
        colour = spp == 3 or photometric_stored == "PALETTE COLOR"
        shape: tuple[int, ...] = (rows, cols, 3) if colour else (rows, cols)
        lazy = DicomFrames(
            path,
            ds,
            frames,
            shape,
            np.dtype(np.uint8),
            plugins=decoder_plugins(ts, path),
            transfer_syntax=None if header.has_file_meta else ts,
        )
        sample = lazy.get(0)  # decode one frame now: errors surface at read time, not later
        if sample.shape != shape:
            raise CorruptDataError(
                f"{path}: decoded frame shape {sample.shape} differs from the header {shape}"
            )
        lazy._dtype = sample.dtype
        source = lazy
        photometric = "RGB" if colour else "MONOCHROME2"
        decoder = lazy.decoder
        if photometric_stored not in (photometric, "RGB", "MONOCHROME2"):
            operations.append(f"{photometric_stored} -> {photometric}")

    regions, region_notes = parse_regions(ds, rows, cols, source=str(path))
    notes.extend(region_notes)
    image_regions = tuple(regions)
    calibrated = any(r.spacing_mm is not None for r in image_regions if r.kind.value == "tissue")
    if not calibrated:
        if "PixelSpacing" in ds or "ImagerPixelSpacing" in ds:
            notes.append(
                "PixelSpacing present but not used: ultrasound is calibrated only by its "
                "Sequence of Ultrasound Regions"
            )
        if spacing_mm is not None:
            image_regions = (*image_regions, whole_image_region(rows, cols, spacing_mm))
            notes.append(
                f"{path}: calibration supplied by the caller ({spacing_mm[0]} x {spacing_mm[1]} mm/px)"
            )
            operations.append(f"calibration: caller-supplied spacing_mm ({spacing_mm[0]}, {spacing_mm[1]})")
        else:
            notes.append("no calibration: results in px")

    metadata = {
        "format": "DICOM",
        "transfer_syntax": ts,
        "transfer_syntax_name": _ts_name(ts),
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "photometric_stored": _text(ds, "PhotometricInterpretation"),
        "modality": _text(ds, "Modality"),
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "sop_class_name": _ts_name(str(ds.get("SOPClassUID", "") or "")) or None,
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "series_instance_uid": _text(ds, "SeriesInstanceUID"),
        "bits_allocated": bits,
        **_bits_stored(ds, bits),
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
            decoder=decoder,
            operations=tuple(operations),
        ),
        photometric=photometric,
        frame_time_s=_frame_time_s(ds),
        metadata=metadata,
        warnings=tuple(notes),
    )


def _video_source(path: Path, ds: Any, data: bytes | None) -> FrameSource:
    """Encapsulated MPEG video: the bytes of every fragment, decoded by :mod:`sonomsk.io.video`."""
    if data is None:  # deflated data set: offsets unknown, let pydicom collect the fragments
        from pydicom.encaps import generate_fragments

        try:
            data = b"".join(generate_fragments(ds.PixelData))
        except Exception as exc:
            raise CorruptDataError(
                f"{path}: encapsulated video cannot be extracted ({_short(exc)})"
            ) from None
    try:
        from sonomsk.io.video import frames_from_bytes
    except ImportError as exc:  # pragma: no cover - the video module ships with the package
        raise BackendUnavailableError(f"{path}: video decoding needs PyAV (pip install av): {exc}") from None
    try:
        return frames_from_bytes(data)
    except SonomskError as exc:
        raise CorruptDataError(f"{path}: {exc}") from None
