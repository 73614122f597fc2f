"""Tissue classes, structure labels and the canvas that scenes paint their anatomy on.

A :class:`Canvas` is the physical grid of one frame: rows go with depth ``z`` (mm from the probe
face), columns with the lateral position ``x`` (mm from the left edge of the image). Pixel
``(i, j)`` has its centre at ``(i * spacing_row, j * spacing_col)`` mm, the same convention as a
DICOM ultrasound region whose reference pixel has the physical value 0, so truth in pixels and in
millimetres converts with the stated spacing alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np


class Tissue(IntEnum):
    """Acoustic tissue classes; their properties live in ``simulate/data/tissues.json``."""

    BACKGROUND = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    SEPTUM = 4
    TENDON = 5
    FASCICLE = 6
    EPINEURIUM = 7
    BLOOD = 8
    VESSEL_WALL = 9
    BONE = 10
    CARTILAGE = 11
    FLUID = 12
    CALCIFICATION = 13
    INJECTATE = 14
    TUMOUR = 15
    FIBROSIS = 16
    NEEDLE = 17


class Label(IntEnum):
    """Structure labels of the truth masks. 0/1/2 match the usgra-seg convention."""

    BACKGROUND = 0
    NERVE = 1
    VESSEL = 2
    MUSCLE = 3
    TENDON = 4
    BONE = 5
    FLUID = 6
    NEEDLE = 7
    INJECTATE = 8
    FAT = 9
    SKIN = 10
    TUMOUR = 11
    CALCIFICATION = 12
    APONEUROSIS = 13


LABEL_NAMES: dict[int, str] = {int(label): label.name.lower() for label in Label}


@dataclass(frozen=True)
class TissueTable:
    """Per-tissue property arrays indexed by :class:`Tissue` value."""

    echo: np.ndarray
    density: np.ndarray
    attenuation: np.ndarray
    impedance: np.ndarray
    specular_exponent: np.ndarray
    source: str


@lru_cache(maxsize=1)
def tissue_table() -> TissueTable:
    """The tissue properties of ``simulate/data/tissues.json`` as lookup arrays."""
    text = resources.files("sonomsk.simulate").joinpath("data/tissues.json").read_text("utf-8")
    data = json.loads(text)
    n = len(Tissue)
    arrays = {k: np.zeros(n, np.float32) for k in ("echo", "density", "attenuation", "impedance")}
    spec = np.zeros(n, np.float32)
    for tissue in Tissue:
        props = data["tissues"][tissue.name.lower()]
        for key, arr in arrays.items():
            arr[tissue] = float(props[key])
        spec[tissue] = float(props["specular_exponent"])
    return TissueTable(specular_exponent=spec, source=str(data["source"]), **arrays)


@dataclass(frozen=True)
class ClutterParams:
    """Reverberation and side-lobe clutter (``clutter`` of ``tissues.json``); dB are power ratios."""

    reverberation_db: float
    reverberation_decay_mm: float
    reverberation_lateral_mm: float
    reverberation_path_attenuation_db_cm_mhz: float
    sidelobe_db: float
    sidelobe_width_mm: float


@lru_cache(maxsize=1)
def clutter_params() -> ClutterParams:
    """The clutter parameters of ``simulate/data/tissues.json`` (rationale in the file)."""
    text = resources.files("sonomsk.simulate").joinpath("data/tissues.json").read_text("utf-8")
    c = json.loads(text)["clutter"]
    return ClutterParams(**{k: float(c[k]) for k in ClutterParams.__dataclass_fields__})


@dataclass
class Structure:
    """One named structure of the truth: its label, parameters and (frame-0) mask."""

    name: str
    label: Label
    params: dict[str, Any]
    mask: np.ndarray | None = None


@dataclass
class Canvas:
    """The maps one frame is rendered from; scenes paint on it with the painter's algorithm.

    ``tissue`` (uint8, :class:`Tissue`), ``echo_mod`` (float32 multiplier of the tissue's
    echo, for texture and disease), ``labels`` (uint8, :class:`Label`), ``specular`` (float32,
    extra coherent reflections such as a needle), ``velocity`` (float32, flow speed in cm/s along
    the vessel axis) and ``flow_angle`` (float32, degrees between flow and beam).
    """

    rows: int
    cols: int
    spacing_mm: float
    x_offset_mm: float = 0.0
    tissue: np.ndarray = field(init=False)
    echo_mod: np.ndarray = field(init=False)
    labels: np.ndarray = field(init=False)
    specular: np.ndarray = field(init=False)
    velocity: np.ndarray = field(init=False)
    flow_angle: np.ndarray = field(init=False)
    structures: list[Structure] = field(default_factory=list)

    def __post_init__(self) -> None:
        shape = (self.rows, self.cols)
        self.tissue = np.zeros(shape, np.uint8)
        self.echo_mod = np.ones(shape, np.float32)
        self.labels = np.zeros(shape, np.uint8)
        self.specular = np.zeros(shape, np.float32)
        self.velocity = np.zeros(shape, np.float32)
        self.flow_angle = np.full(shape, 90.0, np.float32)

    @property
    def depth_mm(self) -> float:
        return self.rows * self.spacing_mm

    @property
    def width_mm(self) -> float:
        return self.cols * self.spacing_mm

    @property
    def z(self) -> np.ndarray:
        """Depth of each row centre in mm, shape (rows, 1)."""
        return (np.arange(self.rows, dtype=np.float32) * self.spacing_mm)[:, None]

    @property
    def x(self) -> np.ndarray:
        """Lateral position (world mm, probe offset included) of each column centre, shape (1, cols)."""
        return (np.arange(self.cols, dtype=np.float32) * self.spacing_mm + self.x_offset_mm)[None, :]

    def to_px(self, z_mm: float, x_mm: float) -> tuple[float, float]:
        """(row, col) pixel coordinate of a world point (z, x) in mm."""
        return (z_mm / self.spacing_mm, (x_mm - self.x_offset_mm) / self.spacing_mm)

    def paint(
        self,
        mask: np.ndarray,
        tissue: Tissue,
        label: Label | None = None,
        echo: float | np.ndarray | None = None,
    ) -> None:
        """Set ``tissue`` (and optionally ``label`` and an echo multiplier) where ``mask`` is True."""
        self.tissue[mask] = tissue
        if label is not None:
            self.labels[mask] = label
        if echo is not None:
            self.echo_mod[mask] = echo if np.isscalar(echo) else np.asarray(echo)[mask]
        else:
            self.echo_mod[mask] = 1.0

    def add_structure(self, name: str, label: Label, params: dict[str, Any], mask: np.ndarray | None) -> None:
        self.structures.append(Structure(name=name, label=label, params=params, mask=mask))
