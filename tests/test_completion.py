"""Shell completion: typer's scripts, and style names from the registry list-styles shows."""

from __future__ import annotations

import os
import subprocess
from importlib import resources

import pytest

from csrtouch.cli.completion import complete_style
from hostile import command


def test_style_names_complete():
    assert complete_style("") == ["expertC"]
    assert complete_style("exp") == ["expertC"]
    assert complete_style("x") == []


def test_the_last_style_of_a_mix_completes():
    assert complete_style("expertC:0.7,e") == ["expertC:0.7,expertC"]
    assert complete_style("expertC:0.") == []  # a weight is being typed
    assert complete_style("styles/my") == []  # a style file's path: the shell's own completion


def test_personal_styles_complete(csrtouch_home):
    from csrtouch.styles import import_style

    with resources.as_file(resources.files("csrtouch.weights") / "styles" / "expertC.safetensors") as path:
        import_style(path, "mine")
    assert complete_style("") == ["expertC", "mine"]
    assert complete_style("expertC:0.7,m") == ["expertC:0.7,mine"]


def test_a_broken_styles_folder_completes_nothing_quietly(csrtouch_home, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CSRTOUCH_HOME", str(tmp_path / "file"))
    assert complete_style("e") in ([], ["expertC"])  # never raises into the prompt


def _complete(words: str, cword: int, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "_CSRTOUCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword),
           "CSRTOUCH_HOME": str(tmp_path)}
    return subprocess.run(command(), env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("subcommand", ["apply", "watch", "preview"])
def test_the_command_completes_style_names(tmp_path, subcommand):
    """What bash asks of the installed command, as typer's script asks it."""
    ran = _complete(f"csrtouch {subcommand} --style exp", 3, tmp_path)
    assert ran.returncode == 0 and ran.stdout.split() == ["expertC"], ran


def test_show_completion_gives_a_script(tmp_path):
    ran = subprocess.run([*command(), "--show-completion", "bash"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SHELL": "/bin/bash", "CSRTOUCH_HOME": str(tmp_path)})
    assert ran.returncode == 0 and "_CSRTOUCH_COMPLETE=complete_bash" in ran.stdout, ran
