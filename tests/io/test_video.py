"""Video cines through PyAV: lazy decoding (a frame is decoded only when asked for), grey videos
stay grey, encapsulated streams decode from bytes, and damaged videos are sonomsk errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import sonomsk
from sonomsk.core.errors import CalibrationWarning, CorruptDataError, InvalidParameterError
from sonomsk.io.video import VideoFrames, frames_from_bytes

N_FRAMES = 12


def write_video(
    target: str | io.BytesIO, colour: bool = False, fmt: str = "mp4", codec: str = "mpeg4"
) -> None:
    """Frames of constant grey 20 * i (or a red/green split when ``colour``), 64 x 48 px."""
    import av

    with av.open(target, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(N_FRAMES):
            rgb = np.full((48, 64, 3), 20 * i, dtype=np.uint8)
            if colour:
                rgb[:, :32] = (200, 30, 30)
                rgb[:, 32:] = (30, 200, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture
def grey_mp4(tmp_path: Path) -> Path:
    path = tmp_path / "cine.mp4"
    write_video(str(path))
    return path


def read_uncalibrated(path: Path) -> sonomsk.core.image.UltrasoundImage:  # type: ignore[name-defined]
    with pytest.warns(CalibrationWarning, match="no calibration: results in px"):
        return sonomsk.read(path)


def test_reads_shape_and_timing(grey_mp4: Path) -> None:
    image = read_uncalibrated(grey_mp4)
    assert image.shape == (N_FRAMES, 48, 64, 1)
    assert image.photometric == "MONOCHROME2"
    assert image.frame_time_s == pytest.approx(1 / 25)
    assert image.metadata["format"] == "MP4" and image.provenance.decoder == "pyav"
    assert image.calibrated is False and "no calibration: results in px" in image.warnings


def test_frames_hold_the_encoded_values(grey_mp4: Path) -> None:
    image = read_uncalibrated(grey_mp4)
    for i in (0, 5, N_FRAMES - 1):
        assert float(np.median(image.frame(i))) == pytest.approx(20 * i, abs=4)


def test_decoding_is_lazy_and_sequential(grey_mp4: Path) -> None:
    image = read_uncalibrated(grey_mp4)
    source = image.frames
    assert isinstance(source, VideoFrames)
    before = source.decode_count
    assert before <= 1  # the first frame, for the depth-scale check
    image.frame(3)
    after_jump = source.decode_count
    assert after_jump - before <= 4  # frames 0..3, nothing beyond
    image.frame(4)
    assert source.decode_count == after_jump + 1  # the next frame costs one decode
    image.frame(4)
    assert source.decode_count == after_jump + 1  # cached
    image.frame(1)  # backwards, within the cache window
    assert source.decode_count == after_jump + 1
    image.frame(N_FRAMES - 1)
    assert source.decode_count <= N_FRAMES + 1


def test_backwards_jump_beyond_the_cache_restarts(tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    write_video(str(path))
    image = read_uncalibrated(path)
    last = image.frame(N_FRAMES - 1).copy()
    first = image.frame(0)
    assert float(np.median(first)) == pytest.approx(0, abs=4)
    np.testing.assert_array_equal(image.frame(N_FRAMES - 1), last)


def test_colour_video_stays_rgb(tmp_path: Path) -> None:
    path = tmp_path / "doppler.mp4"
    write_video(str(path), colour=True)
    image = read_uncalibrated(path)
    assert image.shape == (N_FRAMES, 48, 64, 3) and image.photometric == "RGB"
    left, right = image.frame(0)[24, 8], image.frame(0)[24, 56]
    assert left[0] > 150 > left[1] and right[1] > 150 > right[0]


def test_avi_container(tmp_path: Path) -> None:
    path = tmp_path / "cine.avi"
    write_video(str(path), fmt="avi")
    image = read_uncalibrated(path)
    assert image.metadata["format"] == "AVI" and image.n_frames == N_FRAMES


def test_frames_from_bytes() -> None:
    buf = io.BytesIO()
    write_video(buf)
    source = frames_from_bytes(buf.getvalue())
    assert source.n_frames == N_FRAMES and source.frame_shape == (48, 64) and source.grey
    assert float(np.median(source.get(7))) == pytest.approx(140, abs=4)


def test_frames_from_garbage_bytes() -> None:
    with pytest.raises(CorruptDataError, match="encapsulated video"):
        frames_from_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(200))


def test_caller_spacing_calibrates_a_video(grey_mp4: Path) -> None:
    image = sonomsk.read(grey_mp4, spacing_mm=(0.1, 0.12))
    assert image.spacing_mm() == (0.1, 0.12) and image.metadata["calibration_source"] == "caller"


def test_sidecar_calibrates_a_video(grey_mp4: Path) -> None:
    (grey_mp4.parent / "cine.mp4.json").write_text('{"pixels_per_cm": 50}')
    image = sonomsk.read(grey_mp4)
    assert image.spacing_mm() == pytest.approx((0.2, 0.2))
    assert image.metadata["calibration_source"] == "sidecar"


def test_frame_index_out_of_range(grey_mp4: Path) -> None:
    image = read_uncalibrated(grey_mp4)
    with pytest.raises(InvalidParameterError, match="frame index"):
        image.frame(N_FRAMES)


def test_truncated_video(grey_mp4: Path, tmp_path: Path) -> None:
    data = grey_mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptDataError, match=r"cut\.mp4"):
        image = sonomsk.read(cut)
        for i in range(image.n_frames):
            image.frame(i)


# -- random access in long cines ---------------------------------------------------------------

LONG = 60
GOP = 10


def write_long_video(target: str | io.BytesIO, fmt: str, codec: str = "libx264") -> None:
    """``LONG`` frames of textured content with a keyframe every ``GOP`` frames (B-frames on)."""
    import av

    rng = np.random.default_rng(3)
    texture = rng.integers(0, 120, (48, 64), dtype=np.uint8)
    with av.open(target, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.gop_size = GOP
        for i in range(LONG):
            grey = np.roll(texture, i, axis=1)
            grey[4:12, 4:12] = 2 * i + 100  # a patch whose level tells the frame number
            rgb = np.repeat(grey[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def reference_frames(source: str | io.BytesIO) -> list[np.ndarray]:
    """Every frame decoded in order by PyAV directly (what lazy access must reproduce)."""
    import av

    with av.open(source) as c:
        return [f.to_ndarray(format="rgb24")[..., 0] for f in c.decode(c.streams.video[0])]


@pytest.mark.parametrize(("fmt", "suffix"), [("mp4", "mp4"), ("matroska", "mkv")])
def test_jumps_seek_to_a_keyframe_instead_of_decoding_everything(
    fmt: str, suffix: str, tmp_path: Path
) -> None:
    path = tmp_path / f"long.{suffix}"
    write_long_video(str(path), fmt)
    reference = reference_frames(str(path))
    assert len(reference) == LONG
    image = read_uncalibrated(path)
    source = image.frames
    assert isinstance(source, VideoFrames) and source.seekable and image.n_frames == LONG
    before = source.decode_count
    np.testing.assert_array_equal(image.frame(45), reference[45])
    forward = source.decode_count - before
    assert forward <= GOP + 1, f"frame 45 cost {forward} decodes; a seek should cost at most one GOP"
    np.testing.assert_array_equal(image.frame(12), reference[12])  # backwards beyond the cache
    assert source.decode_count - before - forward <= GOP + 1
    np.testing.assert_array_equal(image.frame(13), reference[13])  # sequential again
    for i in (59, 0, 31, 30, 29):
        np.testing.assert_array_equal(image.frame(i), reference[i])
    assert source.decode_count < 4 * LONG  # far below decoding the cine from 0 for every jump


def test_raw_h264_stream_from_bytes_decodes_without_time_stamps() -> None:
    """DICOM MPEG-4 AVC holds an elementary stream: no container, no time stamps, no seeking."""
    buf = io.BytesIO()
    write_long_video(buf, "h264")
    data = buf.getvalue()
    reference = reference_frames(io.BytesIO(data))
    source = frames_from_bytes(data)
    assert source.n_frames == LONG and source.grey and not source.seekable
    for i in (40, 3, 41, 59):
        np.testing.assert_array_equal(source.get(i), reference[i])


def test_video_renamed_dcm_is_read_as_video(tmp_path: Path) -> None:
    path = tmp_path / "clip.dcm"
    write_video(str(path))
    image = read_uncalibrated(path)
    assert image.metadata["format"] == "MP4" and image.provenance.reader == "video"
    assert image.n_frames == N_FRAMES


def test_matroska_without_frame_count(tmp_path: Path) -> None:
    path = tmp_path / "cine.mkv"
    write_video(str(path), fmt="matroska")
    image = read_uncalibrated(path)
    assert image.metadata["format"] == "MATROSKA" and image.n_frames == N_FRAMES
    assert float(np.median(image.frame(N_FRAMES - 1))) == pytest.approx(20 * (N_FRAMES - 1), abs=4)


def test_garbage_with_a_video_signature(tmp_path: Path) -> None:
    path = tmp_path / "fake.avi"
    path.write_bytes(b"RIFF\x00\x01\x00\x00AVI LIST" + bytes(range(256)) * 4)
    with pytest.raises(CorruptDataError, match=r"fake\.avi"):
        sonomsk.read(path)


def test_depth_ruler_in_the_first_frame_calibrates_a_video(tmp_path: Path) -> None:
    """A screen recording with a labelled ruler; lossy coding must not move the ticks."""
    import av

    from .test_depth_scale import draw_ruler

    screen = draw_ruler(period=50.0, cols=320)  # 360 x 320 px, 7 labelled 1 cm ticks
    path = tmp_path / "screen.mp4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = screen.shape[1], screen.shape[0], "yuv420p"
        stream.options = {"crf": "18"}
        for _ in range(3):
            rgb = np.repeat(screen[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    image = sonomsk.read(path)
    assert image.metadata["calibration_source"] == "depth_scale"
    assert image.spacing_mm() == pytest.approx((0.2, 0.2), rel=0.01)
    assert image.warnings[0].startswith("calibration from detected depth scale (7 ticks)")
