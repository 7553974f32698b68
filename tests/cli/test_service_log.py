"""The service's log lines: JSON or text, on standard error, with registered secrets masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from calsync.cli.service_log import LogFormat, configure_logging
from calsync.crypto import redactor

SECRET = "hunter2-very-secret"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, calsync = logging.getLogger(), logging.getLogger("calsync")
    saved = (list(root.handlers), root.level, list(calsync.handlers), calsync.level, calsync.propagate)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    calsync.handlers[:], calsync.level, calsync.propagate = saved[2], saved[3], saved[4]


@pytest.mark.usefixtures("restore_logging")
def test_log_lines_are_json_with_secrets_masked(capsys: pytest.CaptureFixture[str]) -> None:
    redactor().register(SECRET)
    configure_logging(logging.INFO, LogFormat.JSON)
    log = logging.getLogger("calsync.test")
    log.info("connecting with %s", SECRET)
    try:
        raise ValueError(f"refused {SECRET}")
    except ValueError:
        log.exception("it failed")
    log.debug("not at this level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("info", "connecting with ***"),
        ("error", "it failed"),
    ]
    assert "refused ***" in lines[1]["exception"]
    assert SECRET not in json.dumps(lines)


@pytest.mark.usefixtures("restore_logging")
def test_text_log_lines_for_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(logging.WARNING, LogFormat.TEXT)
    logging.getLogger("uvicorn.error").warning("plain")
    assert capsys.readouterr().err.rstrip().endswith("WARNING uvicorn.error: plain")
