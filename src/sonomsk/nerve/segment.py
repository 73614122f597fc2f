"""Automatic nerve and vessel segmentation of a transverse B-mode frame, and its measurement.

The label map uses the usgra-seg convention: 0 background, 1 nerve, 2 vessel. Each connected
structure instance is outlined and measured by :func:`sonomsk.nerve.morphology.measure_mask`
over everything its outline encloses (a vessel inside a nerve counts in the nerve's CSA, as the
workstation's outline does, and is measured as a vessel too: decision 014), in
mm/mm2 when the frame is calibrated and in px/px2 (with the unit saying so) when it is not. The
mean echo is on the 8-bit display scale whatever the stored depth (the source's full scale,
:func:`sonomsk.nerve.morphology.grey_full_scale`, is in each measurement's context as
``grey_max``), and the coloured pixels of a colour image are left out of the echo measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sonomsk.core.errors import InvalidParameterError
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
    """The (row, col) mm spacing of a structure, or None (then results are in px).

    The spacing of the one calibrated tissue region that holds every pixel of ``mask``
    (:func:`calibration_for`); never the spacing at one spot of a structure that leaves it.
    """
    return calibration_for(image, mask)[0]


#: Why a structure on a calibrated image is measured in px.
LEAVES_REGION = "outline leaves the calibrated tissue region"


def calibration_for(
    image: UltrasoundImage, mask: np.ndarray
) -> tuple[tuple[float, float] | None, str | None]:
    """(spacing, None) from the calibrated tissue region that holds every pixel of ``mask``, else
    (None, why the structure is measured in px).

    A region is a rectangle, so it holds every pixel when it holds the mask's bounding box.
    A structure outside every calibrated tissue region, or spanning two of them, gets
    :data:`LEAVES_REGION`: part of it has no (or another) scale.
    """
    from sonomsk.core.image import RegionKind
    from sonomsk.vision.postprocess import bounding_box

    found = bounding_box(np.asarray(mask, dtype=bool))
    if found is None:
        return None, "no pixel to measure"
    calibrated = [
        r for r in image.regions if r.kind is RegionKind.TISSUE and r.valid and r.spacing_mm is not None
    ]
    if not calibrated:
        return None, "uncalibrated image"
    r0, r1, c0, c1 = found
    spacings = {
        region.spacing_mm for region in calibrated if region.contains(r0, c0) and region.contains(r1, c1)
    }
    if len(spacings) != 1:  # none holds it all, or overlapping regions disagree
        return None, LEAVES_REGION
    sp = next(iter(spacings))
    assert sp is not None
    return (float(sp[0]), float(sp[1])), None


def doppler_inputs(image: UltrasoundImage, frame: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The colour frame of a colour image (None for a grey one) and the mask of its colour/power
    Doppler regions (None when it has none).

    The colour frame is returned even without a Doppler region: its coloured pixels are left out
    of the echo measures wherever they are (:func:`sonomsk.nerve.morphology.coloured_pixels`);
    the vascularity needs both.
    """
    from sonomsk.core.image import RegionKind

    if image.channels < 3:
        return None, None
    rgb = np.asarray(image.frame(frame))
    boxes = [r.box for r in image.regions if r.kind in (RegionKind.COLOR_DOPPLER, RegionKind.POWER_DOPPLER)]
    if not boxes:
        return rgb, None
    mask = np.zeros((image.rows, image.columns), dtype=bool)
    for r0, c0, r1, c1 in boxes:
        mask[r0:r1, c0:c1] = True
    return rgb, mask


def _filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled, worked within its bounding box (a whole frame is slow)."""
    from sonomsk.vision.postprocess import bounding_box, fill_holes

    found = bounding_box(mask)
    if found is None:
        return mask.copy()
    r0, r1, c0, c1 = found
    out = mask.copy()
    out[r0 : r1 + 1, c0 : c1 + 1] = fill_holes(mask[r0 : r1 + 1, c0 : c1 + 1])
    return out


def segment_frame(
    image: UltrasoundImage,
    *,
    frame: int = 0,
    backend: str | None = None,
    structures: Sequence[str] = ("nerve", "vessel"),
) -> Segmentation:
    """Segment and measure one frame with a registered backend (the shipped ONNX U-Net by default)."""
    from sonomsk.nerve.morphology import grey_full_scale, measure_mask
    from sonomsk.vision.backends import DEFAULT_BACKEND, get_backend
    from sonomsk.vision.contours import contours_from_mask
    from sonomsk.vision.postprocess import labels_from_probabilities

    wanted = check_structures(structures)
    b = get_backend(backend or DEFAULT_BACKEND)
    pixels = image.frame(frame)
    labels = labels_from_probabilities(b.probabilities(pixels), wanted)
    grey = image.grey_frame(frame)
    rgb, doppler = doppler_inputs(image, frame)
    grey_max = grey_full_scale(image)
    instances: list[StructureInstance] = []
    for kind in wanted:
        for n, contour in enumerate(contours_from_mask(labels == LABELS[kind], kind), start=1):
            own = contour.to_mask(labels.shape) & (labels == LABELS[kind])
            if not own.any():
                continue
            # decision 014: a structure is everything its outline encloses, as in the workstation
            # and in the tracing behind the reference values; another structure inside it (a
            # vessel within a nerve) is still outlined and measured as itself too
            mask = _filled(own)
            context: dict[str, object] = {"frame": frame, "instance": n, "structure_kind": kind}
            enclosed = int(mask.sum() - own.sum())
            if enclosed:
                context["enclosed_other_px"] = enclosed
            spacing, why_px = calibration_for(image, mask)
            if why_px is not None:
                context["uncalibrated_reason"] = why_px
            found = measure_mask(
                mask,
                grey,
                spacing=spacing,
                structure=kind,
                rgb=rgb,
                doppler_mask=doppler,
                backend=b.name,
                context=context,
                grey_max=grey_max,
            )
            instances.append(StructureInstance(kind, n, np.asarray(contour.points), mask, tuple(found)))
    return Segmentation(labels=labels, backend=b.name, frame=frame, instances=tuple(instances))
