"""Input contract of the learned segmentation models: grey, resized, standardised.

Training (:mod:`sonomsk.training`) and inference (:mod:`sonomsk.vision.onnx_unet`) both call
:func:`prepare_input`, so the two can never drift apart. Numpy and OpenCV only.
"""

from __future__ import annotations

import numpy as np

from sonomsk.core.errors import InvalidParameterError


def to_grey(frame: np.ndarray) -> np.ndarray:
    """A 2-D float32 grey image from a (row, col) or (row, col, channel) frame (ITU-R 601 luma)."""
    arr = np.asarray(frame)
    if arr.ndim == 2:
        return arr.astype(np.float32, copy=False)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        rgb = arr[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[..., 0].astype(np.float32)
    raise InvalidParameterError(f"frame: expected (row, col) or (row, col, 3), got shape {arr.shape}")


def standardise(grey: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation (float32); a flat image becomes all zeros."""
    g = grey.astype(np.float32, copy=False)
    mean = float(g.mean())
    std = float(g.std())
    return (g - mean) / std if std > 1e-6 else np.zeros_like(g)


def prepare_input(frame: np.ndarray, size: int) -> np.ndarray:
    """Grey, resized to (size, size) with area interpolation, standardised: float32 (size, size)."""
    import cv2

    grey = to_grey(frame)
    if grey.shape != (size, size):
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return standardise(grey)
