"""A ``calsync sync`` killed with SIGKILL in the middle of an initial sync of 500 items, then rerun, leaves
exactly 500 items on the server (DESIGN.md invariant 2): creates land at hrefs derived from the business key with
``If-None-Match: *``, so the rerun finds the copies the killed run made instead of making second ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from calsync.connectors.caldav import CalDavConnector
from tests.connectors.dav.servers import Server

N = 500
UTC_EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    "DTSTAMP:20261101T080000Z\r\nDTSTART:20261123T{hour:02d}0000Z\r\nDTEND:20261123T{hour:02d}3000Z\r\n"
    "SUMMARY:Job {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def config(tmp_path: Path, server: Server, collection: str) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(
        f'[state]\nurl = "{tmp_path / "state.sqlite"}"\n\n'
        f'[[connections]]\nname = "work"\ntype = "folder"\npath = "{tmp_path / "work"}"\n\n'
        f'[[connections]]\nname = "dav"\ntype = "caldav"\nurl = "{server.calendar_home}"\n'
        f'username = "{server.username}"\npassword_env = "CALSYNC_TEST_DAV_PASSWORD"\n\n'
        f'[[pairs]]\nname = "crash"\na = "work:jobs"\nb = "dav:{collection}"\nwindow = "all"\n'
        "mass_delete = { max_share = 1.0 }\n",
        encoding="utf-8",
    )
    return path


def calsync_sync(cfg: Path, server: Server) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CALSYNC_TEST_DAV_PASSWORD": server.password, "COLUMNS": "120"}
    code = "from calsync.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "sync", "--config", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_killed_initial_sync_rerun_leaves_exactly_500_items(radicale_server: Server, tmp_path: Path) -> None:
    server = radicale_server
    collection = f"crash-{uuid.uuid4().hex[:8]}"
    dav = CalDavConnector(server.calendar_home, username=server.username, password=server.password)
    dav.create_calendar(collection)
    jobs = tmp_path / "work" / "jobs"
    jobs.mkdir(parents=True)
    for i in range(N):
        (jobs / f"job-{i}.ics").write_text(UTC_EVENT.format(uid=f"job-{i}", hour=i % 24), encoding="utf-8")
    cfg = config(tmp_path, server, collection)

    run = calsync_sync(cfg, server)
    deadline = time.monotonic() + 60
    while (done := len(dav.list_all(collection))) < N // 5 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    assert run.returncode == -signal.SIGKILL, "the first run ended before it could be killed"
    assert 0 < done < N
    # the killed run's lease is left behind; the rerun sees its process is gone and takes it over

    rerun = calsync_sync(cfg, server)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, (out + err).decode()
    refs = dav.list_all(collection)
    assert len(refs) == N
    assert {ref.href for ref in refs} == {f"job-{i}.ics" for i in range(N)}
