"""Scanning many contents on more than one core before the engine sorts them.

Why: on a first sync every item is new and must be scanned (identity, digest, facts), about a third of the run's
CPU time. Scans are pure and independent, so other processes can make them while this one makes its own. Only
large reads use them: a worker costs a fresh interpreter (about 0.1 s) and each chunk of texts a round trip.

Why it can only make a run faster, never change it: a worker's result is the very ``Scan`` this process would
have made of the same text; this process never waits for a worker (whatever a worker still holds when the rest is
done is scanned here as well), and a worker that fails or dies only leaves its chunks to this process, as if
there were no workers. Bad items are never scanned elsewhere, so ``Content.scanned()`` raises their error here.

How: a worker is a fresh interpreter running ``serve``; it imports only the scanner and answers each pickled chunk
of texts on its stdin with their scans on its stdout. This process feeds the workers from the front of the
queue of chunks and scans from its back, and between two chunks of its own moves bytes through the pipes without
blocking. Why not ``multiprocessing``: its workers import the parent's main module (the whole CLI) before their
first task, and forking the service would hand its threads' locks and open connections to the children. Why not
a thread per worker: the thread needs the GIL at every read and write, and gets it only at the interpreter's
switch interval (5 ms), so the workers idle most of the time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from calsync.errors import InvalidItem
from calsync.model.canonical import Facts, Scan, scan
from calsync.model.content import Content
from calsync.model.item import ItemKind, Sensitivity

logger = logging.getLogger(__name__)

WORKERS_VARIABLE = "CALSYNC_SCAN_WORKERS"
"""Environment variable: how many worker processes scan besides the running one (0 turns them off). Default: one
fewer than the processors this process may run on, at most ``_MAX_WORKERS``."""
_MAX_WORKERS = 3
_CHUNK = 32
"""Texts per chunk: this process looks after its workers between two chunks of its own, so a chunk is short
(about 2 ms), and a worker is sent ``_DEPTH`` of them ahead so it never waits for the next."""
_DEPTH = 3
_PIPE_SIZE = 1 << 20
"""Asked of Linux for each pipe, so a chunk or two go through in one write."""
_HEADER = struct.Struct("<Q")
_PACKAGE_HOME = str(Path(__file__).resolve().parents[2])
"""The folder calsync is imported from, which a worker appends to its path: found there if nowhere else (a
checkout), never ahead of the standard library or of an installed copy."""
_BOOTSTRAP = (
    "import sys; sys.path.append(sys.argv[1]); from {module} import serve; serve(sys.stdin.buffer, sys.stdout.buffer)"
)
"""A worker's program, run isolated (``-I``: no environment variables, no current folder on the path)."""

_Packed = tuple[str, str, str, str, float | None, float | None, bool, bool, str, str]


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
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(0, min(available - 1, _MAX_WORKERS))


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
        for _ in range(self.workers):
            try:
                self._workers.append(_Worker())
            except (OSError, ValueError) as exc:  # no interpreter to start, no processes left
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
        self._workers = []

    def _tend(self, jobs: deque[list[Content]]) -> None:
        """Take the workers' answers, top up what each has been sent, and write what their pipes accept."""
        for worker in list(self._workers):
            try:
                self.scanned_elsewhere += worker.take_answers()
                while len(worker.sent) < _DEPTH and jobs:
                    worker.send(jobs.popleft())
                worker.flush()
            except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
                logger.warning("a scan worker stopped (%s); its items are scanned in this process", exc)
                for chunk in worker.sent:
                    _scan_here(chunk)
                worker.stop()
                self._workers.remove(worker)


class _Worker:
    """One worker process and the two ends of its pipes, driven without blocking."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOTSTRAP.format(module=__name__), _PACKAGE_HOME],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
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
        self.outbox += _HEADER.pack(len(data)) + data
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
        adopted = 0
        while len(self.inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.inbox)
            if len(self.inbox) < _HEADER.size + size:
                break
            packed: list[_Packed | None] = pickle.loads(self.inbox[_HEADER.size : _HEADER.size + size])
            del self.inbox[: _HEADER.size + size]
            for content, result in zip(self.sent.popleft(), packed, strict=True):
                if result is not None:
                    content.adopt_scan(_unpack(result))
                    adopted += 1
        return adopted

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


def _scan_texts(texts: list[tuple[str, str]]) -> list[_Packed | None]:
    """The scans of ``texts`` as plain tuples (cheap to pickle); ``None`` for a text that is not a valid item."""
    results: list[_Packed | None] = []
    for text, media_type in texts:
        try:
            results.append(_pack(scan(text, media_type)))
        except InvalidItem:
            results.append(None)
    return results


def _pack(made: Scan) -> _Packed:
    f = made.facts
    lo, hi = f.span
    return (f.ident, f.kind.value, f.title, f.sensitivity.value, lo, hi, f.recurring, f.has_attendees, f.stamp,
            made.digest)  # fmt: skip


def _unpack(packed: _Packed) -> Scan:
    ident, kind, title, sensitivity, lo, hi, recurring, has_attendees, stamp, digest = packed
    facts = Facts(ident, ItemKind(kind), title, Sensitivity(sensitivity), (lo, hi), recurring, has_attendees, stamp)
    return Scan(facts, digest)


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """A worker's loop: answer each chunk of texts read from ``source`` with its scans, until end of input."""
    while True:
        header = source.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        texts: Any = pickle.loads(source.read(size))
        data = pickle.dumps(_scan_texts(texts), protocol=pickle.HIGHEST_PROTOCOL)
        sink.write(_HEADER.pack(len(data)) + data)
        sink.flush()
