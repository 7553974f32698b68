"""The command line through Typer's runner: what a person sees, and the exit status a script sees."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from calsync.cli.app import app
from calsync.cli.demo import MARKER
from calsync.errors import ConfigError
from tests.samples import event, task

SOON = (date.today() + timedelta(days=3)).strftime("%Y%m%d")

CONFIG = """
[[connections]]
name = "work"
type = "folder"
path = "work"

[[connections]]
name = "phone"
type = "folder"
path = "phone"

[[pairs]]
name = "anna"
a = "work:anna"
b = "phone:anna"
"""

DAV = """
[[connections]]
name = "dav"
type = "ews"
auth = "impersonation"
url = "https://ews.example.com/"
username = "u"
password_env = "CALSYNC_DAV_PASSWORD"
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``calsync`` with a fixed output width, so table rows read the same on every machine."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "120"} | (env or {}))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Two folders, one pair; the business side holds an event and a task, the calendar side one event."""
    for folder in ("work/anna", "phone/anna"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "work/anna/visit.ics").write_text(event("visit-1", "Visit Müller", day=SOON), encoding="utf-8")
    (tmp_path / "work/anna/quote.ics").write_text(task("quote-1", due=SOON), encoding="utf-8")
    (tmp_path / "phone/anna/lunch.ics").write_text(event("lunch-1", "Lunch", day=SOON), encoding="utf-8")
    path = tmp_path / "calsync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def counts(output: str, side: str) -> list[int]:
    """The seven counts (created … held) of the summary row of ``side``, e.g. ``"B phone:anna"``."""
    (row,) = [line for line in output.splitlines() if line.strip().startswith(side + " ")]
    return [int(cell) for cell in row.split()[-7:]]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_sync_two_folders_shows_a_summary(config: Path) -> None:
    result = invoke("sync", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "Sync summary" in result.stdout
    assert "A work:anna" in result.stdout and "B phone:anna" in result.stdout
    assert "Problems" not in result.stdout
    assert files(config.parent / "phone/anna") == ["lunch.ics", "quote-1.ics", "visit-1.ics"]
    assert "lunch-1.ics" in files(config.parent / "work/anna")
    assert counts(result.stdout, "B phone:anna") == [2, 0, 0, 0, 0, 0, 0]
    assert counts(result.stdout, "A work:anna") == [1, 0, 0, 0, 0, 0, 0]
    again = invoke("sync", "--config", str(config))
    assert counts(again.stdout, "A work:anna") == [0, 0, 0, 3, 0, 0, 0]


@pytest.mark.parametrize("columns", [79, 66, 56])
def test_every_count_shows_on_a_narrow_terminal_under_short_headers(config: Path, columns: int) -> None:
    (config.parent / "phone/anna/broken.ics").write_text("BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n")
    result = invoke("sync", "--config", str(config), env={"COLUMNS": str(columns)})
    (header,) = [line for line in result.stdout.splitlines() if "Pair / side" in line]
    assert header.split()[-7:] == ["New", "Upd", "Del", "Same", "Confl", "Err", "Held"]
    assert counts(result.stdout, "B phone:anna") == [2, 0, 0, 0, 0, 1, 0]
    assert max(len(line) for line in result.stdout.split("Problems")[0].splitlines()) <= columns


def test_dry_run_shows_planned_actions_and_writes_nothing(config: Path) -> None:
    before = {p: p.read_bytes() for p in config.parent.rglob("*.ics")}
    result = invoke("sync", "--config", str(config), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Planned actions" in result.stdout and "dry run: nothing was written" in result.stdout
    planned = [line for line in result.stdout.splitlines() if "anna" in line and "create" in line]
    assert len(planned) == 3
    # each line names the item by title and identity: "Visit 1 (visit-1)"
    assert any("(visit-1)" in line and line.split()[-5:-3] == ["create", "B"] for line in planned), planned
    assert {p: p.read_bytes() for p in config.parent.rglob("*.ics")} == before


def test_a_dry_run_says_nothing_to_do_only_for_the_pairs_that_ran(config: Path) -> None:
    assert invoke("sync", "--config", str(config)).exit_code == 0  # both sides agree from now on
    broken = '\n[[pairs]]\nname = "gone"\na = "work:nowhere"\nb = "phone:anna"\n'
    config.write_text(CONFIG + broken, encoding="utf-8")
    mixed = invoke("sync", "--config", str(config), "--dry-run")
    assert mixed.exit_code == 1 and "the pair failed" in mixed.stdout
    assert "Nothing to do in the pair that ran: its two sides agree." in mixed.stdout
    assert "every pair agree" not in mixed.stdout
    failed = invoke("sync", "--config", str(config), "--dry-run", "--pair", "gone")
    assert failed.exit_code == 1 and "the pair failed" in failed.stdout
    assert "Nothing to do" not in failed.stdout
    agreed = invoke("sync", "--config", str(config), "--dry-run", "--pair", "anna")
    assert "Nothing to do: the two sides of every pair agree." in agreed.stdout


def test_a_bad_config_is_one_red_line_and_exit_1(config: Path) -> None:
    config.write_text(CONFIG.replace('b = "phone:anna"', 'b = "phone:anna"\nmode = "sideways"'))
    result = invoke("sync", "--config", str(config))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {config}: pairs[1].mode: 'sideways' is not allowed; use one of: "
        "a-to-b | a-to-b-merge | b-to-a | b-to-a-merge | two-way"
    ]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("no_color", "red"), [("1", False), ("", True)])
def test_the_error_line_is_red_unless_no_color_is_set(tmp_path: Path, no_color: str, red: bool) -> None:
    result = CliRunner().invoke(
        app, ["sync", "--config", str(tmp_path / "nope.toml")], env={"NO_COLOR": no_color}, color=True
    )
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'nope.toml'}: no such file" in result.stderr
    assert ("\x1b[31m" in result.stderr) is red


def test_debug_lets_the_error_through_with_its_traceback(config: Path) -> None:
    config.write_text("nonsense = 1\n")
    result = invoke("--debug", "sync", "--config", str(config))
    assert isinstance(result.exception, ConfigError)


def test_a_malformed_item_is_one_error_in_the_summary_and_the_rest_syncs(config: Path) -> None:
    (config.parent / "phone/anna/broken.ics").write_text("BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n")
    result = invoke("sync", "--config", str(config))
    assert result.exit_code == 0, result.output
    problems = result.stdout.split("Problems", 1)[1]
    assert problems.count("broken.ics") == 1
    assert counts(result.stdout, "B phone:anna") == [2, 0, 0, 0, 0, 1, 0]
    assert files(config.parent / "phone/anna") == ["broken.ics", "lunch.ics", "quote-1.ics", "visit-1.ics"]
    assert "lunch-1.ics" in files(config.parent / "work/anna")


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_conflict_the_policy_settled_names_the_item_whose_edit_was_overwritten(config: Path, dry_run: bool) -> None:
    """Counted is not enough: the user has to find the calendar edit that is gone."""
    assert invoke("sync", "--config", str(config)).exit_code == 0
    (config.parent / "work/anna/visit.ics").write_text(event("visit-1", "Visit moved", day=SOON), encoding="utf-8")
    (config.parent / "phone/anna/visit-1.ics").write_text(event("visit-1", "Visit Anna", day=SOON), encoding="utf-8")
    result = invoke("sync", "--config", str(config), *(["--dry-run"] if dry_run else []))
    assert result.exit_code == 0, result.output
    assert counts(result.stdout, "B phone:anna")[4] == 1
    problems = result.stdout.split("Problems", 1)[1]
    (row,) = [line for line in problems.splitlines() if "visit-1" in line]
    assert row.split()[:2] == ["anna", "B"]
    assert "conflict (changed on both sides): A wins" in row
    verb = "would be overwritten" if dry_run else "was overwritten"
    assert f"the edit on B {verb}" in " ".join(problems.split())  # the cell may wrap


def test_a_failed_pair_is_shown_and_exits_1_after_the_others_ran(config: Path) -> None:
    broken = '\n[[pairs]]\nname = "gone"\na = "work:nowhere"\nb = "phone:anna"\n'
    config.write_text(CONFIG + broken, encoding="utf-8")
    result = invoke("sync", "--config", str(config))
    assert result.exit_code == 1
    assert "the pair failed" in result.stdout and "nowhere" in result.stdout
    assert result.stderr.strip() == "error: 1 of 2 pairs failed: gone"
    assert "visit-1.ics" in files(config.parent / "phone/anna")


def test_only_the_named_pairs_run(config: Path) -> None:
    result = invoke("sync", "--config", str(config), "--pair", "nobody")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {config}: no pair called 'nobody'; known: anna"
    assert files(config.parent / "phone/anna") == ["lunch.ics"]


def test_the_config_can_come_from_the_environment(config: Path) -> None:
    result = invoke("sync", env={"CALSYNC_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    assert "Sync summary" in result.stdout


def test_the_config_may_be_named_from_the_home_folder(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(config.parent))
    assert invoke("check-config", "--config=~/calsync.toml").exit_code == 0
    by_env = invoke("check-config", env={"CALSYNC_CONFIG": "~/calsync.toml"})
    assert by_env.exit_code == 0, by_env.output
    assert f"Configuration OK: {config}" in by_env.stdout


@pytest.mark.parametrize("command", ["sync", "check-config", "integrations list", "serve", "admin-user list"])
def test_a_folder_as_the_config_is_one_error_line_like_a_missing_file(tmp_path: Path, command: str) -> None:
    """Not a usage error: the option was given, the file is wrong."""
    result = invoke(*command.split(), "--config", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"error: {tmp_path}: is a folder, not a configuration file"]


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    result = invoke("sync", env={"CALSYNC_CONFIG": ""})
    assert result.exit_code == 2
    assert "Missing option '--config'" in result.stderr


def test_check_config_shows_what_is_configured(config: Path) -> None:
    config.write_text(CONFIG + DAV, encoding="utf-8")
    result = invoke("check-config", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert f"Configuration OK: {config}" in result.stdout
    assert "work:anna" in result.stdout and "two-way" in result.stdout
    assert "cannot sync it yet" not in result.stdout
    assert not (config.parent / "calsync.db").exists()


def test_check_config_accepts_a_pair_with_an_exchange_connection(config: Path) -> None:
    pair = '[[pairs]]\nname = "p2"\na = "work:x"\nb = "dav:x"\n'
    config.write_text(CONFIG + DAV + pair, encoding="utf-8")
    result = invoke("check-config", "--config", str(config), env={"CALSYNC_DAV_PASSWORD": "secret-of-the-test"})
    assert result.exit_code == 0, result.output
    assert "p2" in result.stdout and "secret-of-the-test" not in result.output


def test_check_config_checks_a_pair_whose_secret_lives_on_another_machine(config: Path) -> None:
    pair = '[[pairs]]\nname = "p2"\na = "work:x"\nb = "dav:x"\n'
    config.write_text(CONFIG + DAV + pair, encoding="utf-8")
    result = invoke("check-config", "--config", str(config), env={"CALSYNC_DAV_PASSWORD": ""})
    assert result.exit_code == 0, result.output
    assert "pair 'p2' was checked without its connections" in result.stdout
    assert "CALSYNC_DAV_PASSWORD" in result.stdout


def test_demo_runs_in_a_fresh_folder_and_again(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    result = invoke("demo-folders", "--dir", str(demo))
    assert result.exit_code == 0, result.output
    assert "Sync summary" in result.stdout and "Created the demo" in result.stdout
    assert (demo / "calsync.toml").read_text(encoding="utf-8").startswith(MARKER)
    business, calendar = files(demo / "business/anna"), files(demo / "calendar/anna")
    assert len(business) == len(calendar) == 7
    texts = "".join(p.read_text(encoding="utf-8") for p in (demo / "calendar/anna").iterdir())
    for marker in ("RRULE:", "RECURRENCE-ID", "VALUE=DATE", "CLASS:PRIVATE", "BEGIN:VTODO", "ATTENDEE"):
        assert marker in texts
    again = invoke("demo-folders", "--dir", str(demo))
    assert again.exit_code == 0, again.output
    assert "Reusing the demo" in again.stdout
    assert counts(again.stdout, "A business:anna") == [0, 0, 0, 7, 0, 0, 0]
    assert counts(again.stdout, "B calendar:anna") == [0, 0, 0, 7, 0, 0, 0]


def test_demo_refuses_a_folder_that_holds_something_else(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("demo-folders", "--dir", str(tmp_path))
    assert result.exit_code == 1
    message = "exists and is not an empty folder or a calsync demo; choose another --dir"
    assert result.stderr.strip() == f"error: {tmp_path}: {message}"
    assert files(tmp_path) == ["notes.txt"]


def test_help_loads_no_store_no_services_and_no_rich_progress() -> None:
    """Start-up stays fast: ``calsync --help`` imports Typer and the CLI module, nothing heavy."""
    script = (
        "import sys\nsys.argv = ['calsync', '--help']\nfrom calsync.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', __import__('json').dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "Usage: calsync" in done.stdout
    modules = set(json.loads(done.stdout.split("MODULES", 1)[1]))
    for heavy in (
        "sqlalchemy",
        "rich.progress",
        "calsync.services.syncing",
        "calsync.state.sql",
        "icalendar",
    ):
        assert heavy not in modules
