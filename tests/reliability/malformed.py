"""The bad-input campaign: fixture trees with malformed files, read and rendered end to end.

Rules:
1. One input is one fixture tree with 1-4 faults (``strategies.tree_faults``): a file
   rewritten with a malformation of its own bytes, a file deleted, a cgroup or a whole
   controller directory removed. Every regular file of the tree is a target: cgroup files
   at every level, host procfs texts, the processes' ``cgroup``/``stat``/``status``.
2. Each input goes the whole public way a daemon or ``lxcfs-render`` goes: ``SystemReader``
   -> a view (by cgroup path or by pid) -> host snapshot and clock -> every registry file
   rendered. ``LxcfsModelError`` (a bad *request*: the cgroup or process vanished, the
   root is unreadable) is a counted, clean answer; any other exception is a failure.
3. Each rendered file either satisfies its invariants (``check_rendered``) or is the
   documented fallback: the host's own text, unchanged, with a reason that is not an
   "internal error" (that would be an exception the renderer swallowed).
4. The tree is restored after each input from the bytes recorded when it was copied, so a
   campaign of 100,000 inputs copies the fixture once.

Used by tests/reliability/test_malformed_inputs.py (a CI slice) and
scripts/stress_malformed.py (the 100,000-input run quoted in docs/reliability.md).
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxcfs_model import FILES, LxcfsModelError, RenderInputs, RenderOptions
from lxcfs_model.cpuset import parse_cpuset
from lxcfs_model.io import SystemReader
from lxcfs_model.rendering import Rendered
from lxcfs_model.values import HostSnapshot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

__all__ = [
    "CampaignTree",
    "Tally",
    "check_rendered",
    "exercise",
    "make_512_cpu_tree",
]


# ----------------------------------------------------------------------------- the trees


@dataclass(frozen=True)
class Subject:
    """What one tree is read for: a container by cgroup path and by a pid inside it."""

    cgroup: str
    pid: int


SUBJECTS = {
    "v1-nested": Subject("/lxc/c1", 4250),
    "v2-nested": Subject("/lxc/c2", 5150),
    "v1-512cpu": Subject("/lxc/c1", 4250),
}


class CampaignTree:
    """A private copy of a fixture tree that faults are applied to and removed from."""

    def __init__(self, source: Path, destination: Path) -> None:
        shutil.copytree(source, destination, symlinks=True)
        self.root = destination
        self.files: dict[str, bytes] = {}
        self.links: dict[str, str] = {}
        self.directories: list[str] = []
        for directory, subdirectories, names in os.walk(destination):
            relative_directory = os.path.relpath(directory, destination)
            for name in [*subdirectories, *names]:
                path = os.path.join(directory, name)
                relative = os.path.normpath(os.path.join(relative_directory, name))
                if os.path.islink(path):
                    self.links[relative] = os.readlink(path)
                elif name in subdirectories:
                    self.directories.append(relative)
                else:
                    self.files[relative] = Path(path).read_bytes()
        # Files no reader opens (v1 ``tasks``, ``cgroup.sane_behavior``) are no target.
        self.targets = {
            relative: content
            for relative, content in self.files.items()
            if os.path.basename(relative) not in ("tasks", "cgroup.sane_behavior")
        }
        # Directories whose loss means "a cgroup or controller is missing": the cgroup
        # hierarchies, and a process's /proc entry.
        self.removable = sorted(
            d
            for d in self.directories
            if d.startswith("sys/fs/cgroup/") or re.fullmatch(r"proc/\d+", d)
        )
        self._touched: set[str] = set()

    def apply(self, faults: Sequence[tuple[object, ...]]) -> None:
        """Apply ``strategies.tree_faults`` output."""
        for fault in faults:
            action, target = str(fault[0]), str(fault[1])
            path = self.root / target
            self._touched.add(target)
            if action == "write":
                if path.parent.is_dir():
                    content = fault[3]
                    assert isinstance(content, bytes)
                    path.write_bytes(content)
            elif action == "delete":
                path.unlink(missing_ok=True)
            elif action == "remove_tree":
                shutil.rmtree(path, ignore_errors=True)

    def restore(self) -> None:
        """Undo every fault since the last restore (rule 4)."""
        for target in sorted(self._touched):
            for directory in self.directories:
                if directory == target or directory.startswith(target + "/"):
                    (self.root / directory).mkdir(parents=True, exist_ok=True)
            for relative, content in self.files.items():
                if relative == target or relative.startswith(target + "/"):
                    (self.root / relative).write_bytes(content)
            for relative, link in self.links.items():
                if relative.startswith(target + "/") and not os.path.lexists(self.root / relative):
                    os.symlink(link, self.root / relative)
        self._touched.clear()


def _cpu_list(cpus: int) -> str:
    return f"0-{cpus - 1}\n" if cpus > 1 else "0\n"


def make_512_cpu_tree(destination: Path, cpus: int = 512) -> Path:
    """v1-nested, grown to a ``cpus``-CPU host: cpuinfo, stat, online and every cpuset and
    cpuacct file list all of them; the container keeps a sparse cpuset (every third CPU)."""
    shutil.copytree(FIXTURES / "v1-nested", destination, symlinks=True)
    proc = destination / "proc"
    first_block = (proc / "cpuinfo").read_text().split("\n\n")[0]
    body = first_block.split("\n", 1)[1]
    (proc / "cpuinfo").write_text("".join(f"processor\t: {cpu}\n{body}\n\n" for cpu in range(cpus)))
    stat_lines = (proc / "stat").read_text().splitlines(keepends=True)
    rest = [line for line in stat_lines if not line.startswith("cpu")]
    rows = [f"cpu{cpu} {cpu} 0 {cpu * 2} {10**6 + cpu} 7 0 3 0 0 0\n" for cpu in range(cpus)]
    total = "cpu  " + " ".join(str(sum(int(row.split()[i]) for row in rows)) for i in range(1, 11))
    (proc / "stat").write_text(total + "\n" + "".join(rows) + "".join(rest))
    (destination / "sys/devices/system/cpu/online").write_text(_cpu_list(cpus))
    cpuset = destination / "sys/fs/cgroup/cpuset"
    sparse = ",".join(str(cpu) for cpu in range(0, cpus, 3)) + "\n"
    for level, value in (("", _cpu_list(cpus)), ("lxc", _cpu_list(cpus)), ("lxc/c1", sparse)):
        for name in ("cpuset.cpus", "cpuset.effective_cpus"):
            (cpuset / level / name).write_text(value)
    cpuacct = destination / "sys/fs/cgroup/cpuacct/lxc/c1"
    (cpuacct / "cpuacct.usage_all").write_text(
        "cpu user system\n" + "".join(f"{cpu} {cpu * 1000} {cpu * 10}\n" for cpu in range(cpus))
    )
    (cpuacct / "cpuacct.usage_percpu").write_text(
        " ".join(str(cpu * 1010) for cpu in range(cpus)) + " \n"
    )
    return destination


# ---------------------------------------------------------------------------- invariants

_MEMINFO_LINE = re.compile(r"^[A-Za-z0-9_()]+:\s+(\d+)( kB)?$")
_CPU_LIST = re.compile(r"^0(-\d+)?\n$")
_UPTIME = re.compile(r"^\d+\.\d\d \d+\.\d\d\n$")
_LOADAVG = re.compile(r"^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n$")


def _host_text(host: HostSnapshot, path: str) -> str | None:
    """The host file the registry file ``path`` falls back to."""
    name = path.rsplit("/", 1)[-1]
    if path.startswith("proc/pressure/"):
        return {"cpu": host.pressure_cpu, "io": host.pressure_io, "memory": host.pressure_memory}[
            name
        ]
    texts: dict[str, str | None] = {
        "meminfo": host.meminfo,
        "cpuinfo": host.cpuinfo,
        "stat": host.stat,
        "uptime": host.uptime,
        "loadavg": host.loadavg,
        "diskstats": host.diskstats,
        "swaps": host.swaps,
        "slabinfo": host.slabinfo,
    }
    return texts.get(name)


def _meminfo(text: str, host_text: str, host_total: int) -> list[str]:
    """Virtualized lines are ``Label: N kB`` with N within MemTotal (SwapTotal); a line the
    renderer does not know passes through from the host's file verbatim, garbage included."""
    problems = []
    values: dict[str, int] = {}
    host_lines = set(host_text.splitlines())
    for line in text.splitlines():
        match = _MEMINFO_LINE.match(line)
        if match is None:
            if line in host_lines:
                continue
            problems.append(f"meminfo line {line!r} is not 'Label: N kB'")
            continue
        values[line.split(":", 1)[0]] = int(match.group(1))
    total = values.get("MemTotal")
    if total is None:
        return [*problems, "meminfo has no MemTotal"]
    # The renderer's own rule 4 (render/meminfo.py), plus: never above the host's RAM.
    # memory.stat lines (Cached, Active, ...) are the cgroup's counters as they are.
    # A line the host lacks is not added (rule 2 there): an absent one holds trivially.
    free = values.get("MemFree", 0)
    available = values.get("MemAvailable", free)
    if not 0 < total <= host_total or not free <= available <= total:
        problems.append(
            f"meminfo breaks 0 <= MemFree {free} <= MemAvailable {available} <= MemTotal "
            f"{total} <= host {host_total}, MemTotal > 0"
        )
    if "SwapTotal" in values and values.get("SwapFree", 0) > values["SwapTotal"]:
        problems.append("meminfo SwapFree > SwapTotal")
    return problems


def _numbered(text: str, prefix: str) -> list[int]:
    """The N of each line ``<prefix>N ...`` (``cpu3 ...``, ``processor : 3``)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)(\s|$)")
    return [int(m.group(1)) for m in map(pattern.match, text.splitlines()) if m is not None]


def _stat(text: str) -> list[str]:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("cpu  "):
        return ["stat does not start with 'cpu  '"]
    problems = []
    numbers = []
    for line in lines:
        if re.match(r"^cpu\d*\s", line):
            fields = line.split()[1:]
            if not all(f.isascii() and f.isdigit() for f in fields):
                problems.append(f"stat line {line!r} has a field that is not a count")
            if line.startswith("cpu "):
                continue
            numbers.append(int(line.split()[0][3:]))
    if numbers != list(range(len(numbers))):
        problems.append(f"stat cpu lines are not numbered 0..k-1: {numbers[:8]}")
    return problems


def check_rendered(path: str, rendered: Rendered, host: HostSnapshot, cpus: int) -> list[str]:
    """Rule 3: what is wrong with ``rendered`` (empty: nothing). ``cpus`` is the CPU count
    the same inputs' ``online`` shows, which every CPU file must agree with."""
    text = rendered.text
    if not isinstance(text, str):
        return [f"{path}: text is {type(text).__name__}"]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return [f"{path}: text cannot be encoded as UTF-8"]
    if rendered.fallback is not None:
        problems = []
        if rendered.fallback.startswith("internal error"):
            problems.append(f"{path}: renderer swallowed an exception: {rendered.fallback}")
        if text != (_host_text(host, path) or ""):
            problems.append(f"{path}: fallback is not the host's text ({rendered.fallback})")
        return problems
    name = path.removeprefix("proc/").removeprefix("sys/devices/system/cpu/")
    problems = []
    if name == "meminfo":
        problems = _meminfo(text, host.meminfo, host.meminfo_kb.get("MemTotal", 0))
    elif name in ("online", "possible", "present"):
        if not _CPU_LIST.match(text):
            problems = [f"{name} {text!r} is not '0-<k-1>'"]
        elif len(parse_cpuset(text)) != cpus:
            problems = [f"{name} {text!r} disagrees with online ({cpus} CPUs)"]
    elif name == "offline":
        problems = [] if text == "\n" else [f"offline {text!r} is not an empty line"]
    elif name == "cpuinfo":
        numbers = _numbered(text.replace("\t", " "), "processor : ")
        if numbers != list(range(cpus)):
            problems = [f"cpuinfo processors {numbers[:8]}... are not 0..{cpus - 1}"]
    elif name == "stat":
        problems = _stat(text)
        shown = len(_numbered(text, "cpu"))
        if not problems and shown != cpus:
            problems = [f"stat shows {shown} CPUs, online {cpus}"]
    elif name == "uptime":
        problems = [] if _UPTIME.match(text) else [f"uptime {text!r} is not two numbers"]
    elif name == "loadavg":
        problems = [] if _LOADAVG.match(text) else [f"loadavg {text!r} is malformed"]
    elif name == "swaps":
        problems = [] if text.startswith("Filename") else [f"swaps {text[:40]!r} has no header"]
    elif name == "diskstats":
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 14 or not all(f.isdigit() for f in fields[:2] + fields[3:]):
                problems.append(f"diskstats line {line!r} is malformed")
    # slabinfo and pressure/*: the cgroup's own file, verbatim (their provenance tables
    # say so); nothing to check beyond being text.
    return [f"{path}: {problem}" for problem in problems]


# ----------------------------------------------------------------------------- campaign


@dataclass
class Tally:
    """Counted outcomes of a campaign."""

    inputs: int = 0
    refused: int = 0  # LxcfsModelError: a clean one-line answer to a bad request
    rendered_files: int = 0
    fallbacks: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)

    def merge_into(self, other: Tally) -> None:
        other.inputs += self.inputs
        other.refused += self.refused
        other.rendered_files += self.rendered_files
        other.fallbacks += self.fallbacks
        other.kinds.update(self.kinds)
        other.refusals.update(self.refusals)
        other.violations.extend(self.violations)
        other.escaped.extend(self.escaped)


def _refusal_kind(error: LxcfsModelError) -> str:
    return type(error).__name__


def exercise(
    root: Path, subject: Subject, *, by_pid: bool, options: RenderOptions, tally: Tally
) -> None:
    """Rule 2 for one tree: read, render every file, check (rule 3), count."""
    tally.inputs += 1
    try:
        reader = SystemReader(str(root))
        view = (
            reader.view_for_pid(subject.pid) if by_pid else reader.view_for_cgroup(subject.cgroup)
        )
        host = reader.host_snapshot()
        clock = reader.clock()
    except LxcfsModelError as error:
        message = str(error)
        if not message or "\n" in message:
            tally.violations.append(f"refusal is not one line: {message!r}")
        tally.refused += 1
        tally.refusals[_refusal_kind(error)] += 1
        return
    except Exception as error:  # rule 2: this is what the campaign hunts
        tally.escaped.append(f"reader: {type(error).__name__}: {error}")
        return
    inputs = RenderInputs(view=view, host=host, options=options, clock=clock)
    results: dict[str, Rendered] = {}
    for spec in FILES:
        try:
            results[spec.path] = spec.renderer(inputs)
        except Exception as error:
            tally.escaped.append(f"{spec.path}: {type(error).__name__}: {error}")
    online = results.get("sys/devices/system/cpu/online")
    cpus = len(parse_cpuset(online.text)) if online is not None else 0
    for path, rendered in results.items():
        tally.rendered_files += 1
        if rendered.fallback is not None:
            tally.fallbacks += 1
        tally.violations.extend(check_rendered(path, rendered, host, cpus))


@dataclass
class Campaign:
    """The trees of one run, under ``workdir``."""

    workdir: Path
    trees: dict[str, CampaignTree] = field(default_factory=dict)

    def tree(self, name: str) -> CampaignTree:
        if name not in self.trees:
            destination = self.workdir / name
            if name == "v1-512cpu":
                source = make_512_cpu_tree(self.workdir / "512-source")
            else:
                source = FIXTURES / name
            self.trees[name] = CampaignTree(source, destination)
        return self.trees[name]


def run_one(
    tree: CampaignTree,
    subject: Subject,
    faults: Sequence[tuple[object, ...]],
    *,
    by_pid: bool,
    options: RenderOptions,
    tally: Tally,
) -> None:
    """Apply ``faults``, exercise the tree, restore it."""
    for fault in faults:
        tally.kinds[str(fault[2]) if fault[0] == "write" else str(fault[0])] += 1
    tree.apply(faults)
    try:
        exercise(tree.root, subject, by_pid=by_pid, options=options, tally=tally)
    finally:
        tree.restore()


def iter_failures(tally: Tally, limit: int = 10) -> Iterator[str]:
    """The first few escaped exceptions and violations, for an assertion message."""
    yield from tally.escaped[:limit]
    yield from tally.violations[:limit]


#: Which tree an input uses, by weight: the 512-CPU tree costs ~7 times the others' render.
TREES = ("v1-nested", "v1-nested", "v1-nested", "v2-nested", "v2-nested", "v1-512cpu")


def run_campaign(workdir: Path, examples: int, *, seed: int | None = None) -> Tally:
    """``examples`` Hypothesis inputs over the three trees; stops at the first input that
    lets an exception escape or breaks an invariant (Hypothesis then shrinks it and
    re-raises). Returns the tally of every input run."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from strategies import render_options, tree_faults

    campaign = Campaign(workdir)
    total = Tally()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one_input(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(TREES), label="tree")
        tree = campaign.tree(name)
        faults = data.draw(tree_faults(tree.targets, tree.removable), label="faults")
        by_pid = data.draw(st.booleans(), label="by_pid")
        options = data.draw(render_options(), label="options")
        tally = Tally()
        run_one(tree, SUBJECTS[name], faults, by_pid=by_pid, options=options, tally=tally)
        tally.merge_into(total)
        failures = list(iter_failures(tally))
        assert not failures, "\n".join(failures)

    runner = one_input if seed is None else hypothesis_seed(seed)(one_input)
    runner()
    return total


# ------------------------------------------------------------------- lxcfs-render --root

_CLI_ERROR = re.compile(r"^lxcfs-render: error: [^\n]+\n$")


def cli_outcome(argv: Sequence[str]) -> tuple[int, str, str]:
    """Run ``lxcfs-render argv`` in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from lxcfs_cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


def check_cli(code: int, out: str, err: str) -> list[str]:
    """A clean result (0, text, nothing on stderr) or a one-line error (1, nothing on
    stdout, ``lxcfs-render: error: ...``); exit 70 is the CLI's "internal error" net."""
    if code == 0 and not err:
        return []
    if code == 1 and not out and _CLI_ERROR.match(err):
        return []
    return [f"lxcfs-render exit {code}, stdout {out[:80]!r}, stderr {err[:200]!r}"]


def run_cli_campaign(workdir: Path, examples: int, *, seed: int | None = None) -> Tally:
    """``lxcfs-render <file> --root <malformed tree> --cgroup|--pid ...`` for ``examples``
    inputs; each must end in a clean result or a one-line error (``check_cli``)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from strategies import tree_faults

    campaign = Campaign(workdir)
    total = Tally()
    names = tuple(spec.path for spec in FILES)

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def one_input(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(("v1-nested", "v2-nested")), label="tree")
        tree = campaign.tree(name)
        faults = data.draw(tree_faults(tree.targets, tree.removable), label="faults")
        file = data.draw(st.sampled_from(names), label="file")
        subject = SUBJECTS[name]
        how = (
            ["--pid", str(subject.pid)]
            if data.draw(st.booleans())
            else ["--cgroup", subject.cgroup]
        )
        tally = Tally(inputs=1)
        for fault in faults:
            tally.kinds[str(fault[2]) if fault[0] == "write" else str(fault[0])] += 1
        tree.apply(faults)
        try:
            code, out, err = cli_outcome([file, "--root", str(tree.root), *how])
        finally:
            tree.restore()
        tally.refused += code != 0
        tally.rendered_files += code == 0
        tally.violations.extend(check_cli(code, out, err))
        tally.merge_into(total)
        assert not tally.violations, tally.violations[0]

    (one_input if seed is None else hypothesis_seed(seed)(one_input))()
    return total
