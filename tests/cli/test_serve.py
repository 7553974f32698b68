"""``calsync serve`` and ``calsync worker`` as real processes: start, serve, log JSON, stop on a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from calsync.state.schedule import open_schedule_store
from calsync.state.schedule_port import SCHEDULER_LEASE


@pytest.fixture
def config(tmp_path: Path) -> Path:
    file = tmp_path / "calsync.toml"
    file.write_text('[state]\nurl = "state.db"\n\n[log]\nlevel = "info"\n', encoding="utf-8")
    return file


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CALSYNC_TICK_SECONDS": "1", "CALSYNC_SHUTDOWN_GRACE": "5"}
    command = [sys.executable, "-c", "from calsync.cli.app import app; app()", *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> list[dict[str, str]]:
    """Send ``sig``, wait for the exit, and parse every line the process logged (each must be JSON)."""
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return [json.loads(line) for line in err.splitlines()]


def wait_for_lease(state: Path, timeout: float = 30.0) -> str:
    schedule = open_schedule_store(state)
    try:
        deadline = time.monotonic() + timeout
        while (holder := schedule.lease_holder(SCHEDULER_LEASE)) is None:
            assert time.monotonic() < deadline, "no scheduler took the lease"
            time.sleep(0.05)
        return holder
    finally:
        schedule.close()


def lease_holder(state: Path) -> str | None:
    schedule = open_schedule_store(state)
    try:
        return schedule.lease_holder(SCHEDULER_LEASE)
    finally:
        schedule.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_worker_schedules_until_sigterm_then_gives_its_lease_up(config: Path) -> None:
    worker = start("worker", "--config", str(config), cwd=config.parent)
    try:
        holder = wait_for_lease(config.parent / "state.db")
    finally:
        lines = stop(worker, signal.SIGTERM)
    assert f":{worker.pid}:" in holder  # host:pid:incarnation
    messages = [line["message"] for line in lines]
    assert any("holds the lease" in m for m in messages)
    assert any("SIGTERM received" in m for m in messages)
    assert messages[-1].endswith("stopped")
    assert {"time", "level", "logger", "thread", "message"} <= set(lines[0])
    assert lease_holder(config.parent / "state.db") is None


def test_a_second_worker_on_the_same_database_waits(config: Path) -> None:
    first = start("worker", "--config", str(config), cwd=config.parent)
    log = config.parent / "second.log"
    try:
        wait_for_lease(config.parent / "state.db")
        with log.open("w", encoding="utf-8") as err:
            command = [sys.executable, "-c", "from calsync.cli.app import app; app()", "worker", "-c", str(config)]
            second = subprocess.Popen(command, cwd=config.parent, stderr=err, text=True)
        try:
            deadline = time.monotonic() + 60
            while " waits: " not in log.read_text(encoding="utf-8"):
                assert second.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
                time.sleep(0.05)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0
        assert f":{first.pid}:" in wait_for_lease(config.parent / "state.db")
    finally:
        stop(first, signal.SIGTERM)
    waits = [json.loads(line)["message"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert any(f":{first.pid}:" in message and "holds the lease" in message for message in waits)


def health(server: subprocess.Popen[str], port: int, **headers: str) -> httpx.Response:
    """``/health`` as soon as the server answers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2, headers=headers)
        except httpx.TransportError:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)


def test_serve_answers_http_and_runs_the_scheduler_until_sigint(config: Path) -> None:
    port = free_port()
    server = start("serve", "--config", str(config), "--port", str(port), cwd=config.parent)
    try:
        assert health(server, port).json()["status"] == "ok"
        assert f":{server.pid}:" in wait_for_lease(config.parent / "state.db")
    finally:
        lines = stop(server, signal.SIGINT)
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "uvicorn.access", "calsync.scheduler.worker"} <= loggers
    assert lease_holder(config.parent / "state.db") is None


def test_serve_on_a_port_in_use_is_one_error_line_and_status_1(config: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = start("serve", "--config", str(config), "--port", str(port), "--no-scheduler", cwd=config.parent)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 1, err
    assert [line for line in err.splitlines() if not line.startswith("{")] == [
        f"error: port {port} is in use (on 127.0.0.1); stop what listens there or choose another --port"
    ]


@pytest.mark.parametrize(("proxies", "client"), [(None, "203.0.113.7"), ("10.9.9.9, 10.0.0.0/8", "127.0.0.1")])
def test_only_the_proxies_named_are_believed(config: Path, proxies: str | None, client: str) -> None:
    """Behind a proxy on another host, its X-Forwarded-Proto was ignored (only 127.0.0.1's counted), so the admin
    session cookie lost its Secure flag; ``--forwarded-allow-ips`` names the proxies to believe."""
    port = free_port()
    named = ["--forwarded-allow-ips", proxies] if proxies else []
    server = start("serve", "-c", str(config), "--port", str(port), "--no-scheduler", *named, cwd=config.parent)
    try:
        assert health(server, port, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    finally:
        lines = stop(server, signal.SIGINT)
    access = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert access and access[0].startswith(f"{client}:"), access


@pytest.mark.parametrize("given", ["proxy.internal", "10.0.0.300", "10.0.0.0/40", "10.0.0.5/8", "10.0.0.1,*"])
def test_a_proxy_given_by_name_or_mistyped_is_refused_before_starting(given: str, tmp_path: Path) -> None:
    """uvicorn compares the peer's address only: a name or a typo was silently never believed."""
    from typer.testing import CliRunner

    from calsync.cli.app import app

    config = tmp_path / "calsync.toml"
    config.write_text('[state]\nurl = "state.db"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)], env={"CALSYNC_FORWARDED_ALLOW_IPS": given})
    assert result.exit_code == 2
    assert "--forwarded-allow-ips" in result.output and "not an IP address" in result.output
    assert not (tmp_path / "state.db").exists()
