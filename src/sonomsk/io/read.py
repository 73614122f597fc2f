"""``sonomsk.read``: one entry point for every image and cine format, chosen by content."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sonomsk.core.errors import InvalidParameterError, UnsupportedDataError
from sonomsk.core.image import UltrasoundImage
from sonomsk.io.sniff import STILL_FORMATS, VIDEO_FORMATS, FileFormat, check_path, sniff


def normalise_spacing(spacing_mm: float | Sequence[float] | None) -> tuple[float, float] | None:
    """(row, column) spacing in mm from a scalar or a pair; validates physical plausibility."""
    if spacing_mm is None:
        return None
    if isinstance(spacing_mm, int | float):
        pair = (float(spacing_mm), float(spacing_mm))
    else:
        values = [float(v) for v in spacing_mm]
        if len(values) != 2:
            raise InvalidParameterError(
                f"spacing_mm: expected one value or (row, column) in mm, got {list(spacing_mm)}"
            )
        pair = (values[0], values[1])
    for v in pair:
        if not 0.001 <= v <= 10.0:
            raise InvalidParameterError(f"spacing_mm: expected 0.001 to 10 mm per pixel, got {v}")
    return pair


def read(
    path: str | os.PathLike[str],
    *,
    spacing_mm: float | Sequence[float] | None = None,
    sidecar: str | os.PathLike[str] | None = None,
    detect_scale: bool = True,
) -> UltrasoundImage:
    """Read an ultrasound image or cine, choosing the reader from the file's content.

    Parameters
    ----------
    path
        A DICOM file (single or multi-frame, any supported transfer syntax, encapsulated
        MPEG-4), a video (MP4, AVI) or a still image (PNG, JPEG, TIFF, BMP).
    spacing_mm
        Pixel size in mm, one value or (row, column), for inputs without DICOM calibration.
        Ignored for DICOM files whose ultrasound regions carry a calibration, and for still
        images or videos whose sidecar gives one (the image's own calibration wins; the
        warnings say so).
    sidecar
        A JSON file with ``{"spacing_mm": [row, col]}`` (and optionally ``regions``); by default
        ``<file>.json`` or ``<stem>.json`` beside a still image or video is used when present.
    detect_scale
        Look for an on-screen depth scale when no other calibration is given.

    Returns
    -------
    UltrasoundImage
        Calibrated when a valid calibration was found; otherwise ``calibrated`` is False and
        ``warnings`` says why (results are then in px).

    Raises
    ------
    InputPathError, EmptyFileError, CorruptDataError, TruncatedDataError, UnsupportedDataError,
    NotUltrasoundError, MissingPixelDataError, ImageTooLargeError
        With a one-line message naming the file.
    """
    p = check_path(path)
    spacing = normalise_spacing(spacing_mm)
    fmt = sniff(p)
    if fmt is FileFormat.DICOM:
        from sonomsk.io.dicom import read_dicom

        return read_dicom(p, spacing_mm=spacing)
    if fmt in STILL_FORMATS:
        from sonomsk.io.still import read_still

        return read_still(
            p, fmt, spacing_mm=spacing, sidecar=_path_or_none(sidecar), detect_scale=detect_scale
        )
    if fmt in VIDEO_FORMATS:
        from sonomsk.io.video import read_video

        return read_video(
            p, fmt, spacing_mm=spacing, sidecar=_path_or_none(sidecar), detect_scale=detect_scale
        )
    raise UnsupportedDataError(
        f"{p}: not a recognised image format (expected DICOM, PNG, JPEG, TIFF, BMP, MP4 or AVI)"
    )


def _path_or_none(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)
