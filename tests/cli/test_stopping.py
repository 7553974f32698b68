"""Stopping a one-shot sync: SIGTERM takes Ctrl-C's path (job closed, lock given up) and both say so in one line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from calsync.cli.stopping import RERUN, stoppable
from tests.cli.test_cli import CONFIG
from tests.samples import event

STALLING_SYNC = """
import sys, time
from pathlib import Path
from calsync.connectors.folder.connector import FolderConnector

create = FolderConnector.create
made = []

def create_then_stall(self, *args, **kwargs):
    ref = create(self, *args, **kwargs)
    made.append(ref)
    if len(made) == 3:
        Path("stalled").write_text("")
        time.sleep(60)
    return ref

FolderConnector.create = create_then_stall
sys.argv = ["calsync", "sync", "--config", "calsync.toml"]
from calsync.cli import main
main()
"""


def test_sigterm_raises_as_ctrl_c_does_says_so_and_the_old_handler_comes_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(typer.Exit) as stopped, stoppable():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises long before
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert capsys.readouterr().err == f"stopped by SIGTERM: {RERUN}\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_exits_130_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as stopped, stoppable():
        raise KeyboardInterrupt
    assert stopped.value.exit_code == 130
    assert capsys.readouterr().err == "interrupted: run again to finish (nothing is lost or duplicated)\n"


def test_a_body_that_ends_by_itself_leaves_the_handler_as_it_was() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stoppable():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(("sig", "line"), [(signal.SIGTERM, "stopped by SIGTERM"), (signal.SIGINT, "interrupted")])
def test_a_sync_stopped_by_a_signal_closes_its_job_and_gives_its_lock_up(
    tmp_path: Path, sig: signal.Signals, line: str
) -> None:
    """As `docker stop` or `systemctl stop` do: without this the job stayed running and the pair locked."""
    for folder in ("work/anna", "phone/anna"):
        (tmp_path / folder).mkdir(parents=True)
    for i in range(6):
        (tmp_path / f"work/anna/e{i}.ics").write_text(event(f"e{i}", f"Visit {i}"), encoding="utf-8")
    (tmp_path / "calsync.toml").write_text(CONFIG, encoding="utf-8")
    command = [sys.executable, "-c", STALLING_SYNC]
    run = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "stalled").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(sig)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + sig
    assert err.splitlines()[-1] == f"{line}: {RERUN}"
    with sqlite3.connect(tmp_path / "calsync.db") as db:
        assert db.execute("select outcome, message from jobs").fetchall() == [("failed", "the run was interrupted")]
        assert db.execute("select count(*) from locks").fetchone() == (0,)
