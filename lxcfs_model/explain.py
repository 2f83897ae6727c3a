"""--explain: a rendered file, line by line, with where each line's number came from.

Rules:
1. Pure: a file's provenance table (``FileProvenance``) and one ``Rendered`` in, an
   ``Explanation`` out. Explaining never renders again and never changes the text.
   A line's rule is found by its label (``line_label``); a line that starts with a number
   (uptime, loadavg, online, diskstats) or is blank is covered by the rule labelled ``N`` or
   labelled like the file (``online``), if the table has one.
2. Every output line is accounted for: a line some rule covers (by its label, see
   ``LineRule.matches``) shows that rule's formula filled with this render's quantities and
   the files it read; any other line passes through from the host, and says so (in the
   words of the table's ``passthrough`` note when it has one). When the renderer fell back, the
   reason comes first and every line is the host's: the rules do not apply to it.
3. The text form puts each explanation under the line it explains; a run of lines with the
   same explanation (host lines, the cpuN lines of /proc/stat) is explained once, after the
   run, so a 300-line cpuinfo stays readable.
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
        """Human-readable text: a header, then the lines, each run of lines that share one
        explanation followed by it."""
        out = [f"# /{self.path}: {self.summary}" if self.summary else f"# /{self.path}"]
        if self.fallback is not None:
            out.append(f"# not virtualized for this container: {self.fallback}")
        if not self.lines:
            out.append("# (the file is empty)")
        run: list[ExplainedLine] = []
        for item in self.lines:
            if run and (item.rule, item.explanation) != (run[0].rule, run[0].explanation):
                _close_run(run, out)
            run.append(item)
            out.append(item.line)
        _close_run(run, out)
        return "\n".join(out) + "\n"


def _close_run(run: list[ExplainedLine], out: list[str]) -> None:
    if not run:
        return
    first = run[0]
    subject = "" if len(run) == 1 else f"the {len(run)} lines above: "
    out.append(f"    <- {subject}{first.explanation}")
    if first.rule is not None and first.rule.sources:
        out.append(f"       read from: {', '.join(first.rule.sources)}")
    run.clear()


def _rule_for(provenance: FileProvenance, label: str) -> LineRule | None:
    """The rule for a line label. A line that starts with a number (uptime's ``871.79 ...``,
    online's ``0-3``) or is blank (offline with no CPU offline) has no key of its own: tables
    cover it with a rule labelled ``N`` or labelled like the file itself (``online``)."""
    rule = provenance.rule_for(label) if label else None
    if rule is None and (not label or label[0].isdigit()):
        file_name = provenance.path.rsplit("/", 1)[-1]
        rule = next((r for r in provenance.rules if r.label in ("N", file_name)), None)
    return rule


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
        rule = _rule_for(provenance, label)
        if rule is None:
            explained.append(ExplainedLine(line, label, None, passthrough))
        else:
            text = rule.describe(rendered.quantities)
            explained.append(ExplainedLine(line, label, rule, text))
    return Explanation(provenance.path, provenance.summary, None, tuple(explained))
