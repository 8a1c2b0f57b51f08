import numpy as np
import pytest
import torch

from csrtouch.errors import StyleError, UsageError, WeightsError
from csrtouch.model import CSRNet
from csrtouch.styles import files, get_style_info, import_style, list_styles, load_style, user_styles_dir
from csrtouch.styles.registry import ARCH_NETWORK


def _checkpoint(tmp_path, seed=0, **extra):
    torch.manual_seed(seed)
    state = CSRNet().state_dict()
    state.update(extra)
    path = tmp_path / "ckpt.pth"
    torch.save(state, path)
    return path, state


def test_roundtrip_and_checksum(tmp_path):
    path = tmp_path / "s.safetensors"
    tensors = {"gamma": np.arange(32, dtype=np.float32), "beta": np.ones(32, np.float32)}
    checksum = files.write(path, tensors, {"name": "s", "info": {"images": 3}})
    got, meta = files.read(path)
    np.testing.assert_array_equal(got["gamma"], tensors["gamma"])
    assert meta["tensors_sha256"] == checksum and meta["info"] == '{"images": 3}'
    assert not list(tmp_path.glob(".*part"))


def test_modified_file_fails_checksum(tmp_path):
    path = tmp_path / "s.safetensors"
    files.write(path, {"gamma": np.zeros(32, np.float32), "beta": np.zeros(32, np.float32)}, {"name": "s"})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch: expected [0-9a-f]{12}, got [0-9a-f]{12}"):
        files.read(path)


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_garbage_is_not_a_style(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="not a csrtouch style file"):
        files.read_meta(path)


def test_builtin_expertc_listed():
    styles = {s.name: s for s in list_styles()}
    assert styles["expertC"].kind == "built-in"
    assert load_style("expertC").gamma.shape == (32,)


def test_unknown_style_lists_available_and_user_dir():
    with pytest.raises(StyleError) as err:
        load_style("nope")
    message = str(err.value)
    assert "unknown style 'nope'" in message and "expertC" in message
    assert str(user_styles_dir()) in message and "CSRTOUCH_HOME" in message


def test_import_checkpoint_as_network_style(tmp_path):
    path, state = _checkpoint(tmp_path)
    info = import_style(path, "paper")
    assert info.kind == "imported" and info.arch == ARCH_NETWORK and info.path.parent == user_styles_dir()
    style = load_style("paper")
    for key, value in state.items():
        np.testing.assert_array_equal(style.network[key], value.numpy())
    assert not style.gamma.any() and not style.beta.any()
    assert "paper" in {s.name for s in list_styles()}


def test_import_refuses_builtin_and_existing_names(tmp_path):
    path, _ = _checkpoint(tmp_path)
    with pytest.raises(UsageError, match="'expertC' is a built-in style"):
        import_style(path, "expertC")
    import_style(path, "mine")
    with pytest.raises(UsageError, match="style 'mine' already exists .*use --force"):
        import_style(path, "mine")
    import_style(path, "mine", force=True)


def test_import_rejects_wrong_keys_and_shapes(tmp_path):
    path, _ = _checkpoint(tmp_path, extra_layer=torch.zeros(3))
    with pytest.raises(StyleError, match=r"not a CSRNet checkpoint: missing \[\], unexpected \['extra_layer'\]"):
        import_style(path, "x")
    state = CSRNet().state_dict()
    state["conv1.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(StyleError, match=r"tensor conv1.bias has shape \(7,\), expected \(64,\)"):
        import_style(tmp_path / "shape.pth", "x")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_import_never_unpickles_code(tmp_path):
    torch.save({"conv1.weight": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(StyleError, match="cannot read checkpoint safely"):
        import_style(tmp_path / "evil.pth", "evil")


def test_import_style_file_renames(tmp_path):
    import_style(_checkpoint(tmp_path)[0], "a")
    info = import_style(get_style_info("a").path, "b")
    assert info.name == "b" and info.origin.startswith("imported from a.safetensors")


def test_vector_style_for_another_network_is_refused(tmp_path):
    path = user_styles_dir() / "old.safetensors"
    files.write(path, {"gamma": np.zeros(32, np.float32), "beta": np.zeros(32, np.float32)},
                {"name": "old", "arch": "style-vector", "network_sha256": "0" * 64})
    with pytest.raises(StyleError, match="made for shared network 000000000000"):
        load_style("old")


@pytest.mark.parametrize("name", ["", "../x", "a b", "-x", "x" * 65])
def test_bad_names(tmp_path, name):
    with pytest.raises(UsageError, match="invalid style name"):
        import_style(tmp_path / "whatever.pth", name)
