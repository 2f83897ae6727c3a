"""The fusepy dispatcher keeps a Python thread state per libfuse thread, boundedly."""

from __future__ import annotations

import threading

import pytest

from lxcfs_fuse import fuse_api


def test_each_thread_pinned_once_and_never_more_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every thread asks for a lasting thread state once however many calls it serves, and
    no more than PINNED_THREADS_MAX threads ever do (a bounded leak if they exit)."""
    ensured: list[str] = []
    monkeypatch.setattr(
        fuse_api.ctypes.pythonapi,
        "PyGILState_Ensure",
        lambda: ensured.append(threading.current_thread().name),
    )
    monkeypatch.setattr(fuse_api, "_pinned_count", 0)

    class Operations:
        def read(self) -> str:
            return "text"

    dispatch = fuse_api._FusepyDispatch(Operations())

    def serve() -> None:
        for _ in range(3):
            assert dispatch("read") == "text"

    threads = [
        threading.Thread(target=serve, name=f"t{n}") for n in range(fuse_api.PINNED_THREADS_MAX + 4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ensured) == fuse_api.PINNED_THREADS_MAX
    assert len(set(ensured)) == len(ensured)
