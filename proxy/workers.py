"""Several worker processes on one port: a supervisor that forks, watches and signals them.

The supervisor binds the listening socket once and forks ``server.workers`` workers that all
accept on it: the kernel hands each connection to one of them, and a connection still waiting in
the queue when a worker dies is taken by another (one socket per worker with SO_REUSEPORT would
lose the dead worker's queue).  Migrations run in the supervisor before the first fork; the other
once-per-cluster jobs (the janitor, the mail sender, signing-key creation and rotation) already
coordinate through PostgreSQL (advisory locks, ``FOR UPDATE SKIP LOCKED``) as replicas must, so
each worker runs them and one at a time does the work.

Signals: SIGTERM and SIGINT are passed to every worker, which finishes its requests in flight and
exits (drain); SIGHUP is passed on so that every worker reloads its policies.  A worker that dies
is forked again after a back-off that doubles while it keeps dying young.

Shared state (revocations, lockouts, rate limits, replay guards) lives in the store, and only
Redis is shared between processes: without ``redis.url`` rowgate serves with one worker and
says so (``worker_count``).  The metrics are shared through files (``auth.telemetry``) in a
private directory the supervisor makes at start and removes at exit (``MetricsDirectory``), so
that a scrape answered by any worker shows every worker's counts; the supervisor compacts a dead
worker's files into one file for every worker that died, so restarts never grow it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rowgate.auth import metrics_files, telemetry
from rowgate.config.schema import Settings
from rowgate.errors import RowgateError, ServiceUnavailable

log = logging.getLogger("rowgate.workers")

SIGNALS = frozenset({signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
FIRST_DELAY = 0.1  # seconds before forking a dead worker again ...
LONGEST_DELAY = 10.0  # ... doubling up to this while it keeps dying young
YOUNG = 10.0  # a worker that lived longer than this starts its back-off afresh
PR_SET_PDEATHSIG = 1  # prctl(2)

#: What a worker runs: ``(index, first_start, listening socket) -> exit code``.
Worker = Callable[[int, bool, socket.socket], int]


def worker_count(settings: Settings, cpus: int | None = None) -> int:
    """How many workers to run: ``server.workers``, else one per CPU, but one without Redis
    (a warning when workers were asked for, a note when they were the default)."""
    wanted = settings.server.workers or cpus or len(os.sched_getaffinity(0))
    if wanted > 1 and not settings.redis.url:
        level = logging.WARNING if settings.server.workers else logging.INFO
        log.log(
            level,
            "serving with 1 worker instead of %d: redis.url is not set, and the in-process store "
            "(revocations, lockouts, rate limits) cannot be shared between workers; set redis.url "
            "(or ROWGATE_REDIS_URL) to use more",
            wanted,
        )
        return 1
    return wanted


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """Bind the socket every worker accepts on (as aiohttp would bind it for one process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class MetricsDirectory:
    """Where the workers keep their metrics: a directory of the temporary folder (``TMPDIR``),
    private (0700), made empty at start and removed at exit.

    A lock file in it stays locked while the supervisor or any of its workers lives (they share
    the open file), so that a supervisor starting removes the directories that one killed by
    SIGKILL left behind, and never one in use.  The lock file is locked before it takes its name:
    a directory without it is never removed (it is being made).
    """

    PREFIX = "rowgate-metrics-"
    LOCK = "lock"

    def __init__(self, path: Path, lock: IO[str]) -> None:
        self.path, self._lock = path, lock

    @classmethod
    def create(cls) -> MetricsDirectory:
        root = Path(tempfile.gettempdir())
        for left in root.glob(cls.PREFIX + "*"):
            cls._remove_abandoned(left)
        try:
            path = Path(tempfile.mkdtemp(prefix=cls.PREFIX, dir=root))  # mode 0700
            pending = path / f"{cls.LOCK}.pending"
            lock = pending.open("w", encoding="utf-8")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            pending.rename(path / cls.LOCK)
        except OSError as exc:
            raise ServiceUnavailable(
                f"the workers cannot share their metrics: no directory can be made in {root} "
                f"({exc.strerror or exc}); set TMPDIR to a writable folder, or server.metrics: false",
                code="metrics_directory",
            ) from exc
        return cls(path, lock)

    @classmethod
    def _remove_abandoned(cls, folder: Path) -> None:
        try:
            if folder.is_symlink() or folder.stat().st_uid != os.getuid():
                return
            with (folder / cls.LOCK).open(encoding="utf-8") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError while in use
                shutil.rmtree(folder)
        except OSError:
            return  # in use, being made, or not ours
        log.info("removed %s, left by a rowgate that was killed", folder)

    def process_dead(self, name: str) -> None:
        """Keep a dead worker's counts in the file of every worker that died, and forget the
        gauges of what it had open (``metrics_files.compact``).  Should that fail, its files
        stay where they are, and are still counted."""
        try:
            metrics_files.compact(self.path, name)
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a torn file
            log.warning("the metrics of worker %s stay in files of their own: %s", name, exc)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()


@dataclass
class Slot:
    """One worker's place: its process, and when it may be forked again after dying."""

    index: int
    pid: int | None = None
    metrics_name: str = ""  # the name of its metrics files (``metrics_files.worker_name``)
    started: float = 0.0
    delay: float = FIRST_DELAY
    due: float = 0.0
    forks: int = 0


class Supervisor:
    """Forks ``count`` workers running ``worker`` on ``sock`` and keeps them running; with
    ``share_metrics`` (``server.metrics``) they share their metrics through a ``MetricsDirectory``."""

    def __init__(
        self,
        count: int,
        sock: socket.socket,
        worker: Worker,
        drain_seconds: float,
        share_metrics: bool = True,
    ) -> None:
        self.slots = [Slot(index) for index in range(count)]
        self.sock = sock
        self.worker = worker
        self.drain_seconds = drain_seconds
        self.share_metrics = share_metrics
        self.metrics: MetricsDirectory | None = None
        self.stopping = False

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT, then drain the workers; the exit code."""
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        if self.share_metrics:
            self.metrics = MetricsDirectory.create()
            log.info("workers share their metrics through %s", self.metrics.path)
        try:
            for slot in self.slots:
                self._fork(slot)
            while True:
                received = signal.sigtimedwait(SIGNALS, self._wait())
                self._reap()
                if received is None or received.si_signo == signal.SIGCHLD:
                    self._fork_due()
                elif received.si_signo == signal.SIGHUP:
                    log.info("SIGHUP: every worker reloads its policies")
                    self._signal_all(signal.SIGHUP)
                else:
                    return self._drain()
        finally:
            if self.metrics is not None:
                self.metrics.remove()

    def _wait(self) -> float:
        dues = [slot.due for slot in self.slots if slot.pid is None]
        return max(0.0, min(dues) - time.monotonic()) if dues else 1.0

    def _fork(self, slot: Slot) -> None:
        first, supervisor = slot.forks == 0, os.getpid()
        name = metrics_files.worker_name(slot.index, slot.forks + 1)
        pid = os.fork()
        if pid == 0:  # the worker: it never returns from here
            code = 1
            try:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # not fatal before the worker's handler
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
                _drain_when_orphaned(supervisor)
                if self.metrics is not None:
                    telemetry.share_between_processes(self.metrics.path, name)
                code = self.worker(slot.index, first, self.sock)
            except RowgateError as exc:  # a database or store it cannot reach: one line, as the CLI
                log.error("worker %d stopped: %s", slot.index, exc.detail)
            except BaseException:
                log.exception("worker %d failed", slot.index)
            finally:
                os._exit(code)
        slot.pid, slot.metrics_name, slot.started, slot.forks = pid, name, time.monotonic(), slot.forks + 1
        log.info("worker %d started (pid %d)", slot.index, pid)

    def _reap(self) -> None:
        """Collect workers that exited; schedule each one's restart."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for slot in self.slots:
                if slot.pid == pid:
                    self._died(slot, status)

    def _died(self, slot: Slot, status: int) -> None:
        if self.metrics is not None and slot.pid is not None:
            self.metrics.process_dead(slot.metrics_name)
        if self.stopping:
            slot.pid = None
            log.info("worker %d stopped (%s)", slot.index, _describe(status))
            return
        now = time.monotonic()
        slot.delay = FIRST_DELAY if now - slot.started > YOUNG else min(slot.delay * 2, LONGEST_DELAY)
        slot.pid, slot.due = None, now + slot.delay
        log.warning("worker %d %s; starting it again in %.1fs", slot.index, _describe(status), slot.delay)

    def _fork_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.pid is None and slot.due <= now:
                self._fork(slot)

    def _signal_all(self, sig: signal.Signals) -> None:
        for slot in self.slots:
            if slot.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it has just died: reaped next
                    os.kill(slot.pid, sig)

    def _drain(self) -> int:
        """Ask every worker to finish its requests in flight and exit; kill those that do not."""
        log.info("shutting down: every worker finishes its requests in flight")
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.drain_seconds
        while any(slot.pid is not None for slot in self.slots) and time.monotonic() < deadline:
            signal.sigtimedwait({signal.SIGCHLD}, 0.2)
            self._reap()
        late = [slot for slot in self.slots if slot.pid is not None]
        if late:
            log.error("%d worker(s) did not stop in time: killing them", len(late))
            self._signal_all(signal.SIGKILL)
        return 1 if late else 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _drain_when_orphaned(supervisor: int) -> None:
    """Linux: have the kernel send this worker SIGTERM (drain and exit) when the supervisor dies,
    even by SIGKILL, so that no worker is left holding the port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
