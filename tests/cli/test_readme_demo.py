"""The README's first command, as a newcomer runs it: the demo starts the whole service on embedded defaults,
the first job completes within a minute, and Ctrl-C stops it (and its CalDAV server) cleanly.

The install part of the command (a fresh virtualenv and ``pip install -e '.[demo]'``) is what CI's own set-up
does; this test checks the README still says exactly that, then runs the command's last part from the installed
package in a clean folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]
WANTED = {"demo/tech1/events", "demo/tech2/events"}
"""The first jobs a newcomer sees: each technician's appointments synced."""


def _first_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.+?)\n```", readme, re.DOTALL)
    assert block is not None, "the README has no sh block"
    return block.group(1).strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_readme_starts_with_install_and_demo() -> None:
    assert _first_command() == "python3 -m venv .venv && .venv/bin/pip install -e '.[demo]' && .venv/bin/calsync demo"


def test_the_demo_completes_a_first_job_within_a_minute_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    calsync = Path(sys.executable).parent / "calsync"
    process = subprocess.Popen(
        [str(calsync), "demo", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        token = _wait_for_token(tmp_path / "demo" / "credentials.json", process)
        jobs = _wait_for_completed_jobs(f"http://127.0.0.1:{port}", token, process)
        assert all(j["outcome"] == "completed" for j in jobs)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "Admin UI:" in output and "scheduler" in output and "Traceback" not in output
    assert not _radicale_running(tmp_path), "the demo left its CalDAV server running"


def _wait_for_token(path: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, process.communicate()[0].decode()
        assert time.monotonic() < deadline, "the demo wrote no credentials within a minute"
        time.sleep(0.2)
    token: str = json.loads(path.read_text(encoding="utf-8"))["api_token"]
    return token


def _wait_for_completed_jobs(base: str, token: str, process: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.communicate()[0].decode()
        try:
            reply = httpx.get(f"{base}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            jobs: list[dict[str, object]] = reply.json()["jobs"] if reply.status_code == 200 else []
        except httpx.HTTPError:
            jobs = []
        completed = [j for j in jobs if j["outcome"] == "completed" and j["pair"] in WANTED]
        if {j["pair"] for j in completed} == WANTED:
            return completed
        assert time.monotonic() < deadline, f"no completed job within a minute: {jobs}"
        time.sleep(0.5)


def _radicale_running(directory: Path) -> bool:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return any("radicale" in line and str(directory) in line for line in listing.splitlines())
