"""A tiny Bayer DNG written from scratch, for tests that need a camera RAW without ../shared."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from PIL import TiffImagePlugin, TiffTags
from PIL.TiffImagePlugin import IFDRational

from csrtouch.io.metadata import EXIF_IFD

# XYZ (D65) -> linear sRGB: as a DNG ColorMatrix1 it makes the "camera" see linear sRGB, so
# a scene written in linear sRGB renders back to itself.
XYZ_TO_SRGB = (3.2404542, -1.5371385, -0.4985314, -0.9692660, 1.8760108, 0.0415560,
               0.0556434, -0.2040259, 1.0572252)  # fmt: skip

def _rational(values: tuple[float, ...]) -> tuple[IFDRational, ...]:
    return tuple(IFDRational(Fraction(v).limit_denominator(100_000)) for v in values)


def tiny_dng(
    scene: np.ndarray,
    *,
    neutral: tuple[float, float, float] = (0.5, 1.0, 0.8),
    orientation: int = 1,
    exif: dict[int, object] | None = None,
    black: int = 256,
    white: int = 16383,
) -> bytes:
    """An uncompressed 16-bit RGGB Bayer DNG of ``scene``, ``(H, W, 3)`` linear sRGB in [0, 1].

    ``neutral`` is the camera's response to white (DNG AsShotNeutral): the sensor records
    ``scene * neutral``, and the camera white balance divides it out again.
    """
    h, w, _ = scene.shape
    mosaic = np.empty((h, w))
    mosaic[0::2, 0::2] = scene[0::2, 0::2, 0] * neutral[0]
    mosaic[0::2, 1::2] = scene[0::2, 1::2, 1] * neutral[1]
    mosaic[1::2, 0::2] = scene[1::2, 0::2, 1] * neutral[1]
    mosaic[1::2, 1::2] = scene[1::2, 1::2, 2] * neutral[2]
    sensor = np.rint(black + np.clip(mosaic, 0, 1) * (white - black)).astype("<u2")
    short, long, byte, ascii = TiffTags.SHORT, TiffTags.LONG, TiffTags.BYTE, TiffTags.ASCII
    tags: list[tuple[int, int, object]] = [
        (254, long, 0),  # NewSubfileType: the main image
        (256, long, w),
        (257, long, h),
        (258, short, 16),  # BitsPerSample
        (259, short, 1),  # no compression
        (262, short, 32803),  # PhotometricInterpretation: CFA
        (271, ascii, "Csrtouch"),
        (272, ascii, "Tiny Bayer"),
        (274, short, orientation),
        (277, short, 1),  # SamplesPerPixel
        (278, long, h),  # RowsPerStrip
        (279, long, sensor.nbytes),
        (284, short, 1),  # PlanarConfiguration
        (33421, short, (2, 2)),  # CFARepeatPatternDim
        (33422, byte, bytes((0, 1, 1, 2))),  # CFAPattern: RGGB
        (50706, byte, bytes((1, 4, 0, 0))),  # DNGVersion
        (50708, ascii, "Csrtouch Tiny Bayer"),  # UniqueCameraModel
        (50714, long, black),
        (50717, long, white),
        (50721, TiffTags.SIGNED_RATIONAL, _rational(XYZ_TO_SRGB)),  # ColorMatrix1
        (50778, short, 21),  # CalibrationIlluminant1: D65
        (50728, TiffTags.RATIONAL, _rational(neutral)),  # AsShotNeutral
    ]
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    for tag, kind, value in tags:
        ifd[tag] = value
        ifd.tagtype[tag] = kind
    if exif:
        ifd[EXIF_IFD] = exif
    # Relative to the image data, which Pillow's IFD writer places after the IFD.
    ifd[273] = 0
    ifd.tagtype[273] = long
    header = b"II*\0" + (8).to_bytes(4, "little")
    return header + ifd.tobytes(len(header)) + sensor.tobytes()
