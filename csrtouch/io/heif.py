"""HEIC/HEIF files (iPhones, recent cameras), read with pillow-heif (libheif).

8-bit images decode to uint8; 10- and 12-bit ones to uint16 scaled to the full 16-bit range,
so no bit is lost. libheif turns the image upright from the HEIF's own rotation and mirror
boxes, which the HEIF standard makes the authority; the EXIF Orientation beside them only
describes the same turn, so it is reset to 1 and not applied a second time.
A HEIF without an ICC profile names its colour space by its primaries and transfer function
(an nclx box); one with Display P3 or Rec. 2020 primaries gets an equivalent ICC profile made
for it, so that it is converted to sRGB and written back like any other tagged image. SDR
transfer functions are all taken as sRGB's; HDR ones (PQ, HLG) are not tone-mapped: such an
image is decoded as it is, with a warning.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from csrtouch.errors import DecodeError
from csrtouch.io import colour, metadata
from csrtouch.io.image import Image

#: ISO-BMFF brands of HEIF images (``ftyp`` major brand); CR3 RAWs are ISO-BMFF too.
BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"})

# nclx colour primaries -> (red, green, blue) chromaticities and the profile's name.
_PRIMARIES: dict[int, tuple[str, tuple[tuple[float, float], ...]]] = {
    9: ("Rec. 2020", ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))),
    12: ("Display P3", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))),
}
_SRGB_PRIMARIES = {1, 2}  # BT.709 (sRGB's) and unspecified
# sRGB's, unspecified, and the BT.709 family (BT.709, BT.601, BT.2020 10/12-bit), which
# still images use as display-referred SDR, so taken as sRGB's curve.
_SDR_TRANSFERS = {13, 2, 1, 6, 14, 15}
_HDR_TRANSFERS = {16: "PQ", 18: "HLG"}


def is_heif(data: bytes) -> bool:
    """Whether ``data`` begins like a HEIF image."""
    return data[4:8] == b"ftyp" and data[8:12] in BRANDS


def decode_heif(data: bytes, name: str, max_pixels: int) -> Image:
    """Decode the primary image of a HEIF file.

    Raises:
        DecodeError: libheif cannot read it, or it is larger than ``max_pixels``.
    """
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        width, height = heif.size
        if width * height > max_pixels:
            raise DecodeError(
                f"image is too large ({width}x{height}, over the {max_pixels // 1_000_000} MP "
                "limit that guards against decompression bombs)",
                name,
            )
        array = np.asarray(heif)
        info: dict[str, Any] = dict(heif.info)
        mode = heif.mode
    except DecodeError:
        raise
    except Exception as e:  # libheif's errors arrive as assorted Python types
        reason = _reason(e)
        if "end of file" in reason or "Insufficient input data" in reason:
            raise DecodeError("file is truncated (the image data ends early)", name) from e
        raise DecodeError(f"corrupt or unsupported HEIF file: {reason}", name) from e

    if array.ndim == 2:
        array = array[..., None]
    if array.dtype == np.uint16:
        array = _full_range(array, int(info.get("bit_depth") or 16))
    grayscale = array.shape[2] in (1, 2)
    alpha = np.ascontiguousarray(array[..., -1]) if array.shape[2] in (2, 4) else None
    pixels = np.repeat(array[..., :1], 3, axis=2) if grayscale else np.ascontiguousarray(array[..., :3])
    if mode.startswith("BGR"):
        pixels = np.ascontiguousarray(pixels[..., ::-1])

    exif = info.get("exif") or None
    if exif and metadata.orientation(exif) != 1:
        exif = metadata.stamp(exif, {metadata.ORIENTATION: 1})
    xmp = info.get("xmp")
    image = Image(
        pixels=pixels,
        alpha=alpha,
        format="heif",
        grayscale=grayscale,
        icc_profile=info.get("icc_profile") or None,
        exif=exif,
        xmp=bytes(xmp) if xmp else None,
    )
    if image.icc_profile is None and info.get("nclx_profile"):
        _apply_nclx(image, info["nclx_profile"])
    return image


def _full_range(array: np.ndarray, bits: int) -> np.ndarray:
    """pillow-heif's 10/12-bit samples, shifted to the top of 16 bits -> 0..65535."""
    if bits >= 16:
        return array
    top = (1 << bits) - 1
    codes = array.astype(np.uint32) >> (16 - bits)
    return ((codes * 65535 + top // 2) // top).astype(np.uint16)


def _apply_nclx(image: Image, nclx: dict[str, Any]) -> None:
    """Tag ``image`` with an ICC profile equivalent to its nclx colour description."""
    primaries = int(nclx.get("color_primaries", 2))
    transfer = int(nclx.get("transfer_characteristics", 2))
    if transfer in _HDR_TRANSFERS:
        image.warnings.append(
            f"HDR HEIF ({_HDR_TRANSFERS[transfer]} transfer) is not tone-mapped; "
            "its colours and brightness will look wrong"
        )
        return
    space = _PRIMARIES.get(primaries)
    if primaries in _SRGB_PRIMARIES and transfer in _SDR_TRANSFERS:
        return
    if space is None or transfer not in _SDR_TRANSFERS:
        image.warnings.append(
            f"HEIF colour description (primaries {primaries}, transfer {transfer}) is not "
            "supported; colours taken as sRGB"
        )
        return
    label, chromaticities = space
    image.icc_profile = colour.rgb_profile(label, chromaticities, colour.SRGB_CURVE)  # type: ignore[arg-type]


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
