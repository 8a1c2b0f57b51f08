"""Hostile bytes: random data and mutations of small valid JPEG, PNG, TIFF, WebP, HEIC and
DNG files (bit flips, truncations, overwritten, inserted and deleted chunks) given to
``decode_bytes``. Only csrtouch's DecodeError may come out, with a one-line message, and no
input may take long (a per-example deadline); a crash would take pytest down with it.
"""

from __future__ import annotations

import functools
import io
import os
from datetime import timedelta

import cv2
import numpy as np
import PIL.Image
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from dng import tiny_dng
from test_io_raw import patches

from csrtouch.errors import DecodeError
from csrtouch.io import Image, decode_bytes

#: Inputs tried per run; set CSRTOUCH_FUZZ_EXAMPLES for a longer hunt.
EXAMPLES = int(os.environ.get("CSRTOUCH_FUZZ_EXAMPLES", "600"))


@functools.cache
def seeds() -> tuple[bytes, ...]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    rgba16 = rng.integers(0, 65536, (12, 16, 4), dtype=np.uint16)
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Fuzz"

    def pillow(fmt: str, array: np.ndarray, **params: object) -> bytes:
        out = io.BytesIO()
        PIL.Image.fromarray(array).save(out, fmt, **params)
        return out.getvalue()

    heic = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB", size=(16, 12), data=rgb.tobytes()).save(heic, quality=50)
    return (
        pillow("JPEG", rgb, exif=exif.tobytes(), quality=80),
        pillow("PNG", rgb, exif=exif.tobytes()),
        cv2.imencode(".png", rgba16)[1].tobytes(),
        pillow("TIFF", rgb),
        cv2.imencode(".tif", rgba16)[1].tobytes(),
        pillow("WEBP", rgb, quality=80),
        heic.getvalue(),
        tiny_dng(patches(24, 32)),
    )


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=4096))
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "flip", "truncate", "overwrite", "insert", "delete"]))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[max(at, 1) :]
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at : at + draw(st.integers(1, 64))]
        if not data:
            data = bytearray(b"\0")
    return bytes(data)


@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=hostile())
def test_hostile_bytes_give_decode_error_or_an_image(data: bytes) -> None:
    try:
        image = decode_bytes(data, "fuzz")
    except DecodeError as e:
        assert e.message and "\n" not in e.message
        return
    assert isinstance(image, Image)
    assert image.pixels.ndim == 3 and image.pixels.shape[2] == 3 and image.pixels.size > 0
    assert all(isinstance(w, str) and "\n" not in w for w in image.warnings)


def test_broken_files_leave_stderr_clean(capfd: pytest.CaptureFixture[str]) -> None:
    """LibRaw, libpng, libtiff and Pillow's logging complain on stderr; none of it may show."""
    rng = np.random.default_rng(1)
    for i in range(400):
        data = bytearray(seeds()[i % len(seeds())])
        for at in rng.integers(0, len(data), 3):
            data[at] ^= 1 << int(rng.integers(0, 8))
        try:
            decode_bytes(bytes(data[: int(rng.integers(len(data) // 2, len(data) + 1))]), "fuzz")
        except DecodeError:
            pass
    assert capfd.readouterr().err == ""


def test_seeds_are_valid() -> None:
    formats = [decode_bytes(seed, "seed").format for seed in seeds()]
    assert formats == ["jpeg", "png", "png", "tiff", "tiff", "webp", "heif", "raw"]
