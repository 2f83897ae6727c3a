"""``lxcfs-fuse``: start-up, the housekeeping thread, serving, clean exit (spec 4.1, 4.2).

Order (like lxcfs): parse options -> lock the pid file (a second daemon on it exits 1) ->
clear a stale mount -> build reader, content and operations -> start housekeeping -> mount
and serve in the foreground until SIGTERM/SIGINT/SIGHUP or ``umount`` -> stop housekeeping
-> remove the pid file. The exit status is 0 after a clean unmount, 1 otherwise.

Signals: libfuse installs its own SIGINT/SIGTERM/SIGHUP handlers (leave the loop, unmount).
They must reach the thread blocked in libfuse's loop, so the housekeeping thread blocks them.
SIGUSR1 and SIGUSR2 are blocked in every thread and taken by the housekeeping thread with
``sigtimedwait`` (a Python signal handler would never run: the main thread stays inside
libfuse, and Python runs handlers only in the main thread between bytecodes): SIGUSR2
toggles virtualization (host files while off), SIGUSR1 reloads ``lxcfs_model`` from disk
(``lxcfs_fuse.reload``: a live upgrade, same process, same mount; a failed reload logs one
line and the old code serves on), as ``systemctl reload`` and lxcfs expect. Threads libfuse
starts inherit the mask of the thread that starts them, so no thread but housekeeping can
take a SIGUSR1/SIGUSR2, and libfuse never installs handlers for them.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from lxcfs_fuse import ahead, devfuse, fuse_api, mountpoint, privileges
from lxcfs_fuse.cgroup_tree import CgroupTreeOperations
from lxcfs_fuse.content import ContainerContent
from lxcfs_fuse.loadavg import LoadavgSampler
from lxcfs_fuse.logs import configure_logging
from lxcfs_fuse.operations import LxcfsOperations
from lxcfs_fuse.options import (
    DaemonOptions,
    UsageError,
    fuse_mount_options,
    parse_args,
    print_usage_error,
)
from lxcfs_fuse.peers import Peers, process_count
from lxcfs_fuse.pidfile import PidFile, PidFileLocked
from lxcfs_fuse.reload import ReloadFailed
from lxcfs_model import __version__
from lxcfs_model.errors import LxcfsModelError
from lxcfs_model.io import CachingReader

__all__ = ["Housekeeping", "run", "serve"]

log = logging.getLogger("lxcfs_fuse")

SAMPLE_SECONDS = 5.0
PRUNE_SECONDS = 30.0
_LIBFUSE_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_OUR_SIGNALS = {signal.SIGUSR1, signal.SIGUSR2}
#: A helper's idle tick (lxcfs_fuse.peers rule 4): only its serving thread takes it.
_PEER_SIGNALS = {signal.SIGALRM}
_POLL_SECONDS = 0.5


def _give_back_free_memory() -> None:
    """Return the C heap's free pages to the kernel after a prune (glibc ``malloc_trim``).
    The caches drop what vanished containers used, but glibc keeps freed heap memory for
    reuse, so without this the daemon stayed about 1.7 MiB above its baseline after 1,000
    containers came and went (docs/performance.md). A no-op where libc has no malloc_trim."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None)
except OSError:  # pragma: no cover - every Linux libc loads; keep the daemon up regardless
    _LIBC = None


class Housekeeping(threading.Thread):
    """Samples load averages every 5 s (``-l``) and prunes state of vanished containers.
    One pass never overlaps the next; a slow pass delays the next one, never doubles it."""

    def __init__(
        self, content: ContainerContent, peers: Peers | None = None, *, signals: bool = True
    ) -> None:
        super().__init__(name="lxcfs-housekeeping", daemon=True)
        self._content = content
        self._peers = peers  # told of every switch and reload (peers rule 7)
        self._signals = signals  # False in a helper: the main process takes the signals
        self._stopping = threading.Event()

    def run(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, _LIBFUSE_SIGNALS | _OUR_SIGNALS | _PEER_SIGNALS)
        next_sample = time.monotonic() + SAMPLE_SECONDS
        next_prune = time.monotonic() + PRUNE_SECONDS
        while not self._stopping.is_set():
            try:
                if self._signals:
                    received = signal.sigtimedwait(_OUR_SIGNALS, _POLL_SECONDS)
                    if received is not None:
                        self._signalled(received.si_signo)
                else:
                    self._stopping.wait(_POLL_SECONDS)
                now = time.monotonic()
                if now >= next_sample:
                    next_sample = now + SAMPLE_SECONDS
                    if self._content.sampler is not None:
                        self._content.sampler.sample_once()
                if now >= next_prune:
                    next_prune = now + PRUNE_SECONDS
                    self._content.prune()
                    _give_back_free_memory()
            except BaseException as error:  # the thread must outlive one bad pass
                log.error("housekeeping pass failed: %s: %s", type(error).__name__, error)

    def _signalled(self, number: int) -> None:
        if number == signal.SIGUSR2:
            state = self._content.toggle_virtualization()
            if self._peers is not None:
                self._peers.publish(state)
            log.info("SIGUSR2: switched into %svirtualization mode", "" if state else "non-")
        elif number == signal.SIGUSR1:
            old = self._content.library
            try:
                new = self._content.reload().library
            except Exception as error:  # whatever failed, the old generation still serves
                reason = str(error) if isinstance(error, ReloadFailed) else repr(error)
                log.error(
                    "SIGUSR1: reload failed, still serving lxcfs_model %s (generation %d): %s",
                    old.version,
                    old.number,
                    " ".join(reason.split()),
                )
                return
            if self._peers is not None:
                self._peers.publish(self._content.virtualize, reloaded=True)
            log.info(
                "SIGUSR1: reloaded lxcfs_model %s from %s (generation %d); histories, load "
                "averages, caller cache, options and %svirtualization mode carried over",
                new.version,
                new.location,
                new.number,
                "" if self._content.virtualize else "non-",
            )

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


def build_content(options: DaemonOptions, root: str = "/") -> ContainerContent:
    """Reader, content and (with -l) the loadavg sampler for ``options``. The reader lets
    requests arriving within 10 ms share host texts and container views (a burst of reads
    by top or a monitoring agent reads each file once)."""
    content = ContainerContent(CachingReader(root), options.render)
    if options.render.enable_loadavg:
        content.sampler = LoadavgSampler(
            content.cpu_cgroup_directory,
            proc_root=content.reader.path("proc"),
            library=lambda: content.library,
        )
    return content


def serve(options: DaemonOptions) -> int:
    """Everything after option parsing; returns the exit status."""
    # Blocked before anything else (a reload signal must never kill the daemon) and before
    # any thread starts, so every thread inherits the mask and only the housekeeping
    # thread's sigtimedwait takes them.
    signal.pthread_sigmask(signal.SIG_BLOCK, _OUR_SIGNALS | _PEER_SIGNALS)
    # Also before any thread: every thread then has only the capabilities it needs.
    extra = privileges.CGROUP_TREE_CAPABILITIES if options.enable_cgroup else {}
    if privileges.drop_capabilities(extra):
        log.info("capabilities: kept %s only", ", ".join([*privileges.KEPT_CAPABILITIES, *extra]))
    try:
        pidfile = PidFile(options.pidfile)
    except PidFileLocked as error:
        log.error("%s; not starting a second daemon", error)
        return 1
    except OSError as error:
        log.error("cannot create pid file %s: %s", options.pidfile, error.strerror)
        return 1
    housekeeping: Housekeeping | None = None
    peers: Peers | None = None
    device: int | None = None
    try:
        mountpoint.prepare(options.mountpoint)
        content = build_content(options)
        cgroups = CgroupTreeOperations(content) if options.enable_cgroup else None
        operations = LxcfsOperations(content, cgroups=cgroups)
        if fuse_api.BINDING == "devfuse":
            count = process_count(options.single_threaded)
            if count > 1 and threading.active_count() == 1:
                # Before any thread starts: a fork copies only this one (peers rule 8).
                device = devfuse.open_device()
                peers = Peers(count)
                peers.publish(content.virtualize)
                peers.fork_helpers(
                    functools.partial(
                        _serve_as_helper,
                        content=content,
                        operations=operations,
                        device=device,
                        pidfile=pidfile,
                    )
                )
                # With LXCFS_FUSE_READ_AHEAD=1 the main process reads ahead while idle
                # (devfuse rule 8; off by default, ahead rule 6); the helpers, forked
                # above, never do.
                if ahead.enabled():
                    content.ahead = ahead.ReadAhead()
        housekeeping = Housekeeping(content, peers)
        housekeeping.start()
        log.info(
            "serving %s (lxcfs-fuse %s, %s)", options.mountpoint, __version__, fuse_api.describe()
        )
        fuse_api.mount(
            operations,
            options.mountpoint,
            debug=options.debug,
            single_threaded=options.single_threaded,
            options=fuse_mount_options(options),
            device=device,
            peers=peers,
        )
        log.info("unmounted %s", options.mountpoint)
        return 0
    except (OSError, LxcfsModelError, RuntimeError) as error:
        log.error("cannot serve %s: %s", options.mountpoint, error)
        return 1
    finally:
        if housekeeping is not None:
            housekeeping.stop()
        if peers is not None:
            peers.stop()  # again after an unmount: a no-op; after a failed mount: needed
        pidfile.release()


def _serve_as_helper(
    peers: Peers,
    content: ContainerContent,
    operations: LxcfsOperations,
    device: int,
    pidfile: PidFile,
) -> int:
    """A helper process's life (``lxcfs_fuse.peers``): prune its own caches, apply what
    the main process publishes, serve what it is given."""
    pidfile.close_in_fork()
    content.sampler = None  # load averages are the main process's (peers rule 1)
    housekeeping = Housekeeping(content, signals=False)
    housekeeping.start()
    seen = {"reloads": peers.control()[1]}

    def apply_control() -> None:
        virtualize, reloads = peers.control()
        if reloads != seen["reloads"]:
            seen["reloads"] = reloads
            try:
                content.reload()
            except Exception as error:  # the old generation serves on, as in the main
                log.error("helper %d: reload failed: %s", peers.index, error)
        if virtualize != content.virtualize:
            content.toggle_virtualization()

    os.close(device)  # the main process's; this helper reads a clone of its own
    clone = peers.receive_device()
    if clone is None:
        housekeeping.stop()
        return 0
    session = devfuse.Session(operations, clone, peers=peers)
    try:
        session.serve_helper(apply_control)
    finally:
        housekeeping.stop()
        log.info("helper %d: served %d requests", peers.index, session.requests_served)
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``lxcfs-fuse``, ``python -m lxcfs_fuse``)."""
    try:
        parsed = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print_usage_error(error)
        sys.exit(1)
    if isinstance(parsed, str):
        print(parsed, end="")
        sys.exit(0)
    configure_logging(parsed.debug)
    if parsed.enable_pidfd:
        log.info("--enable-pidfd: accepted; callers' inits are always validated")
    if parsed.enable_psi_poll:
        log.info("--enable-psi-poll: accepted; PSI triggers are not supported (writes: EINVAL)")
    sys.exit(serve(parsed))
