"""Video cines (MP4, AVI, MKV; encapsulated MPEG in DICOM) through PyAV, decoded lazily.

Frames are decoded on request; at most a small window of decoded frames is held in memory.
Opening a video reads its packets once without decoding them (the packet index: presentation
time stamps and keyframes) plus the first frame (size, grey or colour). Then:

- sequential access (play, step, analysis loops) decodes each frame once;
- a jump (backwards beyond the cache, or far forwards) seeks to the last keyframe at or before
  the wanted frame and decodes forward from there;
- streams without time stamps (a raw H.264 elementary stream in DICOM) cannot seek: a backward
  jump there re-opens the stream and decodes from the start.

``decode_count`` counts decoded frames, so callers and tests can see what access costs.
"""

from __future__ import annotations

import bisect
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
from sonomsk.io.sidecar import calibrate, caller_operations
from sonomsk.io.sniff import FileFormat, file_sha256

#: Decoded frames kept for repeated and short backward access.
_CACHE_FRAMES = 8
#: A forward jump of at most this many frames decodes through; a longer one seeks.
_DECODE_THROUGH = 16


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
        first = None
        pts: list[int | None] = []
        keyframes: list[bool] = []
        try:
            with av.open(opener()) as c:
                stream = c.streams.video[0]
                declared = int(stream.frames or 0)
                rate = stream.average_rate or stream.guessed_rate
                self.frame_time_s = float(1 / rate) if rate else None
                for packet in c.demux(stream):
                    if first is None:
                        for frame in packet.decode():
                            first = frame.to_ndarray(format="rgb24")
                            break
                    if packet.size:
                        pts.append(packet.pts)
                        keyframes.append(bool(packet.is_keyframe))
                if first is None:
                    raise CorruptDataError(f"{name}: the video has no decodable frame")
        except CorruptDataError:
            raise
        except (av.error.FFmpegError, IndexError, ValueError, OSError) as exc:
            raise CorruptDataError(
                f"{name}: not a readable video ({' '.join(str(exc).split())[:120]})"
            ) from None
        n = declared or len(pts)
        # Seeking needs one distinct time stamp per frame; otherwise decode from the start.
        self._seekable = len(pts) == n and None not in pts and len(set(pts)) == n and any(keyframes)
        self._pts: list[int] = sorted(p for p in pts if p is not None) if self._seekable else []
        self._index_of = {p: i for i, p in enumerate(self._pts)}
        self._key_pts = sorted(p for p, k in zip(pts, keyframes, strict=True) if k and p is not None)
        self.packets_found = len(pts)
        self.frames_declared = declared
        self._n = n
        self._grey = bool(
            np.array_equal(first[..., 0], first[..., 1]) and np.array_equal(first[..., 1], first[..., 2])
        )
        self._shape: tuple[int, ...] = first.shape[:2] if self._grey else first.shape
        check_dimensions(name, n, first.shape[0], first.shape[1], 3, 1)

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

    @property
    def seekable(self) -> bool:
        """True when jumps seek to a keyframe instead of decoding from the start."""
        return self._seekable

    def close(self) -> None:
        """Release the open container (it is re-opened on the next request)."""
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container = self._iter = None

    def _open(self) -> Any:
        av = _av()
        if self._container is not None:
            self._container.close()
        self._container = av.open(self._opener())
        return self._container.streams.video[0]

    def _restart(self) -> None:
        stream = self._open()
        self._iter = self._container.decode(stream)
        self._next_index = 0

    def _seek(self, index: int) -> None:
        """Position the decoder at the last keyframe at or before frame ``index``."""
        stream = self._open()
        k = bisect.bisect_right(self._key_pts, self._pts[index]) - 1
        target = self._key_pts[max(k, 0)]
        self._container.seek(target, stream=stream, backward=True, any_frame=False)
        self._iter = self._container.decode(stream)
        self._next_index = self._index_of[target]

    def _decode_until(self, index: int) -> bool:
        """Decode forward to frame ``index``; False when the decoder went past it (bad seek)."""
        while True:
            frame = next(self._iter)
            self.decode_count += 1
            if self._seekable:
                i = self._index_of.get(frame.pts) if frame.pts is not None else None
                if i is None:  # a frame the index does not know: not trustworthy
                    return False
            else:
                i = self._next_index
            self._next_index = i + 1
            if i > index:
                return False
            if i >= index - _CACHE_FRAMES + 1:
                arr = frame.to_ndarray(format="rgb24")
                out = np.ascontiguousarray(arr[..., 0] if self._grey else arr)
                out.flags.writeable = False
                self._cache[i] = out
                while len(self._cache) > _CACHE_FRAMES:
                    self._cache.popitem(last=False)
            if i == index:
                return True

    def get(self, index: int) -> np.ndarray:
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            try:
                sequential = (
                    self._iter is not None and self._next_index <= index <= self._next_index + _DECODE_THROUGH
                )
                if not sequential:
                    if self._seekable:
                        self._seek(index)
                    else:
                        self._restart()
                if not self._decode_until(index):
                    # the seek landed wrong (or a time stamp was unknown): decode from the start
                    self._seekable = False
                    self._restart()
                    if not self._decode_until(index):
                        raise StopIteration
            except StopIteration:
                raise CorruptDataError(f"{self._name}: frame {index} is missing from the video") from None
            except CorruptDataError:
                raise
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
            source_path=str(path),
            source_sha256=file_sha256(path),
            reader="video",
            decoder="pyav",
            operations=caller_operations(source, regions),
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
