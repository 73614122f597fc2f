"""Safety limits against absurd dimensions (decompression bombs) and hostile input."""

from __future__ import annotations

from pathlib import Path

from sonomsk.core.errors import ImageTooLargeError

#: Largest accepted frame side in pixels (ultrasound screens are at most a few thousand).
MAX_SIDE_PX = 8192
#: Largest accepted frame in pixels.
MAX_FRAME_PIXELS = 40_000_000
#: Largest accepted number of frames in one cine.
MAX_FRAMES = 100_000
#: Largest decoded size of a whole object in bytes (read lazily beyond memory, but bounded).
MAX_TOTAL_BYTES = 64 * 1024**3


def check_dimensions(
    path: Path | str, frames: int, rows: int, cols: int, channels: int, bytes_per_sample: int
) -> None:
    """Raise ImageTooLargeError when declared dimensions are absurd or non-positive."""
    if min(frames, rows, cols, channels, bytes_per_sample) <= 0:
        raise ImageTooLargeError(
            f"{path}: absurd dimensions (frames {frames}, rows {rows}, columns {cols}, channels {channels})"
        )
    if rows > MAX_SIDE_PX or cols > MAX_SIDE_PX:
        raise ImageTooLargeError(
            f"{path}: frame of {rows} x {cols} px exceeds the limit of {MAX_SIDE_PX} px a side"
        )
    if rows * cols > MAX_FRAME_PIXELS:
        raise ImageTooLargeError(
            f"{path}: frame of {rows} x {cols} px ({rows * cols / 1e6:.1f} Mpx) exceeds the limit of "
            f"{MAX_FRAME_PIXELS / 1e6:.0f} Mpx a frame"
        )
    if frames > MAX_FRAMES:
        raise ImageTooLargeError(f"{path}: {frames} frames exceed the limit of {MAX_FRAMES}")
    total = frames * rows * cols * channels * bytes_per_sample
    if total > MAX_TOTAL_BYTES:
        raise ImageTooLargeError(
            f"{path}: declared size {total / 1024**3:.1f} GiB exceeds the limit of "
            f"{MAX_TOTAL_BYTES / 1024**3:.0f} GiB"
        )
