"""The random look generator of the personal-styles benchmark (issue 16)."""

import numpy as np

from csrtouch.finetuning.looks import Look, random_looks


def test_a_neutral_look_leaves_a_photo_alone(astronaut):
    x = astronaut.astype(np.float32) / 255
    np.testing.assert_allclose(Look()(x), x, atol=1e-6)


def test_looks_are_fixed_by_their_seed_and_vary(astronaut):
    x = astronaut[::4, ::4].astype(np.float32) / 255
    a, b = random_looks(40, seed=3), random_looks(40, seed=3)
    assert a == b and random_looks(40, seed=4) != a
    assert len({l.name for l in a}) == 40
    changes = [float(np.abs(l(x) - x).mean()) for l in a]
    assert min(changes) > 0.003, "a look that does nothing"
    kinds = set().union(*(l.describe() for l in a))
    assert {"exposure", "temperature", "saturation", "contrast", "black", "shadows"} <= kinds


def test_monochrome_and_evening(astronaut, coffee):
    mono = Look(mono=(0.3, 0.6, 0.1), contrast=0.2)(astronaut.astype(np.float32) / 255)
    assert np.allclose(mono[..., 0], mono[..., 1]) and np.allclose(mono[..., 1], mono[..., 2])
    even = Look(even=0.45)
    means = [float((even(p.astype(np.float32) / 255) @ [0.2126, 0.7152, 0.0722]).mean()) for p in (astronaut, coffee)]
    assert np.allclose(means, 0.45, atol=0.03)
