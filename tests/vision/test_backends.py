"""Conformance of every registered segmentation backend (the STYLE plug-in contract)."""

from __future__ import annotations

import numpy as np
import pytest

from sonomsk.core.errors import BackendUnavailableError, InvalidParameterError
from sonomsk.vision.backends import (
    OUTPUT_LABELS,
    backend_names,
    backend_status,
    get_backend,
    register_backend,
)


@pytest.mark.parametrize("name", backend_names())
def test_backend_conformance(name: str) -> None:
    b = get_backend(name)
    card = b.card.to_dict()
    for key in ("name", "version", "intended_use", "input_contract"):
        assert card[key], f"{name}: model card field {key} is empty"
    assert card["output_labels"] == {str(k): v for k, v in OUTPUT_LABELS.items()}
    if not b.is_available():
        assert b.unavailable_reason()
        pytest.skip(f"{name} unavailable: {b.unavailable_reason()}")
    rng = np.random.default_rng(0)
    for frame in (
        rng.integers(0, 255, (240, 320), dtype=np.uint8),
        rng.integers(0, 255, (200, 260, 3), dtype=np.uint8),
        (rng.integers(0, 4095, (128, 128))).astype(np.uint16),
    ):
        p = b.probabilities(frame)
        assert p.shape == (3, *frame.shape[:2])
        assert p.dtype == np.float32
        assert np.all(p >= 0) and np.allclose(p.sum(axis=0), 1.0, atol=1e-4)


def test_onnx_card_cites_its_training_data() -> None:
    card = get_backend("onnx-unet").card
    assert "usgra-seg" in card.training_data and "CC BY 4.0" in card.attribution
    assert card.validation, "the shipped model card must carry its validation metrics"


def test_unknown_backend() -> None:
    with pytest.raises((InvalidParameterError, BackendUnavailableError)):
        get_backend("no-such-backend")


def test_registry_by_import_path_is_lazy() -> None:
    register_backend("lazy-missing", "sonomsk.vision.does_not_exist:Backend")
    try:
        with pytest.raises(BackendUnavailableError, match="does_not_exist"):
            get_backend("lazy-missing")
        assert any(s["name"] == "lazy-missing" and not s["available"] for s in backend_status())
    finally:
        from sonomsk.vision import backends

        backends._REGISTRY.pop("lazy-missing", None)
        backends._INSTANCES.pop("lazy-missing", None)
