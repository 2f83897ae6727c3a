"""Reading ahead: what a steady reader is about to read again is made ready while idle.

Why: the I/O layer shares what it reads for 10 ms (``CachingReader``) and a caller's
resolution for 100 ms (``callers`` rule 5). A reader that reads a file every few
milliseconds (a monitoring loop, ``top -d 0.01``, the benchmark) finds them shared most of
the time, but at every expiry its read pays for the re-reads, and a read that re-reads costs
two to three times one that does not (docs/performance.md, fifth round). Re-reading in the
idle gap before that read takes the cost off its path. Nothing served is staler for it:
values are only replaced sooner, stamped with the time they were read.

Rules:
1. A pair (file, caller pid) is followed once it has been read twice within ``MAX_GAP``:
   its gap is a moving average of the time between its reads, and its next read is due
   one gap after its last. A pair read less often is not followed (a prediction that far
   ahead is a guess, and a wrong guess is a whole read's work for nothing).
2. A pair is due when something it renders from expires before its next read plus
   ``MARGIN``; then everything it renders from that would not last until the read after
   that is renewed with it (``Due.lead``), so its values expire together.
   ``expiry(path, pid)`` says when, from the shared values themselves, without reading
   anything. The answer is kept: values are replaced, never made to expire sooner,
   so until that moment passes the pair is known not to be due and costs one comparison.
3. The daemon asks once each time it has found nothing to serve for a moment
   (``lxcfs_fuse.devfuse`` rule 8): a render ahead takes a few hundred microseconds, about
   the gap between two readers' requests, so a second one would delay the next request. It
   gets the pair whose read is expected next of all followed, if that one is due (``due``),
   and renders it looking ahead: as late as can be, since every other pair's read brings
   another idle moment first, so its values last as long past that read as they can
   (renewed earlier, they would be renewed more often than the reads would re-read them).
   Not when that read is expected sooner than a render ahead takes (``took`` keeps a moving
   average): readers reading back to back (a node under load) keep the daemon busy, and a
   render ahead would only delay them. A pair is rendered ahead at most once between two of
   its reads, so a reader that stops costs at most one render per file it was reading; a
   pair not read for ``FORGET_GAPS`` gaps (at least ``MAX_GAP``) is forgotten.
   The daemon asks before its quiet moment, so that a dry spell with nothing due goes
   straight to sleep (one wake-up instead of two); a step found but not taken (a request
   came in the quiet moment) is given back (``give_back``), as if never asked for.
4. Bounded: at most ``CAPACITY`` pairs, the least recently read dropped first; ``prune``
   (the daemon's housekeeping) forgets the silent ones even when no request comes.
5. Thread-safe: one lock for the table, never held while anything is read or rendered;
   ``due`` sets a pair's own fields after it (plain assignments: only the serving thread
   asks, and a lost one costs one more question or one render fewer).
6. Off unless ``LXCFS_FUSE_READ_AHEAD=1`` (``enabled``; eleventh round). It is paid for in
   daemon CPU: on the machine of docs/performance.md, in the latency benchmark, 7-15% more
   per read (an eighth more renders in all, since a render ahead is sometimes not read
   before its values expire again; a step costs the daemon a second sleep and wake-up; and
   the question is asked after every read), for a p50 a fifth to a third lower on the
   files that re-read, which without it is already half to four fifths of lxcfs's. It
   helps only a reader that reads the same file again within ``MAX_GAP``; a node of many
   containers read by agents every second or so never has one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

__all__ = [
    "CAPACITY",
    "FORGET_GAPS",
    "MARGIN",
    "MAX_GAP",
    "VARIABLE",
    "Due",
    "ReadAhead",
    "enabled",
]

log = logging.getLogger("lxcfs_fuse")

#: Environment variable that turns reading ahead on (``1``); off otherwise (rule 6).
VARIABLE = "LXCFS_FUSE_READ_AHEAD"

#: Pairs read further apart than this are not followed (rule 1).
MAX_GAP = 0.100
#: How long before a pair's next read its values must still be fresh (rule 2).
MARGIN = 0.00025
#: A pair silent for this many gaps is forgotten (rule 3).
FORGET_GAPS = 4
#: Pairs followed at most (rule 4).
CAPACITY = 256
#: What a render ahead is taken to cost before one has been timed (rule 3).
FIRST_STEP_SECONDS = 0.0005
#: Weight of the newest sample in a moving average (rules 1, 3).
_NEWEST = 0.25


def enabled() -> bool:
    """Whether ``LXCFS_FUSE_READ_AHEAD`` turns reading ahead on (``1``: on; unset, ``0``:
    off; anything else: off, and logged; rule 6)."""
    setting = os.environ.get(VARIABLE, "").strip()
    if setting == "1":
        return True
    if setting not in ("", "0"):
        log.error("%s=%r is neither 0 nor 1; reading ahead stays off", VARIABLE, setting)
    return False


@attrs.define
class _Pair:
    last_read: float
    gap: float | None = None
    rendered_ahead: bool = False
    #: Known not to expire before this (rule 2); 0: ask.
    fresh_until: float = 0.0


@attrs.frozen
class Due:
    """A pair to render now, looking ``lead`` seconds ahead."""

    path: str
    pid: int
    lead: float


class ReadAhead:
    """The pairs being followed and which one is due (rules 1-5)."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pairs: OrderedDict[tuple[str, int], _Pair] = OrderedDict()
        #: What a render ahead takes, a moving average (rule 3).
        self.step_seconds = FIRST_STEP_SECONDS

    def __len__(self) -> int:
        with self._lock:
            return len(self._pairs)

    def read(self, path: str, pid: int) -> None:
        """A reader read ``path`` (rule 1)."""
        now = self._monotonic()
        key = (path, pid)
        with self._lock:
            pair = self._pairs.get(key)
            if pair is None:
                self._pairs[key] = _Pair(now)
                while len(self._pairs) > CAPACITY:
                    self._pairs.popitem(last=False)
                return
            interval = now - pair.last_read
            if 0.0 <= interval <= MAX_GAP:
                pair.gap = (
                    interval if pair.gap is None else pair.gap + _NEWEST * (interval - pair.gap)
                )
            else:
                pair.gap = None
            pair.last_read = now
            pair.rendered_ahead = False
            self._pairs.move_to_end(key)

    def prune(self) -> None:
        """Forget the pairs gone silent (rule 3) now, and give back the table's room: the
        daemon's housekeeping calls this, since ``due`` runs only after requests, and a
        table left as a burst of containers filled it pins the memory of that burst."""
        now = self._monotonic()
        with self._lock:
            self._pairs = OrderedDict(
                (key, pair)
                for key, pair in self._pairs.items()
                if pair.gap is not None
                and now - pair.last_read <= max(FORGET_GAPS * pair.gap, MAX_GAP)
            )

    def took(self, seconds: float) -> None:
        """A render ahead took ``seconds`` (rule 3)."""
        self.step_seconds += _NEWEST * (seconds - self.step_seconds)

    def due(self, expiry: Callable[[str, int], float]) -> Due | None:
        """The pair to render ahead now, if any (rule 3): the pair whose read is expected
        next of all those followed, if it is due (rule 2). Marked rendered ahead; None when
        the next read's pair is not due (another idle moment comes before any other
        pair's read)."""
        now = self._monotonic()
        with self._lock:
            nearest: tuple[float, tuple[str, int], _Pair] | None = None
            for key, pair in list(self._pairs.items()):
                silent = now - pair.last_read
                if pair.gap is None:
                    if silent > MAX_GAP:
                        del self._pairs[key]
                    continue
                if silent > max(FORGET_GAPS * pair.gap, MAX_GAP):
                    del self._pairs[key]
                    continue
                expected = pair.last_read + pair.gap
                if expected < now:
                    continue  # late: no telling when it comes
                if nearest is None or expected < nearest[0]:
                    nearest = (expected, key, pair)
        if nearest is None:
            return None
        expected, key, pair = nearest
        if expected - now < self.step_seconds:
            return None  # the read would come in the middle of the render: leave it be
        horizon = expected + MARGIN
        if pair.rendered_ahead or horizon < pair.fresh_until:
            return None
        until = expiry(*key)  # outside the lock: it takes the reader's
        pair.fresh_until = until
        if until > horizon:
            return None
        pair.rendered_ahead = True
        pair.fresh_until = 0.0
        assert pair.gap is not None
        # Renewed with it: whatever would not last to the read after next, so what is
        # renewed together expires together, and the pair comes due once in a window,
        # not once for each of its values as they come due in turn.
        return Due(key[0], key[1], max(0.0, horizon + pair.gap - now))

    def give_back(self, due: Due) -> None:
        """``due`` was not rendered after all (rule 3): its pair may come due again at
        the next idle moment."""
        with self._lock:
            pair = self._pairs.get((due.path, due.pid))
            if pair is not None:
                pair.rendered_ahead = False
                pair.fresh_until = 0.0
