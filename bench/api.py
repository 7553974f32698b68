"""The business REST API under load: upsert items in batches, read them back, and read the change feed.

The app runs under uvicorn on a loopback port and is called over real HTTP with an API token, on a fresh SQLite
state database (or ``--postgres URL``). Phases:

1. upsert ``--items`` items in batches of ``--batch`` (PUT /api/v1/items);
2. read them back by id in the same batches (GET /api/v1/items);
3. the change feed: as many items created in a technician's calendar (a folder of .ics files, as a client
   writes them) are imported by one sync (POST /api/v1/sync), then read through GET /api/v1/feed in pages.

Prints items per second for each phase and the process's peak RSS. Run::

    python bench/api.py --items 10000 --batch 500
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from calsync.config import Settings, StateSettings
from calsync.services.access import open_access
from calsync.services.integrations import IntegrationInput, open_integrations
from calsync.web.app import create_app

START = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        root = Path(scratch)
        settings, token = _setup(root, args.postgres)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600) as client:
            _report("upsert", args.items, _upsert(client, args.items, args.batch))
            _report("read back by id", args.items, _read(client, args.items, args.batch))
            _calendar(root / "cal" / "tech1", args.items)
            imported = _timed(lambda: _check(client.post("/api/v1/sync", json={"full": True})))
            _report("import from the calendar (one sync)", args.items, imported)
            seconds, read = _feed(client)
            _report("change feed", read, seconds)
        server.should_exit = True
        thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dir", default=None, help="Where the scratch state and calendar go (e.g. /dev/shm).")
    parser.add_argument("--postgres", default="", help="A PostgreSQL URL instead of SQLite (an empty schema).")
    return parser.parse_args()


def _setup(root: Path, postgres: str) -> tuple[Settings, str]:
    (root / "cal").mkdir()
    settings = Settings(root / "calsync.toml", StateSettings(postgres or str(root / "state.db")))
    with open_integrations(settings) as service:
        service.add(
            IntegrationInput(
                name="bench",
                company="Bench",
                connection_type="folder",
                url=str(root / "cal"),
                days_back=60,
                days_forward=60,
            )
        )
        service.add_user("bench", "tech1", "tech1")
    with open_access(settings) as access:
        return settings, access.tokens.create("bench", "bench").plain.reveal()


def _item(n: int) -> dict[str, Any]:
    start = START + timedelta(minutes=30 * (n % 2000))
    return {
        "id": f"job-{n}",
        "user": "tech1",
        "kind": "assignment" if n % 3 else "event",
        "title": f"Service visit {n}",
        "description": f"Boiler service for customer {n}",
        "location": f"{n} Main Street",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "time_zone": "Europe/Berlin",
        "activity_type": "SV",
        "equipment": ["ladder"],
    }


def _upsert(client: httpx.Client, count: int, batch: int) -> float:
    def run() -> None:
        for first in range(0, count, batch):
            items = [_item(n) for n in range(first, min(count, first + batch))]
            _check(client.put("/api/v1/items", json={"items": items}))

    return _timed(run)


def _read(client: httpx.Client, count: int, batch: int) -> float:
    def run() -> None:
        for first in range(0, count, batch):
            ids = [f"job-{n}" for n in range(first, min(count, first + batch))]
            found = _check(client.get("/api/v1/items", params=[("id", i) for i in ids])).json()["items"]
            assert len(found) == len(ids), (len(found), len(ids))

    return _timed(run)


def _calendar(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        start = (START + timedelta(minutes=30 * (n % 2000))).strftime("%Y%m%dT%H%M%SZ")
        (folder / f"client-{n}.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:client-{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT30M\r\n"
            f"SUMMARY:Call {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )


def _feed(client: httpx.Client) -> tuple[float, int]:
    read = 0

    def run() -> None:
        nonlocal read
        since = 0
        while True:
            page = _check(client.get("/api/v1/feed", params={"since": since, "limit": 1000})).json()
            if not page["entries"]:
                return
            read += len(page["entries"])
            since = page["next"]

    return _timed(run), read


def _timed(run: Any) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        sys.exit(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}")
    return response


def _report(phase: str, items: int, seconds: float) -> None:
    print(f"{phase:40s} {items:7d} items in {seconds:7.2f} s = {items / seconds:8.0f} items/s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    main()
