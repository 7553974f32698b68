"""The hub commands through Typer's runner, on a folder integration: preview, run, held, rules, journal, restore."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from calsync.cli.app import app
from calsync.config import load_settings
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.integrations import IntegrationInput, open_integrations
from tests.services.hubworld import event


def _setup(tmp_path: Path) -> Path:
    config = tmp_path / "calsync.toml"
    config.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n')
    settings = load_settings(config)
    with open_integrations(settings) as service:
        service.add(IntegrationInput(name="acme", company="ACME", connection_type="folder", url=str(tmp_path / "cal")))
        service.add_user("acme", "tech1", "tech1")
    (tmp_path / "cal").mkdir()
    with open_hub(settings) as hub:
        hub.put_items("acme", [BusinessItem("A1", "tech1", event("Boiler"))])
    return config


def test_preview_run_rules_journal_and_restore(tmp_path: Path) -> None:
    config = str(_setup(tmp_path))
    runner = CliRunner()
    preview = runner.invoke(app, ["run", "acme", "-c", config, "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "new on A" in preview.output
    assert list((tmp_path / "cal" / "tech1").glob("*.ics")) == []
    assert runner.invoke(app, ["run", "acme", "-c", config]).exit_code == 0
    (ics,) = (tmp_path / "cal" / "tech1").glob("*.ics")
    ics.unlink()
    assert runner.invoke(app, ["run", "acme", "-c", config]).exit_code == 0
    journal = runner.invoke(app, ["journal", "acme", "-c", config, "--item", "A1"])
    assert "deleted on B" in journal.output
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"selection": {"tag": "[sync]"}}))
    shown = runner.invoke(app, ["rules", "acme", "-c", config, "--set", str(rules_file)])
    assert json.loads(shown.output)["selection"]["tag"] == "[sync]"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"selection": {"nope": 1}}))
    refused = runner.invoke(app, ["rules", "acme", "-c", config, "--set", str(bad)])
    assert refused.exit_code == 1 and "unknown option 'nope'" in refused.output
    with open_hub(load_settings(Path(config))) as hub:
        entry = hub.journal_page("acme", "A1").entries[0].id
    restored = runner.invoke(app, ["restore", "acme", str(entry), "-c", config])
    assert restored.exit_code == 0 and "restored A1" in restored.output
    assert runner.invoke(app, ["held", "acme", "-c", config]).output.startswith("No held deletions")


def test_the_journal_names_the_command_for_older_entries(tmp_path: Path) -> None:
    config = str(_setup(tmp_path))
    with open_hub(load_settings(Path(config))) as hub:
        hub.put_items("acme", [BusinessItem("A2", "tech1", event("Pump"))])
    runner = CliRunner()
    assert runner.invoke(app, ["run", "acme", "-c", config]).exit_code == 0
    with open_hub(load_settings(Path(config))) as hub:
        newest, oldest = (e.id for e in hub.journal_page("acme").entries)
    first = runner.invoke(app, ["journal", "acme", "-c", config, "--limit", "1"])
    assert first.exit_code == 0, first.output
    assert f"Older entries: the same command with --older-than {newest}" in first.output
    second = runner.invoke(app, ["journal", "acme", "-c", config, "--limit", "1", "--older-than", str(newest)])
    assert second.exit_code == 0 and "Older entries" not in second.output
    assert f"│ {oldest} " in second.output and f"│ {newest} " not in second.output
