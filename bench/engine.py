"""Benchmark: sync N generated items folder -> folder with calsync, and the same with vdirsyncer.

Both tools run as the command a user types (start-up included), one process per run, timed from the outside:
wall time, client CPU seconds (user + system of that process) and its peak RSS, read with ``os.wait4``. For each
N it runs an initial sync into an empty folder, then a no-op rerun, and checks that every item arrived.

``--in-process`` also times the engine alone in this process (no start-up, no CLI), the figure to watch when
optimising the engine itself. ``--floor`` also times ``bench/floor.py``, the least work any sync of these folders
does in Python (start-up, reads, atomic writes, one state row per item; no parsing), to hold a target against.
``--parse`` also times icalendar parsing every item in this process: how heavy the items are, a figure that
compares this item set with other measurements of "realistic events".

Usage (vdirsyncer comes with the ``bench`` extra)::

    pip install -e '.[bench]'
    python bench/engine.py                 # N = 1,000 and 10,000
    python bench/engine.py --sizes 2000 --runs 3

With ``--runs`` above one the tools take turns, run by run, and each figure is the run of median wall time, not
the best: on a shared machine the best run is the lucky one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.items import write_folder

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Measure:
    """One process run."""

    wall: float
    cpu: float
    rss_mb: float


def run(argv: list[str], cwd: Path) -> Measure:
    """Run ``argv`` to completion and measure it; fail loudly when it fails."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed:\n{err.read().decode(errors='replace')}")
    return Measure(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def calsync_setup(root: Path, source: Path) -> list[str]:
    """A calsync config syncing a copy of ``source`` into an empty folder; returns the command."""
    shutil.copytree(source, root / "a" / "cal")
    (root / "b" / "cal").mkdir(parents=True)
    (root / "calsync.toml").write_text(
        '[state]\nurl = "state.db"\n\n'
        '[[connections]]\nname = "a"\ntype = "folder"\npath = "a"\n\n'
        '[[connections]]\nname = "b"\ntype = "folder"\npath = "b"\n\n'
        '[[pairs]]\nname = "bench"\na = "a:cal"\nb = "b:cal"\nmode = "two-way"\nwindow = [30, 30]\n',
        encoding="utf-8",
    )
    return [str(BIN / "calsync"), "sync", "--config", str(root / "calsync.toml")]


def vdirsyncer_setup(root: Path, source: Path) -> list[str]:
    """A vdirsyncer config doing the same; returns the command."""
    shutil.copytree(source, root / "a")
    (root / "b").mkdir()
    (root / "config").write_text(
        f'[general]\nstatus_path = "{root}/status/"\n\n'
        '[pair bench]\na = "bench_a"\nb = "bench_b"\ncollections = null\nconflict_resolution = "a wins"\n\n'
        f'[storage bench_a]\ntype = "filesystem"\npath = "{root}/a/"\nfileext = ".ics"\n\n'
        f'[storage bench_b]\ntype = "filesystem"\npath = "{root}/b/"\nfileext = ".ics"\n',
        encoding="utf-8",
    )
    subprocess.run(
        [str(BIN / "vdirsyncer"), "-c", str(root / "config"), "discover", "bench"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return [str(BIN / "vdirsyncer"), "-v", "WARNING", "-c", str(root / "config"), "sync"]


def floor_setup(root: Path, source: Path) -> list[str]:
    """``bench/floor.py`` copying ``source`` into an empty folder (the least work any sync does); the command."""
    shutil.copytree(source, root / "a" / "cal")
    (root / "b" / "cal").mkdir(parents=True)
    floor = Path(__file__).resolve().parent / "floor.py"
    return [sys.executable, str(floor), str(root / "a" / "cal"), str(root / "b" / "cal"), str(root / "state.db")]


def measure_once(name: str, setup: object, source: Path, count: int) -> dict[str, Measure]:
    """One initial sync into fresh folders and its no-op rerun, checking that every item arrived."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        root = Path(tmp)
        argv = setup(root, source)  # type: ignore[operator]
        initial = run(argv, root)
        target = root / "b" if name == "vdirsyncer" else root / "b" / "cal"
        arrived = sum(1 for p in target.iterdir() if p.suffix == ".ics")
        if arrived != count:
            raise SystemExit(f"{name}: {arrived} of {count} items arrived")
        return {"initial": initial, "no-op": run(argv, root)}


Tools = list[tuple[str, object]]


def measure_tools(tools: Tools, source: Path, count: int, runs: int) -> dict[str, dict[str, Measure]]:
    """The median of ``runs`` initial syncs and no-op reruns per tool, the tools taking turns run by run.

    Why turns: a shared machine's speed drifts by tens of percent over a minute; measuring one tool's runs and
    then the other's puts the drift into the ratio, taking turns spreads it over both. Why the median and not the
    best: the best run is the one that happened to run alone, and a figure that only luck reproduces says little.
    """
    measured: dict[str, dict[str, list[Measure]]] = {name: {"initial": [], "no-op": []} for name, _ in tools}
    for _ in range(runs):
        for name, setup in tools:
            for phase, measure in measure_once(name, setup, source, count).items():
                measured[name][phase].append(measure)
    return {name: {phase: median(ms) for phase, ms in phases.items()} for name, phases in measured.items()}


def median(measures: list[Measure]) -> Measure:
    """The run of median wall time (of two, the slower: a conservative figure)."""
    ordered = sorted(measures, key=lambda m: m.wall)
    return ordered[len(ordered) // 2]


def in_process(source: Path, count: int) -> dict[str, Measure]:
    """The engine alone, in this process (no start-up, no CLI): the figure to watch when optimising it."""
    import resource

    from calsync.connectors.folder import FolderConnector
    from calsync.state.sql import open_store
    from calsync.sync.engine import PairSpec, sync_pair
    from calsync.sync.observe import Endpoint

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        root = Path(tmp)
        shutil.copytree(source, root / "a" / "cal")
        (root / "b" / "cal").mkdir(parents=True)
        store = open_store(str(root / "state.db"))
        spec = PairSpec(
            "bench", Endpoint(FolderConnector(root / "a"), "cal"), Endpoint(FolderConnector(root / "b"), "cal")
        )
        for phase in ("initial", "no-op"):
            start, cpu = time.perf_counter(), time.process_time()
            sync_pair(spec, store)
            results[phase] = Measure(
                time.perf_counter() - start,
                time.process_time() - cpu,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            )
        store.close()
        arrived = sum(1 for p in (root / "b" / "cal").iterdir() if p.suffix == ".ics")
        if arrived != count:
            raise SystemExit(f"in-process: {arrived} of {count} items arrived")
    return results


def parse_all(source: Path) -> Measure:
    """icalendar parsing every item of ``source`` in this process: the weight of the items, not of a sync."""
    import resource

    import icalendar

    start, cpu = time.perf_counter(), time.process_time()
    for path in sorted(source.iterdir()):
        icalendar.Calendar.from_ical(path.read_bytes())
    return Measure(
        time.perf_counter() - start,
        time.process_time() - cpu,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def compile_bytecode() -> None:
    """Compile calsync's and vdirsyncer's modules first, as an installed package has them.

    Why: an editable install under ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module at every
    start, which a user's installed copy never does.
    """
    import compileall
    import importlib.util

    for name in ("calsync", "vdirsyncer"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated item counts")
    parser.add_argument("--runs", type=int, default=1, help="runs per measurement; the median is shown")
    parser.add_argument("--no-vdirsyncer", action="store_true", help="measure calsync only")
    parser.add_argument("--in-process", action="store_true", help="also time the engine alone, without start-up")
    parser.add_argument(
        "--floor", action="store_true", help="also time bench/floor.py: the least work any sync does, in Python"
    )
    parser.add_argument("--parse", action="store_true", help="also time icalendar parsing every item")
    parser.add_argument(
        "--dir",
        default=None,
        help="where the folders go (default: the system's temp dir); /dev/shm takes the disk out of the figures",
    )
    args = parser.parse_args()
    if args.dir:
        tempfile.tempdir = args.dir
    compile_bytecode()
    tools: Tools = [("calsync", calsync_setup)]
    if not args.no_vdirsyncer:
        if not (BIN / "vdirsyncer").exists():
            raise SystemExit("vdirsyncer is not installed here: pip install -e '.[bench]'")
        tools.append(("vdirsyncer", vdirsyncer_setup))
    if args.floor:
        tools.append(("floor", floor_setup))
    print(f"{'N':>7} {'tool':<11} {'phase':<8} {'wall s':>8} {'items/s':>9} {'cpu s':>7} {'peak MB':>8}")
    for count in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-source-") as tmp:
            source = Path(tmp) / "items"
            write_folder(source, count)
            results = measure_tools(tools, source, count, args.runs)
            if args.in_process:
                engine = [in_process(source, count) for _ in range(args.runs)]
                results["engine"] = {phase: median([r[phase] for r in engine]) for phase in ("initial", "no-op")}
            if args.parse:
                results["icalendar"] = {"parse": median([parse_all(source) for _ in range(args.runs)])}
        for name, phases in results.items():
            for phase, m in phases.items():
                print(
                    f"{count:>7} {name:<11} {phase:<8} {m.wall:>8.2f} {count / m.wall:>9.0f} {m.cpu:>7.2f} "
                    f"{m.rss_mb:>8.1f}",
                    flush=True,
                )
        if "vdirsyncer" in results:
            for phase in ("initial", "no-op"):
                ratio = results["vdirsyncer"][phase].wall / results["calsync"][phase].wall
                print(f"{count:>7} calsync is {ratio:.2f}x vdirsyncer's speed ({phase})", flush=True)
                if "floor" in results:
                    share = results["floor"][phase].wall / (results["vdirsyncer"][phase].wall / 2)
                    print(f"{count:>7} the floor alone takes {share:.0%} of what 2x vdirsyncer allows ({phase})")


if __name__ == "__main__":
    main()
