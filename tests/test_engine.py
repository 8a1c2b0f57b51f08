import numpy as np
import pytest
import torch

from csrtouch.engine import Network, Retoucher, apply_tiled, thumbnail
from csrtouch.engine.network import SHAPES
from csrtouch.engine.thumbnail import THUMB_SIZE
from csrtouch.errors import WeightsError
from csrtouch.model import CSRNet


@pytest.fixture(scope="module")
def net() -> CSRNet:
    torch.manual_seed(1)
    net = CSRNet().eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.15)
    return net


def _numpy(net: CSRNet) -> Network:
    return Network({k: v.numpy() for k, v in net.state_dict().items()})


def test_shapes_are_csrnets():
    assert SHAPES == {k: tuple(v.shape) for k, v in CSRNet().state_dict().items()}


@pytest.mark.parametrize("size", [(5, 5), (17, 23), (384, 512)])
def test_numpy_network_equals_module(net, size):
    """Condition, style modulation and folded base network in numpy == the torch module."""
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((1, 3, *size), dtype=np.float32))
    gamma, beta, offset = (torch.from_numpy(rng.normal(0, 0.2, n).astype(np.float32)) for n in (32, 32, 262))
    with torch.no_grad():
        cond = net.condition(x)
        expected = net.base(x, net.modulation(cond, gamma, beta, offset))[0].permute(1, 2, 0).reshape(-1, 3)
    ours = _numpy(net)
    got_cond = ours.condition(x[0].permute(1, 2, 0).numpy())
    np.testing.assert_allclose(got_cond, cond[0].numpy(), rtol=1e-4, atol=1e-5)
    fn = ours.color_function(cond[0].numpy(), gamma.numpy(), beta.numpy(), offset.numpy())
    np.testing.assert_allclose(fn(x[0].permute(1, 2, 0).reshape(-1, 3).numpy()), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_numpy_network_refuses_wrong_weights(net):
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError, match=r"conv1.bias has shape \(7,\), expected \(64,\)"):
        Network({**state, "conv1.bias": np.zeros(7, np.float32)}, "x.safetensors")
    del state["conv3.weight"]
    with pytest.raises(WeightsError, match=r"x.safetensors.*missing \['conv3.weight'\]"):
        Network(state, "x.safetensors")


def test_image_too_small_for_the_condition_network(net):
    with pytest.raises(ValueError, match="smaller than the 7x7 kernel"):
        _numpy(net).condition(np.zeros((2, 3, 3), np.float32))


def _fn(net):
    f = _numpy(net)
    return f.color_function(f.condition(np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(1, 1, 3), (37, 53, 3), (101, 7, 3)])
@pytest.mark.parametrize("chunk", [1, 50, 1 << 18])
def test_tiled_equals_untiled(net, dtype, shape, chunk):
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        image = rng.random(shape, dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    fn = _fn(net)
    whole = apply_tiled(image, fn, chunk_pixels=image.shape[0] * image.shape[1])
    tiled = apply_tiled(image, fn, chunk_pixels=chunk)
    assert tiled.dtype == image.dtype and tiled.shape == image.shape
    # Equal to float precision: BLAS may round differently for other batch sizes, so an
    # integer output can differ by one code value where a value sits on a rounding edge.
    if dtype == np.float32:
        np.testing.assert_allclose(tiled, whole, rtol=0, atol=2e-6)
    else:
        assert np.abs(tiled.astype(np.int64) - whole).max() <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_by_colour_equals_per_pixel(net, coffee, dtype):
    from csrtouch.engine.tiles import map_colours

    fn = _fn(net)
    per_pixel = apply_tiled(coffee, fn, dtype=dtype)
    by_colour = map_colours(coffee, lambda rgb: apply_tiled(rgb[:, None], fn, 5000, dtype)[:, 0], dtype)
    assert by_colour.dtype == dtype and by_colour.shape == coffee.shape
    assert np.abs(by_colour.astype(np.int64) - per_pixel).max() <= 1  # as for tiles


def test_by_colour_declines_noise():
    from csrtouch.engine.tiles import map_colours

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert map_colours(noise, lambda rgb: pytest.fail("values of noise")) is None


@pytest.mark.parametrize("rows", [1, 7, 256])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_map_colours_maps_every_pixel(astronaut, rows, dtype):
    """Bands of any height, in place or not, 8 or 16 bits: each pixel gets its colour's value."""
    from csrtouch.engine.tiles import map_colours

    image = astronaut[:100, :61] // 16 * 16  # fewer colours than half the pixels
    scale = 257 if dtype == np.uint16 else 1

    def values(rgb):  # any function of the colour alone
        return (255 - rgb[:, ::-1]).astype(dtype) * dtype(scale)

    expected = (255 - image[..., ::-1]).astype(dtype) * dtype(scale)
    np.testing.assert_array_equal(map_colours(image, values, dtype, rows=rows), expected)
    if dtype == np.uint8:
        copy = image.copy()
        assert map_colours(copy, values, out=copy, rows=rows) is copy
        np.testing.assert_array_equal(copy, expected)
    with pytest.raises(ValueError, match="out must be a C-contiguous"):
        map_colours(image, values, dtype, out=np.empty((100, 61, 3), np.float32))


def test_lut_through_colours_equals_pillow_per_pixel(astronaut, coffee):
    """The LUT interpolated once per colour is bit-identical to Pillow on every pixel."""
    from csrtouch.engine.lut import apply_lut, bake, interpolator
    from csrtouch.engine.tiles import map_colours

    retoucher = Retoucher("expertC", device="cpu")
    for image in (astronaut // 2 * 2, coffee):  # fewer colours than half the pixels
        lut = bake(retoucher.color_function(image))
        interpolate = interpolator(lut)
        by_colour = map_colours(image, lambda rgb: interpolate(rgb[:, None])[:, 0])
        np.testing.assert_array_equal(by_colour, apply_lut(image, lut))


def test_default_path_is_exact_below_the_luts_size(coffee):
    """An 8-bit photo with fewer distinct colours than the LUT has points gets the network's
    own values; one with more gets the LUT's."""
    from csrtouch.engine.lut import LUT_SIZE, apply_lut, bake

    default, exact = Retoucher("expertC"), Retoucher("expertC", exact=True)
    few = coffee // 4 * 4
    np.testing.assert_array_equal(default(few), exact(few))
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (LUT_SIZE**3 + 20_000, 3), dtype=np.uint8)
    many = palette[rng.integers(0, len(palette), (1024, 1024))]
    lut = apply_lut(many, bake(default.color_function(many)))
    np.testing.assert_array_equal(default(many), lut)
    assert not np.array_equal(lut, exact(many))


@pytest.mark.parametrize("shape", [(1, 1, 3), (4, 4, 3), (1, 50, 3), (3, 2, 3)])
def test_tiny_images_are_retouched(shape):
    """Smaller than the condition network's first kernel: the thumbnail is enlarged."""
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = Retoucher("expertC")(image)
    assert out.shape == shape and out.dtype == np.uint8


def test_tiled_rejects_non_rgb(net):
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) image, got shape \(4, 4\)"):
        apply_tiled(np.zeros((4, 4), np.uint8), _fn(net))


def test_thumbnail_bounds_long_side(astronaut):
    big = np.repeat(np.repeat(astronaut, 3, axis=0), 2, axis=1)  # 1536 x 1024
    t = thumbnail(big)
    assert t.dtype == np.float32 and max(t.shape[:2]) == THUMB_SIZE and t.shape[:2] == (512, 341)
    small = thumbnail(astronaut[:100, :200])
    np.testing.assert_array_equal(small, astronaut[:100, :200].astype(np.float32) / 255)


@pytest.mark.parametrize("factor", [2, 4])
def test_same_look_at_any_resolution(coffee, factor):
    """The shipped style at 1x and at factor x per side: the same look.

    The large copy repeats each pixel, so reducing it (area average) gives back the photo
    exactly and any difference left is a change of look, not of pixels. (coffee is larger
    than the condition thumbnail, so each size reaches it by a different reduction.)"""
    import cv2

    retoucher = Retoucher("expertC", device="cpu")
    h, w = coffee.shape[:2]
    big = np.repeat(np.repeat(coffee, factor, axis=0), factor, axis=1)
    assert np.array_equal(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA), coffee)
    small_out = retoucher(coffee).astype(np.float32)
    big_out = cv2.resize(retoucher(big), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    diff = np.abs(big_out - small_out)
    assert 0 < diff.mean() <= 0.5, f"mean difference {diff.mean():.3f}/255 between 1x and {factor}x"


def test_resampled_copy_gets_the_same_colour_function(astronaut):
    """A smoothly upscaled copy (cubic, 3x) has pixels of its own, but the look computed
    from it, applied to the photo, is the look computed from the photo."""
    import cv2

    retoucher = Retoucher("expertC", device="cpu")
    h, w = astronaut.shape[:2]
    big = cv2.resize(astronaut, (3 * w, 3 * h), interpolation=cv2.INTER_CUBIC)
    pixels = astronaut.reshape(-1, 3).astype(np.float32) / 255
    own = np.clip(retoucher.color_function(astronaut)(pixels), 0, 1) * 255
    other = np.clip(retoucher.color_function(big)(pixels), 0, 1) * 255
    diff = np.abs(own - other)
    assert diff.mean() <= 0.5 and diff.max() <= 3, f"{diff.mean():.3f}, max {diff.max():.2f} (of 255)"


def test_retoucher_keeps_dtype_and_shape(coffee):
    retoucher = Retoucher("expertC", device="cpu")
    out8 = retoucher(coffee)
    out16 = retoucher(coffee.astype(np.uint16) * 257)
    assert out8.dtype == np.uint8 and out8.shape == coffee.shape
    assert out16.dtype == np.uint16
    # 16-bit and 8-bit inputs of the same picture get the same look.
    assert np.abs(out16 / 257.0 - out8).mean() < 0.6


def test_8bit_image_retouched_straight_to_16_bits(coffee):
    """An 8-bit image asked for at 16 bits is retouched at 16 bits without a widened copy."""
    retoucher = Retoucher("expertC", device="cpu")
    direct = retoucher(coffee, np.uint16)
    widened = Retoucher("expertC", device="cpu", exact=True)(coffee.astype(np.uint16) * 257)
    assert direct.dtype == np.uint16
    assert np.abs(direct.astype(np.int32) - widened).max() <= 2  # of 65535: thumbnails round apart
    # Without --exact a 16-bit image goes through the 129^3 LUT (engine.lut16).
    through_lut = retoucher(coffee.astype(np.uint16) * 257)
    assert np.abs(direct.astype(np.int32) - through_lut).max() <= 160


def test_unknown_device_is_usage_error():
    from csrtouch.engine import resolve_device
    from csrtouch.errors import UsageError

    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def _through_lut(retoucher: Retoucher, image: np.ndarray) -> np.ndarray:
    """The LUT path itself (the default takes it only for photos of over 65^3 colours)."""
    from csrtouch.engine.lut import apply_lut, bake

    return apply_lut(image, bake(retoucher.color_function(image)))


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_lut_path_close_to_exact(photo, request):
    image = request.getfixturevalue(photo)
    retoucher = Retoucher("expertC", device="cpu", exact=True)
    diff = np.abs(_through_lut(retoucher, image).astype(np.int32) - retoucher(image))
    assert diff.mean() <= 0.5 and diff.max() <= 3, f"mean {diff.mean():.3f}, max {diff.max()} (/255)"


def test_lut_path_close_to_exact_on_kodak(shared):
    """The same bound over the 16 Kodak photos (finished scans, 768x512)."""
    from csrtouch.io import decode

    exact = Retoucher("expertC", device="cpu", exact=True)
    diffs = []
    for path in sorted((shared / "data" / "photos" / "kodak").glob("*.png")):
        image = decode(path).pixels
        diff = np.abs(_through_lut(exact, image).astype(np.int32) - exact(image))
        assert diff.max() <= 3, f"{path.name}: max {diff.max()}/255"
        diffs.append(diff.mean())
    assert len(diffs) == 16 and max(diffs) <= 0.5, f"mean differences {np.round(diffs, 3)}"


def test_bake_orders_channels_like_pillow():
    from csrtouch.engine.lut import apply_lut, bake

    swap = bake(lambda px: px[:, ::-1].copy(), size=17)  # RGB -> BGR is exact under trilinear
    image = np.random.default_rng(0).integers(0, 256, (31, 29, 3), dtype=np.uint8)
    assert np.abs(apply_lut(image, swap).astype(int) - image[..., ::-1]).max() <= 1


def test_lut_in_row_bands_equals_whole_frame(coffee):
    from csrtouch.engine.lut import apply_lut, bake

    lut = bake(lambda x: x**0.8 * np.array([1.05, 1.0, 0.9], np.float32))
    whole = apply_lut(coffee, lut, rows=coffee.shape[0])
    assert coffee.shape[0] % 7 != 0
    np.testing.assert_array_equal(apply_lut(coffee, lut, rows=7), whole)
