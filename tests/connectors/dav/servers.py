"""Real Radicale and Xandikos servers on ephemeral loopback ports, started as subprocesses and stopped after.

Why subprocesses: both servers are plain WSGI/aiohttp programs that install from PyPI; a subprocess is started
and killed the same way for both, and a crash test can kill calsync without touching the server. Radicale runs
on the ``multifilesystem_nolock`` storage (no file lock per request: the tests are its only client) with
htpasswd Basic auth, so every test also proves the credentials reach it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

USER = "alice"
PASSWORD = "wonderland"  # a test-only credential of a throwaway loopback server


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A test CA and a certificate with its key, issued by that CA, for a server on 127.0.0.1."""

    ca: Path
    certificate: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: its kind, base URL, the home where collections are made, and the credentials."""

    kind: str
    url: str
    calendar_home: str
    addressbook_home: str
    root: Path
    username: str = ""
    password: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(process: subprocess.Popen[bytes], url: str, auth: httpx.Auth | None, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            probe = httpx.request("PROPFIND", url, auth=auth, headers={"Depth": "0"}, timeout=2, verify=verify)
            if probe.status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the server at {url} did not start")


@contextlib.contextmanager
def radicale(root: Path, tls: TlsFiles | None = None) -> Iterator[Server]:
    """Radicale 3 with htpasswd (plain) auth on a free loopback port; HTTPS with ``tls``."""
    port = free_port()
    users = root / "users"
    users.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    args = [
        sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
        "--storage-filesystem-folder", str(root / "collections"), "--storage-type", "multifilesystem_nolock",
        "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(users), "--auth-htpasswd-encryption", "plain",
        "--auth-delay", "0", "--logging-level", "error", "--storage-use-mtime-and-size-for-item-cache", "True",
    ]  # fmt: skip
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    if tls is not None:
        args += ["--server-ssl", "True", "--server-certificate", str(tls.certificate), "--server-key", str(tls.key)]
    verify = ssl.create_default_context(cafile=str(tls.ca)) if tls else True
    with _running(args, url, httpx.BasicAuth(USER, PASSWORD), verify):
        home = f"{url}{USER}/"
        yield Server("radicale", url, home, home, root, USER, PASSWORD)


@contextlib.contextmanager
def xandikos(root: Path) -> Iterator[Server]:
    """Xandikos with its default calendar and address book homes for the principal ``/user/``."""
    port = free_port()
    args = [
        sys.executable, "-m", "xandikos.web", "-d", str(root), "--defaults", "-l", "127.0.0.1", "-p", str(port),
        "--no-detect-systemd",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    with _running(args, url, None, True):
        yield Server("xandikos", url, f"{url}user/calendars/", f"{url}user/contacts/", root)


@contextlib.contextmanager
def _running(args: list[str], url: str, auth: httpx.Auth | None, verify: ssl.SSLContext | bool) -> Iterator[None]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(process, url, auth, verify)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
