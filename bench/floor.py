"""The least work a folder -> folder sync of N items can do in Python: the floor under any engine's figures.

It starts Python with the libraries calsync's ``sync`` command stands on (SQLAlchemy, Typer, rich), reads every
file of the source folder, writes each into the target folder as calsync's folder connector does (a temporary
file linked into place, never an overwrite, then its ``stat`` for the etag), and records one row per item in an
SQLite table in one transaction. It does not parse, hash for change detection, plan, or report: whatever a real
sync adds costs more than this. Its no-op rerun reads the rows and ``stat`` s every file of both folders.

Why: ``bench/engine.py --floor`` runs it beside calsync and vdirsyncer, so a target (say, twice vdirsyncer's
speed) can be held against what the machine allows before anyone optimises towards it.

Usage: ``python bench/floor.py SOURCE TARGET STATE.db``
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import rich.console  # noqa: F401 - the start-up cost of the libraries the sync command imports
import sqlalchemy  # noqa: F401
import typer  # noqa: F401


def initial(source: Path, target: Path, db: sqlite3.Connection) -> None:
    """Copy every file and record a row for each."""
    rows = []
    for entry in os.scandir(source):  # os calls, not Path methods: the floor takes the cheapest way
        with open(entry.path, "rb") as file:  # noqa: PTH123
            data = file.read()
        temporary = target / f".{entry.name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.link(temporary, target / entry.name)
        os.unlink(temporary)  # noqa: PTH108
        written = os.stat(target / entry.name)  # noqa: PTH116
        rows.append((entry.name, f"{written.st_mtime_ns}-{written.st_size}", len(data)))
    with db:
        db.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)


def no_op(source: Path, target: Path, db: sqlite3.Connection) -> None:
    """Read the rows and look at every file of both folders, as a rerun that finds nothing changed must."""
    known = {name: version for name, version, _size in db.execute("SELECT * FROM items")}
    for folder in (source, target):
        for entry in os.scandir(folder):
            entry.stat()
    if len(known) != sum(1 for _ in os.scandir(target)):
        raise SystemExit("the target does not hold what the state says")


def main() -> None:
    source, target, state = (Path(arg) for arg in sys.argv[1:4])
    fresh = not state.exists()
    db = sqlite3.connect(state)
    if fresh:
        db.execute("CREATE TABLE items (name TEXT PRIMARY KEY, version TEXT, size INTEGER)")
        initial(source, target, db)
    else:
        no_op(source, target, db)
    db.close()


if __name__ == "__main__":
    main()
