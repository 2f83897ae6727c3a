"""The host's /proc/meminfo cut once per snapshot into a template the meminfo renderer fills.

Rules:
1. Parsing happens once per ``HostSnapshot`` (its ``meminfo_layout`` cached property calls
   ``parse_meminfo``); a render is then one ``%``-format of a tuple of numbers, which keeps
   /proc/meminfo cheap on the FUSE hot path.
2. ``COMPUTED_LABELS`` are the lines the container gets its own numbers for; they are matched
   by their exact label (spec 8.10: ``Active`` is not ``Active(anon)``). Every other line is
   kept verbatim, so passthrough lines leave byte for byte as the host printed them.
3. Parsing never raises: a line without a colon is passthrough text.
"""

from __future__ import annotations

import attrs

__all__ = ["COMPUTED_LABELS", "MeminfoLayout", "parse_meminfo"]

# The lines of /proc/meminfo computed per container (lxcfs_model.render.meminfo), in the
# kernel's order.
COMPUTED_LABELS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
    "Unevictable", "SwapTotal", "SwapFree", "Zswap", "Zswapped", "Dirty", "Writeback",
    "AnonPages", "Mapped", "Shmem", "Slab", "SReclaimable", "SUnreclaim", "AnonHugePages",
    "ShmemHugePages", "ShmemPmdMapped",
)  # fmt: skip
_COMPUTED = frozenset(COMPUTED_LABELS)


@attrs.frozen
class MeminfoLayout:
    """The host's meminfo as a ``%`` template: ``template % {label: kB}`` gives the file with
    every computed line replaced (``slots`` lists those labels, in the host's order). A
    computed line becomes the kernel's ``show_val_kb`` form, ``"<label>:"`` padded to 16
    columns, ``%8d``, ``" kB"``; its placeholder is ``%(<label>)8d`` (``%`` mapping keys may
    hold balanced parentheses, so ``%(Active(anon))8d`` works)."""

    template: str
    slots: tuple[str, ...]


def parse_meminfo(text: str) -> MeminfoLayout:
    """Cut a host /proc/meminfo text into a ``MeminfoLayout`` (rules 2-3)."""
    parts: list[str] = []
    slots: list[str] = []
    for line in text.splitlines(keepends=True):
        label, colon, _rest = line.partition(":")
        if colon and label in _COMPUTED:
            parts.append(f"{label + ':':<16}%({label})8d kB\n")
            slots.append(label)
        else:
            parts.append(line.replace("%", "%%"))
    return MeminfoLayout(template="".join(parts), slots=tuple(slots))
