"""The text of a stateless file, kept while the very inputs it was made from are current.

Rules:
1. Only files the model marks ``FileSpec.stateless`` (no clock, no history: everything but
   uptime, stat and loadavg; tests/properties prove the mark) are kept here. Their text is
   a function of the view fields and host texts they read and the library generation (its
   renderers and options), so the same objects give the same text.
2. "The same" is identity: ``CachingReader`` hands out the very same field objects and host
   snapshot while they are shared (10 ms), so a request inside that window finds the text
   of the last one and skips the render. An entry holds its inputs, so no id it was keyed
   by can be reused by another object while it lives. Nothing here is staler than the
   inputs themselves.
3. Bounded: entries not made or found for ``max_age`` (twice the reader's window) are
   dropped at every insert, the least recently used first, and there are never more than
   ``capacity``. Most inputs expire within the window and their entries can never match
   again; what the reader hands out again when re-read unchanged (settings, host texts that
   did not change: ``CachingReader`` rules 2 and 3a) keeps its entry alive by being found.
4. Besides objects compared by identity, an entry may be keyed by a ``moment``, a plain value
   compared by equality: the part of the clock a text depends on (/proc/uptime's whole
   centiseconds, ``lxcfs_fuse.content`` rule 7).
"""

from __future__ import annotations

import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

__all__ = ["TextMemo"]


class TextMemo:
    """Texts keyed by (path, input identities) (rules 1-3)."""

    def __init__(
        self,
        *,
        max_age: float = 0.020,
        capacity: int = 4096,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age
        self._capacity = capacity
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[object, ...], tuple[float, Sequence[object], str]] = (
            OrderedDict()
        )

    @property
    def renewal_seconds(self) -> float:
        """An entry found at least this often is never dropped (rule 3)."""
        return self._max_age / 2

    @staticmethod
    def _key(path: str, inputs: Sequence[object], moment: Hashable) -> tuple[object, ...]:
        return (path, moment, *map(id, inputs))

    def get(self, path: str, inputs: Sequence[object], moment: Hashable = None) -> str | None:
        """The text made for ``path`` from these very objects (at an equal ``moment``), if
        still kept."""
        key = self._key(path, inputs, moment)
        with self._lock:
            entry = self._entries.get(key)
            # The key holds one id per input, so a found entry has as many inputs as asked.
            if entry is None or not all(map(operator.is_, entry[1], inputs)):
                return None
            now = self._monotonic()
            if now - entry[0] > self._max_age / 2:
                # Found: kept on as recently used (rule 3), renewed at most twice per max_age.
                self._entries[key] = (now, entry[1], entry[2])
                self._entries.move_to_end(key)
        return entry[2]

    def put(self, path: str, inputs: Sequence[object], text: str, moment: Hashable = None) -> None:
        now = self._monotonic()
        with self._lock:
            self._entries[self._key(path, inputs, moment)] = (now, tuple(inputs), text)
            while self._entries:
                made = next(iter(self._entries.values()))[0]
                if len(self._entries) <= self._capacity and now - made <= self._max_age:
                    break
                self._entries.popitem(last=False)

    def drop_expired(self) -> None:
        """Drop the entries older than ``max_age`` now (rule 3 does it at inserts only)."""
        now = self._monotonic()
        with self._lock:
            while self._entries and now - next(iter(self._entries.values()))[0] > self._max_age:
                self._entries.popitem(last=False)
            # A copy sized to what is left: a dict keeps the table of its largest size.
            self._entries = OrderedDict(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
