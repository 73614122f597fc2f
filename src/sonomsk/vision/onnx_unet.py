"""The shipped compact U-Net (ONNX) for nerves and vessels, run with onnxruntime on the CPU."""

from __future__ import annotations

import json
import threading
from importlib import resources
from typing import Any

import numpy as np

from sonomsk.core.errors import BackendUnavailableError
from sonomsk.vision.backends import ModelCard
from sonomsk.vision.preprocess import prepare_input

MODEL_NAME = "nerve_unet"


def _model_bytes() -> bytes | None:
    ref = resources.files("sonomsk.vision").joinpath(f"models/{MODEL_NAME}.onnx")
    return ref.read_bytes() if ref.is_file() else None


def _card_data() -> dict[str, Any]:
    ref = resources.files("sonomsk.vision").joinpath(f"models/{MODEL_NAME}.json")
    return dict(json.loads(ref.read_text())) if ref.is_file() else {}


class OnnxUNetBackend:
    """Compact U-Net trained on usgra-seg; input resized to the model's side, output resized back."""

    name = "onnx-unet"

    def __init__(self, threads: int = 2) -> None:
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()
        self._data = _card_data()
        self._reason: str | None = None
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            self._reason = "onnxruntime is not installed (pip install onnxruntime)"
        else:
            if not resources.files("sonomsk.vision").joinpath(f"models/{MODEL_NAME}.onnx").is_file():
                self._reason = f"model file models/{MODEL_NAME}.onnx is missing from the package"

    @property
    def card(self) -> ModelCard:
        d = self._data
        return ModelCard(
            name=self.name,
            version=str(d.get("version", "unknown")),
            intended_use=str(d.get("intended_use", "")),
            input_contract=str(d.get("input_contract", "")),
            training_data=str(d.get("training_data", "")),
            attribution=str(d.get("attribution", "")),
            validation=dict(d.get("validation", {})),
            limitations=str(d.get("limitations", "")),
        )

    @property
    def input_size(self) -> int:
        return int(self._data.get("input_size", 256))

    def is_available(self) -> bool:
        return self._reason is None

    def unavailable_reason(self) -> str | None:
        return self._reason

    def _get_session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    if self._reason:
                        raise BackendUnavailableError(f"backend {self.name}: {self._reason}")
                    import onnxruntime as ort

                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = self._threads
                    opts.inter_op_num_threads = 1
                    self._session = ort.InferenceSession(
                        _model_bytes(), opts, providers=["CPUExecutionProvider"]
                    )
        return self._session

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        size = self.input_size
        x = prepare_input(frame, size)[None, None]
        prob = self._get_session().run(None, {"image": x})[0][0]
        rows, cols = frame.shape[:2]
        if (rows, cols) == (size, size):
            return np.ascontiguousarray(prob, dtype=np.float32)
        # cv2.resize handles up to 4 channels at once in (row, col, channel) layout.
        resized = cv2.resize(
            np.ascontiguousarray(prob.transpose(1, 2, 0)), (cols, rows), interpolation=cv2.INTER_LINEAR
        )
        return np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32)
