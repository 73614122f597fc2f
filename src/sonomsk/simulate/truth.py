"""The exact ground truth of a simulated image: parameters, label masks and per-frame truth.

The truth JSON holds everything but the masks, which are written beside it:
``<stem>_labels.png`` (frame-0 label map, uint8, :class:`~sonomsk.simulate.tissues.Label`),
``<stem>_labels.npz`` (every frame, key ``labels``, shape (frame, row, col)) for cines, and
``<stem>_velocity.npy`` (frame-0 true velocity along the beam in cm/s) when Doppler is on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomsk.core.errors import InvalidParameterError
from sonomsk.simulate.tissues import LABEL_NAMES, Label

TRUTH_SCHEMA = 1


@dataclass
class Truth:
    """Everything the simulator knows about an image it made.

    ``labels`` has shape (frame, row, col); ``spacing_mm`` is (row, col); ``structures`` lists
    each structure's name, label and parameters (areas in mm2 both rasterised and analytic);
    ``frames`` holds one dict per frame (time, needle tip in mm and px, events, ...).
    """

    scene: str
    seed: int
    spacing_mm: tuple[float, float]
    shape: tuple[int, int]
    parameters: dict[str, Any]
    probe: dict[str, Any]
    settings: dict[str, Any]
    labels: np.ndarray
    structures: list[dict[str, Any]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    velocity_axial_cm_s: np.ndarray | None = None
    doppler: dict[str, Any] | None = None

    def mask(self, label: Label | int, frame: int = 0) -> np.ndarray:
        """Boolean mask of one label in one frame."""
        return np.asarray(self.labels[frame] == int(label))

    def nerve_vessel_labels(self, frame: int = 0) -> np.ndarray:
        """uint8 map with the usgra-seg convention: 0 background, 1 nerve, 2 vessel."""
        lab = self.labels[frame]
        out = np.zeros(lab.shape, np.uint8)
        out[lab == Label.NERVE] = 1
        out[lab == Label.VESSEL] = 2
        return out

    def structure(self, name: str) -> dict[str, Any]:
        for s in self.structures:
            if s["name"] == name:
                return s
        raise InvalidParameterError(
            f"structure: no {name!r} in this scene (have {[s['name'] for s in self.structures]})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": TRUTH_SCHEMA,
            "scene": self.scene,
            "seed": self.seed,
            "spacing_mm": list(self.spacing_mm),
            "shape": list(self.shape),
            "n_frames": int(self.labels.shape[0]),
            "label_names": {str(k): v for k, v in LABEL_NAMES.items()},
            "parameters": _jsonable(self.parameters),
            "probe": _jsonable(self.probe),
            "settings": _jsonable(self.settings),
            "structures": _jsonable(self.structures),
            "frames": _jsonable(self.frames),
            "doppler": _jsonable(self.doppler),
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (JSON) and the mask files beside it; returns the JSON path."""
        from PIL import Image

        p = Path(path)
        if p.suffix.lower() != ".json":
            raise InvalidParameterError(f"truth: expected a .json path, got {p}")
        p.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        stem = p.with_suffix("")
        files: dict[str, str] = {}
        png = stem.with_name(stem.name + "_labels.png")
        Image.fromarray(self.labels[0].astype(np.uint8)).save(png)
        files["labels_frame0"] = png.name
        if self.labels.shape[0] > 1:
            npz = stem.with_name(stem.name + "_labels.npz")
            np.savez_compressed(npz, labels=self.labels.astype(np.uint8))
            files["labels_all_frames"] = npz.name
        if self.velocity_axial_cm_s is not None:
            vel = stem.with_name(stem.name + "_velocity.npy")
            np.save(vel, self.velocity_axial_cm_s.astype(np.float32))
            files["velocity_axial_cm_s_frame0"] = vel.name
        data["files"] = files
        p.write_text(json.dumps(data, indent=2, allow_nan=False), encoding="utf-8")
        return p


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return value


def read_truth(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a truth JSON and its label masks (``labels``: (frame, row, col) uint8)."""
    from PIL import Image

    p = Path(path)
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    files = data.get("files", {})
    if "labels_all_frames" in files:
        with np.load(p.parent / files["labels_all_frames"]) as z:
            data["labels"] = z["labels"]
    else:
        data["labels"] = np.asarray(Image.open(p.parent / files["labels_frame0"]))[None]
    return data
