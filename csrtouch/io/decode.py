"""Reading image files into upright sRGB arrays with their metadata.

JPEG, PNG, TIFF and WebP are read with Pillow (and OpenCV for 16-bit colour), HEIC/HEIF with
pillow-heif (:mod:`csrtouch.io.heif`), camera RAWs with LibRaw (:mod:`csrtouch.io.raw`).
What a file is comes from its first bytes, not its name, except that a TIFF-structured file
named like a RAW (DNG, NEF, CR2, ARW, ...) is a RAW. Pixels tagged with a colour profile
other than sRGB are converted to sRGB (:mod:`csrtouch.io.colour`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import struct
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
from isal import isal_zlib
from PIL import TiffImagePlugin, UnidentifiedImageError

from csrtouch.errors import DecodeError
from csrtouch.io import colour, heif, metadata, raw, vips_jpeg
from csrtouch.io.formats import RAW_SUFFIXES
from csrtouch.io.image import Image, swap_red_blue
from csrtouch.io.stderr import quiet_stderr

#: Largest image decoded, in pixels (200 MP: above every camera sensor, below what a
#: decompression bomb needs to exhaust memory; a 200 MP 16-bit RGBA frame is 1.6 GB).
MAX_PIXELS = 200_000_000

# Pillow's guard is global: it warns (on stderr) above MAX_IMAGE_PIXELS and refuses above
# twice that, 179 MP by default. Ours is the limit; Pillow's only has to stay out of its way.
PIL.Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pillow logs some complaints about odd TIFFs as errors; with no logging set up, Python would
# print them on stderr. A handler of its own stops that and still lets them reach any logging
# the application sets up.
logging.getLogger("PIL").addHandler(logging.NullHandler())

_PIL_OPENERS = ["JPEG", "PNG", "TIFF", "WEBP"]
# Pillow's JPEG opener returns an MPO image for multi-picture JPEGs (phones write them).
_PIL_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "TIFF": "tiff", "WEBP": "webp"}
# How files of each format begin.
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"II+\x00": "TIFF",
    b"MM\x00+": "TIFF",
}
_NOT_AN_IMAGE = "not an image csrtouch reads (JPEG, PNG, TIFF, WebP, HEIC/HEIF or camera RAW)"
_DNG_VERSION = 0xC612
_NEW_SUBFILE_TYPE = 0x00FE

_TRUNCATED = "file is truncated (the image data ends early)"

# Pillow modes decoded to ``(H, W)`` or ``(H, W, C)`` uint8/uint16 arrays as they are.
_GRAY_MODES = frozenset({"L", "LA", "I;16", "I;16B", "I;16L", "I;16N"})
_COLOUR_MODES = frozenset({"RGB", "RGBA"})


def decode(path: Path | str) -> Image:
    """Read a JPEG, PNG, TIFF, WebP, HEIC/HEIF or camera RAW file.

    The pixels are in sRGB (converted from the file's colour profile where it has another;
    ``Image.from_profile`` says so). Things the user should know that do not stop the
    decoding (an all-black RAW, a profile that could not be applied) are in
    ``Image.warnings``.

    Raises:
        DecodeError: the file is missing, unreadable, empty, not a supported image,
            truncated, corrupt, too large, or in an unsupported colour mode.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DecodeError("file not found", path) from None
    except IsADirectoryError:
        raise DecodeError("is a directory, not an image file", path) from None
    except OSError as e:
        raise DecodeError(f"cannot read file: {e.strerror or e}", path) from e
    return decode_bytes(data, str(path))


def decode_bytes(data: bytes, name: str = "<stdin>") -> Image:
    """Decode the bytes of an image file; as :func:`decode`.

    Args:
        data: the whole file.
        name: what to call it in error messages (a path, or ``<stdin>``). Its suffix tells
            a RAW from a TIFF where the bytes alone do not.

    Raises:
        DecodeError: as :func:`decode`.
    """
    if not data:
        raise DecodeError("file is empty (0 bytes)", name)
    try:
        with metadata.quiet_pillow():
            return _decode(data, name)
    except DecodeError:
        raise
    except Exception as e:  # a decoder's own exception types must not reach the caller
        raise DecodeError(f"cannot decode image: {e}", name) from e


def _decode(data: bytes, name: str) -> Image:
    kind = _kind(data)
    named_raw = Path(name).suffix.lower() in RAW_SUFFIXES
    if kind == "HEIF":
        image = heif.decode_heif(data, name, MAX_PIXELS)
    elif kind == "TIFF" and (named_raw or _tiff_looks_raw(data)):
        try:
            image = raw.decode_raw(data, name, MAX_PIXELS)
        except DecodeError as e:
            if named_raw or e.message != raw.UNSUPPORTED:
                raise
            image = _decode_pillow(data, name)  # a TIFF that merely starts with a preview
    elif kind is None:
        try:
            image = raw.decode_raw(data, name, MAX_PIXELS)
        except DecodeError:
            # LibRaw guesses at files by their size and content and fails on other files in
            # assorted ways; only for what looks like a RAW are its words worth passing on.
            if named_raw or raw.has_raw_signature(data):
                raise
            raise DecodeError(_NOT_AN_IMAGE, name) from None
    else:
        image = _decode_pillow(data, name)
    colour.to_srgb(image)
    return image


def _kind(data: bytes) -> str | None:
    """"JPEG", "PNG", "TIFF", "WEBP" or "HEIF" from the first bytes; None for others."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if heif.is_heif(data):
        return "HEIF"
    return next((k for sig, k in _SIGNATURES.items() if data.startswith(sig)), None)


def _tiff_looks_raw(data: bytes) -> bool:
    """Whether a TIFF-structured file is a camera RAW: a DNG, a CR2, or one whose first
    image is marked as a preview (NEF, ARW, PEF, ... keep the sensor data further on)."""
    if data[8:10] == b"CR":
        return True
    ifd0 = metadata.load_exif(data)
    if ifd0 is None:
        return False
    subfile = ifd0.get(_NEW_SUBFILE_TYPE, 0)
    return _DNG_VERSION in ifd0 or (isinstance(subfile, int) and bool(subfile & 1))


def _decode_pillow(data: bytes, name: str) -> Image:
    # Damage the decoders would pass over (OpenCV also prints libpng's complaints first).
    problem = _png_problem(data) if _kind(data) == "PNG" else None
    if problem is not None:
        raise DecodeError(problem, name)
    pil = _open(data, name)
    if isinstance(pil, TiffImagePlugin.TiffImageFile) and (problem := _tiff_problem(pil, data)) is not None:
        raise DecodeError(problem, name)
    width, height = pil.size
    mode = _target_mode(pil, data, name)
    fmt = _PIL_FORMATS[pil.format or ""]
    # A TIFF keeps EXIF among its own tags, and Pillow drops Orientation from them once it
    # has applied it, so read them before the pixels.
    tiff_exif = metadata.exif_from_tiff(pil.getexif()) if fmt == "tiff" else None

    warnings: list[str] = []
    use_cv2 = _bits_per_sample(pil, data) > 8 and mode in ("RGB", "RGBA", "LA")
    if use_cv2:
        # Pillow has no 16-bit colour modes and would round these to 8 bits; OpenCV keeps them.
        array = _cv2_pixels(pil, data, mode, name)
    elif fmt == "jpeg" and mode in ("RGB", "L"):
        array = _jpeg_pixels(data, mode, name, warnings)
    else:
        array = _pillow_pixels(pil, mode, name)
    if array.shape[:2] != (height, width):
        raise DecodeError(
            f"decoded {array.shape[1]}x{array.shape[0]} pixels, the header says {width}x{height}",
            name,
        )

    # A PNG may put its eXIf chunk after the image data, so read it after the pixels.
    exif = tiff_exif if fmt == "tiff" else pil.info.get("exif")
    turn = metadata.orientation(exif)
    if turn != 1:
        # OpenCV and Pillow (11.3 on, which then drops the tag) turn TIFFs upright as they
        # decode them, and leave JPEG and PNG as stored.
        turned = isinstance(pil, TiffImagePlugin.TiffImageFile) and (
            use_cv2 or metadata.ORIENTATION not in pil.tag_v2
        )
        if not turned:
            array = metadata.orient(array, turn)
        exif = metadata.stamp(exif, {metadata.ORIENTATION: 1})

    grayscale = mode in _GRAY_MODES
    pixels, alpha = _split(array, grayscale)
    frames = getattr(pil, "n_frames", 1)
    # Multi-picture JPEGs hold previews and depth maps after the photo: not worth a word.
    if frames > 1 and fmt != "jpeg":
        warnings.append(f"the file holds {frames} images (pages or frames); only the first is kept")
    return Image(
        pixels=pixels,
        alpha=alpha,
        format=fmt,
        grayscale=grayscale,
        icc_profile=pil.info.get("icc_profile") or None,
        exif=exif or None,
        xmp=xmp_packet(pil.info.get("xmp")),
        warnings=warnings,
    )


def _open(data: bytes, name: str) -> PIL.Image.Image:
    """Read the header (no pixels yet) and refuse images over :data:`MAX_PIXELS`."""
    # Pillow's WebP decoder reports a short file as "could not create decoder object".
    if _kind(data) == "WEBP" and int.from_bytes(data[4:8], "little") + 8 > len(data):
        raise DecodeError(_TRUNCATED, name)
    try:
        pil = PIL.Image.open(io.BytesIO(data), formats=_PIL_OPENERS)
    except UnidentifiedImageError:
        kind = _kind(data)
        if kind is None:
            raise DecodeError(_NOT_AN_IMAGE, name) from None
        message = f"corrupt or truncated {kind} file (its header is unreadable)"
        raise DecodeError(message, name) from None
    except PIL.Image.DecompressionBombError:
        raise DecodeError(_too_large_message(), name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DecodeError(_corrupt_message(e), name) from e
    width, height = pil.size
    if width * height > MAX_PIXELS:
        raise DecodeError(_too_large_message(width, height), name)
    return pil


def _target_mode(pil: PIL.Image.Image, data: bytes, name: str) -> str:
    """The Pillow mode to decode into: gray(+alpha), 16-bit gray, RGB or RGBA."""
    mode = pil.mode
    if pil.format == "PNG" and data[25] == 4:
        return "LA"  # IHDR colour type 4 is gray+alpha, which Pillow opens at 16 bits as RGBA
    if mode in ("1", "P", "PA"):
        has_alpha = mode == "PA" or "transparency" in pil.info
        return "RGBA" if has_alpha else ("L" if mode == "1" else "RGB")
    if mode not in _GRAY_MODES | _COLOUR_MODES:
        raise DecodeError(
            f"unsupported colour mode {mode} (expected RGB, RGBA, grayscale or palette)", name
        )
    return mode


def _bits_per_sample(pil: PIL.Image.Image, data: bytes) -> int:
    if pil.format == "PNG":
        return data[24]  # IHDR's bit depth (the PNG spec puts IHDR first)
    if isinstance(pil, TiffImagePlugin.TiffImageFile):
        bits = pil.tag_v2.get(258, 1)  # BitsPerSample
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def _pillow_pixels(pil: PIL.Image.Image, mode: str, name: str) -> np.ndarray:
    # Pillow decodes compressed TIFFs with libtiff, which complains on stderr.
    tiff = isinstance(pil, TiffImagePlugin.TiffImageFile)
    try:
        with quiet_stderr() if tiff else contextlib.nullcontext():
            pil.load()
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DecodeError(_corrupt_message(e), name) from e
    if pil.mode != mode:
        pil = pil.convert(mode)
    # I;16B arrives big-endian; everything downstream wants native uint16.
    array = _asarray(pil)
    return array if array.dtype == np.uint8 else array.astype(np.uint16)


def _asarray(pil: PIL.Image.Image, rows: int = 256) -> np.ndarray:
    """``np.asarray(pil)`` a band of rows at a time: at once, Pillow would hold the pixels
    three times over (its own, its encoder's chunks, and their join)."""
    width, height = pil.size
    out = None
    for top in range(0, height, rows):
        band = np.asarray(pil.crop((0, top, width, min(height, top + rows))))
        if out is None:
            out = np.empty((height, *band.shape[1:]), band.dtype)
        out[top : top + rows] = band
    return out


def _cv2_pixels(pil: PIL.Image.Image, data: bytes, mode: str, name: str) -> np.ndarray:
    # IMREAD_UNCHANGED keeps 16 bits and alpha.
    with quiet_stderr():
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise DecodeError("corrupt or truncated image data", name)
    channels = 4 if mode in ("RGBA", "LA") else 3  # OpenCV expands gray+alpha to BGRA
    if array.dtype != np.uint16 or array.ndim != 3 or array.shape[2] != channels:
        found = f"{array.shape[2] if array.ndim == 3 else 1} channels of {array.dtype}"
        raise DecodeError(f"unsupported 16-bit {mode} layout ({found})", name)
    return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA) if channels == 4 else swap_red_blue(array)


def _jpeg_pixels(data: bytes, mode: str, name: str, warnings: list[str]) -> np.ndarray:
    """A colour or grayscale JPEG's pixels, from libvips (:mod:`csrtouch.io.vips_jpeg`),
    which fails a file whose scans libjpeg finds damaged (OpenCV and Pillow fill what is
    missing with grey); from OpenCV where there is no libvips."""
    problem = jpeg_problem(data)
    if problem is not None:
        raise DecodeError(problem, name)
    try:
        array = vips_jpeg.read(data, name, warnings)
    except (ImportError, OSError):
        return _cv2_jpeg(data, mode, name)
    if array.shape[2] != len(mode):
        raise DecodeError(f"decoded {array.shape[2]} channels, the header says {mode}", name)
    return array


def _cv2_jpeg(data: bytes, mode: str, name: str) -> np.ndarray:
    """A JPEG's pixels from OpenCV: the same libjpeg-turbo output as libvips' and Pillow's
    (tested), but a damaged scan comes back filled with grey."""
    flags = (cv2.IMREAD_COLOR if mode == "RGB" else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_IGNORE_ORIENTATION
    with quiet_stderr():  # libjpeg's warnings about damaged data
        array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if array is None:
        raise DecodeError("corrupt image data (libjpeg could not decode it)", name)
    return swap_red_blue(array) if mode == "RGB" else array


#: In a JPEG's scans a 0xFF byte is followed by 0x00 (an escaped 0xFF), another 0xFF (fill)
#: or a restart marker; anything else is a marker.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
#: Markers with a length that may come between a progressive JPEG's scans: DHT, DAC, SOS,
#: DQT, DNL, DRI, APPn, COM.
_BETWEEN_SCANS = frozenset({0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)})


def jpeg_problem(data: bytes) -> str | None:
    """Why the JPEG's image data is not whole, or None: it ends before its EOI, a marker that
    has no place there sits among its scans (a damaged file, which libjpeg would fill with
    grey from there on; Pillow refused these, so csrtouch does too), or a progressive JPEG's
    scans stop before every coefficient is sent in full (cut at a scan's end and closed with
    an EOI: libjpeg gives the blurred image without a word).

    The header's segments are walked by their lengths, since an EXIF thumbnail inside them
    has scans and an EOI of its own.
    """
    pos = 2
    # Progressive: for each component of the frame, the bits still owed of each of its 64
    # coefficients (a scan sends Ss..Se down to bit Al; encoders end at Al 0 for all).
    owed: dict[int, list[int | None]] = {}
    while pos + 4 <= len(data) and data[pos + 1] != 0xDA:
        marker = data[pos + 1]
        if data[pos] != 0xFF:  # stray bytes between segments, which libjpeg skips (with a warning)
            pos = data.find(b"\xff", pos + 1) % (len(data) + 1)  # not found: past the end
        elif marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
        else:
            if marker in _PROGRESSIVE_SOF:
                count = data[pos + 9] if pos + 9 < len(data) else 0
                owed = {data[pos + 10 + 3 * i]: [None] * 64 for i in range(count) if pos + 10 + 3 * i < len(data)}
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    if pos + 4 > len(data) or data[pos] != 0xFF:
        return _TRUNCATED
    while True:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] == 0xDA and owed:
            _scan_sends(data[pos + 4 : pos + 2 + length], owed)
        pos += 2 + length  # over the segment (SOS, DHT...) at pos
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            return _TRUNCATED
        pos = found.start()
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI: what follows (previews, a motion photo's video) is not ours to check
            if any(bits != 0 for coefficients in owed.values() for bits in coefficients):
                return f"{vips_jpeg.TRUNCATED} (its progressive scans stop before the last)"
            return None
        if marker not in _BETWEEN_SCANS:
            return f"corrupt JPEG data (marker 0xFF{marker:02X} inside the image data)"
        if pos + 4 > len(data):
            return _TRUNCATED


#: Start-of-frame markers of progressive JPEGs (Huffman and arithmetic, plain and differential).
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


def _scan_sends(header: bytes, owed: dict[int, list[int | None]]) -> None:
    """Mark what a progressive scan sends: its SOS header is Ns, Ns (id, tables) pairs, Ss,
    Se, and Ah/Al."""
    if not header or len(header) < 1 + 2 * header[0] + 3:
        return  # libvips reports a short header
    count = header[0]
    first, last, al = header[1 + 2 * count], header[2 + 2 * count], header[3 + 2 * count] & 0x0F
    for component in header[1 : 1 + 2 * count : 2]:
        coefficients = owed.get(component)
        if coefficients is not None:
            for k in range(first, min(last, 63) + 1):
                coefficients[k] = al


def _png_problem(data: bytes) -> str | None:
    """Why a PNG's data is not whole, or None: it ends before its IEND chunk, or a chunk's
    data fails its CRC (Pillow checks only the chunks before the image data, and a file cut
    after its last IDAT decodes whole, without what followed)."""
    pos = 8
    while pos + 12 <= len(data):
        length: int = struct.unpack(">I", data[pos : pos + 4])[0]
        end = pos + 12 + length  # length, type, data, CRC
        if end > len(data):
            break
        kind = data[pos + 4 : pos + 8]
        if isal_zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            name = kind.decode("latin-1") if kind.isalpha() else repr(kind)
            return f"corrupt image data: the PNG's {name} chunk fails its CRC check (a damaged file)"
        if kind == b"IEND":
            return None
        pos = end
    return _TRUNCATED


#: TIFF compressions whose strips are zlib streams: Adobe Deflate and the older Deflate.
_DEFLATE = frozenset({8, 32946})


def _tiff_problem(pil: TiffImagePlugin.TiffImageFile, data: bytes) -> str | None:
    """Why a TIFF's image data is not whole, or None: the file ends before it does, or a
    Deflate strip's stream does not end whole (libtiff stops at the rows a strip needs and
    takes what a zeroed or damaged stream gives as pixels, without a word)."""
    tags = pil.tag_v2
    # Strips, else tiles: where each piece of image data starts, and how long it is.
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):
        if offsets_tag in tags and counts_tag in tags:
            pieces = list(zip(tags[offsets_tag], tags[counts_tag], strict=True))
            if max((o + n for o, n in pieces), default=0) > len(data):
                return _TRUNCATED
            if tags.get(259) in _DEFLATE and not all(_deflate_whole(data[o : o + n]) for o, n in pieces):
                return "damaged TIFF: a strip's compressed data is corrupt or ends early"
            return None
    return None


def _deflate_whole(stream: bytes) -> bool:
    """Whether a zlib stream decompresses to its end and its checksum, a megabyte of output
    at a time. (ISA-L inflates a second time what libtiff does: 0.06 s of CPU per 12 MP
    8-bit TIFF, 0.10 s at 16 bits, against 0.24 and 0.40 s to decode them.)"""
    inflate = isal_zlib.decompressobj()
    try:
        while stream and not inflate.eof:
            inflate.decompress(stream, 1 << 20)
            stream = inflate.unconsumed_tail
    except isal_zlib.error:
        return False
    return inflate.eof


def _split(array: np.ndarray, grayscale: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``(H, W[, C])`` gray, gray+alpha, RGB or RGBA -> contiguous RGB pixels and alpha."""
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[2]
    alpha = np.ascontiguousarray(array[..., -1]) if channels in (2, 4) else None
    if grayscale:
        return np.repeat(array[..., :1], 3, axis=2), alpha
    return np.ascontiguousarray(array[..., :3]), alpha


def xmp_packet(value: object) -> bytes | None:
    """The XMP packet from Pillow's ``info["xmp"]`` (str or bytes), or None."""
    if isinstance(value, str):
        return value.encode()
    return bytes(value) if isinstance(value, (bytes, bytearray)) and value else None


def _too_large_message(width: int | None = None, height: int | None = None) -> str:
    size = "" if width is None or height is None else f"{width}x{height}, "
    return (
        f"image is too large ({size}over the {MAX_PIXELS // 1_000_000} MP limit that guards "
        "against decompression bombs)"
    )


def _corrupt_message(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if "truncated" in text.lower():
        return _TRUNCATED
    return f"corrupt image data: {text}"
