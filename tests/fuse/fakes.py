"""Test doubles for the adapter: a content source with canned texts per caller pid, and a
settable caller, so the FUSE operations run without a mount."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import attrs


@attrs.define
class FakeCaller:
    """The (uid, gid, pid) a fake request comes from."""

    pid: int = 100

    def __call__(self) -> tuple[int, int, int]:
        return (0, 0, self.pid)


@attrs.define
class FakeContent:
    """``texts[pid][path]`` is what ``pid`` reads; every render bumps ``renders`` and may
    append a generation counter so a re-render is visible."""

    texts: dict[int, dict[str, str]]
    cpu_maps: dict[int, Mapping[str, str]] = attrs.field(factory=dict)
    stamp: bool = False
    renders: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def render(self, path: str, pid: int) -> str:
        with self._lock:
            self.renders += 1
            generation = self.renders
        text = self.texts[pid][path]
        return f"{text}#{generation}\n" if self.stamp else text

    def cpu_directory(self, pid: int) -> Mapping[str, str]:
        return self.cpu_maps.get(pid, {"cpu0": "cpu0"})
