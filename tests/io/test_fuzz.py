"""Fuzzing the readers: mutated real ultrasound files and random bytes behind a format's magic
number may fail, but only with sonomsk's own errors (never a crash of pydicom, Pillow or PyAV)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sonomsk
from sonomsk.core.errors import CorruptDataError, SonomskError

from ..conftest import pydicom_data_dir, pydicom_test_dir

#: Frames decoded per fuzzed file: the first few and the last (a mutated header can declare many).
MAX_DECODED = 4


def _png_bytes() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 32), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _mp4_bytes() -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            arr = np.full((32, 32, 3), 40 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _seeds() -> list[bytes]:
    tests = pydicom_test_dir()
    seeds = [(tests / "ExplVR_BigEnd.dcm").read_bytes(), _png_bytes(), _mp4_bytes()]
    seeds.append((tests / "examples_ybr_color.dcm").read_bytes())  # 30-frame JPEG baseline cine
    data = pydicom_data_dir()
    if data is not None:  # small RLE, palette, JPEG 2000 and JPEG lossless (gdcm) ultrasound files
        names = ("OBXXXX1A_rle.dcm", "color-pl.dcm", "US1_J2KI.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm")
        seeds += [(data / name).read_bytes() for name in names]
    return seeds


SEEDS = _seeds()
MAGIC = [
    b"\x00" * 128 + b"DICM",
    b"\x89PNG\r\n\x1a\n",
    b"\x00\x00\x00\x18ftypisom",
    b"II*\x00",
    b"\xff\xd8\xff",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.integers(0, len(SEEDS) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


@st.composite
def magic_noise(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(MAGIC)) + draw(st.binary(min_size=0, max_size=600))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def read_everything(path: Path) -> None:
    """Read ``path`` and decode its frames; only sonomsk errors may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mutated files warn in many ways; errors are the subject
        try:
            image = sonomsk.read(path)
            n = image.n_frames
            for i in sorted({*range(min(n, MAX_DECODED)), n - 1}):
                image.frame(i)
        except SonomskError as exc:
            message = str(exc)
            assert "\n" not in message, f"multi-line message: {message!r}"
            assert path.name in message, f"message does not name the file: {message!r}"


FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


@FUZZ
@given(data=mutated())
def test_mutated_real_files_raise_only_sonomsk_errors(data: bytes, fuzz_dir: Path) -> None:
    path = fuzz_dir / "mutated.bin"
    path.write_bytes(data)
    read_everything(path)


@FUZZ
@given(data=magic_noise())
def test_random_bytes_behind_a_magic_number_raise_only_sonomsk_errors(data: bytes, fuzz_dir: Path) -> None:
    path = fuzz_dir / "noise.bin"
    path.write_bytes(data)
    read_everything(path)


def test_read_everything_lets_foreign_errors_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself can fail: an exception that is not a SonomskError propagates."""
    path = tmp_path / "x.png"
    path.write_bytes(SEEDS[1])

    def boom(*_args: object, **_kwargs: object) -> None:
        raise KeyError("not ours")

    monkeypatch.setattr(sonomsk, "read", boom)
    with pytest.raises(KeyError):
        read_everything(path)


def test_unmutated_seeds_read(tmp_path: Path) -> None:
    """The seeds are valid files, so the fuzz starts from readable input."""
    for i, data in enumerate(SEEDS):
        path = tmp_path / f"seed{i}"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = sonomsk.read(path)
        assert image.n_frames >= 1
        assert image.frame(image.n_frames - 1).size > 0


# -- regressions found by fuzzing -------------------------------------------------------------


def test_unknown_value_representation_is_corrupt_data(tmp_path: Path) -> None:
    """Found by fuzzing: a flipped VR byte ('LO' -> 'LG') made pydicom raise NotImplementedError
    while sonomsk read the Manufacturer lazily; now CorruptDataError naming the file."""
    data = (pydicom_test_dir() / "ExplVR_BigEnd.dcm").read_bytes()
    manufacturer = b"\x00\x08\x00\x70LO"  # (0008,0070) big endian, explicit VR
    assert data.count(manufacturer) == 1
    path = tmp_path / "bad_vr.dcm"
    path.write_bytes(data.replace(manufacturer, b"\x00\x08\x00\x70LG"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CorruptDataError, match=r"bad_vr\.dcm") as info:
            sonomsk.read(path)
    assert "\n" not in str(info.value)
