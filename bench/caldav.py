"""Benchmark: calsync against real CalDAV servers (Radicale, Xandikos) on loopback, next to the server's own time.

Every figure is put next to what the server itself needs, measured in the same run, because both servers get
slower as a collection grows and a bare number says little:

- initial sync of ``--initial`` items (folder -> empty calendar): calsync and vdirsyncer, against the floor, a
  plain httpx client PUTting the same items one after another on one keep-alive connection, measured before the
  tools and again after them (the tools' ratios are to the mean of the two);
- reruns on a collection of ``--filled`` items (filled once, fast: Radicale's storage written directly, Xandikos
  by one git commit) that each tool first downloaded into an empty folder: a no-op rerun, against one no-change
  sync-collection REPORT; and a rerun after ``--changes`` edits in the folder;
- the same reruns as calsync's service runs them (tool ``calsync (warm)``): ``calsync serve`` / ``calsync worker``
  sync at intervals in one long-running process, so an interval sync pays no start-up. One process loads the
  same calsync.toml with calsync's own ``load_settings`` and calls ``sync_pairs`` (the service function behind
  ``calsync sync``) three times: the download (which also warms the imports and caches; its row still counts
  the modules imported on first use), the no-op rerun and the rerun after the edits. Each call builds its
  connectors and opens the state store afresh, as the service does, and is timed inside that process with
  ``perf_counter`` (CPU with ``process_time``, peak RSS of the process so far); requests are counted by the
  server as for every other row.

Other tools run as the command a user types (start-up included), one process per run, timed from outside: wall
time, client CPU (user + system) and peak RSS via ``os.wait4``. Requests are counted inside the server
(``bench/davserver.py`` wraps its application), with the seconds spent in it ("server s"). Radicale runs without
authentication (htpasswd costs ~65 ms per request in Radicale, which would swamp the figures) and keeps its
storage on /dev/shm when there is one.

Usage (vdirsyncer comes with the ``bench`` extra)::

    pip install -e '.[bench]'
    python bench/caldav.py                             # --initial 1000 --filled 5000 --changes 10
    python bench/caldav.py --initial 100 --filled 300  # a quick run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import BIN, Measure, compile_bytecode, run
from bench.items import write_folder

HERE = Path(__file__).resolve().parent
PASSWORD_ENV = "BENCH_DAV_PASSWORD"
_SYNC_TOKEN = re.compile(rb"<[^>]*sync-token>([^<]+)</")
_REPORT = (
    b'<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token>'
    b"<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)


@dataclass(frozen=True)
class Server:
    """A running server: its kind, root URL, the home collections are made in, and its storage folder."""

    kind: str
    url: str
    home: str
    root: Path

    def stats(self) -> tuple[int, float]:
        """Requests answered so far and the seconds spent answering them."""
        return server_stats(self.url)

    def make_calendar(self, name: str) -> str:
        """A new empty calendar; returns its URL."""
        url = f"{self.home}{name}/"
        body = (
            b'<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" '
            b'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>bench</d:displayname>'
            b"</d:prop></d:set></c:mkcalendar>"
        )
        response = httpx.request("MKCALENDAR", url, content=body, timeout=60)
        if response.status_code != 201:
            raise SystemExit(f"MKCALENDAR {url}: {response.status_code} {response.text[:200]}")
        return url

    def storage(self, url: str) -> Path:
        """The folder the server keeps the calendar at ``url`` in."""
        path = httpx.URL(url).path.strip("/")
        return self.root / "collections" / "collection-root" / path if self.kind == "radicale" else self.root / path

    def count_items(self, url: str) -> int:
        """How many items the calendar at ``url`` holds (one Depth 1 PROPFIND)."""
        response = httpx.request("PROPFIND", url, headers={"Depth": "1"}, timeout=600)
        base = httpx.URL(url).path
        responses = ElementTree.fromstring(response.content).iter("{DAV:}response")
        hrefs = [r.findtext("{DAV:}href") or "" for r in responses]
        return sum(1 for href in hrefs if href.startswith(base) and href != base)


@dataclass(frozen=True)
class Row:
    """One measured phase."""

    tool: str
    phase: str
    items: int
    measure: Measure
    requests: int
    server_s: float
    reference: float


# -- servers -------------------------------------------------------------------------------------------------


def server_stats(url: str) -> tuple[int, float]:
    """Requests the server at root ``url`` answered so far and its seconds answering them (not counted itself)."""
    count, seconds = httpx.get(url + ".bench-stats", timeout=10).text.split()
    return int(count), float(seconds)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def start(kind: str, root: Path) -> Iterator[Server]:
    """Radicale (no auth, default storage) or Xandikos on a free loopback port, with the counting wrapper."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    if kind == "radicale":
        args = [
            "--server-hosts", f"127.0.0.1:{port}", "--storage-filesystem-folder", str(root / "collections"),
            "--auth-type", "none", "--rights-type", "authenticated", "--logging-level", "error",
            "--storage-use-mtime-and-size-for-item-cache", "True", "--server-max-content-length", "1000000000",
        ]  # fmt: skip
        home = f"{url}bench/"
    else:
        args = ["-d", str(root), "--defaults", "-l", "127.0.0.1", "-p", str(port), "--no-detect-systemd"]
        home = f"{url}user/calendars/"
    log = root.parent / f"{kind}.log"
    with log.open("wb") as err:
        process = subprocess.Popen([sys.executable, str(HERE / "davserver.py"), kind, *args], stdout=err, stderr=err)
    try:
        server = Server(kind, url, home, root)
        _wait(server, process)
        if kind == "radicale":
            httpx.request("MKCOL", home, timeout=10).raise_for_status()  # the parent of the calendars
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{server.kind} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            server.stats()
            return
        time.sleep(0.1)
    raise SystemExit(f"{server.kind} did not start")


def fill(server: Server, url: str, source: Path, like: str | None) -> None:
    """Put every item of ``source`` into the new calendar at ``url`` the fastest way the server allows: a copy
    of the storage of ``like`` (a calendar filled the same way before), Radicale's storage written directly, or
    one git commit (Xandikos keeps a git repository per calendar)."""
    if like is not None:
        shutil.rmtree(server.storage(url))
        shutil.copytree(server.storage(like), server.storage(url))
    elif server.kind == "radicale":
        for file in sorted(source.iterdir()):
            shutil.copyfile(file, server.storage(url) / file.name)
    else:
        commit_files(server.storage(url), sorted(source.iterdir()))
    server.count_items(url)  # Radicale builds its item cache on the first read; not part of any figure


def commit_files(repository: Path, files: Sequence[Path]) -> None:
    """Add ``files`` to Xandikos's git repository of one calendar in one commit (one PUT is one commit there, and
    each costs more as the calendar grows: 5,000 PUTs take a quarter of an hour)."""
    from dulwich.repo import Repo

    for file in files:
        shutil.copyfile(file, repository / file.name)
    with Repo(str(repository)) as repo:
        tree = repo.get_worktree()
        tree.stage([file.name for file in files])
        tree.commit(message=b"bench fill", committer=b"bench <bench@calsync.invalid>")


_ICS = {"Content-Type": "text/calendar; charset=utf-8"}
_XML = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}


# -- the reference requests ----------------------------------------------------------------------------------


def put_floor(url: str, source: Path) -> float:
    """PUT every item of ``source`` to ``url`` in order on one connection; returns the seconds the loop took."""
    files = sorted(source.iterdir())
    bodies = [(f.name, f.read_bytes()) for f in files]
    with httpx.Client(timeout=120) as client:
        start_time = time.perf_counter()
        for name, body in bodies:
            response = client.put(url + name, content=body, headers={**_ICS, "If-None-Match": "*"})
            if response.status_code not in (201, 204):
                raise SystemExit(f"PUT {name}: {response.status_code}")
        return time.perf_counter() - start_time


def noop_report(url: str, runs: int = 3) -> float:
    """The best time of a sync-collection REPORT from the current token (nothing changed since)."""
    with httpx.Client(timeout=120) as client:
        first = client.request("REPORT", url, content=_REPORT % b"", headers=_XML)
        found = _SYNC_TOKEN.search(first.content)
        if first.status_code != 207 or found is None:
            raise SystemExit(f"{url}: no sync-collection here ({first.status_code})")
        best = float("inf")
        for _ in range(runs):
            start_time = time.perf_counter()
            response = client.request("REPORT", url, content=_REPORT % found.group(1), headers=_XML)
            best = min(best, time.perf_counter() - start_time)
            if response.status_code != 207 or b"response>" in response.content:
                raise SystemExit(f"{url}: the no-change REPORT answered {response.status_code} with changes")
        return best


# -- the tools -----------------------------------------------------------------------------------------------


def calsync_setup(root: Path, server: Server, url: str, folder: Path | None) -> list[str]:
    """A calsync config syncing folder ``a/cal`` (a copy of ``folder``, or empty) with the calendar at ``url``."""
    (root / "a").mkdir(parents=True)
    if folder is not None:
        shutil.copytree(folder, root / "a" / "cal")
    else:
        (root / "a" / "cal").mkdir()
    collection = url[len(server.home) :].strip("/")
    (root / "calsync.toml").write_text(
        '[state]\nurl = "state.db"\n\n'
        '[[connections]]\nname = "a"\ntype = "folder"\npath = "a"\n\n'
        f'[[connections]]\nname = "b"\ntype = "caldav"\nurl = "{server.home}"\nusername = "bench"\n'
        f'password_env = "{PASSWORD_ENV}"\n\n'
        f'[[pairs]]\nname = "bench"\na = "a:cal"\nb = "b:{collection}"\nmode = "two-way"\nwindow = [30, 30]\n',
        encoding="utf-8",
    )
    return [str(BIN / "calsync"), "sync", "--config", str(root / "calsync.toml")]


def vdirsyncer_setup(root: Path, server: Server, url: str, folder: Path | None) -> list[str]:
    """A vdirsyncer config doing the same (its ``discover`` runs here, before any counting)."""
    if folder is not None:
        shutil.copytree(folder, root / "a" / "cal")
    else:
        (root / "a" / "cal").mkdir(parents=True)
    (root / "config").write_text(
        f'[general]\nstatus_path = "{root}/status/"\n\n'
        '[pair bench]\na = "bench_a"\nb = "bench_b"\ncollections = null\nconflict_resolution = "a wins"\n\n'
        f'[storage bench_a]\ntype = "filesystem"\npath = "{root}/a/cal/"\nfileext = ".ics"\n\n'
        f'[storage bench_b]\ntype = "caldav"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    argv = [str(BIN / "vdirsyncer"), "-v", "WARNING", "-c", str(root / "config")]
    subprocess.run([*argv, "discover", "bench"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [*argv, "sync"]


WARM = "calsync (warm)"
TOOLS = {"calsync": calsync_setup, WARM: calsync_setup, "vdirsyncer": vdirsyncer_setup}
IMPORTS = {
    "calsync": "import calsync.cli.app, calsync.services.syncing, calsync.state.sql, calsync.connectors.caldav",
    "vdirsyncer": "import vdirsyncer.cli, vdirsyncer.sync, vdirsyncer.storage.dav, vdirsyncer.storage.filesystem",
}
"""What each tool imports before it sends its first request: its start-up, which no server work can shrink."""


def measured(server: Server, argv: list[str], cwd: Path) -> tuple[Measure, int, float]:
    """Run ``argv`` and return its measure with the requests it sent and the server's seconds for them."""
    before = server.stats()
    measure = run(argv, cwd)
    after = server.stats()
    return measure, after[0] - before[0], after[1] - before[1]


def warm(root: Path, server_url: str, changes: int) -> dict[str, dict[str, float]]:
    """The reruns as calsync's service runs them, in this process (``--warm``, started in ``root``): the config
    loaded once, then ``sync_pairs`` for the download, the no-op rerun and the rerun after ``changes`` edits.

    Each phase maps to its wall and CPU seconds, the peak RSS so far, the requests the server answered and its
    seconds. Exits when a pair fails: a figure of a failed run would mean nothing.
    """
    import resource

    from calsync.config import load_settings
    from calsync.services.syncing import sync_pairs

    settings = load_settings(root / "calsync.toml")
    results: dict[str, dict[str, float]] = {}
    for phase in ("download", "no-op", f"{changes} changes"):
        if phase.endswith("changes"):
            edit(root / "a" / "cal", changes)
        before = server_stats(server_url)
        start_time, cpu = time.perf_counter(), time.process_time()
        outcomes = sync_pairs(settings, dry_run=False, full=False, allow_mass_delete=False)
        wall, cpu = time.perf_counter() - start_time, time.process_time() - cpu
        after = server_stats(server_url)
        if failed := [f"{o.name}: {o.message}" for o in outcomes if o.failed]:
            raise SystemExit(f"warm {phase} failed: {'; '.join(failed)}")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        requests, server_s = after[0] - before[0], after[1] - before[1]
        results[phase] = {"wall": wall, "cpu": cpu, "rss_mb": rss_mb, "requests": requests, "server_s": server_s}
    return results


def warm_rows(server: Server, root: Path, count: int, changes: int, reference: float) -> list[Row]:
    """Run ``warm`` in a process of its own in ``root`` (set up by ``calsync_setup``) and turn it into rows."""
    run([sys.executable, str(Path(__file__).resolve()), "--warm", str(root), server.url, str(changes)], root)
    phases = json.loads((root / "warm.json").read_text())
    return [
        Row(WARM, phase, count, Measure(f["wall"], f["cpu"], f["rss_mb"]), int(f["requests"]), f["server_s"], reference)
        for phase, f in phases.items()
    ]


def edit(folder: Path, count: int) -> None:
    """Change the title of ``count`` items in ``folder``."""
    for file in sorted(p for p in folder.iterdir() if p.suffix == ".ics")[:count]:
        text = file.read_text(encoding="utf-8")
        file.write_text(text.replace("SUMMARY:", "SUMMARY:Changed ", 1), encoding="utf-8")


# -- the phases ----------------------------------------------------------------------------------------------


def initial(server: Server, source: Path, count: int, tools: Sequence[str], work: Path) -> list[Row]:
    """The floor, each tool's initial sync of ``count`` items into an empty calendar, and the floor again.

    Why the floor twice: a server gets slower as its storage fills and a shared machine drifts, so a floor taken
    only before the tools would put both into their ratios; the tools are measured against the mean of the two.
    """
    first, first_loop = put_floor_row(server, source, count, work, "floor")
    measured_rows = []
    for tool in tools:
        root = work / f"{tool}-initial"
        url = server.make_calendar(f"{tool}-initial")
        argv = TOOLS[tool](root, server, url, source)
        measure, requests, server_s = measured(server, argv, root)
        if (arrived := server.count_items(url)) != count:
            raise SystemExit(f"{tool}: {arrived} of {count} items arrived on {server.kind}")
        measured_rows.append((tool, measure, requests, server_s))
    last, last_loop = put_floor_row(server, source, count, work, "floor-after")
    loop = (first_loop + last_loop) / 2
    return [first, *(Row(t, "initial", count, m, r, s_, loop) for t, m, r, s_ in measured_rows), last]


def put_floor_row(server: Server, source: Path, count: int, work: Path, phase: str) -> tuple[Row, float]:
    """The floor: a plain client PUTting ``count`` items into a new calendar; its row and its PUT loop's time."""
    url = server.make_calendar(phase)
    before = server.stats()
    floor = run([sys.executable, str(Path(__file__).resolve()), "--put", url, str(source)], work)
    after = server.stats()
    loop = float((work / "floor.json").read_text())
    return Row("httpx PUT", phase, count, floor, after[0] - before[0], after[1] - before[1], loop), loop


def reruns(server: Server, filled: Path, count: int, changes: int, tools: Sequence[str], work: Path) -> list[Row]:
    """Each tool downloads a filled calendar into an empty folder, then a no-op rerun and a rerun after edits."""
    rows: list[Row] = []
    like: str | None = None
    for tool in tools:
        slug = tool.replace(" (", "-").rstrip(")")
        url = server.make_calendar(f"{slug}-filled")
        started = time.perf_counter()
        fill(server, url, filled, like)
        like = url
        print(f"# filled {url} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        reference = noop_report(url)
        root = work / f"{slug}-filled"
        argv = TOOLS[tool](root, server, url, None)
        if tool == WARM:
            rows.extend(warm_rows(server, root, count, changes, reference))
            _check_arrived(tool, root, count, server.kind)
            continue
        startup = run([sys.executable, "-c", IMPORTS[tool]], root)
        rows.append(Row(tool, "start-up", 0, startup, 0, 0.0, reference))
        for phase in ("download", "no-op", f"{changes} changes"):
            if phase.endswith("changes"):
                edit(root / "a" / "cal", changes)
            measure, requests, server_s = measured(server, argv, root)
            rows.append(Row(tool, phase, count, measure, requests, server_s, reference))
        _check_arrived(tool, root, count, server.kind)
    return rows


def _check_arrived(tool: str, root: Path, count: int, kind: str) -> None:
    if (arrived := len(list((root / "a" / "cal").glob("*.ics")))) != count:
        raise SystemExit(f"{tool}: {arrived} of {count} items arrived in the folder from {kind}")


def print_rows(kind: str, rows: Sequence[Row]) -> None:
    for r in rows:
        m = r.measure
        ratio = m.wall / r.reference
        print(
            f"{kind:<9} {r.tool:<14} {r.phase:<11} {r.items:>6} {m.wall:>8.2f} {r.requests:>6} {r.server_s:>8.2f} "
            f"{m.cpu:>6.2f} {m.rss_mb:>7.1f} {r.reference:>8.3f} {ratio:>7.2f}x",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--initial", type=int, default=1000, help="items of the initial sync (default 1000)")
    parser.add_argument("--filled", type=int, default=5000, help="items of the filled calendar (default 5000)")
    parser.add_argument("--changes", type=int, default=10, help="items edited before the last rerun (default 10)")
    parser.add_argument("--servers", default="radicale,xandikos", help="comma-separated: radicale, xandikos")
    parser.add_argument("--no-vdirsyncer", action="store_true", help="measure calsync only")
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None, help="storage folder")
    parser.add_argument("--put", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--warm", nargs=3, metavar=("ROOT", "SERVER", "CHANGES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.put:
        Path("floor.json").write_text(json.dumps(put_floor(args.put[0], Path(args.put[1]))))
        return
    if args.warm:
        root = Path(args.warm[0])
        (root / "warm.json").write_text(json.dumps(warm(root, args.warm[1], int(args.warm[2]))))
        return
    compile_bytecode()
    tools = ["calsync", WARM] if args.no_vdirsyncer else ["calsync", WARM, "vdirsyncer"]
    if "vdirsyncer" in tools and not (BIN / "vdirsyncer").exists():
        raise SystemExit("vdirsyncer is not installed here: pip install -e '.[bench]'")
    os.environ[PASSWORD_ENV] = "unused"  # the servers run without authentication
    print(
        f"{'server':<9} {'tool':<14} {'phase':<11} {'items':>6} {'wall s':>8} {'reqs':>6} {'server s':>8} "
        f"{'cpu s':>6} {'peak MB':>7} {'ref s':>8} {'/ ref':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-caldav-", dir=args.dir) as tmp:
        base = Path(tmp)
        write_folder(base / "initial", args.initial)
        write_folder(base / "filled", args.filled, seed=11)
        for kind in args.servers.split(","):
            (base / kind / "work").mkdir(parents=True)
            with start(kind, base / kind / "storage") as server:
                work = base / kind / "work"
                print_rows(kind, initial(server, base / "initial", args.initial, [t for t in tools if t != WARM], work))
                print_rows(kind, reruns(server, base / "filled", args.filled, args.changes, tools, work))
            print(f"# {kind}: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs at the end", flush=True)
    print(
        "ref s: floor rows: that floor's PUT loop (without its process start-up); initial rows: the mean of the "
        "floor measured before the tools and the one after them; other rows: one "
        "no-change sync-collection REPORT on the filled calendar. / ref: wall s divided by ref s. start-up: the "
        "interpreter importing what the tool needs before its first request. calsync (warm): the reruns as the "
        "service (calsync serve / worker) runs them, sync_pairs called in one process that ran the download "
        "before: timed inside it, no start-up; requests counted by the server as for the other rows.",
    )


if __name__ == "__main__":
    main()
