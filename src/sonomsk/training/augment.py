"""Heavy, cheap augmentation of (grey, labels) pairs with numpy and OpenCV."""

from __future__ import annotations

import numpy as np

from sonomsk.vision.preprocess import standardise


def augment(
    grey: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random affine (scale, rotation, shift, flip), gain/gamma/contrast, blur, speckle, noise.

    ``grey`` is float32 in 0..255 of any size; returns a standardised (size, size) float32 image
    and (size, size) uint8 labels.
    """
    import cv2

    rows, cols = grey.shape
    scale = rng.uniform(0.8, 1.25)
    angle = rng.uniform(-15.0, 15.0)
    # Map the full image onto (size, size) (the inference contract), then perturb.
    sx, sy = size / cols, size / rows
    centre = (size / 2.0, size / 2.0)
    rot = cv2.getRotationMatrix2D(centre, angle, scale)
    base = np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])
    m = rot @ base
    m[:, 2] += rng.uniform(-0.12, 0.12, size=2) * size
    if rng.random() < 0.5:
        m = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    img = cv2.warpAffine(
        grey,
        m,
        (size, size),
        flags=cv2.INTER_AREA if scale * sx < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    lab = cv2.warpAffine(
        labels, m, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    img = np.asarray(np.clip(img, 0, 255), dtype=np.float32) / np.float32(255.0)
    return standardise(photometric(img, rng)), lab.astype(np.uint8)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gamma, blur, speckle, noise, depth gain and contrast of a 0..1 float32 image."""
    import cv2

    size = img.shape[0]
    if rng.random() < 0.8:
        img = img ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < 0.3:
        img = img * np.asarray(rng.gamma(8.0, 1 / 8.0, size=img.shape), dtype=np.float32)
    if rng.random() < 0.5:
        img = img + np.asarray(rng.normal(0, rng.uniform(0.01, 0.05), size=img.shape), dtype=np.float32)
    if rng.random() < 0.3:
        # depth-dependent gain (time-gain compensation variation)
        ramp = np.linspace(1.0, rng.uniform(0.6, 1.4), size, dtype=np.float32)[:, None]
        img = img * ramp
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
    return np.asarray(img, dtype=np.float32)
