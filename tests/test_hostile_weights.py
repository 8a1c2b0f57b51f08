"""Hostile weights and style folders (issue 14): values a checksum cannot catch, corrupt
styles that must still be removable, files that are not checkpoints, and a style folder that
cannot be written. Every case is generated here; messages are asserted."""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save
from typer.testing import CliRunner

from csrtouch.cli import app
from csrtouch.engine import Network, Retoucher
from csrtouch.errors import StyleError, UsageError, WeightsError
from csrtouch.model import CSRNet
from csrtouch.styles import files, import_style, list_styles, load_shared_network, load_style, user_styles_dir
from csrtouch.styles import paths, registry
from csrtouch.styles.registry import Style, StyleInfo, shared_network_sha256

runner = CliRunner()

#: (value planted, how the message names it). Counts of 1 and 3 are planted for each.
BAD_VALUES = [
    (np.nan, "NaN value"),
    (np.inf, "+Inf value"),
    (-np.inf, "-Inf value"),
    (1e30, "value beyond ±10000"),
    (-2.5e5, "value beyond ±10000"),
]


def _expected(kind: str, count: int) -> str:
    """How the message counts ``count`` bad values of ``kind``, as a regex."""
    return re.escape(f"{count} {kind.replace('value', 'values') if count != 1 else kind}")


def _plant(array: np.ndarray, value: float, count: int, seed: int = 0) -> np.ndarray:
    """``array`` with ``count`` entries, at places chosen by ``seed``, set to ``value``."""
    out = np.array(array, np.float32).reshape(-1)
    out[np.random.default_rng(seed).choice(out.size, size=count, replace=False)] = value
    return out.reshape(np.shape(array))


def _tamper(src: Path, dest: Path, edits: dict[str, tuple[float, int]], **meta_updates: str) -> Path:
    """Copy a style/weights file with values planted and the checksum recomputed, as someone
    who wanted it to pass the checksum would."""
    with safe_open(str(src), framework="np") as f:
        meta = dict(f.metadata(), **meta_updates)
    tensors = load_file(str(src))
    for name, (value, count) in edits.items():
        tensors[name] = _plant(tensors[name], value, count)
    meta["tensors_sha256"] = files.tensors_sha256(tensors)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(save(tensors, metadata=meta))
    return dest


def _builtin(name: str = "expertC") -> Path:
    return paths.bundled_dir() / "styles" / f"{name}.safetensors"


def _one_line(result) -> str:
    text = result.output.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    return text


@pytest.fixture
def image(coffee) -> np.ndarray:
    return np.ascontiguousarray(coffee[:64, :96])


# --- A. values the checksum cannot catch -------------------------------------------------


def test_shipped_weights_are_far_inside_the_bound():
    """The bound leaves three orders of magnitude over the largest shipped value."""
    for path in (paths.shared_network_path(), _builtin()):
        largest = max(float(np.abs(v).max()) for v in files.read(path)[0].values())
        assert largest < files.MAX_ABS / 1000, (path, largest)


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("value, kind", BAD_VALUES)
@pytest.mark.parametrize("tensor", ["gamma", "beta"])
def test_style_file_with_valid_checksum_but_bad_values_is_refused(tmp_path, tensor, value, kind, count):
    path = _tamper(_builtin(), tmp_path / "bad.safetensors", {tensor: (value, count)})
    files.read_meta(path)  # the header and checksum are fine...
    with pytest.raises(WeightsError) as err:
        files.read(path)  # ...the values are not
    message = str(err.value)
    assert re.match(re.escape(f"{path}: tensor '{tensor}' holds ") + _expected(kind, count), message)
    assert "weights like these ruin every photo" in message and "\n" not in message
    if abs(value) < np.inf:
        assert f"(largest {abs(value):.3g})" in message


def test_all_kinds_in_one_tensor_and_more_bad_tensors_are_counted():
    tensors = {
        "a": np.array([np.nan, np.nan, np.inf, -np.inf, 3e4, 0.5], np.float32),
        "b": np.array([np.nan]),
        "c": np.array([-1e9]),
        "d": np.ones(4, np.float32),
    }
    with pytest.raises(WeightsError) as err:
        files.check_values(tensors, "w.safetensors")
    assert str(err.value).startswith(
        "w.safetensors: tensor 'a' holds 2 NaN values, 1 +Inf value, 1 -Inf value, 1 value beyond ±10000 "
        "(largest 3e+04) (and 2 more bad tensors); "
    )


@pytest.mark.parametrize("value", [0.0, 1e-30, -9999.0, 10000.0, -10000.0])
def test_values_up_to_the_bound_pass(value):
    files.check_values({"x": np.full(3, value, np.float32), "n": np.arange(5)}, "ok")


@pytest.mark.parametrize("value, kind", BAD_VALUES)
def test_builtin_style_and_shared_network_are_checked(tmp_path, monkeypatch, value, kind):
    """A damaged installation: the bundled files themselves hold bad values."""
    shipped_style, shipped_network = _builtin(), paths.shared_network_path()
    bundle = tmp_path / "bundle"
    shutil.copytree(paths.bundled_dir(), bundle, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(paths, "bundled_dir", lambda: bundle)
    monkeypatch.setattr(registry, "bundled_dir", lambda: bundle)
    assert paths.shared_network_path() == bundle / "csrnet-shared.safetensors"
    load_style("expertC")  # an untouched copy loads

    style = bundle / "styles" / "expertC.safetensors"
    _tamper(shipped_style, style, {"beta": (value, 2)})
    with pytest.raises(WeightsError, match=f"expertC.safetensors: tensor 'beta' holds {_expected(kind, 2)}"):
        load_style("expertC")
    with pytest.raises(WeightsError, match="tensor 'beta' holds"):
        Retoucher("expertC")

    shutil.copy(shipped_style, style)
    network = bundle / "csrnet-shared.safetensors"
    _tamper(shipped_network, network, {"conv2.weight": (value, 5)})
    # The styles re-signed for the new network too: every checksum matches.
    _tamper(shipped_style, style, {}, network_sha256=files.read_meta(network)["tensors_sha256"])
    load_style("expertC")
    message = f"csrnet-shared.safetensors: tensor 'conv2.weight' holds {_expected(kind, 5)}"
    with pytest.raises(WeightsError, match=message):
        load_shared_network()
    with pytest.raises(WeightsError, match="tensor 'conv2.weight' holds"):
        Retoucher("expertC")


@pytest.mark.parametrize("value, kind", BAD_VALUES)
def test_personal_style_and_style_path_are_refused_by_apply(tmp_path, image, value, kind):
    """What the audit saw: black photos and exit 0. Now exit 2, one line, no output written."""
    personal = _tamper(_builtin(), user_styles_dir() / "mine.safetensors", {"beta": (value, 3)})
    loose = _tamper(_builtin(), tmp_path / "sent" / "loose.safetensors", {"gamma": (value, 1)})
    src = tmp_path / "in.png"
    assert cv2.imwrite(str(src), image)
    for spec, path, tensor, count in (("mine", personal, "beta", 3), (str(loose), loose, "gamma", 1)):
        with pytest.raises(WeightsError, match=f"tensor '{tensor}' holds {_expected(kind, count)}"):
            load_style(spec)
        out = tmp_path / f"out-{path.stem}"
        result = runner.invoke(app, ["apply", "-q", "--style", spec, str(src), str(out)])
        assert result.exit_code == 2, result.output
        line = _one_line(result)
        assert re.match(re.escape(f"error: {path}: tensor '{tensor}' holds ") + _expected(kind, count), line)
        assert not out.exists() or not any(out.rglob("*.png"))


@pytest.mark.parametrize("value, kind", BAD_VALUES)
def test_import_refuses_a_style_file_with_bad_values(tmp_path, value, kind):
    sent = _tamper(_builtin(), tmp_path / "sent.safetensors", {"gamma": (value, 2)})
    result = runner.invoke(app, ["import", str(sent), "--name", "friend"])
    assert result.exit_code == 2
    assert re.match(re.escape(f"error: {sent}: tensor 'gamma' holds ") + _expected(kind, 2), _one_line(result))
    assert not (user_styles_dir() / "friend.safetensors").exists()


@pytest.mark.parametrize("count", [1, 4])
@pytest.mark.parametrize("value, kind", BAD_VALUES)
@pytest.mark.parametrize("key", ["conv1.bias", "cond_net.conv3.weight", "cond_shift2.weight"])
def test_import_refuses_a_checkpoint_with_bad_values(tmp_path, key, value, kind, count):
    state = CSRNet().state_dict()
    state[key] = torch.from_numpy(_plant(state[key].numpy(), value, count))
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=f"bad.pth: tensor '{key}' holds {_expected(kind, count)}"):
        import_style(tmp_path / "bad.pth", "paper")
    result = runner.invoke(app, ["import", str(tmp_path / "bad.pth"), "--name", "paper"])
    assert result.exit_code == 2 and re.search(f"tensor '{key}' holds {_expected(kind, count)}", _one_line(result))
    assert "paper" not in {s.name for s in list_styles()}


@pytest.mark.parametrize("value, kind", BAD_VALUES)
def test_imported_network_style_tampered_after_import(tmp_path, value, kind):
    torch.save(CSRNet().state_dict(), tmp_path / "n.pth")
    path = import_style(tmp_path / "n.pth", "paper").path
    _tamper(path, path, {"network.conv3.weight": (value, 2)})
    with pytest.raises(WeightsError, match=f"tensor 'network.conv3.weight' holds {_expected(kind, 2)}"):
        load_style("paper")
    with pytest.raises(WeightsError, match="network.conv3.weight"):
        Retoucher("expertC:0.5,paper:0.5")


@pytest.mark.parametrize("value, kind", BAD_VALUES)
def test_network_and_style_built_in_code_are_checked(value, kind):
    state = load_shared_network()
    bad = dict(state, **{"cond_scale1.bias": _plant(state["cond_scale1.bias"], value, 1)})
    with pytest.raises(WeightsError, match=f"^my-net: tensor 'cond_scale1.bias' holds {_expected(kind, 1)}"):
        Network(bad, "my-net")
    info = StyleInfo("code", "personal", Path("code.safetensors"), "style-vector")
    with pytest.raises(WeightsError, match=f"^code.safetensors: tensor 'gamma' holds {_expected(kind, 1)}"):
        Style(info, _plant(np.zeros(32), value, 1), np.zeros(32, np.float32), None, "x")


def _vector_style(name: str, seed: int, scale: float = 0.05) -> str:
    """A plausible vector style: expertC's vectors peak at 0.05."""
    rng = np.random.default_rng(seed)
    files.write(
        user_styles_dir() / f"{name}.safetensors",
        {"gamma": rng.normal(0, scale, 32).astype(np.float32), "beta": rng.normal(0, scale, 32).astype(np.float32)},
        {"name": name, "arch": "style-vector", "network_sha256": shared_network_sha256()},
    )
    return name


@pytest.mark.parametrize("spec", ["expertC:0.7,a:0.3", "a:1,b:1", "expertC:1,a:2,b:3", "a:1e-6,b:1e6"])
def test_mixes_of_good_styles_give_finite_photos(image, spec):
    _vector_style("a", 1)
    _vector_style("b", 2)
    x = image.astype(np.float32) / 255
    out = Retoucher(spec)(x)
    assert np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    assert np.corrcoef(out.ravel(), x.ravel())[0, 1] > 0.9  # the photo, retouched; not a flat frame


@pytest.mark.parametrize("value, kind", BAD_VALUES)
@pytest.mark.parametrize("spec", ["expertC:0.5,bad:0.5", "bad:1e-9,expertC:1", "a:1,bad:1,expertC:1"])
def test_a_mix_with_a_bad_style_is_refused(spec, value, kind):
    _vector_style("a", 1)
    _tamper(_builtin(), user_styles_dir() / "bad.safetensors", {"beta": (value, 2)})
    with pytest.raises(WeightsError, match=f"bad.safetensors: tensor 'beta' holds {_expected(kind, 2)}"):
        Retoucher(spec)


@pytest.mark.parametrize("spec", ["expertC:nan", "expertC:inf,a:1", "expertC:1e308,a:1e308", "expertC:-inf"])
def test_mix_weights_that_are_not_finite_are_refused(spec):
    _vector_style("a", 1)
    with pytest.raises(UsageError, match="weights must be non-negative and sum to a positive number"):
        Retoucher(spec)


# --- B. remove a style the registry cannot read ------------------------------------------


def _corrupt_styles(tmp_path: Path) -> dict[str, bytes]:
    valid = _builtin().read_bytes()
    flipped = bytearray(valid)
    flipped[-1] ^= 0x40  # checksum mismatch
    _tamper(_builtin(), tmp_path / "nan.safetensors", {"gamma": (np.nan, 3)})
    return {
        "empty": b"",
        "text": b"this is not a style file\n",
        "random": np.random.default_rng(7).bytes(512),
        "truncated": valid[: len(valid) // 2],
        "flipped": bytes(flipped),
        "nan": (tmp_path / "nan.safetensors").read_bytes(),
        "header-only": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
    }


def test_remove_deletes_corrupt_styles_by_name(tmp_path):
    corrupt = _corrupt_styles(tmp_path)
    for name, data in corrupt.items():
        (user_styles_dir() / f"{name}.safetensors").parent.mkdir(parents=True, exist_ok=True)
        (user_styles_dir() / f"{name}.safetensors").write_bytes(data)
    for name in corrupt:
        with pytest.raises(StyleError):
            load_style(name)  # unreadable...
        result = runner.invoke(app, ["remove", name])  # ...yet removable
        assert result.exit_code == 0, result.output
        assert _one_line(result) == f"removed style {name} ({user_styles_dir() / f'{name}.safetensors'})"
        assert not (user_styles_dir() / f"{name}.safetensors").exists()
    assert [s.name for s in list_styles()] == ["expertC"]


def test_remove_still_refuses_builtin_and_unknown_names():
    result = runner.invoke(app, ["remove", "expertC"])
    assert result.exit_code == 2 and _one_line(result) == "error: 'expertC' is a built-in style and cannot be removed"
    assert _builtin().is_file()
    result = runner.invoke(app, ["remove", "nope"])
    assert result.exit_code == 2 and _one_line(result).startswith("error: unknown style 'nope'. Available: expertC.")


# --- C. import of files that are not checkpoints -----------------------------------------


def _not_checkpoints(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """File contents and the reason the message must give."""
    torch.save(CSRNet().state_dict(), tmp_path / "real.pth")
    real = (tmp_path / "real.pth").read_bytes()
    notes = tmp_path / "notes.zip"
    with zipfile.ZipFile(notes, "w") as z:
        z.writestr("notes.txt", "hello")
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as z:
        z.writestr("archive/data.txt", "hello")
    rng = np.random.default_rng(11)
    random = b"\x13" + rng.bytes(999)  # not the 0x80 of a pickle nor the PK of a zip
    return {
        "empty": (b"", "the file is empty"),
        "text": (b"def main():\n    print('hello')\n", "it is neither a zip archive nor a pickle"),
        "random": (random, "it is neither a zip archive nor a pickle"),
        "jpeg": (b"\xff\xd8\xff\xe0" + rng.bytes(300), "it is neither a zip archive nor a pickle"),
        "zip": (notes.read_bytes(), "file in archive is not in a subdirectory: notes.txt"),
        "nested-zip": (nested.read_bytes(), 'Expected hasRecord("version") to be true, but got false'),
        "half": (real[: len(real) // 2], "PytorchStreamReader failed reading zip archive: failed finding central dir"),
        "zip-magic": (b"PK\x03\x04" + bytes(60), "PytorchStreamReader failed reading zip archive"),
        "pickle": (pickle.dumps({"a": 1}, protocol=4), "Unsupported operand"),
        "pickle-cut": (pickle.dumps(list(range(100)), protocol=2)[:20], ""),
    }


def test_import_of_a_non_checkpoint_is_one_clean_line(tmp_path):
    for name, (data, reason) in _not_checkpoints(tmp_path).items():
        path = tmp_path / f"{name}.pth"
        path.write_bytes(data)
        with pytest.raises(StyleError) as err:
            import_style(path, "x")
        assert str(err.value).startswith(f"{path}: not a CSRNet checkpoint (torch could not read it: {reason}"), name
        result = runner.invoke(app, ["import", str(path), "--name", "x"])
        assert result.exit_code == 2, (name, result.output)
        line = _one_line(result)
        assert line.startswith(f"error: {path}: not a CSRNet checkpoint (torch could not read it: ")
        assert line.endswith(")")
        assert len(line) < len(str(path)) + 200 and "weights_only" not in line and "\x1b" not in line, line
        assert "x" not in {s.name for s in list_styles()}


@pytest.mark.parametrize(
    "content, message",
    [
        ([1, 2, 3], "not a CSRNet checkpoint: it holds a list, expected a state dict"),
        (torch.zeros(3), "not a CSRNet checkpoint: it holds a Tensor, expected a state dict"),
        ({1: torch.zeros(3)}, "not a CSRNet checkpoint: it holds a dict with keys that are not names"),
        ({"params": [1]}, "not a CSRNet checkpoint: missing ['cond_net.conv1.bias'"),
        ({"weight": torch.zeros(2)}, "not a CSRNet checkpoint: missing ['cond_net.conv1.bias'"),
    ],
)
def test_torch_files_that_are_not_state_dicts(tmp_path, content, message):
    torch.save(content, tmp_path / "c.pth")
    result = runner.invoke(app, ["import", str(tmp_path / "c.pth"), "--name", "x"])
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {tmp_path / 'c.pth'}: {message}")


@pytest.mark.parametrize("call", [(os.system, ("echo pwned",)), (print, ("pwned",)), (eval, ("print('pwned')",))])
def test_code_in_a_checkpoint_is_refused_in_one_line(tmp_path, capfd, call):
    class Evil:
        def __reduce__(self):
            return call

    torch.save({"conv1.weight": Evil()}, tmp_path / "evil.pth")
    result = runner.invoke(app, ["import", str(tmp_path / "evil.pth"), "--name", "x"])
    assert result.exit_code == 2 and "pwned" not in result.output + capfd.readouterr().out
    line = _one_line(result)
    assert line.startswith(
        f"error: {tmp_path / 'evil.pth'}: cannot read checkpoint safely: it holds Python objects, not only tensors ("
    )
    assert "GLOBAL" in line and call[0].__name__ in line and "weights_only" not in line


# --- D. a style folder that cannot be written --------------------------------------------


def _point_home_at(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """Set $CSRTOUCH_HOME to a bad place; return the styles folder and the reason expected."""
    if kind == "home is a file":
        home = tmp_path / "home.txt"
        home.write_text("not a folder")
        reason = f"{home} is a file, not a folder"
    elif kind == "styles is a file":
        home = tmp_path / "home"
        home.mkdir()
        (home / "styles").write_text("not a folder")
        reason = "it is a file, not a folder"
    elif kind == "home under a file":
        (tmp_path / "file").write_text("x")
        home = tmp_path / "file" / "deeper" / "home"
        reason = f"{tmp_path / 'file'} is a file, not a folder"
    else:
        assert kind == "read-only"
        home = tmp_path / "ro"
        (home / "styles").mkdir(parents=True)
        _read_only(home / "styles", monkeypatch)
        reason = "Permission denied"
    monkeypatch.setenv("CSRTOUCH_HOME", str(home))
    return home / "styles", reason


def _read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``folder`` read-only; as root (which writes anyway) refuse writes into it instead."""
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real_mkstemp, real_unlink = tempfile.mkstemp, Path.unlink

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == folder:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)

        def unlink(self, missing_ok=False):
            if self.parent == folder:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real_unlink(self, missing_ok)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(Path, "unlink", unlink)


@pytest.fixture(autouse=True)
def _writable_again(tmp_path):
    yield
    for folder in tmp_path.rglob("*"):
        if folder.is_dir():
            folder.chmod(0o755)


HOMES = ["home is a file", "styles is a file", "home under a file", "read-only"]


@pytest.mark.parametrize("kind", HOMES)
def test_import_into_an_unusable_folder_is_one_line(tmp_path, monkeypatch, kind):
    torch.save(CSRNet().state_dict(), tmp_path / "net.pth")
    styles, reason = _point_home_at(kind, tmp_path, monkeypatch)
    for source in (tmp_path / "net.pth", _builtin()):
        result = runner.invoke(app, ["import", str(source), "--name", "mine"])
        assert result.exit_code == 1, result.output
        assert _one_line(result) == (
            f"error: {styles}: cannot write personal styles to this folder ({reason}); "
            "set $CSRTOUCH_HOME to a writable folder"
        )


@pytest.mark.parametrize("kind", HOMES)
def test_finetune_checks_the_folder_before_training(tmp_path, monkeypatch, kind):
    import csrtouch.finetuning as ft

    def never(*args, **kwargs):
        raise AssertionError("read photos or trained although the style could not be saved")

    monkeypatch.setattr(ft, "read_photos", never)
    monkeypatch.setattr(ft, "fit", never)
    (tmp_path / "liked").mkdir()
    styles, reason = _point_home_at(kind, tmp_path, monkeypatch)
    result = runner.invoke(app, ["finetune", "--style", "mine", str(tmp_path / "liked"), "--steps", "10"])
    assert result.exit_code == 1, result.output
    assert _one_line(result) == (
        f"error: {styles}: cannot write personal styles to this folder ({reason}); "
        "set $CSRTOUCH_HOME to a writable folder"
    )


@pytest.mark.parametrize("kind", HOMES[:3])
def test_final_write_failure_is_a_typed_error(tmp_path, monkeypatch, kind):
    """Should the folder break during training, the write fails with a line, not a traceback."""
    styles, _ = _point_home_at(kind, tmp_path, monkeypatch)
    message = r"mine.safetensors: cannot write here \((Not a directory|File exists)\)$"
    with pytest.raises(StyleError, match=message) as err:
        files.write(styles / "mine.safetensors", {"gamma": np.zeros(32, np.float32)}, {"name": "mine"})
    assert isinstance(err.value.__cause__, OSError)


@pytest.mark.parametrize("kind", HOMES[:3])
def test_list_and_remove_with_an_unusable_folder(tmp_path, monkeypatch, kind):
    styles, reason = _point_home_at(kind, tmp_path, monkeypatch)
    result = runner.invoke(app, ["list-styles"])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "expertC" in result.stdout
    assert f"warning: personal styles folder {styles} is unusable: {reason}" in result.stderr
    result = runner.invoke(app, ["list-styles", "--json"])
    assert result.exit_code == 0 and [s["name"] for s in json.loads(result.stdout)] == ["expertC"]
    result = runner.invoke(app, ["remove", "mine"])
    assert result.exit_code == 2
    assert _one_line(result) == (
        f"error: unknown style 'mine'. Available: expertC. Personal styles live in {styles} "
        f"(unusable: {reason}; set $CSRTOUCH_HOME to a usable folder); see 'csrtouch list-styles'"
    )


def test_remove_from_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CSRTOUCH_HOME", str(tmp_path / "home"))  # under tmp_path: its mode is restored
    path = import_style(_builtin(), "mine").path
    _read_only(path.parent, monkeypatch)
    result = runner.invoke(app, ["remove", "mine"])
    assert result.exit_code == 1
    assert _one_line(result) == (
        f"error: {path}: cannot remove this style file (Permission denied); check the permissions of {path.parent}"
    )
    assert path.exists()
    assert runner.invoke(app, ["list-styles"]).exit_code == 0
