"""Provenance tables: for every rendered file, where each line's number comes from.

Rules:
1. A renderer module declares one ``FileProvenance`` as data: per output line (by label), the
   cgroup or host files it reads and the formula, with ``{name}`` placeholders that name the
   quantities the renderer reports in ``Rendered.quantities``.
2. The same table drives ``lxcfs-render --explain`` (filled with this render's values) and
   the file reference in docs/ (unfilled). Prose beside the code is not a substitute.
3. Explaining never changes what is rendered; a missing quantity shows as ``?``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

import attrs

__all__ = ["FileProvenance", "LineRule", "line_label"]


@attrs.frozen
class LineRule:
    """How one output line (or a family of lines) is computed.

    ``label``: the line's key as it appears in the file, before the colon or first blank
    (``"MemTotal"``, ``"cpu"``); a trailing ``N`` matches any number (``"cpuN"`` covers
    ``cpu0``, ``cpu17``; a bare ``"N"`` covers lines that start with a number, such as
    ``8`` in diskstats or ``0.52`` in loadavg). ``sources``: the files read. ``formula``:
    how, with ``{quantity}`` placeholders.
    """

    label: str
    sources: tuple[str, ...]
    formula: str

    def matches(self, label: str) -> bool:
        if self.label.endswith("N") and not self.label.endswith("NN"):
            stem = self.label[:-1]
            return label.startswith(stem) and _is_number(label[len(stem) :])
        return label == self.label

    def describe(self, quantities: Mapping[str, object]) -> str:
        """The formula with this render's values filled in."""
        return string.Formatter().vformat(self.formula, (), _Lenient(quantities))


def _is_number(text: str) -> bool:
    """``17`` or ``0.52``: digits, optionally one decimal point followed by digits."""
    whole, point, fraction = text.partition(".")
    return whole.isdigit() and (not point or fraction.isdigit())


class _Lenient(dict[str, object]):
    def __missing__(self, key: str) -> object:
        return "?"


@attrs.frozen
class FileProvenance:
    """The provenance table of one file."""

    path: str
    summary: str
    rules: tuple[LineRule, ...]
    passthrough: str = ""
    fallback: str = ""

    def rule_for(self, label: str) -> LineRule | None:
        for rule in self.rules:
            if rule.matches(label):
                return rule
        return None


def line_label(line: str) -> str:
    """The key of a procfs line: the text before ``:`` or the first blank, stripped."""
    head = line.split(":", 1)[0] if ":" in line else line
    parts = head.split()
    return parts[0] if parts else ""
