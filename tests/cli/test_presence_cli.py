"""``calsync presence`` through Typer's runner, on a folder integration with an out-of-office day and a meeting."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from calsync.cli.app import app
from calsync.config import load_settings
from calsync.services.integrations import IntegrationInput, open_integrations

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VEVENT\r\nDTSTAMP:20261101T080000Z\r\n"
TAIL = "END:VEVENT\r\nEND:VCALENDAR\r\n"
HOLIDAY = "UID:oof\r\nSUMMARY:Holiday\r\nDTSTART;VALUE=DATE:20261123\r\nDTEND;VALUE=DATE:20261124\r\n"
PLANNING = "UID:meeting\r\nSUMMARY:Planning\r\nDTSTART:20261124T090000Z\r\nDTEND:20261124T100000Z\r\n"


def _setup(tmp_path: Path) -> str:
    config = tmp_path / "calsync.toml"
    config.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n')
    with open_integrations(load_settings(config)) as service:
        service.add(IntegrationInput(name="acme", company="ACME", connection_type="folder", url=str(tmp_path / "cal")))
        service.add_user("acme", "tech1", "tech1")
        service.add_user("acme", "tech2", "bad/name")
    (tmp_path / "cal" / "tech1").mkdir(parents=True)
    oof = HEAD + HOLIDAY + "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n" + TAIL
    (tmp_path / "cal" / "tech1" / "holiday.ics").write_text(oof, newline="")
    (tmp_path / "cal" / "tech1" / "planning.ics").write_text(HEAD + PLANNING + TAIL, newline="")
    return str(config)


def test_presence_table_for_everyone_and_for_one_user(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    runner = CliRunner(env={"COLUMNS": "200"})  # a wide table: no cell wraps, whatever the terminal
    everyone = runner.invoke(app, ["presence", "acme", "-c", config, "--at", "2026-11-23T12:00:00Z"])
    assert everyone.exit_code == 0, everyone.output
    rows = {line.split()[1]: line for line in everyone.output.splitlines() if line.startswith("│ tech")}
    assert "out-of-office" in rows["tech1"] and "Holiday" in rows["tech1"] and "2026-11-23 00:00" in rows["tech1"]
    assert "unknown" in rows["tech2"] and "cannot name a" in rows["tech2"]
    one = runner.invoke(app, ["presence", "acme", "-c", config, "-u", "tech1", "--at", "2026-11-24T09:30+00:00"])
    assert one.exit_code == 0 and "meeting" in one.output and "Planning" in one.output
    assert "tech2" not in one.output


def test_bad_instants_and_unknown_users_are_one_red_line(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    runner = CliRunner()
    naive = runner.invoke(app, ["presence", "acme", "-c", config, "--at", "2026-11-23T12:00"])
    assert naive.exit_code == 1 and "needs an offset" in naive.output
    nobody = runner.invoke(app, ["presence", "acme", "-c", config, "--user", "nobody"])
    assert nobody.exit_code == 1 and "'nobody' is not a user of acme" in nobody.output
    failing = runner.invoke(app, ["presence", "acme", "-c", config, "--user", "tech2"])
    assert failing.exit_code == 1 and "cannot name a collection" in failing.output
