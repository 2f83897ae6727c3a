"""--explain: a rendered file, line by line, with where each line's number came from.

Rules:
1. Pure: a file's provenance table (``FileProvenance``) and one ``Rendered`` in, an
   ``Explanation`` out. Explaining never renders again and never changes the text.
2. Every output line is accounted for: a line some rule covers (by its label, see
   ``LineRule.matches``) shows that rule's formula filled with this render's quantities and
   the files it read; any other line passes through from the host, and says so (in the
   words of the table's ``passthrough`` note when it has one). When the renderer fell back, the
   reason comes first and every line is the host's: the rules do not apply to it.
3. The text form puts each explanation under the line it explains; a run of pass-through
   lines is explained once, after the run, so a 300-line cpuinfo stays readable.
"""

from __future__ import annotations

import attrs

from lxcfs_model.provenance import FileProvenance, LineRule, line_label
from lxcfs_model.rendering import Rendered

__all__ = ["ExplainedLine", "Explanation", "explain"]

HOST_PASSTHROUGH = "passed through from the host unchanged"


@attrs.frozen
class ExplainedLine:
    """One output line; ``rule`` None means the line is the host's."""

    line: str
    label: str
    rule: LineRule | None
    explanation: str


@attrs.frozen
class Explanation:
    """A whole file explained."""

    path: str
    summary: str
    fallback: str | None
    lines: tuple[ExplainedLine, ...]

    def format(self) -> str:
        """Human-readable text: a header, then each line with its explanation beneath."""
        out = [f"# /{self.path}: {self.summary}" if self.summary else f"# /{self.path}"]
        if self.fallback is not None:
            out.append(f"# not virtualized for this container: {self.fallback}")
        if not self.lines:
            out.append("# (the file is empty)")
        run: list[ExplainedLine] = []
        for item in self.lines:
            if item.rule is None:
                run.append(item)
                out.append(item.line)
                continue
            _close_run(run, out)
            out.append(item.line)
            out.append(f"    <- {item.explanation}")
            if item.rule.sources:
                out.append(f"       read from: {', '.join(item.rule.sources)}")
        _close_run(run, out)
        return "\n".join(out) + "\n"


def _close_run(run: list[ExplainedLine], out: list[str]) -> None:
    if not run:
        return
    subject = "the line above" if len(run) == 1 else f"the {len(run)} lines above"
    out.append(f"    <- {subject}: {run[0].explanation}")
    run.clear()


def explain(provenance: FileProvenance, rendered: Rendered) -> Explanation:
    """Pair every line of ``rendered.text`` with its rule from ``provenance``, filled in."""
    if rendered.fallback is not None:
        why = f"{HOST_PASSTHROUGH} (fallback: {rendered.fallback})"
        lines = tuple(
            ExplainedLine(line, line_label(line), None, why) for line in rendered.text.splitlines()
        )
        return Explanation(provenance.path, provenance.summary, rendered.fallback, lines)
    passthrough = provenance.passthrough or HOST_PASSTHROUGH
    explained = []
    for line in rendered.text.splitlines():
        label = line_label(line)
        rule = provenance.rule_for(label) if label else None
        if rule is None:
            explained.append(ExplainedLine(line, label, None, passthrough))
        else:
            text = rule.describe(rendered.quantities)
            explained.append(ExplainedLine(line, label, rule, text))
    return Explanation(provenance.path, provenance.summary, None, tuple(explained))
