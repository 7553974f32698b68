"""The admin commands: ``integrations``, ``users``, ``export-profile``, ``import-profile`` and ``rotate-key``.

Each parses its options, calls ``calsync.services.integrations`` (or ``profiles``) and renders the views, which
carry no secret. Secrets come in through ``--…-env`` (a variable's name), ``--…-file`` or a hidden prompt, never
as a value on the command line (it would stay in the shell history and in ``ps``). Errors are rendered by the
group in ``calsync.cli.app``.

Why ``add`` and ``update`` share one signature (``_fields``): they take the same fields; ``add`` needs name and
company, ``update`` changes only what is given.
"""

from __future__ import annotations

import inspect
import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from calsync.errors import ConfigError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from calsync.config import Settings
    from calsync.crypto import Secret
    from calsync.services.integrations import IntegrationService

integrations_app = typer.Typer(
    name="integrations", help="Add, show, change and remove integrations.", no_args_is_help=True
)
users_app = typer.Typer(name="users", help="Map business users to mailboxes, per integration.", no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        envvar="CALSYNC_CONFIG",
        show_default=False,
        help="The configuration file (TOML) naming the state database; or set CALSYNC_CONFIG.",
    ),
]
IntegrationOption = Annotated[str, typer.Option("--integration", "-i", metavar="NAME", help="The integration.")]
_Str = Annotated[str | None, typer.Option(show_default=False)]
_Int = Annotated[int | None, typer.Option(show_default=False)]
_Env = Annotated[str | None, typer.Option(metavar="VAR", help="Read it from this environment variable.")]
_File = Annotated[Path | None, typer.Option(metavar="FILE", dir_okay=False, help="Read it from this file.")]
_Flag = Annotated[bool | None, typer.Option(show_default=False)]


def _fields(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The integration's name (letters, digits, _ . -).")],
    config: ConfigOption,
    *,
    company: _Str = None,
    department: _Str = None,
    description: _Str = None,
    connection_type: Annotated[str | None, typer.Option("--type", help="caldav|carddav|ews|graph|folder")] = None,
    url: _Str = None,
    autodiscover: Annotated[
        str | None,
        typer.Option(
            help="An e-mail address to find the server from, instead of --url (EWS autodiscover; CalDAV/CardDAV DNS)."
        ),
    ] = None,
    ca_bundle: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="A PEM file of CAs trusted instead of the system's (caldav, carddav, ews with a company CA); "
            "'' trusts the system's again.",
        ),
    ] = None,
    auth: Annotated[str | None, typer.Option(help="impersonation|delegate|oauth")] = None,
    username: _Str = None,
    password_env: _Env = None,
    password_file: _File = None,
    client_id: _Str = None,
    tenant_id: _Str = None,
    client_secret_env: _Env = None,
    client_secret_file: _File = None,
    certificate_file: Annotated[Path | None, typer.Option(metavar="FILE", help="PEM with the private key.")] = None,
    two_way: Annotated[bool | None, typer.Option("--two-way/--one-way", show_default=False)] = None,
    days_back: _Int = None,
    days_forward: _Int = None,
    full_sync_minutes: _Int = None,
    interval_minutes: _Int = None,
    start_of_sync: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"])] = None,
    appointment_activity: _Str = None,
    task_activity: _Str = None,
) -> None:
    """The fields of an integration, as options (the signature of ``add`` and ``update``)."""


def _with_fields(command: Any) -> Any:
    """Give ``command`` the options of ``_fields``: Typer reads them from the signature (evaluated, since this
    module's annotations are strings) and the annotations."""
    command.__signature__ = inspect.signature(_fields, eval_str=True)
    command.__annotations__ = dict(_fields.__annotations__)
    return command


@integrations_app.command("add")
@_with_fields
def add(ctx: typer.Context, name: str, config: Path, **given: Any) -> None:
    """Add an integration; asks for the password or client secret (hidden) unless given by --…-env or --…-file."""
    from calsync.services.integrations import IntegrationInput

    values = _plain(given)
    values.setdefault("company", "")
    values["connection_type"] = values.get("connection_type") or ""
    values.setdefault("auth_mode", "oauth" if values["connection_type"] == "graph" else "delegate")
    secrets = _secrets(given, values["auth_mode"], values["connection_type"], asking=True)
    with _service(ctx, config) as service:
        view = service.add(IntegrationInput(name=name, **(values | secrets)))
    typer.echo(f"Added integration {view.name}.")


@integrations_app.command("update")
@_with_fields
def update(ctx: typer.Context, name: str, config: Path, **given: Any) -> None:
    """Change the given fields of an integration; a secret changes only when --…-env or --…-file is given."""
    from calsync.services.integrations import IntegrationPatch

    patch = IntegrationPatch(**(_plain(given) | _secrets(given, "", "", asking=False)))
    with _service(ctx, config) as service:
        view = service.update(name, patch)
    typer.echo(f"Updated integration {view.name}.")


@integrations_app.command("list")
def list_integrations(ctx: typer.Context, config: ConfigOption) -> None:
    """List the integrations (secrets show only as set or not)."""
    from calsync.cli import admin_render, render

    with _service(ctx, config) as service:
        views = service.integrations()
    admin_render.integrations_table(render.consoles()[0], views)


@integrations_app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument()], config: ConfigOption) -> None:
    """Show every setting of one integration and its users."""
    from calsync.cli import admin_render, render

    with _service(ctx, config) as service:
        view, users = service.get(name), service.users(name)
    admin_render.integration_detail(render.consoles()[0], view, users)


@integrations_app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument()], config: ConfigOption) -> None:
    """Remove an integration with its users."""
    with _service(ctx, config) as service:
        service.remove(name)
    typer.echo(f"Removed integration {name}.")


@integrations_app.command("apply")
def apply(ctx: typer.Context, config: ConfigOption) -> None:
    """Add or update the integrations the configuration file declares ([[integrations]]); `serve` and `worker`
    do this when they start."""
    from calsync.services.configured import apply_configured_integrations

    applied = apply_configured_integrations(_settings(ctx, config))
    typer.echo(
        f"{len(applied.added)} added ({', '.join(applied.added) or 'none'}), {len(applied.updated)} updated "
        f"({', '.join(applied.updated) or 'none'}), {applied.users} users applied"
    )


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    business_user: Annotated[str, typer.Argument(help="The business system's user id.")],
    config: ConfigOption,
    integration: IntegrationOption,
    mailbox: Annotated[str, typer.Option(help="The mailbox (EWS, Graph) or principal (CalDAV).")],
) -> None:
    """Map a business user to a mailbox, with every option switched on."""
    with _service(ctx, config) as service:
        view = service.add_user(integration, business_user, mailbox)
    typer.echo(f"Added user {view.business_user} ({view.mailbox}) to {integration}, every option on.")


@users_app.command("list")
def list_users(ctx: typer.Context, config: ConfigOption, integration: IntegrationOption) -> None:
    """List the users of an integration with their options."""
    from calsync.cli import admin_render, render

    with _service(ctx, config) as service:
        users = service.users(integration)
    admin_render.users_table(render.consoles()[0], integration, users)


@users_app.command("update")
def update_user(
    ctx: typer.Context,
    business_user: Annotated[str, typer.Argument()],
    config: ConfigOption,
    integration: IntegrationOption,
    *,
    mailbox: _Str = None,
    appointments: _Flag = None,
    delete_in_calendar: _Flag = None,
    delete_in_business: _Flag = None,
    no_private_appointments: _Flag = None,
    tasks: _Flag = None,
    delete_tasks_in_calendar: _Flag = None,
    delete_tasks_in_business: _Flag = None,
    no_private_tasks: _Flag = None,
    contacts: _Flag = None,
) -> None:
    """Change a user's mailbox or switch options on (--tasks) or off (--no-tasks)."""
    from calsync.services.integrations import UserPatch

    patch = UserPatch(
        mailbox, appointments, delete_in_calendar, delete_in_business, no_private_appointments, tasks,
        delete_tasks_in_calendar, delete_tasks_in_business, no_private_tasks, contacts,
    )  # fmt: skip
    with _service(ctx, config) as service:
        service.update_user(integration, business_user, patch)
    typer.echo(f"Updated user {business_user} of {integration}.")


@users_app.command("remove")
def remove_user(
    ctx: typer.Context,
    business_user: Annotated[str, typer.Argument()],
    config: ConfigOption,
    integration: IntegrationOption,
) -> None:
    """Remove a user from an integration."""
    with _service(ctx, config) as service:
        service.remove_user(integration, business_user)
    typer.echo(f"Removed user {business_user} from {integration}.")


def export_profile(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The integration to export.")],
    config: ConfigOption,
    file: Annotated[Path, typer.Option("--file", "-f", dir_okay=False, help="The JSON file to write.")],
    passphrase_env: _Env = None,
) -> None:
    """Write an integration and its users to a JSON file, secrets sealed with a passphrase."""
    from calsync.services.hub import open_hub
    from calsync.services.profiles import export_profile as export
    from calsync.services.profiles import write_profile

    passphrase = _passphrase(passphrase_env, confirm=True)
    settings = _settings(ctx, config)
    with open_integrations_of(settings) as service, open_hub(settings) as hub:
        rules = json.loads(hub.rules(name).to_json())  # the item rules and mappings travel too
        document = export(service, name, passphrase, rules=rules)
        write_profile(file, document)
    typer.echo(f"Exported integration {name} to {file}.")


def import_profile(
    ctx: typer.Context,
    config: ConfigOption,
    file: Annotated[Path, typer.Option("--file", "-f", dir_okay=False, help="The JSON file to read.")],
    passphrase_env: _Env = None,
) -> None:
    """Add the integration and users in a profile file, re-encrypting its secrets with this installation's key."""
    from calsync.services.hub import open_hub
    from calsync.services.profiles import import_profile as load
    from calsync.services.profiles import read_profile

    document = read_profile(file)
    passphrase = _passphrase(passphrase_env, confirm=False)
    settings = _settings(ctx, config)
    with open_integrations_of(settings) as service:
        view = load(service, document, passphrase, where=str(file))
    if isinstance(document, dict) and document.get("rules") is not None:
        with open_hub(settings) as hub:
            hub.set_rules(view.name, document["rules"])
    typer.echo(f"Imported integration {view.name} from {file}.")


def rotate_key(ctx: typer.Context, config: ConfigOption, new_key_env: _Env = None) -> None:
    """Re-encrypt every stored secret with a new key (a new key file, or the key in --new-key-env)."""
    from calsync.services.integrations import rotate_secret_key

    settings = _settings(ctx, config)
    count = rotate_secret_key(settings, _from_env(new_key_env) if new_key_env else None)
    typer.echo(f"Re-encrypted {count} secrets with the new key.")


def register(app: typer.Typer) -> None:
    """Add the admin commands to the ``calsync`` application."""
    app.add_typer(integrations_app)
    app.add_typer(users_app)
    app.command("export-profile")(export_profile)
    app.command("import-profile")(import_profile)
    app.command("rotate-key")(rotate_key)


def _settings(ctx: typer.Context, config: Path) -> Settings:
    from calsync.cli.app import _load  # the one place settings and logging are set up

    return _load(ctx, config)


def _service(ctx: typer.Context, config: Path) -> AbstractContextManager[IntegrationService]:
    return open_integrations_of(_settings(ctx, config))


def open_integrations_of(settings: Settings) -> AbstractContextManager[IntegrationService]:
    """The integrations service on the settings' database (imported only when a command runs)."""
    from calsync.services.integrations import open_integrations

    return open_integrations(settings)


def _plain(given: dict[str, Any]) -> dict[str, Any]:
    """The non-secret options that were given, by the service's field names."""
    skip = ("password_env", "password_file", "client_secret_env", "client_secret_file", "certificate_file")
    values = {k: v for k, v in given.items() if v is not None and k not in skip and k != "auth"}
    if given.get("auth") is not None:
        values["auth_mode"] = given["auth"]
    if values.get("ca_bundle"):  # relative to where the command runs; the service stores absolute paths only
        values["ca_bundle"] = str(Path(values["ca_bundle"]).expanduser().absolute())  # symlinks kept as given
    return values


def _secrets(given: dict[str, Any], auth: str, kind: str, *, asking: bool) -> dict[str, Secret]:
    """The secrets given by variable or file; on ``add``, a hidden prompt for the one the auth mode needs."""
    found: dict[str, Secret] = {}
    for name in ("password", "client_secret"):
        secret = _read(given.get(f"{name}_env"), given.get(f"{name}_file"), name)
        if secret is not None:
            found[name] = secret
    if given.get("certificate_file") is not None:
        found["certificate"] = _from_file(given["certificate_file"])
    if asking and not found and kind != "folder":
        wanted = "client_secret" if auth == "oauth" else "password"
        found[wanted] = _prompt(f"{wanted.replace('_', ' ').capitalize()} (hidden)", confirm=False)
    return found


def _read(env: str | None, file: Path | None, name: str) -> Secret | None:
    if env and file:
        raise ConfigError(
            f"give --{name.replace('_', '-')}-env or --{name.replace('_', '-')}-file, not both", where=name
        )
    if env:
        return _from_env(env)
    return _from_file(file) if file else None


def _from_env(variable: str) -> Secret:
    from calsync.crypto import Secret

    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError("the environment variable is not set or empty", where=variable)
    return Secret(value)


def _from_file(path: Path) -> Secret:
    from calsync.crypto import Secret

    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file: {exc.strerror}", where=str(path)) from exc
    if not value:
        raise ConfigError("the secret file is empty", where=str(path))
    return Secret(value)


def _passphrase(env: str | None, *, confirm: bool) -> Secret:
    return _from_env(env) if env else _prompt("Profile passphrase (hidden)", confirm=confirm)


def _prompt(label: str, *, confirm: bool) -> Secret:
    from calsync.crypto import Secret

    value = typer.prompt(label, hide_input=True, confirmation_prompt=confirm, default="", show_default=False)
    if not value:
        raise ConfigError("an empty secret was given", where=label.split(" (", maxsplit=1)[0].lower())
    return Secret(value)
