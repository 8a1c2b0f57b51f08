"""Image I/O: JPEG, PNG, TIFF and WebP in and out; HEIC/HEIF and camera RAW in; 8 and 16
bit; pixels in sRGB, colour profile, EXIF and XMP kept. No model code.

Where each decision is explained: the default output of RAW and HEIF inputs in
:mod:`~csrtouch.io.formats`; how a RAW is rendered in :mod:`~csrtouch.io.raw`; colour
management in :mod:`~csrtouch.io.colour`; large JPEGs read and written a band at a time in
:mod:`~csrtouch.io.stream`.
"""

from csrtouch.io.atomic import write_atomic
from csrtouch.io.decode import MAX_PIXELS, decode, decode_bytes
from csrtouch.io.encode import encode, encode_bytes
from csrtouch.io.formats import (
    RAW_SUFFIXES,
    READ_ONLY_FORMATS,
    SUPPORTED_SUFFIXES,
    default_output_format,
    output_suffix,
)
from csrtouch.io.image import Image

__all__ = [
    "MAX_PIXELS",
    "RAW_SUFFIXES",
    "READ_ONLY_FORMATS",
    "SUPPORTED_SUFFIXES",
    "Image",
    "decode",
    "decode_bytes",
    "default_output_format",
    "encode",
    "encode_bytes",
    "output_suffix",
    "write_atomic",
]
