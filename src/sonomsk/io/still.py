"""Still images (PNG, JPEG, TIFF incl. multi-page and 16 bit, BMP) through Pillow."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from sonomsk.core.errors import CalibrationWarning, CorruptDataError, ImageTooLargeError, TruncatedDataError
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
    if frame.mode in ("I", "F"):
        arr = np.asarray(frame)
        if arr.min(initial=0) >= 0 and arr.max(initial=0) <= 65535:
            return arr.astype(np.uint16)
        raise CorruptDataError(f"{path}: pixel values outside 0..65535 are not an ultrasound image")
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[..., :3]
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            arr = arr[..., 0]
    return np.ascontiguousarray(arr)


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
    array = np.stack(frames)
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
