"""Colour spaces: ICC profiles read and made, and pixels converted to sRGB and back.

The retoucher learnt from sRGB photos, so decode hands it sRGB pixels: an image tagged with
another profile (Display P3 from phones, Adobe RGB from cameras and scanners, a gray gamma)
is converted to sRGB, and its profile kept in the :class:`~csrtouch.io.Image`. Encode
converts the result back into that profile and embeds it rather than writing sRGB: a
wide-gamut photographer's files stay in the space their editor and printer expect, and a
P3 photo keeps its P3 tag. What cannot survive is a colour outside sRGB's gamut: the model
sees it clipped to sRGB, and it comes back clipped (to a colour inside the original space).

Matrix/TRC profiles, which is what cameras, phones and editors embed (sRGB, Display P3,
Adobe RGB, ProPhoto, Rec. 2020, gray gamma), are converted here in numpy, at 8 and 16 bits
alike, with the relative colorimetric mapping LittleCMS uses for them; where a profile also
has lookup tables, its matrix/TRC is used. Other RGB profiles (lookup tables only: mft1,
mft2, mAB) go through LittleCMS with its default perceptual intent: 8-bit pixels through
Pillow's ImageCms, 16-bit ones through libvips' ``icc_transform`` (ImageCms has no 16-bit
RGB), which agree to within a level of 255 (tested). An image whose profile LittleCMS
refuses, is unreadable or does not fit its pixels (a CMYK profile on RGB data) is left in
its own space, with a warning. A profile is never dropped: encode writes back the bytes it
was given.
"""

from __future__ import annotations

import io
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
from PIL import ImageCms

from csrtouch.errors import EncodeError
from csrtouch.io.image import Image

#: The ICC profile connection space's white, D50, as XYZ.
D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY = (0.3127, 0.3290)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
_SAME_TOLERANCE = 2e-3  # linear units; below half an 8-bit step in the highlights
_BLOCK_PIXELS = 1 << 20  # converted at a time, to bound the float32 temporaries


@dataclass(frozen=True, eq=False)
class Curve:
    """A tone reproduction curve: encoded value in [0, 1] -> linear light in [0, 1].

    Either ICC's parametric function in its most general form (type 4,
    ``Y = (aX + b)^g + e`` for ``X >= d``, else ``Y = cX + f``), which covers gamma curves,
    sRGB's and BT.709's; or a sampled table.

    Attributes:
        params: ``(g, a, b, c, d, e, f)``, or None for a table.
        table: samples at ``X = 0, 1/(n-1), ..., 1``, non-decreasing, or None.
    """

    params: tuple[float, float, float, float, float, float, float] | None = None
    table: np.ndarray | None = None

    @staticmethod
    def gamma(g: float) -> Curve:
        return Curve((g, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Linear light of encoded values."""
        x = np.clip(x, 0.0, 1.0)
        if self.table is not None:
            return np.interp(x, np.linspace(0.0, 1.0, len(self.table)), self.table)
        assert self.params is not None
        g, a, b, c, d, e, f = self.params
        y = np.power(np.maximum(a * x + b, 0.0), g) + e
        if d > 0:
            y = np.where(x < d, c * x + f, y)
        return np.clip(y, 0.0, 1.0)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Encoded values of linear light."""
        y = np.clip(y, 0.0, 1.0)
        if self.table is not None:
            return np.interp(y, self.table, np.linspace(0.0, 1.0, len(self.table)))
        assert self.params is not None
        g, a, b, c, d, e, f = self.params  # a > 0, as read_profile checks
        x = (np.power(np.maximum(y - e, 0.0), 1.0 / g) - b) / a
        if d > 0:
            x = np.where(y < c * d + f, (y - f) / c if c else 0.0, x)
        return np.clip(x, 0.0, 1.0)

    def same_as(self, other: Curve) -> bool:
        x = np.linspace(0.0, 1.0, 1024)
        return bool(np.abs(self.forward(x) - other.forward(x)).max() < _SAME_TOLERANCE)


SRGB_CURVE = Curve((2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045, 0.0, 0.0))


@dataclass(frozen=True, eq=False)
class Shaper:
    """A matrix/TRC colour space: per-channel curves to linear light, then a matrix.

    Attributes:
        to_xyz: ``(3, 3)``, linear RGB -> PCS XYZ (D50). A gray space has sRGB's here: its
            gray values then map to neutrals of the gray's lightness.
        curves: red, green and blue.
    """

    to_xyz: np.ndarray
    curves: tuple[Curve, Curve, Curve]

    def is_srgb(self) -> bool:
        return bool(np.abs(self.to_xyz - SRGB_TO_XYZ).max() < _SAME_TOLERANCE) and all(
            c.same_as(SRGB_CURVE) for c in self.curves
        )


@dataclass(frozen=True)
class Profile:
    """What csrtouch needs from an ICC profile.

    Attributes:
        space: the data colour space it describes, e.g. "RGB", "GRAY", "CMYK".
        description: its name for people, e.g. "Display P3".
        shaper: its matrix/TRC, or None when it has none (a lookup-table profile).
    """

    space: str
    description: str
    shaper: Shaper | None


def read_profile(icc: bytes) -> Profile:
    """Parse the parts of an ICC profile that say what its colour space is.

    Raises:
        ValueError: the bytes are not an ICC profile, or a tag csrtouch reads is malformed.
    """
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    count = _u32(icc, 128)
    if count > 1000 or 132 + 12 * count > len(icc):
        raise ValueError("tag table runs past the end of the profile")
    tags: dict[bytes, bytes] = {}
    for i in range(count):
        sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if offset + size > len(icc):
            raise ValueError(f"tag {sig!r} runs past the end of the profile")
        tags[sig] = icc[offset : offset + size]
    space = icc[16:20].decode("latin-1").strip()
    description = _text(tags[b"desc"]) if b"desc" in tags else ""
    shaper = None
    if icc[20:24] == b"XYZ ":
        if space == "RGB" and all(t in tags for t in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC")):
            to_xyz = np.array([_xyz(tags[t]) for t in (b"rXYZ", b"gXYZ", b"bXYZ")]).T
            trcs = [tags.get(t, tags[b"rTRC"]) for t in (b"rTRC", b"gTRC", b"bTRC")]
            shaper = Shaper(to_xyz, (_curve(trcs[0]), _curve(trcs[1]), _curve(trcs[2])))
        elif space == "GRAY" and b"kTRC" in tags:
            shaper = Shaper(SRGB_TO_XYZ, (_curve(tags[b"kTRC"]),) * 3)
    return Profile(space, description or "unnamed", shaper)


def rgb_profile(
    description: str,
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]],
    curve: Curve,
    white: tuple[float, float] = D65_XY,
) -> bytes:
    """Make a matrix/TRC ICC v4 display profile.

    Used for HEIF images that name their colour space by primaries instead of a profile.

    Args:
        description: the profile's name.
        primaries: red, green and blue chromaticities ``(x, y)``.
        curve: the transfer function, parametric.
        white: the white point's chromaticity.
    """
    assert curve.params is not None, "ICC profiles made here use parametric curves"
    to_xyz, adapt = _primaries_to_d50(primaries, white)
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _mluc(description)),
        (b"cprt", _mluc("No copyright, use freely")),
        (b"wtpt", _xyz_tag(D50)),
        (b"chad", b"sf32\0\0\0\0" + b"".join(_s15(v) for v in adapt.ravel())),
        (b"rXYZ", _xyz_tag(to_xyz[:, 0])),
        (b"gXYZ", _xyz_tag(to_xyz[:, 1])),
        (b"bXYZ", _xyz_tag(to_xyz[:, 2])),
        (b"rTRC", _para(curve)),
    ]
    tags += [(b"gTRC", tags[-1][1]), (b"bTRC", tags[-1][1])]
    table = struct.pack(">I", len(tags))
    body = b""
    offsets: dict[bytes, int] = {}  # identical tag data is stored once, as ICC allows
    start = 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        if data not in offsets:
            offsets[data] = start + len(body)
            body += data + b"\0" * (-len(data) % 4)
        table += struct.pack(">4sII", sig, offsets[data], len(data))
    size = start + len(body)
    header = (
        struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x04300000, b"mntr", b"RGB ", b"XYZ ")
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 * 4 + 8)  # platform, flags, manufacturer, model; attributes
        + struct.pack(">I", 0)  # perceptual
        + b"".join(_s15(v) for v in D50)
        + b"csrt"
        + bytes(16 + 28)  # profile ID (optional), reserved
    )
    return header + table + body


def to_srgb(image: Image) -> None:
    """Convert a just-decoded image's pixels from its ICC profile to sRGB, in place.

    Sets ``image.from_profile`` when it converted, and adds a warning to
    ``image.warnings`` when the profile cannot be applied (see the module doc).
    """
    if not image.icc_profile:
        return
    try:
        profile = read_profile(image.icc_profile)
    except ValueError as e:
        image.warnings.append(f"its ICC colour profile is unreadable ({e}); colours taken as sRGB")
        return
    want = "GRAY" if image.grayscale else "RGB"
    if profile.space != want:
        image.warnings.append(
            f"its ICC colour profile ({profile.description!r}) is for {profile.space} data, "
            f"not {want}; ignored, colours taken as sRGB"
        )
        return
    if profile.shaper is not None:
        if not profile.shaper.is_srgb():
            image.pixels = _convert(image.pixels, profile.shaper, SRGB)
            image.from_profile = True
        return
    converted = _lookup_tables(image.pixels, image.icc_profile, to_srgb=True)
    if converted is not None:
        image.pixels = converted
        image.from_profile = True
        return
    image.warnings.append(
        f"its ICC colour profile ({profile.description!r}) cannot be applied to "
        f"{image.bit_depth}-bit pixels; colours taken as sRGB"
    )


def from_srgb(image: Image) -> np.ndarray:
    """The pixels to write: ``image.pixels`` converted back into its profile where decode
    converted them out of it (``image.from_profile``), else as they are.

    Raises:
        EncodeError: the profile cannot take pixels of this depth (only if the pixels
            changed depth since decode, which converted them).
    """
    if not (image.from_profile and image.icc_profile):
        return image.pixels
    profile = read_profile(image.icc_profile)
    if profile.shaper is not None:
        return _convert(image.pixels, SRGB, profile.shaper)
    converted = _lookup_tables(image.pixels, image.icc_profile, to_srgb=False)
    if converted is None:
        raise EncodeError(
            f"cannot convert {image.bit_depth}-bit pixels back to the colour profile "
            f"{profile.description!r} (LittleCMS refused it)"
        )
    return converted


def _convert(pixels: np.ndarray, source: Shaper, target: Shaper) -> np.ndarray:
    """``(H, W, 3)`` uint8/uint16 pixels from one matrix/TRC space to another."""
    top = float(np.iinfo(pixels.dtype).max)
    codes = np.arange(top + 1) / top
    # Decoding through a table of every code is exact and far cheaper than the curve.
    to_linear = [c.forward(codes).astype(np.float32) for c in source.curves]
    matrix = (np.linalg.inv(target.to_xyz) @ source.to_xyz).astype(np.float32)
    flat = pixels.reshape(-1, 3)
    out = np.empty_like(flat)
    for start in range(0, len(flat), _BLOCK_PIXELS):
        block = flat[start : start + _BLOCK_PIXELS]
        # Channel planes, (3, n): each curve then runs over contiguous memory.
        linear = np.empty((3, len(block)), np.float32)
        for c, lut in enumerate(to_linear):
            linear[c] = lut[block[:, c]]
        linear = matrix @ linear
        for c, curve in enumerate(target.curves):
            out[start : start + len(block), c] = np.rint(curve.inverse(linear[c]) * top)
    return out.reshape(pixels.shape)


def _lookup_tables(pixels: np.ndarray, icc: bytes, *, to_srgb: bool) -> np.ndarray | None:
    """``(H, W, 3)`` pixels through LittleCMS between ``icc`` and sRGB; None if it refuses."""
    if pixels.dtype == np.uint8:
        return _littlecms(pixels, icc, to_srgb=to_srgb)
    srgb = rgb_profile("sRGB", SRGB_PRIMARIES, SRGB_CURVE)
    source, target = (icc, srgb) if to_srgb else (srgb, icc)
    return _libvips(pixels, source, target)


def _libvips(pixels: np.ndarray, source: bytes, target: bytes) -> np.ndarray | None:
    """16-bit RGB through LittleCMS in libvips, 16 bits throughout, from one profile to
    another, with ImageCms's intent (perceptual); None if it refuses or there is no libvips."""
    try:
        import pyvips
    except (ImportError, OSError):
        return None
    h, w, _ = pixels.shape
    try:
        with tempfile.TemporaryDirectory(prefix="csrtouch-icc-") as folder:
            # libvips reads the profile it converts to from a file only; the source one
            # goes in as the image's own.
            path = Path(folder) / "target.icc"
            path.write_bytes(target)
            image = pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).data, w, h, 3, "ushort")
            image = image.copy(interpretation="rgb16")
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", source)
            out = image.icc_transform(str(path), embedded=True, intent="perceptual", depth=16)
            data = out.cast("ushort").write_to_memory()
    except pyvips.Error:
        return None
    if len(data) != pixels.nbytes:
        return None
    return np.frombuffer(data, np.uint16).reshape(h, w, 3)


def _littlecms(pixels: np.ndarray, icc: bytes, *, to_srgb: bool) -> np.ndarray | None:
    """8-bit RGB through LittleCMS, between ``icc`` and sRGB; None if it refuses."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        source, target = (profile, srgb) if to_srgb else (srgb, profile)
        transform = ImageCms.buildTransform(source, target, "RGB", "RGB")
        result = ImageCms.applyTransform(PIL.Image.fromarray(pixels), transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    assert result is not None
    return np.asarray(result).copy()


def _primaries_to_d50(
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]],
    white: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGB -> D50 XYZ for chromaticities, and the Bradford adaptation it used."""

    def xyz(x: float, y: float) -> np.ndarray:
        return np.array([x / y, 1.0, (1.0 - x - y) / y])

    columns = np.stack([xyz(*p) for p in primaries], axis=1)
    white_xyz = xyz(*white)
    to_xyz = columns * np.linalg.solve(columns, white_xyz)  # scaled so RGB 1,1,1 is white
    cone_ratio = (_BRADFORD @ D50) / (_BRADFORD @ white_xyz)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD
    return adapt @ to_xyz, adapt


#: sRGB: linear RGB -> PCS XYZ (D50, Bradford-adapted as sRGB profiles store it).
SRGB_TO_XYZ = _primaries_to_d50(SRGB_PRIMARIES, D65_XY)[0]
SRGB = Shaper(SRGB_TO_XYZ, (SRGB_CURVE,) * 3)


# --- ICC tag types ----------------------------------------------------------------------


def _u32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from(">I", data, offset)[0]
    return value


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(tag: bytes) -> tuple[float, float, float]:
    if tag[:4] != b"XYZ " or len(tag) < 20:
        raise ValueError("malformed XYZ tag")
    x, y, z = struct.unpack_from(">3i", tag, 8)
    return x / 65536, y / 65536, z / 65536


def _curve(tag: bytes) -> Curve:
    kind = tag[:4]
    if kind == b"curv" and len(tag) >= 12:
        n = _u32(tag, 8)
        if n == 0:
            return Curve.gamma(1.0)
        if n == 1 and len(tag) >= 14:
            return Curve.gamma(struct.unpack_from(">H", tag, 12)[0] / 256)
        if 12 + 2 * n <= len(tag):
            table = np.frombuffer(tag, ">u2", n, 12).astype(np.float64) / 65535
            return Curve(table=np.maximum.accumulate(table))
    if kind == b"para" and len(tag) >= 16:
        function = struct.unpack_from(">H", tag, 8)[0]
        params = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(function)
        if params is not None and 12 + 4 * params <= len(tag):
            p = [v / 65536 for v in struct.unpack_from(f">{params}i", tag, 12)]
            if p[0] > 0 and (params == 1 or p[1] > 0):
                return _para_curve(function, p)
    raise ValueError(f"malformed or unsupported curve tag {kind!r}")


def _para_curve(function: int, p: list[float]) -> Curve:
    """ICC parametric function ``function`` with parameters ``p``, as type 4's seven."""
    if function == 0:
        return Curve.gamma(p[0])
    g, a, b = p[:3]
    if function == 1:
        return Curve((g, a, b, 0.0, -b / a, 0.0, 0.0))
    if function == 2:
        return Curve((g, a, b, 0.0, -b / a, p[3], p[3]))
    if function == 3:
        return Curve((g, a, b, p[3], p[4], 0.0, 0.0))
    return Curve((g, a, b, p[3], p[4], p[5], p[6]))


def _para(curve: Curve) -> bytes:
    assert curve.params is not None
    g, a, b, c, d, e, f = curve.params
    values: tuple[float, ...]
    if (a, b, c, d, e, f) == (1.0, 0.0, 0.0, 0.0, 0.0, 0.0):
        function, values = 0, (g,)
    elif e == f == 0.0:
        function, values = 3, (g, a, b, c, d)
    else:
        function, values = 4, (g, a, b, c, d, e, f)
    return b"para\0\0\0\0" + struct.pack(">HH", function, 0) + b"".join(map(_s15, values))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _mluc(text: str) -> bytes:
    utf16 = text.encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(utf16), 28) + utf16


def _text(tag: bytes) -> str:
    """A 'desc' (ICC v2) or 'mluc' (v4) tag's text; empty if malformed."""
    try:
        if tag[:4] == b"desc":
            n = _u32(tag, 8)
            return tag[12 : 12 + n].split(b"\0")[0].decode("latin-1").strip()
        if tag[:4] == b"mluc" and _u32(tag, 8) > 0:
            length, offset = struct.unpack_from(">II", tag, 20)
            return tag[offset : offset + length].decode("utf-16-be", "replace").strip()
    except (struct.error, ValueError):
        pass
    return ""
