"""The fusepy dispatcher keeps a Python thread state per libfuse thread, boundedly."""

from __future__ import annotations

import threading

import pytest

from lxcfs_fuse import fuse_api


def test_each_thread_pinned_once_and_never_more_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every libfuse thread asks for a lasting thread state once however many calls it
    serves, and no more than PINNED_THREADS_MAX threads hold one at a time."""
    ensured: list[str] = []
    monkeypatch.setattr(
        fuse_api, "_pin_current_thread", lambda: ensured.append(threading.current_thread().name)
    )
    monkeypatch.setattr(fuse_api, "_is_libfuse_thread", lambda: True)
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


def test_python_threads_are_never_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread Python started keeps its own thread state: pinning it would free it twice."""
    pinned: list[str] = []
    monkeypatch.setattr(fuse_api, "_pin_current_thread", lambda: pinned.append("pinned"))
    thread = threading.Thread(target=fuse_api._keep_thread_state)
    thread.start()
    thread.join()
    assert pinned == []


def test_a_pinned_foreign_thread_frees_its_state_when_it_exits() -> None:
    """A thread started outside Python (as libfuse's are) and pinned gives its pin back on
    exit: the count of pinned threads returns to where it was, and nothing crashes."""
    import ctypes

    before = fuse_api._pinned_count
    seen: list[int] = []

    def serve(_argument: int | None) -> None:
        fuse_api._keep_thread_state()
        seen.append(fuse_api._pinned_count)

    start = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(serve)

    libc = ctypes.CDLL(None)
    thread = ctypes.c_ulong()
    assert libc.pthread_create(ctypes.byref(thread), None, start, None) == 0
    assert libc.pthread_join(thread, None) == 0
    assert seen == [before + 1]
    assert fuse_api._pinned_count == before
