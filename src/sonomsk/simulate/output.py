"""Write simulated images: DICOM (calibrated regions), PNG (+ spacing sidecar) or MP4 (+ sidecar)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sonomsk.core.errors import InvalidParameterError
from sonomsk.core.image import UltrasoundImage

SUFFIXES = (".dcm", ".png", ".mp4")


def sidecar_path(path: Path) -> Path:
    """``<out>.json`` beside a PNG or MP4 (``image.png`` -> ``image.png.json``)."""
    return path.with_name(path.name + ".json")


def write_image(
    image: UltrasoundImage, path: str | os.PathLike[str], *, fps: float | None = None
) -> list[Path]:
    """Write ``image`` by the suffix of ``path``; returns the files written.

    ``.dcm``: US (Multi-frame) Image Storage with a Sequence of Ultrasound Regions. ``.png``: the
    first frame (a cine writes ``name_0000.png`` ... per frame) and a sidecar ``<file>.json`` with
    ``{"spacing_mm": [row, col]}``. ``.mp4``: H.264 video and the same sidecar.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidParameterError(f"--out {p}: expected a file ending in {', '.join(SUFFIXES)}")
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".dcm":
        from sonomsk.io.dicom_write import write_dicom

        write_dicom(
            image, p, SeriesDescription="sonomsk simulated phantom", ImageComments="SIMULATED - not a patient"
        )
        return [p]
    spacing = image.spacing_mm()
    written: list[Path] = []
    if suffix == ".png":
        from PIL import Image

        if image.n_frames == 1:
            targets = [p]
        else:
            targets = [p.with_name(f"{p.stem}_{i:04d}{p.suffix}") for i in range(image.n_frames)]
        for i, target in enumerate(targets):
            Image.fromarray(np.asarray(image.frame(i))).save(target)
            _write_sidecar(target, spacing)
            written += [target, sidecar_path(target)]
        return written
    _write_mp4(image, p, fps or (1.0 / image.frame_time_s if image.frame_time_s else 20.0))
    _write_sidecar(p, spacing)
    return [p, sidecar_path(p)]


def _write_sidecar(path: Path, spacing: tuple[float, float]) -> None:
    sidecar_path(path).write_text(json.dumps({"spacing_mm": [spacing[0], spacing[1]]}), encoding="utf-8")


def _write_mp4(image: UltrasoundImage, path: Path, fps: float) -> None:
    import fractions

    import av

    rows, cols = image.rows, image.columns
    if rows % 2 or cols % 2:
        raise InvalidParameterError(
            f"--out {path}: MP4 needs an even number of rows and columns, got {rows} x {cols}"
        )
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = cols, rows
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for frame in image.iter_frames():
            arr = np.asarray(frame)
            fmt = "rgb24" if arr.ndim == 3 else "gray"
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt)
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
