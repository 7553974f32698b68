"""``calsync.cli.params`` converts plain option values without pydantic: value by value, it must give what Typer's
own converter gives, the same value or the same error message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer._coercion import build_runtime_param
from typer.main import get_command

from calsync.cli.params import _PlainParam, install

_FILE_ONLY = typer.Option(dir_okay=False)
_DIR_ONLY = typer.Option(file_okay=False)


def _options(
    text: Annotated[str, typer.Option()] = "",
    maybe_text: Annotated[str | None, typer.Option()] = None,
    path: Annotated[Path, typer.Option()] = Path(),
    file: Annotated[Path, _FILE_ONLY] = Path(),
    directory: Annotated[Path, _DIR_ONLY] = Path(),
    existing: Annotated[Path, typer.Option(exists=True)] = Path(),
    writable: Annotated[Path, typer.Option(writable=True)] = Path(),
    maybe_file: Annotated[Path | None, _FILE_ONLY] = None,
    texts: Annotated[list[str] | None, typer.Option()] = None,
    files: Annotated[list[Path] | None, _FILE_ONLY] = None,
    flag: Annotated[bool, typer.Option()] = False,
    # not plain: Typer's converter only
    number: Annotated[int, typer.Option(min=0)] = 0,
    dash: Annotated[Path, typer.Option(allow_dash=True)] = Path(),
    resolved: Annotated[Path, typer.Option(resolve_path=True)] = Path(),
) -> None:
    """Options of every type the module handles, and some it leaves to Typer."""


def _command() -> Any:
    app = typer.Typer()
    app.command("options")(_options)
    app.command("other")(_options)  # two commands: a group, so ``install`` walks subcommands
    return get_command(app)


def _outcome(convert: Any, value: object, param: Any, ctx: Any) -> tuple[str, object]:
    try:
        result = convert.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # whatever either converter raises, to compare
        return type(exc).__name__, exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return type(result).__name__, result


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "locked").mkdir(mode=0o500)
    return {
        "file": str(tmp_path / "file"),
        "dir": str(tmp_path / "dir"),
        "dir/": str(tmp_path / "dir") + "/",
        "file/": str(tmp_path / "file") + "/",
        "dir//file": str(tmp_path / "dir") + "//file",
        "missing": str(tmp_path / "missing"),
        "locked": str(tmp_path / "locked"),
    }


def test_plain_values_convert_as_typer_converts_them(places: dict[str, str]) -> None:
    command = _command()
    sub = command.commands["options"]
    ctx = typer.Context(sub, info_name="options")
    values: list[object] = [
        None, "", "x", " x ", "-", ".", "~", "a//b/", b"bytes", 1, True, False, "true", "0",
        Path("x"), *places.values(), *(Path(p) for p in places.values()),
        (), [], ("a", "b"), [places["file"], places["dir"]], [places["file"], 1], (places["missing"],),
    ]  # fmt: skip
    compared = 0
    for param in sub.params:
        descriptor = param.type_descriptor
        plain = _PlainParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
        for value in values:
            expected = _outcome(build_runtime_param(descriptor), value, param, ctx)
            assert _outcome(plain, value, param, ctx) == expected, (param.name, value)
            compared += 1
    assert compared > 300


def test_install_gives_plain_options_the_plain_converter_and_leaves_the_rest_to_typer() -> None:
    command = _command()
    install(command)
    for sub in command.commands.values():
        plain = {p.name for p in sub.params if isinstance(p._runtime_param, _PlainParam)}
        assert plain == {
            "text", "maybe_text", "path", "file", "directory", "existing", "writable", "maybe_file", "texts",
            "files", "flag",
        }  # fmt: skip


def test_an_unwritable_path_gets_typers_message(places: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:  # root may write anything: both converters ask os.access, so it says no for them
        real_access = os.access
        locked = places["locked"]
        monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK and real_access(path, mode)
                            if os.fspath(path) == locked else real_access(path, mode))  # fmt: skip
    sub = _command().commands["options"]
    param = next(p for p in sub.params if p.name == "writable")
    ctx = typer.Context(sub, info_name="options")
    descriptor = param.type_descriptor
    plain = _PlainParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
    expected = _outcome(build_runtime_param(descriptor), places["locked"], param, ctx)
    assert expected[0] == "BadParameter"
    assert _outcome(plain, places["locked"], param, ctx) == expected


def test_the_sync_command_parses_its_options_without_pydantic(tmp_path: Path) -> None:
    (tmp_path / "calsync.toml").write_text(
        '[[connections]]\nname = "a"\ntype = "memory"\n\n[[pairs]]\nname = "p"\na = "a:x"\nb = "a:y"\n',
        encoding="utf-8",
    )
    probe = (
        "import sys\n"
        "from calsync.cli import main\n"
        "sys.argv = ['calsync', 'sync', '-c', sys.argv[1], '-p', 'nope', '--pair', 'p', '--dry-run', '--full']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, 'pydantic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "calsync.toml")], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "False"]
    assert done.stderr.endswith("calsync.toml: no pair called 'nope'; known: p\n")
