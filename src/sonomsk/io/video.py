"""Video cines (MP4, AVI, MKV; encapsulated MPEG in DICOM) through PyAV, decoded lazily.

Frames are decoded on request. Sequential access (play, step, analysis loops) decodes each frame
once; a jump backwards re-opens the stream and decodes forward from the nearest keyframe, so no
more than a small window of frames is ever held in memory.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from sonomsk.core.errors import BackendUnavailableError, CalibrationWarning, CorruptDataError
from sonomsk.core.image import Provenance, UltrasoundImage
from sonomsk.io.limits import check_dimensions
from sonomsk.io.sidecar import calibrate
from sonomsk.io.sniff import FileFormat, file_sha256

_CACHE_FRAMES = 8


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise BackendUnavailableError("video reading needs PyAV: pip install av") from None
    return av


class VideoFrames:
    """A lazily decoded video stream; ``opener`` returns a fresh binary stream or path each time."""

    def __init__(self, opener: Callable[[], str | BinaryIO], name: str) -> None:
        av = _av()
        self._opener = opener
        self._name = name
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._container: Any = None
        self._iter: Any = None
        self._next_index = 0
        self.decode_count = 0
        try:
            with av.open(opener()) as c:
                stream = c.streams.video[0]
                n = int(stream.frames or 0)
                rate = stream.average_rate or stream.guessed_rate
                self.frame_time_s = float(1 / rate) if rate else None
                first = None
                for frame in c.decode(stream):
                    first = frame.to_ndarray(format="rgb24")
                    break
                if first is None:
                    raise CorruptDataError(f"{name}: the video has no decodable frame")
                if not n:  # container without a frame count: count by demuxing (no decoding)
                    n = self._count_packets()
        except CorruptDataError:
            raise
        except (av.error.FFmpegError, IndexError, ValueError, OSError) as exc:
            raise CorruptDataError(
                f"{name}: not a readable video ({' '.join(str(exc).split())[:120]})"
            ) from None
        self._n = n
        self._grey = bool(
            np.array_equal(first[..., 0], first[..., 1]) and np.array_equal(first[..., 1], first[..., 2])
        )
        self._shape: tuple[int, ...] = first.shape[:2] if self._grey else first.shape
        check_dimensions(name, n, first.shape[0], first.shape[1], 3, 1)

    def _count_packets(self) -> int:
        av = _av()
        with av.open(self._opener()) as c:
            stream = c.streams.video[0]
            return sum(1 for p in c.demux(stream) if p.size)

    @property
    def n_frames(self) -> int:
        return self._n

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.uint8)

    @property
    def grey(self) -> bool:
        return self._grey

    def _restart(self) -> None:
        av = _av()
        if self._container is not None:
            self._container.close()
        self._container = av.open(self._opener())
        self._iter = self._container.decode(self._container.streams.video[0])
        self._next_index = 0

    def get(self, index: int) -> np.ndarray:
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            if self._iter is None or index < self._next_index:
                self._restart()
            try:
                while self._next_index <= index:
                    frame = next(self._iter)
                    arr = frame.to_ndarray(format="rgb24")
                    self.decode_count += 1
                    i = self._next_index
                    self._next_index += 1
                    if i >= index - _CACHE_FRAMES + 1:
                        out = np.ascontiguousarray(arr[..., 0] if self._grey else arr)
                        out.flags.writeable = False
                        self._cache[i] = out
                        while len(self._cache) > _CACHE_FRAMES:
                            self._cache.popitem(last=False)
            except StopIteration:
                raise CorruptDataError(f"{self._name}: frame {index} is missing from the video") from None
            except Exception as exc:
                raise CorruptDataError(
                    f"{self._name}: frame {index} cannot be decoded ({type(exc).__name__})"
                ) from None
            return self._cache[index]


def frames_from_bytes(data: bytes) -> VideoFrames:
    """A lazy frame source over an in-memory MPEG-2/MPEG-4/H.264 stream (DICOM encapsulated video)."""
    return VideoFrames(lambda: io.BytesIO(data), "encapsulated video")


def read_video(
    path: Path,
    fmt: FileFormat,
    *,
    spacing_mm: tuple[float, float] | None,
    sidecar: Path | None,
    detect_scale: bool,
) -> UltrasoundImage:
    """Read a video cine lazily; calibrated like a still image (caller, sidecar, depth scale)."""
    frames = VideoFrames(lambda: str(path), str(path))
    rows, cols = frames.frame_shape[0], frames.frame_shape[1]
    from sonomsk.io.depth_scale import detector_for

    regions, source, notes = calibrate(
        path,
        rows,
        cols,
        spacing_mm=spacing_mm,
        sidecar=sidecar,
        detect=detector_for(frames.get(0)) if detect_scale else None,
    )
    if source == "none":
        warnings.warn(f"{path}: no calibration: results in px", CalibrationWarning, stacklevel=3)
    return UltrasoundImage(
        frames=frames,
        regions=regions,
        provenance=Provenance(
            source_path=str(path), source_sha256=file_sha256(path), reader="video", decoder="pyav"
        ),
        photometric="MONOCHROME2" if frames.grey else "RGB",
        frame_time_s=frames.frame_time_s,
        metadata={
            "format": fmt.value.upper(),
            "calibration_source": source,
            "photometric_stored": "MONOCHROME2" if frames.grey else "RGB",
        },
        warnings=tuple(notes),
    )
