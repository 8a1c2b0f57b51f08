"""Writing images as JPEG, PNG, TIFF or WebP with their metadata."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping

import cv2
import numpy as np
import PIL.Image

from csrtouch.errors import EncodeError, UsageError
from csrtouch.io import colour, metadata, png, tiff, xmp
from csrtouch.io.atomic import write_atomic
from csrtouch.io.formats import (
    BIT_DEPTHS,
    READ_ONLY_SUFFIXES,
    check_bit_depth,
    check_format,
    default_output_format,
    format_of_suffix,
    output_suffix,
)
from csrtouch.io.image import Image, swap_red_blue

#: Pixels in a band of ``encode_bands``, about; they bound its working memory.
BAND_PIXELS = 1 << 20
#: What a result written as JPEG is told when its transparency is flattened.
JPEG_FLATTENED = "JPEG has no alpha channel: transparent areas flattened onto white"
#: The longest XMP packet a JPEG's APP1 segment holds, after its namespace.
_JPEG_XMP_MAX = 65533 - len(b"http://ns.adobe.com/xap/1.0/\0")


def encode(
    image: Image,
    path: Path | str,
    *,
    format: str | None = None,
    quality: int = 95,
    bit_depth: int | None = None,
    software: str | None = None,
    description: str | None = None,
    provenance: Mapping[str, str] | None = None,
) -> None:
    """Write ``image`` to ``path`` atomically (see :func:`write_atomic`).

    Args:
        image: what to write.
        path: where; parent folders are created.
        format: "jpeg", "png", "tiff" or "webp". By default the format ``path``'s suffix
            names, else :func:`~csrtouch.io.default_output_format`'s for the image (its own,
            or TIFF for a RAW or HEIF).
        quality: JPEG and WebP quality, 1-100.
        bit_depth: 8 or 16. By default the image's own where the format can store it, else
            the format's (a 16-bit image goes to JPEG as 8-bit).
        software: recorded as EXIF Software (0x0131), e.g. the csrtouch version; with
            ``provenance``, as XMP ``xmp:CreatorTool`` too.
        description: recorded as EXIF ImageDescription (0x010E), the photo's caption:
            give it only to replace the caption. Both are EXIF ASCII: other characters are
            written as "?". Every other EXIF tag is kept byte for byte
            (:func:`~csrtouch.io.metadata.stamp`).
        provenance: properties recorded in the XMP packet in csrtouch's namespace, name ->
            text (``csrtouch:Style``, ...), added to the image's own packet, whose other
            properties are kept (:mod:`~csrtouch.io.xmp`), or to a new one.

    Raises:
        UsageError: an unknown format, a format that ``path``'s suffix contradicts, a
            ``path`` named like a format csrtouch only reads (``.dng``, ``.heic``) with no
            format given, a bit depth the format cannot store (16-bit JPEG), or a quality
            outside 1-100.
        EncodeError: the image cannot be encoded or the file cannot be written.
    """
    path = Path(path)
    named = format_of_suffix(path)
    if format is None:
        if named is None and path.suffix.lower() in READ_ONLY_SUFFIXES:
            default = default_output_format(image)
            raise UsageError(
                f"csrtouch cannot write {path.suffix} files; name the output "
                f"{path.with_suffix(output_suffix(default)).name} or give a format",
                path,
            )
        format = named or default_output_format(image)
    elif named is not None and named != check_format(format):
        raise UsageError(
            f"the file name ends in {path.suffix} but the format asked for is {format}", path
        )
    _write(path, lambda: _encoded(image, format, quality, bit_depth, software, description, provenance))


def encode_bytes(
    image: Image,
    *,
    format: str,
    quality: int = 95,
    bit_depth: int | None = None,
    software: str | None = None,
    description: str | None = None,
    provenance: Mapping[str, str] | None = None,
) -> bytes:
    """Encode ``image`` as the bytes of a file in ``format``; arguments as :func:`encode`.

    The ICC profile, EXIF and XMP go wherever the format carries them; pixels that decode
    converted out of the profile into sRGB are converted back into it. Alpha is written to
    PNG, TIFF and WebP. JPEG has none: transparent pixels are flattened onto white, as
    editors export them (what lies under full transparency is often garbage, which dropping
    the alpha would show), and :data:`JPEG_FLATTENED` is added to ``image.warnings``. A
    grayscale image is written as grayscale (its luma, which is exact while the three
    channels are equal), with its alpha as gray+alpha, except to WebP, which has no
    grayscale and gets RGB(A), and to a 16-bit TIFF, which gets RGBA (see ``_encoded``).
    WebP is lossy, at ``quality``. TIFF is Deflate-compressed (see :mod:`~csrtouch.io.tiff`).

    Raises:
        UsageError: as :func:`encode`.
        EncodeError: the encoder fails, e.g. EXIF too long for a JPEG segment.
    """
    data = _encoded(image, format, quality, bit_depth, software, description, provenance)
    if callable(data):
        buffer = io.BytesIO()
        data(buffer)
        return buffer.getvalue()
    return data


def _encoded(
    image: Image,
    format: str,
    quality: int,
    bit_depth: int | None,
    software: str | None,
    description: str | None,
    provenance: Mapping[str, str] | None,
) -> bytes | Callable[[BinaryIO], None]:
    """The file's bytes, or a function that writes them to an empty file: for TIFF, whose
    strips are compressed as they are written, never held whole, and for JPEG, whose
    metadata goes in between parts of the encoder's buffer."""
    fmt = check_format(format)
    depth = bit_depth
    if depth is None:
        depth = image.bit_depth if image.bit_depth in BIT_DEPTHS[fmt] else max(BIT_DEPTHS[fmt])
    check_bit_depth(fmt, depth)
    _check_quality(quality)
    # Back into the file's colour space at the image's own depth, before any rounding to 8.
    pixels = _to_depth(colour.from_srgb(image), depth)
    alpha = None if image.alpha is None else _to_depth(image.alpha, depth)
    exif = _stamped(image.exif, software, description)
    packet = _xmp(image.xmp, fmt, software, provenance)
    if fmt == "jpeg" and alpha is not None:
        if alpha.min() < np.iinfo(alpha.dtype).max:
            pixels = _onto_white(pixels, alpha)
            image.warnings.append(JPEG_FLATTENED)
        alpha = None
    try:
        with metadata.quiet_pillow():
            if fmt == "jpeg":
                return _jpeg(pixels, image.grayscale, quality, image.icc_profile, exif, packet)
            if fmt == "webp":
                return _webp(pixels, alpha, quality, image.icc_profile, exif, packet)
            if fmt == "png":
                if image.grayscale and alpha is not None:
                    # OpenCV writes 1, 3 or 4 channels only.
                    encoded = png.gray_alpha(_luma(pixels), alpha)
                else:
                    encoded = _imencode(".png", _opencv_planes(pixels, alpha, image.grayscale))
                return png.add_metadata(encoded, icc_profile=image.icc_profile, exif=exif, xmp=packet)
            tags = _tiff_tags(exif)
            # 16-bit gray+alpha TIFFs are legal, but Pillow cannot open them and OpenCV reads
            # them as 8-bit gray: RGBA, which every reader takes, keeps the 16 bits.
            gray = image.grayscale and (alpha is None or alpha.dtype == np.uint8)
    except EncodeError:
        raise
    except Exception as e:  # an encoder's own exception types must not reach the caller
        raise EncodeError(f"cannot encode {fmt.upper()}: {e}") from e

    def write_tiff(file: BinaryIO) -> None:
        try:
            with metadata.quiet_pillow():
                tiff.write(
                    file,
                    pixels,
                    alpha=alpha,
                    grayscale=gray,
                    tags=tags,
                    icc_profile=image.icc_profile,
                    xmp=packet,
                )
        except OSError:  # writing the file: write_atomic says which and why
            raise
        except Exception as e:
            raise EncodeError(f"cannot encode TIFF: {e}") from e

    return write_tiff


def _to_depth(array: np.ndarray, depth: int) -> np.ndarray:
    """``array`` as a C-contiguous uint8 or uint16 array (OpenCV refuses reversed strides)."""
    if depth == 16 and array.dtype == np.uint8:
        return array.astype(np.uint16) * 257
    if depth == 8 and array.dtype == np.uint16:
        # Round to nearest: x / 257 maps 0..65535 onto 0..255 exactly at both ends. OpenCV's
        # scaled conversion gives (x + 128) // 257 for every x (tested) at 1/40 the time of
        # numpy's integer division (1.4 s for a 24 MP RAW render written as a JPEG).
        return cv2.convertScaleAbs(np.ascontiguousarray(array), alpha=1 / 257)
    return np.ascontiguousarray(array)


def _onto_white(pixels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` pixels composited over white by their ``(H, W)`` alpha, in the file's
    own encoding, as editors flatten for export; a new array."""
    top = int(np.iinfo(pixels.dtype).max)
    a = alpha.astype(np.uint32)[..., None]
    flat = (pixels * a + top * (top - a) + top // 2) // top
    return flat.astype(pixels.dtype)


def _jpeg(
    pixels: np.ndarray,
    grayscale: bool,
    quality: int,
    icc_profile: bytes | None,
    exif: bytes | None,
    xmp: bytes | None,
) -> Callable[[BinaryIO], None]:
    """Baseline JPEG (4:2:0, as Pillow and libjpeg default) from OpenCV, whose encoder runs
    without the GIL (Pillow's holds it, which serialised a batch's threads), with the
    metadata segments inserted after its JFIF header: APP1 EXIF, APP1 XMP, APP2 ICC."""
    # OpenCV wants BGR. Swapping the channels in place and back saves a copy of the frame
    # (150 MB at 50 MP); ``pixels`` is as it was when this returns, but not while it runs.
    swap = not grayscale and pixels.flags.writeable and pixels.flags.c_contiguous
    if grayscale:
        array = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    else:
        array = swap_red_blue(pixels) if swap else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    try:
        ok, buffer = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    finally:
        if swap:
            swap_red_blue(pixels)
    if not ok:
        raise EncodeError(f"OpenCV could not encode {array.shape} {array.dtype} as JPEG")
    data = memoryview(buffer)
    head, metadata_segments = _after_jfif(data), _jpeg_segments(icc_profile, exif, xmp)

    def write_jpeg(file: BinaryIO) -> None:
        # Straight from OpenCV's buffer: no copy of the compressed photo.
        file.write(data[:head])
        file.write(metadata_segments)
        file.write(data[head:])

    return write_jpeg


def _jpeg_segments(icc_profile: bytes | None, exif: bytes | None, xmp: bytes | None) -> bytes:
    """APP1 EXIF, APP1 XMP and APP2 ICC segments, to follow a JPEG's JFIF header."""
    segments = []
    if exif:
        segments.append(_app(0xE1, exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif, "EXIF"))
    if xmp:
        segments.append(_app(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp, "XMP"))
    if icc_profile:
        # ICC.1 Annex B.4: split into numbered APP2 chunks of at most 65,519 bytes.
        chunks = [icc_profile[i : i + 65519] for i in range(0, len(icc_profile), 65519)]
        if len(chunks) > 255:
            raise EncodeError(f"cannot encode JPEG: ICC profile of {len(icc_profile)} bytes is too long")
        for n, chunk in enumerate(chunks, 1):
            segments.append(_app(0xE2, b"ICC_PROFILE\0" + bytes((n, len(chunks))) + chunk, "ICC"))
    return b"".join(segments)


def encode_bands(
    bands: Iterable[np.ndarray],
    path: Path | str,
    width: int,
    height: int,
    *,
    format: str,
    bit_depth: int = 8,
    quality: int = 95,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    xmp: bytes | None = None,
    software: str | None = None,
    description: str | None = None,
    provenance: Mapping[str, str] | None = None,
) -> None:
    """Write an RGB image atomically as a JPEG or TIFF from its rows, never holding the
    frame; arguments as for :func:`encode`, the pixels in sRGB or ``icc_profile``'s space.

    ``bands`` are ``(band_rows(width), width, 3)`` arrays of uint8 (uint16 for a
    16-bit TIFF), top to bottom, the last one shorter if need be. A TIFF is the file
    :func:`encode` writes of the whole frame. For a JPEG, the bands are swapped to BGR in
    place and each is encoded by OpenCV as a JPEG of its own, with the quality and 4:2:0
    sampling :func:`encode` uses; their entropy-coded data are joined by restart markers
    (ITU T.81 F.1.1.5) under the first one's header, its height set to the whole image's
    and a restart interval of one band. A band starts on an MCU row, and a restart resets
    what the coding carries over (the DC predictions), so the file decodes to the pixels a
    whole-frame encode gives (tested), at the same size to within the markers.

    Raises:
        UsageError: a format other than JPEG or TIFF, a bit depth it cannot store, or a
            quality outside 1-100.
        EncodeError: a band is of the wrong size or the encoder fails; or as
            :func:`write_atomic`.
    """
    fmt = check_format(format)
    if fmt not in ("jpeg", "tiff"):
        raise UsageError(f"images are written in bands as JPEG or TIFF, not {format}")
    check_bit_depth(fmt, bit_depth)
    _check_quality(quality)
    exif = _stamped(exif, software, description)
    xmp = _xmp(xmp, fmt, software, provenance)
    rows_per_band, mcus_per_row = band_rows(width), -(-width // 16)
    dtype = np.dtype(np.uint16 if bit_depth == 16 else np.uint8)

    def checked() -> Iterator[np.ndarray]:
        rows = 0
        for i, band in enumerate(bands):
            fits = band.shape[1:] == (width, 3) and band.dtype == dtype and len(band) <= rows_per_band
            if not fits or rows % rows_per_band or rows + len(band) > height:
                raise EncodeError(
                    f"band {i} ({band.dtype} {band.shape}) at row {rows} does not fit a {width}x{height} "
                    f"{fmt.upper()} written in {dtype} bands of {rows_per_band} rows"
                )
            rows += len(band)
            yield band
        if rows != height:
            raise EncodeError(f"{rows} rows were given for an image {height} rows high")

    if fmt == "tiff":
        tags = _tiff_tags(exif)

        def write(file: BinaryIO) -> None:
            with metadata.quiet_pillow():
                tiff.write_bands(file, checked(), height, width, dtype, tags=tags, icc_profile=icc_profile, xmp=xmp)

    else:
        if mcus_per_row * rows_per_band // 16 > 0xFFFF:
            raise EncodeError(f"cannot encode a {width}-pixel-wide JPEG in bands (restart interval over 65535)")
        segments = _jpeg_segments(icc_profile, exif, xmp)
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]

        def write(file: BinaryIO) -> None:
            header: bytes | None = None
            for i, band in enumerate(checked()):
                ok, buffer = cv2.imencode(".jpg", swap_red_blue(band), params)
                if not ok:
                    raise EncodeError(f"OpenCV could not encode {band.shape} {band.dtype} as JPEG")
                data = memoryview(buffer)
                sof, sos, scan = _jpeg_layout(data)
                # The band's header, its height aside, must be the first band's: same tables.
                own = bytes(data[:sof + 5]) + bytes(data[sof + 7 : scan])
                if header is None:
                    header = own
                    head = _after_jfif(data)
                    file.write(data[:head])
                    file.write(segments)
                    file.write(data[head : sof + 5])
                    file.write(height.to_bytes(2, "big"))
                    file.write(data[sof + 7 : sos])
                    file.write(b"\xff\xdd\x00\x04" + (mcus_per_row * rows_per_band // 16).to_bytes(2, "big"))
                    file.write(data[sos:scan])
                elif own != header:
                    raise EncodeError("OpenCV encoded two bands of one JPEG with different tables")
                else:
                    file.write(bytes((0xFF, 0xD0 + (i - 1) % 8)))  # RST0..RST7 in turn
                file.write(data[scan:-2])  # the band's scan, without its EOI
            file.write(b"\xff\xd9")

    _write(path, lambda: write)


def _write(path: Path | str, encoded: Callable[[], bytes | Callable[[BinaryIO], None]]) -> None:
    """``write_atomic(path, encoded())``, with ``path`` named in the encoder's errors too."""
    try:
        write_atomic(path, encoded())
    except EncodeError as e:
        if e.path is not None:  # write_atomic's own, about the file
            raise
        raise EncodeError(e.message, path) from e


def _check_quality(quality: int) -> None:
    if not 1 <= quality <= 100:
        raise UsageError(f"quality (JPEG, WebP) must be between 1 and 100; got {quality}")


def _stamped(exif: bytes | None, software: str | None, description: str | None) -> bytes | None:
    """``exif`` with the EXIF Software and ImageDescription given (see :func:`encode`)."""
    stamps = {metadata.SOFTWARE: software, metadata.IMAGE_DESCRIPTION: description}
    return metadata.stamp(exif, {k: v for k, v in stamps.items() if v is not None})


def _xmp(packet: bytes | None, fmt: str, software: str | None, provenance: Mapping[str, str] | None) -> bytes | None:
    """The XMP packet to write: ``packet`` with the provenance (see :func:`encode`)."""
    if provenance is None:
        return packet
    stamped = xmp.with_provenance(packet, software, provenance)
    if fmt == "jpeg" and stamped is not None and len(stamped) > _JPEG_XMP_MAX:
        return packet  # a packet that fitted before is not made too long for the file
    return stamped


def _tiff_tags(exif: bytes | None) -> dict[int, Any]:
    """The IFD0 tags a TIFF carries of an EXIF block."""
    parsed = metadata.load_exif(exif)
    return {} if parsed is None else metadata.portable_tags(parsed)


def band_rows(width: int) -> int:
    """Rows in each band of an image ``width`` pixels wide written by ``encode_bands``:
    about :data:`BAND_PIXELS`, in whole rows of 16x16-pixel MCUs, at most 256."""
    return max(16, min(256, BAND_PIXELS // max(width, 1) // 16 * 16))


def _jpeg_layout(data: memoryview) -> tuple[int, int, int]:
    """Offsets in an OpenCV JPEG of its SOF0 and SOS segments and of its scan's data,
    checking it is the baseline 4:2:0 frame ``encode_bands`` splices."""
    pos, sof = 2, -1
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xC0:
            sof = pos
        elif marker == 0xDA:
            # 3 components, Y sampled 2x2 and Cb, Cr 1x1: 16x16-pixel MCUs.
            if sof < 0 or data[sof + 9] != 3 or bytes(data[sof + 11 : sof + 18 : 3]) != b"\x22\x11\x11":
                raise EncodeError("OpenCV's JPEG is not the baseline 4:2:0 frame that bands are joined as")
            return sof, pos, end
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            break
        pos = end
    raise EncodeError("OpenCV's JPEG is not the baseline 4:2:0 frame that bands are joined as")


def _app(marker: int, body: bytes, what: str) -> bytes:
    if len(body) > 65533:
        raise EncodeError(f"cannot encode JPEG: {what} data is too long")
    return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body


def _after_jfif(data: bytes) -> int:
    """Offset just after SOI and, if present, the JFIF APP0 segment."""
    if data[2:4] == b"\xff\xe0":
        return 4 + int.from_bytes(data[4:6], "big")
    return 2


def _webp(
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    quality: int,
    icc_profile: bytes | None,
    exif: bytes | None,
    xmp: bytes | None,
) -> bytes:
    array = pixels if alpha is None else np.dstack([pixels, alpha])
    extra: dict[str, Any] = {"icc_profile": icc_profile, "exif": exif, "xmp": xmp}
    out = io.BytesIO()
    PIL.Image.fromarray(array).save(
        out, "WEBP", quality=quality, **{k: v for k, v in extra.items() if v}
    )
    return out.getvalue()


def _luma(pixels: np.ndarray) -> np.ndarray:
    """The gray of ``(H, W, 3)`` pixels: exact while the three channels are equal."""
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def _opencv_planes(pixels: np.ndarray, alpha: np.ndarray | None, grayscale: bool) -> np.ndarray:
    """Gray, BGR or BGRA, the channel orders ``cv2.imencode`` writes."""
    if grayscale and alpha is None:
        return _luma(pixels)
    if alpha is None:
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    planes = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGRA)
    planes[..., 3] = alpha
    return planes


def _imencode(suffix: str, planes: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(suffix, planes)
    if not ok:
        raise EncodeError(f"OpenCV could not encode {planes.shape} {planes.dtype} as {suffix}")
    return buffer.tobytes()
