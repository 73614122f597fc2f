"""The ultrasound image: pixels, regions with calibration, and provenance.

An :class:`UltrasoundImage` is frozen. Pixels come from a :class:`FrameSource`, so a long cine can
be decoded frame by frame instead of all at once. Array axes are (frame, row, column[, channel]);
DICOM's X/Y appear only inside :mod:`sonomsk.io`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sonomsk.core.errors import CalibrationError, InvalidParameterError
from sonomsk.core.units import Unit


class RegionKind(StrEnum):
    """What a region of the screen shows."""

    TISSUE = "tissue"
    COLOR_DOPPLER = "color_doppler"
    POWER_DOPPLER = "power_doppler"
    SPECTRAL_DOPPLER = "spectral_doppler"
    M_MODE = "m_mode"
    OTHER = "other"


@dataclass(frozen=True)
class Axis:
    """One axis of a region: the physical unit and the size of one pixel in that unit."""

    unit: str
    delta: float | None

    @property
    def spatial(self) -> bool:
        return self.unit == Unit.MM.value and self.delta is not None and self.delta > 0


@dataclass(frozen=True)
class Region:
    """A rectangle of the image with its own kind and calibration.

    ``box`` is (row0, col0, row1, col1), half-open, in pixels of the image it belongs to.
    ``row_axis`` and ``col_axis`` give unit and pixel size. A region that failed validation keeps
    ``valid=False`` and the ``reason``; it never yields millimetres.
    """

    box: tuple[int, int, int, int]
    kind: RegionKind
    row_axis: Axis
    col_axis: Axis
    valid: bool = True
    reason: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def cols(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """(row, column) pixel size in mm, or None when this region has no spatial calibration."""
        if not (self.valid and self.row_axis.spatial and self.col_axis.spatial):
            return None
        assert self.row_axis.delta is not None and self.col_axis.delta is not None
        return (self.row_axis.delta, self.col_axis.delta)

    def contains(self, row: float, col: float) -> bool:
        r0, c0, r1, c1 = self.box
        return r0 <= row < r1 and c0 <= col < c1

    def shifted(self, drow: int, dcol: int) -> Region:
        r0, c0, r1, c1 = self.box
        return dataclasses.replace(self, box=(r0 + drow, c0 + dcol, r1 + drow, c1 + dcol))


@dataclass(frozen=True)
class Provenance:
    """Where an image came from and what has been done to it."""

    source_path: str | None = None
    source_sha256: str | None = None
    sop_instance_uid: str | None = None
    reader: str | None = None
    decoder: str | None = None
    operations: tuple[str, ...] = ()

    def derived(self, operation: str) -> Provenance:
        return dataclasses.replace(self, operations=(*self.operations, operation))


@runtime_checkable
class FrameSource(Protocol):
    """Gives frames one at a time. Implementations may decode lazily."""

    @property
    def n_frames(self) -> int: ...

    @property
    def frame_shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def get(self, index: int) -> np.ndarray: ...


class ArrayFrames:
    """Frames held in memory as one array of shape (frame, row, col[, channel])."""

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim not in (3, 4):
            raise InvalidParameterError(
                f"array: expected 3 or 4 dimensions (frame, row, col[, channel]), got {array.shape}"
            )
        self._array = array
        self._array.flags.writeable = False

    @property
    def n_frames(self) -> int:
        return int(self._array.shape[0])

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self._array.shape[1:])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._array.dtype

    def get(self, index: int) -> np.ndarray:
        return self._array[index]

    @property
    def array(self) -> np.ndarray:
        return self._array


class SelectedFrames:
    """A lazy view on some frames of another source."""

    def __init__(self, source: FrameSource, indices: Sequence[int]) -> None:
        self._source = source
        self._indices = tuple(int(i) for i in indices)

    @property
    def n_frames(self) -> int:
        return len(self._indices)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self._source.frame_shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._source.dtype

    def get(self, index: int) -> np.ndarray:
        return self._source.get(self._indices[index])


@dataclass(frozen=True)
class UltrasoundImage:
    """A still image or cine with its regions, calibration and provenance.

    Parameters
    ----------
    frames
        The pixel source; frames have shape (row, col) for grey or (row, col, 3) for colour.
    regions
        Screen regions (B-mode tissue, Doppler, ...), each with its own calibration.
    provenance
        Source file, hash, SOP Instance UID, reader and decoder, and derived operations.
    photometric
        ``MONOCHROME2`` or ``RGB`` after decoding (palette and YBR are converted to RGB).
    frame_time_s
        Time between frames of a cine in seconds, when known.
    metadata
        Header facts for display (format, transfer syntax, manufacturer, model, ...).
    warnings
        Reasons why calibration or quality is doubtful, in plain words.
    """

    frames: FrameSource
    regions: tuple[Region, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    photometric: str = "MONOCHROME2"
    frame_time_s: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    # -- shape -------------------------------------------------------------------------------
    @classmethod
    def from_array(cls, array: np.ndarray, **kwargs: Any) -> UltrasoundImage:
        """Build an image from (row, col), (row, col, 3), (frame, row, col) or 4-D arrays.

        A 2-D array is one grey frame; a 3-D array whose last axis is 3 or 4 is one colour frame
        (pass ``photometric="RGB"``); otherwise a 3-D array is a grey cine.
        """
        arr = np.asarray(array)
        photometric = kwargs.get("photometric", "MONOCHROME2")
        if arr.ndim == 2 or (arr.ndim == 3 and photometric == "RGB"):
            arr = arr[np.newaxis]
        return cls(frames=ArrayFrames(np.ascontiguousarray(arr)), **kwargs)

    @property
    def n_frames(self) -> int:
        return self.frames.n_frames

    @property
    def rows(self) -> int:
        return self.frames.frame_shape[0]

    @property
    def columns(self) -> int:
        return self.frames.frame_shape[1]

    @property
    def channels(self) -> int:
        shape = self.frames.frame_shape
        return shape[2] if len(shape) == 3 else 1

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(frames, rows, columns, channels)."""
        return (self.n_frames, self.rows, self.columns, self.channels)

    def frame(self, index: int = 0) -> np.ndarray:
        """One decoded frame, shape (row, col) or (row, col, channel)."""
        if not -self.n_frames <= index < self.n_frames:
            raise InvalidParameterError(f"frame index: expected 0..{self.n_frames - 1}, got {index}")
        return self.frames.get(index % self.n_frames)

    def iter_frames(self) -> Iterator[np.ndarray]:
        for i in range(self.n_frames):
            yield self.frames.get(i)

    @property
    def array(self) -> np.ndarray:
        """All frames in memory, shape (frame, row, col[, channel]). Decodes a lazy cine fully."""
        if isinstance(self.frames, ArrayFrames):
            return self.frames.array
        return np.stack(list(self.iter_frames()))

    def grey_frame(self, index: int = 0) -> np.ndarray:
        """One frame as a 2-D float32 grey image (luma for colour frames)."""
        frame = self.frame(index)
        if frame.ndim == 2:
            return frame.astype(np.float32)
        rgb = frame[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)

    # -- calibration -------------------------------------------------------------------------
    @property
    def calibrated(self) -> bool:
        """True when at least one tissue region has a valid spatial calibration."""
        return any(r.spacing_mm is not None for r in self.tissue_regions)

    @property
    def tissue_regions(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.kind is RegionKind.TISSUE)

    def region_at(self, row: float, col: float) -> Region | None:
        """The calibrated tissue region under a pixel, else any region under it, else None."""
        hits = [r for r in self.regions if r.contains(row, col)]
        for r in hits:
            if r.kind is RegionKind.TISSUE and r.spacing_mm is not None:
                return r
        return hits[0] if hits else None

    def spacing_mm(self, row: float | None = None, col: float | None = None) -> tuple[float, float]:
        """(row, column) pixel size in mm at a pixel, or of the image's one calibrated tissue region.

        Raises
        ------
        CalibrationError
            When no valid spatial calibration applies. Never assumes a spacing of 1.
        """
        if row is not None and col is not None:
            region = self.region_at(row, col)
            if region is None or region.spacing_mm is None:
                raise CalibrationError(
                    f"no calibrated tissue region at pixel (row {row}, col {col}) of "
                    f"{self.provenance.source_path or 'image'}: results would be in px"
                )
            return region.spacing_mm
        spacings = {r.spacing_mm for r in self.tissue_regions if r.spacing_mm is not None}
        if not spacings:
            raise CalibrationError(
                f"{self.provenance.source_path or 'image'} has no spatial calibration: "
                "results are in px (give --spacing-mm or a sidecar)"
            )
        if len(spacings) > 1:
            raise CalibrationError(
                f"{self.provenance.source_path or 'image'} has tissue regions with different "
                "spacings: give a pixel position"
            )
        return next(iter(spacings))

    # -- derived images ----------------------------------------------------------------------
    def with_regions(self, regions: Sequence[Region]) -> UltrasoundImage:
        return dataclasses.replace(self, regions=tuple(regions))

    def select_frames(self, indices: Sequence[int]) -> UltrasoundImage:
        """A new image with only the given frames (lazy: nothing is decoded here)."""
        idx = [int(i) for i in indices]
        for i in idx:
            if not 0 <= i < self.n_frames:
                raise InvalidParameterError(f"frame index: expected 0..{self.n_frames - 1}, got {i}")
        return dataclasses.replace(
            self,
            frames=SelectedFrames(self.frames, idx),
            provenance=self.provenance.derived(f"select_frames({idx})"),
        )

    def crop(self, row0: int, col0: int, row1: int, col1: int) -> UltrasoundImage:
        """A new image of pixels [row0:row1, col0:col1]; regions are clipped and shifted."""
        if not (0 <= row0 < row1 <= self.rows and 0 <= col0 < col1 <= self.columns):
            raise InvalidParameterError(
                f"crop box: expected 0 <= row0 < row1 <= {self.rows} and 0 <= col0 < col1 <= "
                f"{self.columns}, got ({row0}, {col0}, {row1}, {col1})"
            )
        array = np.stack([f[row0:row1, col0:col1] for f in self.iter_frames()])
        regions = []
        for r in self.regions:
            b = (max(r.box[0], row0), max(r.box[1], col0), min(r.box[2], row1), min(r.box[3], col1))
            if b[0] < b[2] and b[1] < b[3]:
                clipped = dataclasses.replace(r, box=b)
                regions.append(clipped.shifted(-row0, -col0))
        return dataclasses.replace(
            self,
            frames=ArrayFrames(array),
            regions=tuple(regions),
            provenance=self.provenance.derived(f"crop({row0},{col0},{row1},{col1})"),
        )

    def resample(self, row_factor: float, col_factor: float | None = None) -> UltrasoundImage:
        """A new image scaled by (row_factor, col_factor); spacings shrink by the same factor."""
        import cv2

        cf = row_factor if col_factor is None else col_factor
        if not (0 < row_factor <= 16 and 0 < cf <= 16):
            raise InvalidParameterError(
                f"resample factors: expected 0 < factor <= 16, got ({row_factor}, {cf})"
            )
        new_rows = max(1, round(self.rows * row_factor))
        new_cols = max(1, round(self.columns * cf))
        interp = cv2.INTER_AREA if row_factor * cf < 1 else cv2.INTER_LINEAR
        frames = [cv2.resize(f, (new_cols, new_rows), interpolation=interp) for f in self.iter_frames()]
        sr, sc = new_rows / self.rows, new_cols / self.columns
        regions = []
        for r in self.regions:
            box = (round(r.box[0] * sr), round(r.box[1] * sc), round(r.box[2] * sr), round(r.box[3] * sc))
            row_axis = _scale_axis(r.row_axis, sr)
            col_axis = _scale_axis(r.col_axis, sc)
            regions.append(dataclasses.replace(r, box=box, row_axis=row_axis, col_axis=col_axis))
        return dataclasses.replace(
            self,
            frames=ArrayFrames(np.stack(frames)),
            regions=tuple(regions),
            provenance=self.provenance.derived(f"resample({row_factor},{cf})"),
        )


def _scale_axis(axis: Axis, factor: float) -> Axis:
    if axis.delta is None:
        return axis
    return Axis(unit=axis.unit, delta=axis.delta / factor)


def whole_image_region(
    rows: int, cols: int, spacing_mm: tuple[float, float] | None, kind: RegionKind = RegionKind.TISSUE
) -> Region:
    """One region covering a whole image, calibrated when ``spacing_mm`` (row, col) is given."""
    if spacing_mm is None:
        axis = Axis(unit=Unit.PX.value, delta=None)
        return Region(box=(0, 0, rows, cols), kind=kind, row_axis=axis, col_axis=axis)
    return Region(
        box=(0, 0, rows, cols),
        kind=kind,
        row_axis=Axis(unit=Unit.MM.value, delta=float(spacing_mm[0])),
        col_axis=Axis(unit=Unit.MM.value, delta=float(spacing_mm[1])),
    )
