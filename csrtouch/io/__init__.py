"""Image I/O: JPEG, PNG and TIFF in and out, 8 and 16 bit, metadata kept. No model code."""

from csrtouch.io.atomic import write_atomic
from csrtouch.io.decode import MAX_PIXELS, decode, decode_bytes
from csrtouch.io.encode import encode, encode_bytes
from csrtouch.io.formats import SUPPORTED_SUFFIXES, output_suffix
from csrtouch.io.image import Image

__all__ = [
    "MAX_PIXELS",
    "SUPPORTED_SUFFIXES",
    "Image",
    "decode",
    "decode_bytes",
    "encode",
    "encode_bytes",
    "output_suffix",
    "write_atomic",
]
