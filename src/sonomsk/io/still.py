"""Still images (PNG, JPEG, TIFF incl. multi-page and 16 bit, BMP) through Pillow."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from sonomsk.core.errors import (
    CalibrationWarning,
    CorruptDataError,
    ImageTooLargeError,
    TruncatedDataError,
    UnsupportedDataError,
)
from sonomsk.core.image import ArrayFrames, Provenance, UltrasoundImage
from sonomsk.io.limits import MAX_FRAMES, check_dimensions
from sonomsk.io.sidecar import calibrate, caller_operations
from sonomsk.io.sniff import FileFormat


def _to_array(frame: object, path: Path) -> np.ndarray:
    from PIL import Image

    assert isinstance(frame, Image.Image)
    mode = frame.mode
    if mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1", "L;16", "LAB", "HSV"):
        frame = frame.convert("RGB" if mode not in ("1", "LA", "L;16") else "L")
    if frame.mode == "I;16" or frame.mode.startswith("I;16"):
        return np.asarray(frame, dtype=np.uint16)
    if frame.mode in ("I", "F"):  # 32-bit integer or float: its type is chosen for all pages at once
        return np.asarray(frame)
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[..., :3]
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            arr = arr[..., 0]
    return np.ascontiguousarray(arr)


def _faithful(array: np.ndarray, path: Path) -> np.ndarray:
    """The samples of 32-bit pages (PIL modes "I" and "F") in a type that keeps their values.

    Float data stays float32 (its grey scale is then judged by the measures that need one: see
    :func:`sonomsk.nerve.morphology.measure_mask`); integers within 0-255 become uint8 and within
    0-65535 uint16, so an 8-bit image saved as 32 bit keeps its 8-bit scale. Negative or
    non-finite values are not grey levels and are refused.
    """
    if array.dtype.kind not in "fi" or array.dtype.itemsize < 4:
        return array
    if array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
        finite = np.isfinite(array)
        if not finite.all():
            raise UnsupportedDataError(
                f"{path}: {int(array.size - finite.sum())} pixel value(s) are NaN or infinite; "
                "expected grey levels of 0 or more"
            )
    lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
    if lo < 0:
        raise UnsupportedDataError(
            f"{path}: pixel values down to {lo:.6g}; expected grey levels of 0 or more"
        )
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array)
    if hi <= 255:
        return array.astype(np.uint8)
    if hi <= 65535:
        return array.astype(np.uint16)
    raise UnsupportedDataError(
        f"{path}: integer pixel values up to {hi:.0f}; expected grey levels within 0-65535 (16 bit)"
    )


def read_still(
    path: Path,
    fmt: FileFormat,
    *,
    spacing_mm: tuple[float, float] | None,
    sidecar: Path | None,
    detect_scale: bool,
) -> UltrasoundImage:
    """Read a still image; calibrated by the caller, a sidecar, a detected depth scale, or not at all."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    data = path.read_bytes()
    # WeasyPrint (the report room) sets Pillow's global LOAD_TRUNCATED_IMAGES on import; a reader
    # of clinical images must never pad a cut file with grey, so it is switched off here.
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            cols, rows = img.size
            n = int(getattr(img, "n_frames", 1) or 1)
            check_dimensions(path, min(n, MAX_FRAMES + 1), rows, cols, 3, 2)
            frames = []
            for i in range(n):
                img.seek(i)
                img.load()
                frames.append(_to_array(img, path))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"{path}: image dimensions exceed the decompression-bomb limit") from None
    except UnidentifiedImageError:
        raise CorruptDataError(f"{path}: not a readable {fmt.value.upper()} image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        text = " ".join(str(exc).split())[:160]
        if "truncat" in text.lower() or "end of" in text.lower() or isinstance(exc, EOFError):
            raise TruncatedDataError(f"{path}: the {fmt.value.upper()} file ends early ({text})") from None
        raise CorruptDataError(f"{path}: the {fmt.value.upper()} data is damaged ({text})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise CorruptDataError(f"{path}: pages of different sizes cannot form one image")
    array = _faithful(np.stack(frames), path)
    colour = array.ndim == 4
    from sonomsk.io.depth_scale import detector_for

    regions, source, notes = calibrate(
        path,
        rows,
        cols,
        spacing_mm=spacing_mm,
        sidecar=sidecar,
        detect=detector_for(array[0]) if detect_scale else None,
    )
    if source == "none":
        warnings.warn(f"{path}: no calibration: results in px", CalibrationWarning, stacklevel=3)
    return UltrasoundImage(
        frames=ArrayFrames(array),
        regions=regions,
        provenance=Provenance(
            source_path=str(path),
            source_sha256=hashlib.sha256(data).hexdigest(),
            reader="still",
            decoder="pillow",
            operations=caller_operations(source, regions),
        ),
        photometric="RGB" if colour else "MONOCHROME2",
        metadata={
            "format": fmt.value.upper(),
            "calibration_source": source,
            "photometric_stored": "RGB" if colour else "MONOCHROME2",
        },
        warnings=tuple(notes),
    )
