"""``memo.TextMemo``: a text comes back only for the very same input objects, and entries
leave once nobody made or found them for ``max_age``."""

from __future__ import annotations

from lxcfs_fuse.memo import TextMemo


def test_a_text_comes_back_only_for_the_same_objects() -> None:
    """Equal but distinct objects, another path or another order miss; the same objects hit."""
    memo = TextMemo(monotonic=lambda: 0.0)
    host, field = ["host"], ["field"]
    memo.put("proc/meminfo", [host, field], "text")
    assert memo.get("proc/meminfo", [host, field]) == "text"
    assert memo.get("proc/meminfo", [["host"], field]) is None
    assert memo.get("proc/cpuinfo", [host, field]) is None
    assert memo.get("proc/meminfo", [field, host]) is None


def test_entries_older_than_max_age_or_beyond_capacity_leave_at_the_next_insert() -> None:
    """An insert drops every entry older than max_age and the oldest beyond capacity."""
    now = [0.0]
    memo = TextMemo(max_age=0.02, capacity=3, monotonic=lambda: now[0])
    kept = [object() for _ in range(5)]
    memo.put("a", [kept[0]], "0")
    now[0] = 0.03
    memo.put("a", [kept[1]], "1")
    assert memo.get("a", [kept[0]]) is None and len(memo) == 1
    for index in (2, 3, 4):
        memo.put("a", [kept[index]], str(index))
    assert len(memo) == 3 and memo.get("a", [kept[1]]) is None
    assert memo.get("a", [kept[4]]) == "4"
    memo.clear()
    assert len(memo) == 0


def test_an_entry_found_again_stays_and_one_left_alone_leaves() -> None:
    """Inputs handed out again (a setting or host text re-read unchanged) keep their text:
    found after half of max_age, an entry is renewed and outlives one made with it."""
    now = [0.0]
    memo = TextMemo(max_age=0.02, monotonic=lambda: now[0])
    found, alone = [object()], [object()]
    memo.put("proc/cpuinfo", found, "found")
    memo.put("proc/cpuinfo", alone, "alone")
    for step in range(1, 6):
        now[0] = step * 0.015
        assert memo.get("proc/cpuinfo", found) == "found"
    memo.put("proc/meminfo", [object()], "an insert drops what is old")
    assert memo.get("proc/cpuinfo", alone) is None
    assert memo.get("proc/cpuinfo", found) == "found"
    now[0] += 0.021
    memo.drop_expired()
    assert memo.get("proc/cpuinfo", found) is None and len(memo) == 0


def test_drop_expired_leaves_only_fresh_entries() -> None:
    """Without an insert, drop_expired removes what is older than max_age."""
    now = [0.0]
    memo = TextMemo(max_age=0.02, monotonic=lambda: now[0])
    kept = [object(), object()]
    memo.put("a", [kept[0]], "old")
    now[0] = 0.015
    memo.put("a", [kept[1]], "new")
    now[0] = 0.03
    memo.drop_expired()
    assert len(memo) == 1 and memo.get("a", [kept[1]]) == "new"


def test_a_text_kept_at_a_moment_comes_back_only_at_an_equal_moment() -> None:
    """A moment is compared by value: an equal one (another int object) hits, another
    moment or none misses, and the same objects at two moments are two entries."""
    memo = TextMemo(monotonic=lambda: 0.0)
    host = ["host"]
    memo.put("proc/uptime", [host], "at 12345678901", moment=12345678901)
    memo.put("proc/uptime", [host], "at 12345678902", moment=12345678902)
    assert memo.get("proc/uptime", [host], int("12345678901")) == "at 12345678901"
    assert memo.get("proc/uptime", [host], 12345678902) == "at 12345678902"
    assert memo.get("proc/uptime", [host], 12345678903) is None
    assert memo.get("proc/uptime", [host]) is None
    assert memo.get("proc/uptime", [["host"]], 12345678901) is None


def test_drop_expired_gives_back_the_table_of_a_burst() -> None:
    """A dict keeps the table of its largest size; after a burst of thousands of texts has
    expired, drop_expired leaves the memo no bigger than a fresh one."""
    import sys

    now = [0.0]
    memo = TextMemo(max_age=0.02, capacity=8192, monotonic=lambda: now[0])
    fresh = sys.getsizeof(memo._entries)
    inputs = [object() for _ in range(4000)]
    for index, kept in enumerate(inputs):
        memo.put("proc/meminfo", [kept], str(index))
    now[0] = 1.0
    memo.drop_expired()
    assert len(memo) == 0
    assert sys.getsizeof(memo._entries) == fresh
