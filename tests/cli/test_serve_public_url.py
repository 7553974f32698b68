"""``--public-url`` (``CALSYNC_PUBLIC_URL``) of ``calsync serve`` and ``calsync worker``: checked before anything
starts, and handed to the scheduler without a trailing slash."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from calsync.cli.app import app
from calsync.cli.serve import _options, _public_url


@pytest.mark.parametrize(
    "given",
    ["ftp://sync.example.com", "sync.example.com", "https://user:pw@sync.example.com", "https://sync.example.com/?a=1"],
)
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_public_url_that_graph_could_not_post_to_is_refused_before_starting(
    command: str, given: str, tmp_path: Path
) -> None:
    config = tmp_path / "calsync.toml"
    config.write_text('[state]\nurl = "state.db"\n', encoding="utf-8")
    result = CliRunner().invoke(app, [command, "--config", str(config)], env={"CALSYNC_PUBLIC_URL": given})
    assert result.exit_code == 2
    assert "--public-url" in result.output
    assert not (tmp_path / "state.db").exists()  # nothing was started


def test_the_scheduler_gets_the_public_url_without_a_trailing_slash_or_none() -> None:
    assert _public_url(" https://sync.example.com/base/ ") == "https://sync.example.com/base"
    assert _public_url("") is None and _public_url(None) is None
    assert _options(2, 30, 60, 10, "https://sync.example.com").public_url == "https://sync.example.com"
    assert _options(2, 30, 60, 10).public_url is None
