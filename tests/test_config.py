"""The configuration file: good files load into the values the README promises; every kind of mistake is a
``ConfigError`` naming the file and the key path; environment variables override; secrets never show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calsync.config import (
    ConnectionType,
    DavConnection,
    EwsAuth,
    EwsConnection,
    FolderConnection,
    GraphConnection,
    LogLevel,
    SecretRef,
    Settings,
    UserOptions,
    load_settings,
)
from calsync.errors import ConfigError
from calsync.sync.rules import ConflictPolicy, MassDeleteGuard, Mode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "calsync.toml"

FOLDERS = """
[[connections]]
name = "biz"
type = "folder"
path = "biz"

[[connections]]
name = "cal"
type = "folder"
path = "cal"
"""

PAIR = """
[[pairs]]
name = "p1"
a = "biz:x"
b = "cal:x"
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "calsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ or {})


def mistake(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, environ)
    return info.value


# -- good files ----------------------------------------------------------------------------------------------


def test_the_example_loads_with_every_kind_of_connection() -> None:
    settings = load_settings(EXAMPLE, {})
    types = {c.name: c.type for c in settings.connections}
    assert types == {
        "business": ConnectionType.FOLDER,
        "calendars": ConnectionType.FOLDER,
        "dav": ConnectionType.CALDAV,
        "dav-contacts": ConnectionType.CARDDAV,
        "exchange": ConnectionType.EWS,
        "m365": ConnectionType.GRAPH,
    }
    business = settings.connection("business")
    assert isinstance(business, FolderConnection)
    assert business.path == EXAMPLE.parent / "data" / "business"
    dav = settings.connection("dav")
    assert isinstance(dav, DavConnection) and dav.password == SecretRef(env="CALSYNC_DAV_PASSWORD")
    contacts = settings.connection("dav-contacts")
    assert isinstance(contacts, DavConnection) and contacts.password.file == Path("/run/secrets/calsync-dav")
    ews = settings.connection("exchange")
    assert isinstance(ews, EwsConnection) and ews.auth is EwsAuth.IMPERSONATION and ews.url == ""
    graph = settings.connection("m365")
    assert isinstance(graph, GraphConnection) and graph.certificate is None
    assert graph.client_secret == SecretRef(env="CALSYNC_GRAPH_SECRET")
    assert settings.state.url == str(EXAMPLE.parent / "calsync.db")
    assert settings.log.level is LogLevel.WARNING


def test_the_example_integration_and_pairs() -> None:
    settings = load_settings(EXAMPLE, {})
    (integration,) = settings.integrations
    assert (integration.company, integration.department, integration.calendar) == (
        "ACME",
        "Service",
        "exchange",
    )
    assert integration.conflict is ConflictPolicy.A_WINS and integration.days_forward == 60
    anna, jonas = integration.users
    assert anna.options == UserOptions()
    assert all(getattr(anna.options, name) for name in UserOptions.__dataclass_fields__)
    assert jonas.options.no_private_appointments is False and jonas.options.contacts is False
    assert jonas.options.tasks is True
    first, second = settings.pairs
    assert (first.mode, first.conflict, first.window) == (Mode.TWO_WAY, ConflictPolicy.NEWEST_WINS, (30, 60))
    assert first.mass_delete == MassDeleteGuard(max_share=0.5, max_count=100)
    assert (second.mode, second.delete_on_a, second.delete_on_b) == (Mode.A_TO_B_MERGE, False, True)
    assert second.window is None


def test_the_readme_shows_the_example_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8") in readme


def test_a_minimal_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, FOLDERS + PAIR)
    (pair,) = settings.pairs
    assert (pair.mode, pair.conflict, pair.window) == (Mode.TWO_WAY, ConflictPolicy.A_WINS, (30, 30))
    assert pair.delete_on_a and pair.delete_on_b
    assert pair.mass_delete == MassDeleteGuard()
    assert (str(pair.a), pair.b.connection, pair.b.collection) == ("biz:x", "cal", "x")
    assert settings.state.url == str(tmp_path / "calsync.db")
    assert settings.source == tmp_path / "calsync.toml"
    assert settings.integrations == ()


def test_an_integration_gets_the_documented_defaults(tmp_path: Path) -> None:
    text = FOLDERS + '[[integrations]]\nname = "i"\ncompany = "ACME"\ncalendar = "cal"\n'
    text += '[[integrations.users]]\nbusiness_user = "T1"\nmailbox = "t1@example.com"\n'
    (integration,) = load(tmp_path, text).integrations
    assert (integration.days_back, integration.days_forward) == (30, 30)
    assert (integration.interval_minutes, integration.full_sync_minutes) == (20, 1440)
    assert integration.two_way and integration.department == "" and integration.addressbook == ""
    assert integration.conflict is ConflictPolicy.A_WINS
    assert integration.users[0].options == UserOptions()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("state/sync.db", "{base}/state/sync.db"),
        ("/var/lib/calsync/state.db", "/var/lib/calsync/state.db"),
        ("sqlite:///rel.db", "sqlite:///{base}/rel.db"),
        ("sqlite:////abs/state.db", "sqlite:////abs/state.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://calsync@db.internal/calsync", "postgresql://calsync@db.internal/calsync"),
    ],
)
def test_state_locations_resolve_against_the_file(tmp_path: Path, url: str, expected: str) -> None:
    settings = load(tmp_path, f'[state]\nurl = "{url}"\n')
    assert settings.state.url == expected.format(base=tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("~/state.db", "{home}/state.db"),
        ("sqlite:///~/state.db", "sqlite:///{home}/state.db"),
        ("sqlite+pysqlite:///~/s/state.db?timeout=5", "sqlite+pysqlite:///{home}/s/state.db?timeout=5"),
    ],
)
def test_a_state_location_under_the_home_folder_expands_with_or_without_a_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    """Not a folder literally named ``~`` beside the file."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load(tmp_path, f'[state]\nurl = "{url}"\n').state.url == expected.format(home=tmp_path / "home")


def test_the_file_may_be_named_from_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "calsync.toml").write_text(FOLDERS, encoding="utf-8")
    settings = load_settings("~/calsync.toml", {})
    assert settings.source == tmp_path / "calsync.toml"
    assert settings.state.url == str(tmp_path / "calsync.db")


@pytest.mark.parametrize("where", ["file", "state", "path"])
def test_the_home_folder_of_a_user_that_does_not_exist_is_a_config_error(tmp_path: Path, where: str) -> None:
    nobody = "~no-such-user-of-calsync"
    if where == "file":
        with pytest.raises(ConfigError, match="home folder of no-such-user-of-calsync"):
            load_settings(f"{nobody}/calsync.toml", {})
        return
    text = (
        f'[state]\nurl = "sqlite:///{nobody}/state.db"\n'
        if where == "state"
        else FOLDERS.replace('path = "biz"', f'path = "{nobody}/biz"')
    )
    with pytest.raises(ConfigError, match="home folder of no-such-user-of-calsync"):
        load(tmp_path, text)


def test_an_ews_connection_by_url_and_a_graph_one_by_certificate(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
[[connections]]
name = "ews"
type = "ews"
url = "https://mail.example.com/EWS/Exchange.asmx"
auth = "delegate"
username = "svc"
password_file = "secrets/ews"

[[connections]]
name = "graph"
type = "graph"
tenant_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
client_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3302"
certificate_file = "graph.pem"
""",
    )
    ews, graph = settings.connections
    assert isinstance(ews, EwsConnection) and ews.auth is EwsAuth.DELEGATE
    assert ews.password == SecretRef(file=tmp_path / "secrets" / "ews")
    assert isinstance(graph, GraphConnection) and graph.certificate == SecretRef(file=tmp_path / "graph.pem")


# -- mistakes ------------------------------------------------------------------------------------------------

MISTAKES = [
    # (text, key path in the error, words the message must contain)
    ('titel = "x"\n', "titel", "unknown key; allowed here: state, log, connections"),
    (FOLDERS + PAIR.replace('b = "cal:x"', 'b = "cal:x"\nmdoe = "two-way"'), "pairs[1].mdoe", "unknown key"),
    (
        FOLDERS + PAIR + PAIR.replace("p1", "p2") + 'mode = "twoway"\n',
        "pairs[2].mode",
        "use one of: a-to-b | a-to-b-merge | b-to-a | b-to-a-merge | two-way",
    ),
    (FOLDERS + PAIR + 'conflict = "a_wins"\n', "pairs[1].conflict", "a-wins | b-wins | newest-wins"),
    (FOLDERS + PAIR + 'mode = "a-to-b"\nconflict = "b-wins"\n', "pairs[1].conflict", "only to two-way pairs"),
    (FOLDERS + PAIR + "window = [30, 90]\n", "pairs[1].window", 'each from 0 to 60, or "all"'),
    (FOLDERS + PAIR + 'window = "everything"\n', "pairs[1].window", "[days_back, days_forward]"),
    (FOLDERS + PAIR + "mass_delete = { max_share = 1.5 }\n", "pairs[1].mass_delete.max_share", "at most 1.0"),
    (FOLDERS + PAIR + "mass_delete = { max_cuont = 3 }\n", "pairs[1].mass_delete.max_cuont", "unknown key"),
    (FOLDERS + PAIR + 'delete_on_a = "no"\n', "pairs[1].delete_on_a", "must be true or false"),
    (FOLDERS + PAIR.replace("biz:x", "bis:x"), "pairs[1].a", "no connection called 'bis'; known: biz, cal"),
    (FOLDERS + PAIR.replace("biz:x", "biz"), "pairs[1].a", '"connection:collection"'),
    (FOLDERS + PAIR.replace("cal:x", "biz:x"), "pairs[1].b", "the same collection"),
    (FOLDERS + PAIR.replace("cal:x", "cal:../etc"), "pairs[1].b", "is not a subfolder name"),
    (FOLDERS + PAIR.replace('name = "p1"', 'name = "my pair"'), "pairs[1].name", "letters, digits"),
    (FOLDERS + PAIR + PAIR, "pairs[2].name", "already used by pairs[1]"),
    (FOLDERS + FOLDERS, "connections[3].name", "connection name 'biz' is already used by connections[1]"),
    (PAIR.replace("p1", "1"), "pairs[1].a", "known: none"),
    (
        '[[connections]]\nname = "x"\ntype = "exchange"\n',
        "connections[1].type",
        "use one of: folder | memory | caldav | carddav | ews | graph",
    ),
    ('[[connections]]\nname = "x"\ntype = "folder"\n', "connections[1].path", "is required"),
    (
        '[[connections]]\nname = "x"\ntype = "folder"\npath = "p"\nextension = "ics"\n',
        "connections[1].extension",
        ".ics | .vcf",
    ),
    ('[[connections]]\nname = 5\ntype = "folder"\n', "connections[1].name", "must be a string, not a number"),
    ("connections = 3\n", "connections", "must be an array of tables ([[connections]])"),
]

DAV = '[[connections]]\nname = "d"\ntype = "caldav"\nurl = "https://dav.example.com/"\nusername = "u"\n'
EWS = '[[connections]]\nname = "e"\ntype = "ews"\nusername = "u"\npassword_env = "P"\n'
GRAPH = (
    '[[connections]]\nname = "g"\ntype = "graph"\ntenant_id = "contoso.com"\n'
    'client_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"\n'
)
INTEGRATION = FOLDERS + '[[integrations]]\nname = "i"\ncompany = "ACME"\ncalendar = "cal"\n'
ON_CARDDAV = DAV.replace("caldav", "carddav") + 'password_env = "P"\n'
ON_CARDDAV += INTEGRATION.replace('calendar = "cal"', 'calendar = "d"')
USER = '[[integrations.users]]\nbusiness_user = "T1"\nmailbox = "t1@example.com"\n'

MISTAKES += [
    (DAV + 'password = "hunter2"\n', "connections[1].password", "use password_env"),
    (DAV + 'password_env = "P"\npassword_file = "f"\n', "connections[1].password_env", "not both"),
    (DAV, "connections[1].password_env", "is required (or password_file)"),
    (DAV + 'password_env = "NOT A NAME"\n', "connections[1].password_env", "environment variable name"),
    (DAV.replace("https://dav", "ftp://dav") + 'password_env = "P"\n', "connections[1].url", "https:// URL"),
    (
        DAV.replace("https://", "https://u:pw@") + 'password_env = "P"\n',
        "connections[1].url",
        "may not be part of the URL",
    ),
    (EWS + 'auth = "delegate"\n', "connections[1].url", "url or autodiscover_email (exactly one"),
    (
        EWS + 'auth = "delegate"\nurl = "https://m.example.com/EWS"\nautodiscover_email = "a@b.com"\n',
        "connections[1].url",
        "exactly one",
    ),
    (
        EWS + 'auth = "owner"\nurl = "https://m.example.com/"\n',
        "connections[1].auth",
        "impersonation | delegate",
    ),
    (
        EWS + 'auth = "delegate"\nautodiscover_email = "not-an-address"\n',
        "connections[1].autodiscover_email",
        "an e-mail address",
    ),
    (GRAPH.replace("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "my-app"), "connections[1].client_id", "a GUID"),
    (GRAPH, "connections[1].client_secret_env", "exactly one credential"),
    (
        GRAPH + 'client_secret_env = "S"\ncertificate_file = "c.pem"\n',
        "connections[1].client_secret_env",
        "exactly one credential",
    ),
    (GRAPH + 'client_secret = "s3cr3t"\n', "connections[1].client_secret", "use client_secret_env"),
    (INTEGRATION + "days_back = 61\n", "integrations[1].days_back", "from 0 to 60, not 61"),
    (INTEGRATION + "days_forward = -1\n", "integrations[1].days_forward", "from 0 to 60"),
    (INTEGRATION + "interval_minutes = 0\n", "integrations[1].interval_minutes", "from 1 to 1440"),
    (INTEGRATION + "full_sync_minutes = 1441\n", "integrations[1].full_sync_minutes", "from 0 to 1440"),
    (
        INTEGRATION + 'two_way = false\nconflict = "calendar-wins"\n',
        "integrations[1].conflict",
        "only when two_way = true",
    ),
    (
        INTEGRATION.replace('calendar = "cal"', 'calendar = "kal"'),
        "integrations[1].calendar",
        "no connection called 'kal'",
    ),
    (ON_CARDDAV, "integrations[1].calendar", "is a carddav connection"),
    (
        '[[connections]]\nname = "m"\ntype = "memory"\n' + INTEGRATION.replace('calendar = "cal"', 'calendar = "m"'),
        "integrations[1].calendar",
        "is a memory connection; use one of type caldav | ews | folder | graph",
    ),
    (INTEGRATION + "enabled = false\n", "integrations[1].enabled", "= false is not supported: every integration"),
    (INTEGRATION + 'addressbook = "biz"\n', "integrations[1].addressbook", "must be the calendar connection 'cal'"),
    (INTEGRATION + 'addressbook = "cal"\n', "integrations[1].addressbook", "a folder connection keeps no contacts"),
    (INTEGRATION.replace('company = "ACME"\n', ""), "integrations[1].company", "is required"),
    (INTEGRATION + USER + USER.replace("T1", "T2"), "integrations[1].users[2].mailbox", "already mapped by"),
    (INTEGRATION + USER + "tasks = 1\n", "integrations[1].users[1].tasks", "must be true or false"),
    (INTEGRATION + USER + "calendar_sync = true\n", "integrations[1].users[1].calendar_sync", "unknown key"),
    (
        INTEGRATION + USER.replace('business_user = "T1"\n', ""),
        "integrations[1].users[1].business_user",
        "is required",
    ),
    ('[state]\nurl = "mysql://db/calsync"\n', "state.url", "unsupported database"),
    ('[state]\nurl = "postgresql://calsync:pw@db/calsync"\n', "state.url", "may not be written in the file"),
    ('[state]\npassword_env = "P"\n', "state.password_env", "applies only to a postgresql:// url"),
    ('[log]\nlevel = "verbose"\n', "log.level", "debug | info | warning | error"),
]


@pytest.mark.parametrize(("text", "key", "words"), MISTAKES)
def test_each_mistake_names_the_file_and_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    error = mistake(tmp_path, text)
    assert error.where == f"{tmp_path / 'calsync.toml'}: {key}"
    assert words in str(error)
    assert str(error).startswith(error.where + ": ")


def test_an_integrations_addressbook_may_name_its_calendar_connection(tmp_path: Path) -> None:
    text = DAV + 'password_env = "P"\n' + INTEGRATION.replace('calendar = "cal"', 'calendar = "d"\naddressbook = "d"')
    (integration,) = load(tmp_path, text).integrations
    assert (integration.calendar, integration.addressbook) == ("d", "d")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file") as info:
        load_settings(tmp_path / "nope.toml", {})
    assert info.value.where == str(tmp_path / "nope.toml")


def test_a_folder_is_not_a_configuration_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, not a configuration file") as info:
        load_settings(tmp_path, {})
    assert info.value.where == str(tmp_path)


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    """Some Windows editors start UTF-8 files with one; TOML itself would stop at the first character."""
    path = tmp_path / "calsync.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (FOLDERS + PAIR).encode("utf-8"))
    assert [p.name for p in load_settings(path, {}).pairs] == ["p1"]


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    error = mistake(tmp_path, '[[pairs]]\nname = "p1\n')
    assert error.where == str(tmp_path / "calsync.toml")
    assert re.search(r"not valid TOML: .*line 2", str(error))


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "calsync.toml"
    path.write_bytes(b'[log]\nlevel = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, {})


# -- environment ---------------------------------------------------------------------------------------------


def test_the_environment_overrides_the_state_url_and_log_level(tmp_path: Path) -> None:
    environ = {"CALSYNC_STATE_URL": "postgresql://calsync@db/calsync", "CALSYNC_LOG_LEVEL": "DEBUG"}
    settings = load(tmp_path, '[state]\nurl = "local.db"\n[log]\nlevel = "error"\n', environ)
    assert settings.state.url == "postgresql://calsync@db/calsync"
    assert settings.log.level is LogLevel.DEBUG


def test_a_relative_state_path_from_the_environment_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(tmp_path)
    settings = load(tmp_path / "etc", "", {"CALSYNC_STATE_URL": "here.db"})
    assert settings.state.url == str(tmp_path / "here.db")


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    error = mistake(tmp_path, "", {"CALSYNC_LOG_LEVEL": "loud"})
    assert error.where == "CALSYNC_LOG_LEVEL"
    assert "debug | info | warning | error" in str(error)
    error = mistake(tmp_path, "", {"CALSYNC_STATE_URL": "oracle://db"})
    assert error.where == "CALSYNC_STATE_URL"


def test_empty_environment_values_do_not_override(tmp_path: Path) -> None:
    settings = load(tmp_path, '[log]\nlevel = "info"\n', {"CALSYNC_LOG_LEVEL": "", "CALSYNC_STATE_URL": ""})
    assert settings.log.level is LogLevel.INFO
    assert settings.state.url == str(tmp_path / "calsync.db")


# -- secrets -------------------------------------------------------------------------------------------------


def test_secrets_are_references_revealed_only_on_demand(tmp_path: Path) -> None:
    (tmp_path / "dav-secret").write_text("file-secret-value\n", encoding="utf-8")
    text = DAV + 'password_file = "dav-secret"\n' + EWS.replace('name = "e"', 'name = "e"\nauth = "delegate"')
    text += 'url = "https://mail.example.com/EWS/Exchange.asmx"\n'
    environ = {
        "P": "env-secret-value",
        "CALSYNC_STATE_URL": "postgresql://calsync:url-secret-value@db/calsync",
    }
    settings = load(tmp_path, text, environ)
    shown = repr(settings) + str(settings) + repr(settings.state) + "".join(map(str, settings.connections))
    for secret in ("file-secret-value", "env-secret-value", "url-secret-value"):
        assert secret not in shown
    assert "postgresql://calsync:***@db/calsync" in shown
    dav, ews = settings.connections
    assert isinstance(dav, DavConnection) and isinstance(ews, EwsConnection)
    assert dav.password.reveal() == "file-secret-value"
    assert ews.password.reveal(environ) == "env-secret-value"
    assert str(ews.password) == "environment variable P"


def test_an_unset_or_unreadable_secret_is_a_config_error_without_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not set") as info:
        SecretRef(env="CALSYNC_TEST_UNSET").reveal({})
    assert info.value.where == "CALSYNC_TEST_UNSET"
    with pytest.raises(ConfigError, match="cannot read the secret file"):
        SecretRef(file=tmp_path / "missing").reveal()
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        SecretRef(file=tmp_path / "empty").reveal()


def test_settings_find_connections_and_pairs_by_name(tmp_path: Path) -> None:
    settings = load(tmp_path, FOLDERS + PAIR)
    assert settings.connection("cal").name == "cal"
    assert settings.pair("p1").name == "p1"
    with pytest.raises(ConfigError, match="no pair called 'p9'; known: p1"):
        settings.pair("p9")
    with pytest.raises(ConfigError, match="no connection called 'x'; known: biz, cal"):
        settings.connection("x")
