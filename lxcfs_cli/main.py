"""``lxcfs-render``: print a file as a container would read it through LXCFS.

Rules:
1. A thin adapter: parse arguments, get values (live through ``lxcfs_model.io.SystemReader``
   or from a snapshot file), call ``lxcfs_model``, print. No file content is computed here.
2. Every failure a user can cause (unknown file, no such cgroup or pid, unreadable root, bad
   option, malformed snapshot, unwritable output) ends as ONE line on stderr,
   ``lxcfs-render: error: ...``, and a non-zero exit: 1 for a failed request, 2 for a bad
   command line. Never a traceback: ``RenderGroup.main`` is the one boundary that catches.
3. ``lxcfs-render FILE ...`` is the default command: a first argument that is not a
   subcommand (``snapshot``, ``docs``, and ``docker-args``/``env`` from ``lxcfs_cli.deploy``)
   is a file name. No rendered file has a subcommand's name, so nothing is shadowed.

Options and snapshots: a snapshot saves the options it was taken with, and rendering it
uses them, so the output is the one the snapshot's machine would have produced. An option
given on the command line (``--enable-cfs`` or ``--no-enable-cfs``, and likewise for the
others) overrides the saved value of that one option; the options not mentioned keep their
saved values.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import attrs
import typer
from typer.core import TyperGroup

from lxcfs_cli import deploy
from lxcfs_model import FILES, FileSpec, LxcfsModelError, RenderOptions, resolve_file, short_name
from lxcfs_model.explain import explain
from lxcfs_model.io import SystemReader
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.snapshot import Snapshot, snapshot_from_json, snapshot_to_json

try:  # typer >= 0.20 vendors click and does not re-export its exception types
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef, import-not-found, unused-ignore]

__all__ = ["app", "main", "run"]

PROG = "lxcfs-render"


class RenderGroup(TyperGroup):
    """The command group: ``render`` is the default command, and errors are one line."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        group_options = ("--help", "-h", "--install-completion", "--show-completion")
        if not args and ctx.resilient_parsing:
            # Shell completion of the first word: offer the commands, not render's options.
            return super().parse_args(ctx, args)
        if not args or (args[0] not in self.commands and args[0] not in group_options):
            args = ["render", *args]
        return super().parse_args(ctx, args)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        try:
            code = super().main(
                args=args, prog_name=prog_name or PROG, standalone_mode=False, **extra
            )
        except click_exceptions.UsageError as error:
            _fail(f"{error.format_message()} (see '{PROG} --help')", 2)
        except click_exceptions.ClickException as error:
            _fail(error.format_message(), error.exit_code or 1)
        except typer.Abort:
            _fail("aborted", 130)
        except LxcfsModelError as error:
            _fail(str(error), 1)
        except BrokenPipeError:
            # The reader went away (``| head``); nothing left to say to it.
            sys.stderr.close()
            sys.exit(1)
        except OSError as error:
            _fail(_describe_os_error(error), 1)
        except Exception as error:  # the boundary promises no traceback, even for a bug
            _fail(f"internal error: {type(error).__name__}: {error}", 70)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    sys.exit(code)


def _describe_os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


app = typer.Typer(
    cls=RenderGroup,
    name=PROG,
    help="Print /proc and /sys files as a container reads them through LXCFS.",
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ----------------------------------------------------------------------------- options

CgroupOption = Annotated[
    str | None,
    typer.Option(
        "--cgroup",
        metavar="PATH",
        help="The container's cgroup path (as /proc/<pid>/cgroup prints it, e.g. /lxc/c1).",
    ),
]
PidOption = Annotated[
    int | None,
    typer.Option("--pid", metavar="PID", help="Render for the container this pid belongs to."),
]
RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        metavar="DIR",
        help="Read the system from DIR (a tree with proc/ and sys/fs/cgroup/) instead of /.",
    ),
]
EnableCfs = Annotated[
    bool | None,
    typer.Option("--enable-cfs/--no-enable-cfs", help="CPU view: cap CPUs by the CFS quota."),
]
DisableSwap = Annotated[
    bool | None,
    typer.Option("--disable-swap/--no-disable-swap", help="Show no swap (SwapTotal 0)."),
]
DisableZswap = Annotated[
    bool | None,
    typer.Option("--disable-zswap/--no-disable-zswap", help="Show Zswap/Zswapped as 0."),
]
EnableLoadavg = Annotated[
    bool | None,
    typer.Option("--enable-loadavg/--no-enable-loadavg", help="Virtualize /proc/loadavg."),
]


def _options(
    base: RenderOptions,
    enable_cfs: bool | None,
    disable_swap: bool | None,
    disable_zswap: bool | None,
    enable_loadavg: bool | None,
) -> RenderOptions:
    """``base`` with every option the command line mentions replaced."""
    given = {
        "enable_cfs": enable_cfs,
        "disable_swap": disable_swap,
        "disable_zswap": disable_zswap,
        "enable_loadavg": enable_loadavg,
    }
    return attrs.evolve(base, **{name: on for name, on in given.items() if on is not None})


def _live_snapshot(
    root: Path, cgroup: str | None, pid: int | None, options: RenderOptions
) -> Snapshot:
    """Read the container's values from the system under ``root``."""
    if cgroup is not None and pid is not None:
        raise click_exceptions.UsageError("give --cgroup or --pid, not both")
    if not root.is_dir():
        raise LxcfsModelError(f"root {str(root)!r} is not a readable directory")
    reader = SystemReader(str(root))
    if cgroup is not None:
        view = reader.view_for_cgroup(cgroup)
        source = f"cgroup {cgroup}"
    else:
        target = os.getpid() if pid is None else pid
        view = reader.view_for_pid(target)
        source = f"pid {target}" if pid is not None else f"pid {target} (lxcfs-render itself)"
    if str(root) != "/":
        source += f" under {root}"
    host = reader.host_snapshot()
    clock = reader.clock()
    return Snapshot(view=view, host=host, clock=clock, options=options, source=source)


# ---------------------------------------------------------------------------- commands


def _complete_file(incomplete: str) -> list[str]:
    """Shell completion of FILE: the short names and full paths that start with the word."""
    names = [short_name(spec.path) for spec in FILES] + [spec.path for spec in FILES]
    return [name for name in names if name.startswith(incomplete)]


@app.command("render")
def render_command(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE",
            help="proc/meminfo, sys/devices/system/cpu/online, or a short name: meminfo, online.",
            show_default=False,
            autocompletion=_complete_file,
        ),
    ] = None,
    cgroup: CgroupOption = None,
    pid: PidOption = None,
    root: RootOption = Path("/"),
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            metavar="SNAP.json",
            help="Render from a snapshot file instead of the live system.",
        ),
    ] = None,
    explain_lines: Annotated[
        bool,
        typer.Option("--explain", help="Show under each line where its number comes from."),
    ] = False,
    list_files: Annotated[
        bool, typer.Option("--list", help="List the files lxcfs-render knows and exit.")
    ] = False,
    enable_cfs: EnableCfs = None,
    disable_swap: DisableSwap = None,
    disable_zswap: DisableZswap = None,
    enable_loadavg: EnableLoadavg = None,
) -> None:
    """Print FILE as the container would read it (the default command).

    \b
    Examples:
      lxcfs-render meminfo --cgroup /lxc/c1       the memory limits of cgroup /lxc/c1
      lxcfs-render cpuinfo --pid 4242 --enable-cfs what pid 4242's container reads
      lxcfs-render online --root tests/fixtures/v2-nested --cgroup /lxc/c2
      lxcfs-render meminfo --pid 4242 --explain   where every number comes from
      lxcfs-render --list                          the files it knows
    """
    if list_files:
        width = max(len(short_name(spec.path)) for spec in FILES)
        for spec in FILES:
            print(f"{short_name(spec.path):<{width}}  /{spec.path}")
        return
    if file is None:
        raise click_exceptions.UsageError("missing FILE argument; --list names the files")
    spec = resolve_file(file)
    flags = (enable_cfs, disable_swap, disable_zswap, enable_loadavg)
    if snapshot is not None:
        if cgroup is not None or pid is not None or root != Path("/"):
            raise click_exceptions.UsageError(
                "--snapshot already names the container; drop --cgroup, --pid and --root"
            )
        saved = snapshot_from_json(_read_text(snapshot))
        inputs = saved.inputs(_options(saved.options, *flags))
    else:
        inputs = _live_snapshot(root, cgroup, pid, _options(RenderOptions(), *flags)).inputs()
    _print_render(spec, inputs, explain_lines)


def _print_render(spec: FileSpec, inputs: RenderInputs, explain_lines: bool) -> None:
    rendered = spec.renderer(inputs)
    text = explain(spec.provenance, rendered).format() if explain_lines else rendered.text
    sys.stdout.write(text)
    sys.stdout.flush()


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8", errors="surrogateescape") as snapshot_file:
        return snapshot_file.read()


@app.command("snapshot")
def snapshot_command(
    output: Annotated[
        Path,
        typer.Option("-o", "--output", metavar="SNAP.json", help="Where to write ('-': stdout)."),
    ],
    cgroup: CgroupOption = None,
    pid: PidOption = None,
    root: RootOption = Path("/"),
    enable_cfs: EnableCfs = None,
    disable_swap: DisableSwap = None,
    disable_zswap: DisableZswap = None,
    enable_loadavg: EnableLoadavg = None,
) -> None:
    """Save a container's render inputs (cgroup values, host files, clock, options) as JSON."""
    options = _options(RenderOptions(), enable_cfs, disable_swap, disable_zswap, enable_loadavg)
    text = snapshot_to_json(_live_snapshot(root, cgroup, pid, options))
    if str(output) == "-":
        sys.stdout.write(text)
        return
    temporary = output.with_name(output.name + ".tmp")
    try:
        temporary.write_text(text, encoding="ascii")
        temporary.replace(output)  # a reader never sees half a snapshot
    except OSError as error:
        raise LxcfsModelError(f"cannot write {output}: {error.strerror or error}") from None


@app.command("docs")
def docs_command(
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Directory for the file pages.")
    ] = Path("docs/files"),
    check: Annotated[
        bool,
        typer.Option("--check", help="Change nothing; fail if a page is missing or stale."),
    ] = False,
) -> None:
    """Write one Markdown page per file, generated from the provenance tables."""
    from lxcfs_cli.gen_docs import check_pages, write_pages

    if check:
        stale = check_pages(out)
        if stale:
            raise LxcfsModelError(
                f"docs in {out} are out of date ({', '.join(stale)}); run '{PROG} docs --out {out}'"
            )
        return
    for path in write_pages(out):
        print(path)


# Deployment helpers (docker-args, env) live in their own module and register themselves.
deploy.register(app)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI with ``argv`` (default: the process arguments); always exits."""
    command = typer.main.get_command(app)
    command.main(args=list(sys.argv[1:] if argv is None else argv), prog_name=PROG)
    raise AssertionError("unreachable: RenderGroup.main always exits")  # pragma: no cover


def run() -> None:
    """The console script ``lxcfs-render``."""
    main()


if __name__ == "__main__":
    run()
