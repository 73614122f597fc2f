"""Every exception and warning of sonomsk.

One base class, :class:`SonomskError`; subclasses say what went wrong so that callers (and the
command line) can react without parsing messages. Messages are one line and name the file or the
parameter, what was expected and what was received.
"""

from __future__ import annotations


class SonomskError(Exception):
    """Base class of every error raised on purpose by sonomsk."""


class InvalidParameterError(SonomskError, ValueError):
    """A parameter has a wrong type, unit or an absurd value."""


class CalibrationError(SonomskError):
    """A physical quantity (mm, mm2) was asked for but the image has no valid calibration."""


class UnsupportedDataError(SonomskError):
    """The input is readable but is not something sonomsk analyses (wrong modality, format)."""


class NotUltrasoundError(UnsupportedDataError):
    """A DICOM object that is not an ultrasound image (CT, SR, SEG, ...)."""


class MissingPixelDataError(UnsupportedDataError):
    """A DICOM object without pixel data."""


class ImageTooLargeError(UnsupportedDataError):
    """Declared dimensions exceed the safety limits (decompression-bomb guard)."""


class CorruptDataError(SonomskError):
    """The input claims a format but its content is damaged or inconsistent."""


class EmptyFileError(CorruptDataError):
    """The input file has zero bytes."""


class TruncatedDataError(CorruptDataError):
    """The file ends before the data its header promises (truncated header or pixel data)."""


class InputPathError(SonomskError):
    """The path cannot be read as a file: missing, a directory, or no permission."""


class BackendUnavailableError(SonomskError, ImportError):
    """An optional dependency or model backend is not installed; the message names the package."""


class MeasurementError(SonomskError):
    """A measurement cannot be made on this input (empty mask, region outside the image, ...)."""


class DeidentificationError(SonomskError):
    """De-identification cannot be done safely; the output was not written."""


class StoreError(SonomskError):
    """The study store refused an operation; nothing already stored was changed."""


class ConflictError(StoreError):
    """The store holds something that contradicts the request (one study UID for two patients,
    an assessment changed since it was seen); nothing was changed."""


class NetworkError(SonomskError):
    """A network peer (a DICOM destination) could not be reached or refused the transfer."""


class CalibrationWarning(UserWarning):
    """Calibration is missing or was rejected; results fall back to pixels."""


class QualityWarning(UserWarning):
    """The input or a result is of doubtful quality (clipping, low contrast, tiny structure)."""


class FormatWarning(UserWarning):
    """The file deviates from its format's rules but could still be read."""


#: Every error class with a one-line description, for the documentation and ``--help``.
ERROR_CLASSES: tuple[type[SonomskError], ...] = (
    InvalidParameterError,
    CalibrationError,
    UnsupportedDataError,
    NotUltrasoundError,
    MissingPixelDataError,
    ImageTooLargeError,
    CorruptDataError,
    EmptyFileError,
    TruncatedDataError,
    InputPathError,
    BackendUnavailableError,
    MeasurementError,
    DeidentificationError,
    StoreError,
    NetworkError,
)
