"""A private copy of ``lxcfs_model`` a test can change, like an upgrade installed on disk.

``copy_library(directory)`` copies the package there; put ``directory`` first on the import
path (``PYTHONPATH`` for a daemon, ``sys.path`` in process) and the copy is what a reload
loads. ``install_uptime(directory, version)`` rewrites the copy's uptime renderer as one of
the versions below, the way ``pip install`` replaces a file.
"""

from __future__ import annotations

import enum
import shutil
from pathlib import Path

import lxcfs_model

__all__ = ["MARKER", "UptimeVersion", "copy_library", "edit_copy", "install_uptime"]

#: The line the "new version" of the uptime renderer appends (upstream's test: a marker file).
MARKER = "lxcfs-py reload test: new code\n"

#: What the raising version says.
BROKEN_MESSAGE = "reload test: this renderer is broken"

_SOURCE = Path(lxcfs_model.__file__).resolve().parent
_UPTIME = Path("render") / "uptime.py"


class UptimeVersion(enum.Enum):
    """Versions of render/uptime.py a test installs."""

    ORIGINAL = "as shipped"
    MARKED = "appends MARKER to every answer"
    SYNTAX_ERROR = "does not compile"
    RAISES = "raises on every render"


_APPENDED = {
    UptimeVersion.ORIGINAL: "",
    UptimeVersion.MARKED: f"""

_RENDER_BEFORE_THE_TEST = render


def render(inputs: RenderInputs) -> Rendered:
    rendered = _RENDER_BEFORE_THE_TEST(inputs)
    return Rendered(
        rendered.text + {MARKER!r}, rendered.history, rendered.quantities, rendered.fallback
    )
""",
    UptimeVersion.SYNTAX_ERROR: "\n\ndef render(inputs:\n",
    UptimeVersion.RAISES: f"""

def render(inputs: RenderInputs) -> Rendered:
    raise RuntimeError({BROKEN_MESSAGE!r})
""",
}


def copy_library(directory: Path) -> Path:
    """Copy the installed ``lxcfs_model`` into ``directory`` (no bytecode); returns it."""
    shutil.copytree(
        _SOURCE, directory / "lxcfs_model", ignore=shutil.ignore_patterns("__pycache__")
    )
    return directory


def install_uptime(directory: Path, version: UptimeVersion) -> None:
    """Make the copy's uptime renderer ``version``. Its cached bytecode is removed, so the
    next import compiles what is on disk even within the same second."""
    original = (_SOURCE / _UPTIME).read_text()
    target = directory / "lxcfs_model" / _UPTIME
    target.write_text(original + _APPENDED[version])
    shutil.rmtree(target.parent / "__pycache__", ignore_errors=True)


def edit_copy(directory: Path, relative: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur) by ``new`` in the copy's module ``relative``
    (``history.py``), dropping its cached bytecode."""
    target = directory / "lxcfs_model" / relative
    text = target.read_text()
    if old not in text:
        raise AssertionError(f"{old!r} not in {target}: the edit no longer applies")
    target.write_text(text.replace(old, new))
    shutil.rmtree(target.parent / "__pycache__", ignore_errors=True)
