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
from sonomsk.vision.refine import Window

MODEL_NAME = "nerve_unet"
REFINE_NAME = "nerve_refine"


def _model_bytes(name: str = MODEL_NAME) -> bytes | None:
    ref = resources.files("sonomsk.vision").joinpath(f"models/{name}.onnx")
    return ref.read_bytes() if ref.is_file() else None


def _card_data() -> dict[str, Any]:
    ref = resources.files("sonomsk.vision").joinpath(f"models/{MODEL_NAME}.json")
    return dict(json.loads(ref.read_text())) if ref.is_file() else {}


def _session(model: bytes, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Two sessions run one after the other on few cores: threads that spin after their work
    # would steal the CPU from the next session's threads.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # One frame at a time: with the batch fixed, the graph's shape arithmetic before each
    # up-sampling is folded away at load (same outputs; 29 to 25 ms and 11 to 9 ms a run, measured)
    opts.add_free_dimension_override_by_name("batch", 1)
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class OnnxUNetBackend:
    """Compact U-Net trained on usgra-seg; input resized to the model's side, output resized back.

    When the package ships the refinement model (card key ``refinement``), each nerve the
    whole-frame model finds is looked at again in a window around it
    (:mod:`sonomsk.vision.refine`) and its probability replaced there.
    """

    name = "onnx-unet"
    second_look = True

    def __init__(self, threads: int = 2) -> None:
        self._threads = threads
        self._session: Any = None
        self._refine_session: Any = None
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
                    model = _model_bytes()
                    if model is None:
                        raise BackendUnavailableError(f"backend {self.name}: model file is missing")
                    self._session = _session(model, self._threads)
                    refine = _model_bytes(REFINE_NAME) if self.second_look else None
                    if refine is not None and self.refinement:
                        self._refine_session = _session(refine, self._threads)
        return self._session

    @property
    def refinement(self) -> dict[str, Any]:
        """The refinement stage's card entry (input_size, window_factor, min_window_px), or {}."""
        return dict(self._data.get("refinement", {}))

    def probabilities(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        size = self.input_size
        x = prepare_input(frame, size)[None, None]
        prob = self._get_session().run(None, {"image": x})[0][0]
        rows, cols = frame.shape[:2]
        if (rows, cols) == (size, size):
            out = np.ascontiguousarray(prob, dtype=np.float32)
        else:
            # class by class, straight into the output: a tenth of the time of one 3-channel
            # resize; the same values except, at some frame sizes, one float32 rounding step in
            # the two outermost columns (review helper-83; no label changed)
            out = np.empty((prob.shape[0], rows, cols), dtype=np.float32)
            for k in range(prob.shape[0]):
                plane = out[k]
                got = cv2.resize(
                    np.ascontiguousarray(prob[k], dtype=np.float32),
                    (cols, rows),
                    dst=plane,
                    interpolation=cv2.INTER_LINEAR,
                )
                if got is not plane and not np.shares_memory(got, plane):  # never seen; to be safe
                    plane[...] = got
        if self._refine_session is not None:
            self._refine(out, frame)
        return out

    def _refine(self, prob: np.ndarray, frame: np.ndarray) -> None:
        """Re-segment, in place, each nerve of ``prob`` that a window shows finer than the frame."""
        from scipy import ndimage

        from sonomsk.vision.postprocess import bounding_box, labels_from_probabilities
        from sonomsk.vision.preprocess import to_grey
        from sonomsk.vision.refine import paste, window_for

        r = self.refinement
        size = int(r["input_size"])
        # the whole-frame model's network pixels per frame pixel (geometric mean of the axes)
        frame_scale = self.input_size / float(np.sqrt(prob.shape[1] * prob.shape[2]))
        nerve = labels_from_probabilities(prob, ("nerve",)) == 1
        found = bounding_box(nerve)
        if found is None:
            return
        # labelled within the nerves' bounding box (r0, c0): the same nerves in the same order
        r0, r1, c0, c1 = found
        nerves, _ = ndimage.label(nerve[r0 : r1 + 1, c0 : c1 + 1])
        grey = to_grey(frame)
        for i, box in enumerate(ndimage.find_objects(nerves), start=1):
            if box is None:
                continue
            w = window_for(
                nerves[box] == i,
                float(r["window_factor"]),
                int(r["min_window_px"]),
                origin=(box[0].start + r0, box[1].start + c0),
            )
            if w is None or w.scale(size) <= frame_scale:
                continue
            paste(prob, self.window_nerve_probability(grey, w), w)

    def window_nerve_probability(self, grey: np.ndarray, w: Window) -> np.ndarray:
        """The refinement model's nerve probability, (size, size), of window ``w`` of a grey
        frame; raises BackendUnavailableError when the package ships no refinement model."""
        from sonomsk.vision.refine import model_input

        if self._refine_session is None:
            self._get_session()
        if self._refine_session is None:
            why = "the package ships no refinement model" if self.second_look else "whole-frame model only"
            raise BackendUnavailableError(f"backend {self.name}: no refinement stage ({why})")
        size = int(self.refinement["input_size"])
        x = model_input(grey, w, size)[None, None]
        return np.asarray(self._refine_session.run(None, {"image": x})[0][0, 1], dtype=np.float32)


class OnnxUNetFrameBackend(OnnxUNetBackend):
    """The whole-frame model alone, without the second look at each nerve (faster, coarser)."""

    name = "onnx-unet-frame"
    second_look = False
