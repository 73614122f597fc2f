"""Automatic nerve and vessel segmentation of a transverse B-mode frame, and its measurement.

The label map uses the usgra-seg convention: 0 background, 1 nerve, 2 vessel. Each connected
structure instance is outlined and measured by :func:`sonomsk.nerve.morphology.measure_mask`, in
mm/mm2 when the frame is calibrated and in px/px2 (with the unit saying so) when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sonomsk.core.errors import CalibrationError, InvalidParameterError
from sonomsk.core.image import UltrasoundImage
from sonomsk.core.results import Measurement

LABELS = {"nerve": 1, "vessel": 2}


@dataclass(frozen=True)
class StructureInstance:
    """One outlined structure: kind, instance number, (N, 2) row/col outline and its measures."""

    kind: str
    index: int
    points: np.ndarray
    mask: np.ndarray
    measurements: tuple[Measurement, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        return f"{self.kind}#{self.index}"


@dataclass(frozen=True)
class Segmentation:
    """The label map of one frame, the backend that made it and the measured instances."""

    labels: np.ndarray
    backend: str
    frame: int
    instances: tuple[StructureInstance, ...]
    note: str | None = None


def check_structures(structures: Sequence[str]) -> tuple[str, ...]:
    out = tuple(s.strip() for s in structures if s.strip())
    bad = [s for s in out if s not in LABELS]
    if bad or not out:
        raise InvalidParameterError(f"structures: expected some of {sorted(LABELS)}, got {list(structures)}")
    return out


def spacing_for(image: UltrasoundImage, mask: np.ndarray) -> tuple[float, float] | None:
    """The (row, col) mm spacing under a structure, or None (then results are in px)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    try:
        return image.spacing_mm(row=float(rows.mean()), col=float(cols.mean()))
    except CalibrationError:
        return None


def segment_frame(
    image: UltrasoundImage,
    *,
    frame: int = 0,
    backend: str | None = None,
    structures: Sequence[str] = ("nerve", "vessel"),
) -> Segmentation:
    """Segment and measure one frame with a registered backend (the shipped ONNX U-Net by default)."""
    from sonomsk.nerve.morphology import measure_mask
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.contours import contours_from_mask
    from sonomsk.vision.postprocess import labels_from_probabilities

    wanted = check_structures(structures)
    b = get_backend(backend or DEFAULT_BACKEND)
    pixels = image.frame(frame)
    labels = labels_from_probabilities(b.probabilities(pixels), wanted)
    grey = image.grey_frame(frame)
    rgb = pixels if pixels.ndim == 3 else None
    instances: list[StructureInstance] = []
    for kind in wanted:
        for n, contour in enumerate(contours_from_mask(labels == LABELS[kind], kind), start=1):
            mask = contour.to_mask(labels.shape) & (labels == LABELS[kind])
            if not mask.any():
                continue
            context = {"frame": frame, "instance": n, "structure_kind": kind}
            found = measure_mask(
                mask,
                grey,
                spacing=spacing_for(image, mask),
                structure=kind,
                rgb=rgb,
                backend=b.name,
                context=context,
            )
            instances.append(StructureInstance(kind, n, np.asarray(contour.points), mask, tuple(found)))
    return Segmentation(labels=labels, backend=b.name, frame=frame, instances=tuple(instances))
