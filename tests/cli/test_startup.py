"""What ``calsync sync`` loads: start-up is most of a small run, so the command must not import what it does not use.

Each forbidden package costs tens of milliseconds at every start (Alembic alone costs more than syncing 1,000
unchanged items); they belong to other commands (the web app, the Exchange and Graph connectors) or to the
full codec, which a text-to-text sync never needs. Nor does it import the modules of the other commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.samples import event

NOT_FOR_SYNC = (
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "exchangelib",
    "msal",
    "icalendar",
    "recurring_ical_events",
    "vobject",
    "cryptography",
    "dns",
    "pydantic",  # Typer's converter of option values; calsync.cli.params converts plain ones without it
)
OTHER_COMMANDS = tuple(f"calsync.cli.{name}" for name in ("admin", "accounts", "access", "hub", "serve", "presence"))

_RUN = """
import json, sys
from calsync.cli import main
sys.argv = ["calsync", "sync", "--config", sys.argv[1]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _sync_in_a_new_process(config: Path) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    outcome = json.loads(done.stderr.strip().splitlines()[-1])
    return outcome["code"], set(outcome["modules"])


def test_a_first_and_a_second_sync_import_nothing_they_do_not_use(tmp_path: Path) -> None:
    for folder in ("work/anna", "phone/anna"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "work/anna/visit.ics").write_text(event("visit-1"), encoding="utf-8")
    config = tmp_path / "calsync.toml"
    config.write_text(
        '[[connections]]\nname = "work"\ntype = "folder"\npath = "work"\n\n'
        '[[connections]]\nname = "phone"\ntype = "folder"\npath = "phone"\n\n'
        '[[pairs]]\nname = "anna"\na = "work:anna"\nb = "phone:anna"\nwindow = "all"\n',
        encoding="utf-8",
    )
    for run in ("first (a fresh state database)", "second"):
        code, modules = _sync_in_a_new_process(config)
        assert code == 0, run
        assert sorted({name.split(".")[0] for name in modules} & set(NOT_FOR_SYNC)) == [], run
        assert sorted(modules & set(OTHER_COMMANDS)) == [], run
    assert [path.suffix for path in (tmp_path / "phone/anna").iterdir()] == [".ics"]
