"""Segmentation backend registry: backends register by import path and load lazily.

A backend turns one frame into class probabilities (background, nerve, vessel) at the frame's
size and carries a :class:`ModelCard`. ``get_backend(name)`` imports it on first use; a backend
whose dependency or model file is missing says so through ``is_available()`` and raises
:class:`~sonomsk.core.errors.BackendUnavailableError` naming what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sonomsk.core.errors import BackendUnavailableError, InvalidParameterError

#: Output labels shared by every nerve/vessel backend.
OUTPUT_LABELS: Mapping[int, str] = {0: "background", 1: "nerve", 2: "vessel"}


@dataclass(frozen=True)
class ModelCard:
    """What a backend is for, what it expects and how well it was shown to work."""

    name: str
    version: str
    intended_use: str
    input_contract: str
    output_labels: Mapping[int, str] = field(default_factory=lambda: dict(OUTPUT_LABELS))
    training_data: str = ""
    attribution: str = ""
    validation: Mapping[str, Any] = field(default_factory=dict)
    limitations: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "intended_use": self.intended_use,
            "input_contract": self.input_contract,
            "output_labels": {str(k): v for k, v in self.output_labels.items()},
            "training_data": self.training_data,
            "attribution": self.attribution,
            "validation": dict(self.validation),
            "limitations": self.limitations,
        }


@runtime_checkable
class SegmentationBackend(Protocol):
    """The contract every backend fulfils (checked by the shared conformance test)."""

    name: str

    @property
    def card(self) -> ModelCard: ...

    def is_available(self) -> bool: ...

    def unavailable_reason(self) -> str | None: ...

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        """(3, row, col) float32 probabilities summing to 1 per pixel, for a (row, col[, 3]) frame."""
        ...


_REGISTRY: dict[str, str] = {
    "onnx-unet": "sonomsk.vision.onnx_unet:OnnxUNetBackend",
    "onnx-unet-frame": "sonomsk.vision.onnx_unet:OnnxUNetFrameBackend",
    "classical": "sonomsk.vision.classical:ClassicalBackend",
}
_INSTANCES: dict[str, SegmentationBackend] = {}

#: The backend used when none is named.
DEFAULT_BACKEND = "onnx-unet"


def register_backend(name: str, import_path: str) -> None:
    """Register a backend class or factory under ``name`` by ``"module:attribute"`` path."""
    if ":" not in import_path:
        raise InvalidParameterError(f"import_path: expected 'module:attribute', got {import_path!r}")
    _REGISTRY[name] = import_path
    _INSTANCES.pop(name, None)


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def _load(name: str) -> SegmentationBackend:
    if name not in _REGISTRY:
        raise InvalidParameterError(f"backend: expected one of {sorted(_REGISTRY)}, got {name!r}")
    if name not in _INSTANCES:
        module_name, attr = _REGISTRY[name].split(":", 1)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise BackendUnavailableError(
                f"backend {name}: cannot import {module_name} ({exc}); install the package it needs"
            ) from None
        _INSTANCES[name] = getattr(module, attr)()
    return _INSTANCES[name]


def get_backend(name: str = DEFAULT_BACKEND) -> SegmentationBackend:
    """The backend registered as ``name``, loaded on first use; raises if it is unavailable."""
    backend = _load(name)
    if not backend.is_available():
        raise BackendUnavailableError(f"backend {name}: {backend.unavailable_reason()}")
    return backend


def backend_status() -> list[dict[str, Any]]:
    """Every registered backend with whether it is available (and why not) and its card."""
    out = []
    for name in _REGISTRY:
        try:
            b = _load(name)
        except BackendUnavailableError as exc:
            out.append({"name": name, "available": False, "reason": str(exc), "card": None})
            continue
        out.append(
            {
                "name": name,
                "available": b.is_available(),
                "reason": b.unavailable_reason(),
                "card": b.card.to_dict(),
            }
        )
    return out
