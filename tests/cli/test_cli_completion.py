"""Shell completion through typer: commands, options and FILE names complete."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _complete(words: str, index: int) -> list[str]:
    command = shutil.which("lxcfs-render")
    if command is None:
        pytest.skip("lxcfs-render is not on PATH (install the project: pip install -e .)")
    env = dict(
        os.environ,
        COMP_WORDS=words,
        COMP_CWORD=str(index),
        _LXCFS_RENDER_COMPLETE="complete_bash",
    )
    done = subprocess.run([command], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_first_word_completes_to_commands() -> None:
    """`lxcfs-render sn<TAB>` offers the snapshot command, not render's options."""
    assert _complete("lxcfs-render sn", 1) == ["snapshot"]


def test_file_names_complete() -> None:
    """`lxcfs-render render mem<TAB>` offers meminfo."""
    assert _complete("lxcfs-render render mem", 2) == ["meminfo"]


def test_options_complete_after_a_file() -> None:
    """Options of the default command complete after a file name."""
    assert "--explain" in _complete("lxcfs-render meminfo --ex", 2)


def test_the_completion_script_is_printed() -> None:
    """`--show-completion bash` prints a bash completion function."""
    command = shutil.which("lxcfs-render")
    if command is None:
        pytest.skip("lxcfs-render is not on PATH (install the project: pip install -e .)")
    done = subprocess.run(
        [command, "--show-completion", "bash"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "_lxcfs_render_completion()" in done.stdout
