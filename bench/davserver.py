"""Run Radicale or Xandikos with a request counter inside the server, for ``bench/caldav.py``.

Why inside: a counting proxy would add a hop (and its latency) to every request it counts. Here the server's own
application is wrapped: each request adds one to a counter and its time inside the application to a sum, and
``GET /.bench-stats`` (not counted) answers ``<requests> <seconds>``. The rest of the command line goes to the
server unchanged::

    python bench/davserver.py radicale --server-hosts 127.0.0.1:5232 ...
    python bench/davserver.py xandikos -d /dev/shm/x -p 8080 ...
"""

from __future__ import annotations

import runpy
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

STATS_PATH = "/.bench-stats"


class Counter:
    """Requests and seconds spent in the application; shared by the server's threads."""

    def __init__(self) -> None:
        self.requests = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.seconds += seconds

    def text(self) -> bytes:
        with self._lock:
            return f"{self.requests} {self.seconds:.6f}".encode()


COUNTER = Counter()


def run_radicale(argv: list[str]) -> None:
    """Radicale's own threaded server, with its WSGI application wrapped."""
    import radicale
    import radicale.server
    from radicale.__main__ import run

    class Counting(radicale.Application):  # type: ignore[misc,name-defined]
        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == STATS_PATH:
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [COUNTER.text()]
            start = time.perf_counter()
            body = list(super().__call__(environ, start_response))
            COUNTER.add(time.perf_counter() - start)
            return body

    radicale.server.Application = Counting  # type: ignore[attr-defined]
    sys.argv = ["radicale", *argv]
    run()


def run_xandikos(argv: list[str]) -> None:
    """Xandikos's own aiohttp server, with the handler every DAV request goes through wrapped."""
    from aiohttp import web
    from xandikos import webdav

    original: Callable[..., Awaitable[Any]] = webdav.WebDAVApp.aiohttp_handler

    async def counting(self: Any, request: web.Request, route_prefix: str = "/") -> Any:
        if request.path == STATS_PATH:
            return web.Response(body=COUNTER.text())
        start = time.perf_counter()
        try:
            return await original(self, request, route_prefix)
        finally:
            COUNTER.add(time.perf_counter() - start)

    webdav.WebDAVApp.aiohttp_handler = counting  # type: ignore[method-assign]
    sys.argv = ["xandikos", *argv]
    runpy.run_module("xandikos.web", run_name="__main__")


if __name__ == "__main__":
    {"radicale": run_radicale, "xandikos": run_xandikos}[sys.argv[1]](sys.argv[2:])
