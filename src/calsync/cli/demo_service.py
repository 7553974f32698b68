"""``calsync demo``: the whole service on embedded defaults, for a newcomer's first look.

It keeps everything in one folder (``demo/``): a configuration naming a SQLite state file, the demo CalDAV server
(Radicale, started and stopped here), the demo integration with two technicians and sample business data
(``calsync.services.demo``). Then it prints where to look and serves the admin UI, the API and the scheduler
until Ctrl-C; the first sync runs within seconds, and every minute after.
"""

from __future__ import annotations

from pathlib import Path

import typer

CONFIG = """# calsync demo configuration: written by `calsync demo`; edit it freely.
# The state (integrations, business items, sync state, jobs) goes to calsync.db next to this file.
[state]
url = "calsync.db"

[log]
level = "info"
"""


def run_demo(ctx: typer.Context, directory: Path, *, port: int, caldav_port: int) -> None:
    """Prepare the demo folder, start the demo CalDAV server, seed the demo, then serve until stopped."""
    from calsync.cli.serve import _options, run_service
    from calsync.cli.service_log import LogFormat, configure_logging
    from calsync.config import load_settings
    from calsync.services.demo import demo_caldav_server, seed_demo

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "calsync.toml"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(config)
    configure_logging(20, LogFormat.TEXT)
    with demo_caldav_server(directory, caldav_port) as server:
        access = seed_demo(settings, server, directory)
        _welcome(
            directory,
            port,
            server.url,
            server.passwords,
            access.admin,
            access.admin_password.reveal(),
            access.credentials_file,
        )
        run_service(settings, host="127.0.0.1", port=port, options=_options(2, 30, 10.0, 2.0), grace=10.0)


def _welcome(
    directory: Path, port: int, caldav: str, passwords: dict[str, str], admin: str, password: str, stored: Path
) -> None:
    """Where to look, printed once before the service starts (the secrets are the demo's own, on loopback)."""
    base = f"http://127.0.0.1:{port}"
    lines = [
        "",
        "calsync demo is starting.",
        f"  Admin UI:      {base}/admin   sign in as {admin!r} with password {password!r}",
        f"  REST API:      {base}/docs    (the API token is in {stored})",
        f"  CalDAV server: {caldav}   (Radicale, stopped with the demo)",
    ]
    for business_user, principal in (("tech1", "anna"), ("tech2", "ben")):
        lines.append(
            f"  Technician {business_user}: calendar {caldav}{principal}/  user {principal!r} password "
            f"{passwords[principal]!r}"
        )
    lines += [
        f"  Everything is kept in {directory}/; stop with Ctrl-C, start again with the same command.",
        "  The first sync runs within seconds: watch it on the Scheduling page.",
        "",
    ]
    typer.echo("\n".join(lines))
