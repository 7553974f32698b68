"""Scanning many contents on more than one core before the engine sorts them.

Why: on a first sync every item is new and must be scanned (identity, digest, facts), about a third of the run's
CPU time. Scans are pure and independent, so other processes can make them while this one makes its own. Only
large reads use them: a worker costs a fresh interpreter (about 0.1 s) and each chunk of texts a round trip.

Why it can only make a run faster, never change it: a worker's result is the very ``Scan`` this process would
have made of the same text; this process never waits for a worker (whatever a worker still holds when the rest is
done is scanned here as well), and a worker that fails or dies only leaves its chunks to this process, as if
there were no workers. Bad items are never scanned elsewhere, so ``Content.scanned()`` raises their error here.

How: a worker is a fresh interpreter with this process's exact import path and settings, running
``calsync.sync.scanworker`` (which holds the worker's side and the messages). Before it is given any work it says
which code it runs (digests of the item model's files and of the time-zone data); a worker that would run other
code, say after an upgrade in place, is stopped. This process feeds the workers from the front of the queue of
chunks and scans from its back, and between two chunks of its own moves bytes through the pipes without blocking.
Why not ``multiprocessing``: its workers import the parent's main module (the whole CLI) before their first task,
and forking the service would hand its threads' locks and open connections to the children. Why not a thread per
worker: the thread needs the GIL at every read and write, and gets it only at the interpreter's switch interval
(5 ms), so the workers idle most of the time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from calsync.errors import InvalidItem
from calsync.model.content import Content
from calsync.sync import scanworker

logger = logging.getLogger(__name__)

WORKERS_VARIABLE = "CALSYNC_SCAN_WORKERS"
"""Environment variable: how many worker processes scan besides the running one (0 turns them off). Default: one
fewer than the processors this process may run on, at most ``_MAX_WORKERS``."""
_MAX_WORKERS = 3
_CHUNK = 32
"""Texts per chunk: this process looks after its workers between two chunks of its own, so a chunk is short
(about 2 ms), and a worker is sent ``_DEPTH`` of them ahead so it never waits for the next."""
_DEPTH = 3
_PIPE_SIZE = 256 * 1024
"""Asked of Linux for each pipe, so a chunk goes through in one write."""
_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_CFS_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
_CFS_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
_SLOTS = threading.BoundedSemaphore(_MAX_WORKERS)
"""Workers of all runs of this process together: a service syncs several pairs at once, each with a Prescanner."""
_BOOTSTRAP = (
    "import sys; sys.path[:] = sys.argv[1:]; from {module} import serve; serve(sys.stdin.buffer, sys.stdout.buffer)"
)
"""A worker's program: this process's import path as it is, then the scanner."""
_WORKER = scanworker.__name__


def default_workers() -> int:
    """The number of worker processes to use: ``CALSYNC_SCAN_WORKERS`` if set, else one per spare processor."""
    if os.name != "posix":
        return 0  # the pipes are driven without blocking, which needs POSIX pipes
    configured = os.environ.get(WORKERS_VARIABLE, "").strip()
    if configured:
        try:
            return max(0, int(configured))
        except ValueError:
            logger.warning("%s=%r is not a number; scanning in this process only", WORKERS_VARIABLE, configured)
            return 0
    return max(0, min(_processors() - 1, _MAX_WORKERS))


def _processors() -> int:
    """The processors this process may use: those it may run on, fewer when a container's CPU quota says so
    (cgroup v2's ``cpu.max``, v1's ``cpu.cfs_quota_us``)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    quota = _cpu_quota()
    return available if quota is None else min(available, quota)


def _cpu_quota() -> int | None:
    try:  # v2: "max 100000", or "150000 100000" for one and a half processors
        quota, period = _CPU_MAX.read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        try:  # v1: -1 for none
            quota = _CFS_QUOTA.read_text(encoding="ascii").strip()
            period = _CFS_PERIOD.read_text(encoding="ascii").strip()
        except OSError:
            return None
    try:
        if quota == "max" or int(quota) <= 0:
            return None
        return max(1, -(-int(quota) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


class Prescanner:
    """Scans batches of contents here and in worker processes; one per run, closed when the run ends.

    ``min_batch``: batches smaller than this are left to be scanned one by one as they are sorted (starting
    workers would cost more than it saves).
    """

    def __init__(self, workers: int | None = None, *, min_batch: int = 512, chunk: int = _CHUNK) -> None:
        self.workers = default_workers() if workers is None else max(0, workers)
        self.min_batch = max(1, min_batch)
        self.chunk = max(1, chunk)
        self.scanned_elsewhere = 0
        """How many contents the workers scanned (proof, for tests and benchmarks, that they did)."""
        self._workers: list[_Worker] = []
        self._started = False

    def __enter__(self) -> Prescanner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def expect(self, count: int) -> None:
        """Start the workers now if ``count`` items are about to be read, so they are ready when the texts are."""
        if count >= self.min_batch:
            self.start()

    def start(self) -> None:
        """Start the workers (once): a worker takes a while to start, and starting it before the texts are
        read has it ready when they are."""
        if self._started:
            return
        self._started = True
        if not sys.executable or getattr(sys, "frozen", False) or not scanworker.CODE_HERE["files"]:
            return  # no Python to start (an embedding program, a frozen build), no files to compare: here only
        for _ in range(self.workers):
            if not _SLOTS.acquire(blocking=False):
                break  # other runs of this process hold every worker there may be
            try:
                self._workers.append(_Worker())
            except (OSError, ValueError) as exc:  # no interpreter to start, no processes left
                _SLOTS.release()
                logger.info("scanning in this process only: cannot start a worker (%s)", exc)
                break

    def scan(self, contents: Sequence[Content]) -> None:
        """Scan every content of ``contents`` that awaits a scan; returns when each is scanned or has failed."""
        todo = [content for content in contents if content.awaits_scan]
        if len(todo) < self.min_batch:
            return
        self.start()
        jobs = deque(todo[start : start + self.chunk] for start in range(0, len(todo), self.chunk))
        while jobs:
            self._tend(jobs)
            if jobs:
                _scan_here(jobs.pop())  # this process takes from the back, the workers from the front
        for worker in list(self._workers):  # what a worker still holds is scanned here rather than waited for
            for chunk in reversed(list(worker.sent)):
                self._tend(jobs)
                _scan_here(chunk)

    def close(self) -> None:
        """Stop the workers at once: they hold no state, and waiting for one still starting would cost a small
        run more than the worker saves it."""
        for worker in self._workers:
            worker.stop()
            _SLOTS.release()
        self._workers = []

    def _tend(self, jobs: deque[list[Content]]) -> None:
        """Take the workers' answers, top up what each has been sent, and write what their pipes accept."""
        for worker in list(self._workers):
            try:
                self.scanned_elsewhere += worker.take_answers()
                while worker.verified and len(worker.sent) < _DEPTH and jobs:
                    worker.send(jobs.popleft())
                worker.flush()
            except scanworker.OtherCode as exc:
                logger.warning("a scan worker would run other code than this process (%s); scanning here", exc)
                self._drop(worker)
            except Exception as exc:  # whatever a worker did (died, wrote garbage), its items are scanned here
                logger.warning("a scan worker stopped (%s); its items are scanned in this process", exc)
                logger.debug("the scan worker's failure", exc_info=True)
                self._drop(worker)

    def _drop(self, worker: _Worker) -> None:
        for chunk in worker.sent:
            _scan_here(chunk)
        worker.stop()
        self._workers.remove(worker)
        _SLOTS.release()


class _Worker:
    """One worker process and the two ends of its pipes, driven without blocking."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *_interpreter_flags(), "-c", _BOOTSTRAP.format(module=_WORKER), *map(str, sys.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.verified = False
        """Whether the worker said it runs the files this process runs (its first message); no work before."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.write_fd, self.read_fd = self.process.stdin.fileno(), self.process.stdout.fileno()
        for fd in (self.write_fd, self.read_fd):
            os.set_blocking(fd, False)
            _widen(fd)
        self.sent: deque[list[Content]] = deque()
        self.outbox = bytearray()
        self.inbox = bytearray()

    def send(self, chunk: list[Content]) -> None:
        """Queue ``chunk`` for the worker (``flush`` writes it)."""
        data = pickle.dumps([(c.text, c.media_type) for c in chunk], protocol=pickle.HIGHEST_PROTOCOL)
        self.outbox += scanworker.HEADER.pack(len(data)) + data
        self.sent.append(chunk)

    def flush(self) -> None:
        """Write as much of what is queued as the pipe takes now."""
        while self.outbox:
            try:
                written = os.write(self.write_fd, self.outbox)
            except BlockingIOError:
                return
            del self.outbox[:written]

    def take_answers(self) -> int:
        """Adopt the scans of every chunk the worker has answered; returns how many items it scanned."""
        while True:
            try:
                data = os.read(self.read_fd, _PIPE_SIZE)
            except BlockingIOError:
                break
            if not data:
                raise EOFError("the worker exited")
            self.inbox += data
        if not self.verified and not self._take_hello():
            return 0
        adopted = 0
        while len(self.inbox) >= scanworker.HEADER.size:
            (size,) = scanworker.HEADER.unpack_from(self.inbox)
            if len(self.inbox) < scanworker.HEADER.size + size:
                break
            message = scanworker.plain_loads(bytes(self.inbox[scanworker.HEADER.size : scanworker.HEADER.size + size]))
            del self.inbox[: scanworker.HEADER.size + size]
            for content, result in zip(self.sent.popleft(), message, strict=True):
                if result is not None and content.adopt_scan(scanworker.unpack(result)):
                    adopted += 1
        return adopted

    def _take_hello(self) -> bool:
        """Read the worker's first line, which says which code it runs; ``True`` once it matched this process's.

        Raises ``scanworker.OtherCode`` when the worker wrote anything else first (a banner of some site customisation
        would break the framing) or runs other code: it is then given no work.
        """
        if not self.inbox.startswith(scanworker.MAGIC[: len(self.inbox)]):
            raise scanworker.OtherCode(f"it wrote {bytes(self.inbox[:40])!r} before saying which code it runs")
        end = self.inbox.find(b"\n", len(scanworker.MAGIC))
        if end < 0:
            return False
        try:
            theirs = json.loads(self.inbox[len(scanworker.MAGIC) : end])
        except ValueError as exc:
            raise scanworker.OtherCode(
                f"it said which code it runs in a form this process cannot read ({exc})"
            ) from None
        del self.inbox[: end + 1]
        scanworker.check_same_code(theirs)
        self.verified = True
        return True

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.process.wait()


def _widen(fd: int) -> None:
    """Ask Linux for a larger pipe (best effort: elsewhere, or above the system's limit, it stays as it is)."""
    if sys.platform == "linux":
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


def _scan_here(chunk: list[Content]) -> None:
    for content in chunk:
        with contextlib.suppress(InvalidItem):  # left unscanned: the observer scans it again and reports why
            content.scanned()


def _interpreter_flags() -> list[str]:
    """This interpreter's settings as command-line options (``-I``, ``-E``, ``-X utf8`` …, as multiprocessing
    passes them), the digit limit for ``int()`` included, and ``-P``: nothing put ahead of the path given."""
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    return [*flags, "-X", f"int_max_str_digits={sys.get_int_max_str_digits()}", "-P"]
