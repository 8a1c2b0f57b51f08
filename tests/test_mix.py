"""Strength and style mixing."""

import numpy as np
import pytest
import torch

from csrtouch.engine import Retoucher
from csrtouch.engine.retoucher import parse_mix
from csrtouch.errors import StyleError, UsageError
from csrtouch.model import CSRNet
from csrtouch.styles import files, import_style, load_style, user_styles_dir
from csrtouch.styles.registry import shared_network_sha256


@pytest.fixture
def other(coffee):
    """A second vector style on the shipped network."""
    rng = np.random.default_rng(0)
    files.write(
        user_styles_dir() / "other.safetensors",
        {"gamma": rng.normal(0, 0.5, 32).astype(np.float32), "beta": rng.normal(0, 0.5, 32).astype(np.float32)},
        {"name": "other", "arch": "style-vector", "network_sha256": shared_network_sha256()},
    )
    return "other"


def test_strength_zero_is_identity(coffee):
    for exact in (False, True):
        out = Retoucher("expertC", strength=0.0, exact=exact)(coffee)
        assert np.abs(out.astype(int) - coffee).max() <= 1


def test_strength_interpolates(coffee):
    full = Retoucher("expertC", exact=True)(coffee.astype(np.float32) / 255)
    half = Retoucher("expertC", strength=0.5, exact=True)(coffee.astype(np.float32) / 255)
    # Clipping of the full output aside, half strength is the midpoint.
    expected = np.clip((coffee / 255 + full) / 2, 0, 1)
    assert np.abs(half - expected).mean() < 1e-3


@pytest.mark.parametrize("value", [-1, 1.6, float("nan")])
def test_bad_strength(value):
    with pytest.raises(UsageError, match="strength must be between 0 and 1.5"):
        Retoucher("expertC", strength=value)


def test_mix_one_zero_equals_single(coffee, other):
    single = Retoucher("expertC", exact=True)(coffee)
    np.testing.assert_array_equal(Retoucher("expertC:1.0,other:0.0", exact=True)(coffee), single)
    np.testing.assert_array_equal(Retoucher("other:0,expertC:2", exact=True)(coffee), single)


def test_mix_is_in_condition_space(coffee, other):
    mixed = Retoucher("expertC:0.7,other:0.3")
    assert len(mixed.branches) == 1 and mixed.name == "expertC:0.7,other:0.3"
    a, b = load_style("expertC"), load_style("other")
    np.testing.assert_allclose(mixed.branches[0].gamma, 0.7 * a.gamma + 0.3 * b.gamma, rtol=1e-6, atol=1e-7)


def test_mix_with_a_whole_network_blends_outputs(coffee, tmp_path):
    torch.save(CSRNet().state_dict(), tmp_path / "n.pth")
    import_style(tmp_path / "n.pth", "paper")
    image = coffee.astype(np.float32) / 255
    a = Retoucher("expertC")(image)
    b = Retoucher("paper")(image)
    mixed = Retoucher("expertC:1,paper:1")
    assert len(mixed.branches) == 2
    np.testing.assert_allclose(mixed(image), np.clip(0.5 * a + 0.5 * b, 0, 1), atol=2e-3)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("expertC:x", "weight 'x' of 'expertC' is not a number"),
        ("expertC:0,other:0", "sum to a positive number, got 0, 0"),
        ("expertC:-1,other:2", "must be non-negative"),
        (":1", "empty style name"),
    ],
)
def test_bad_mixes(spec, message, other):
    with pytest.raises(UsageError, match=message):
        Retoucher(spec)


def test_unknown_style_in_mix():
    with pytest.raises(StyleError, match="unknown style 'nope'"):
        Retoucher("expertC:0.5,nope:0.5")


def test_parse_mix():
    assert parse_mix("a:0.7, b:0.3,c") == [("a", 0.7), ("b", 0.3), ("c", 1.0)]
