"""Option values of the plain types (``str``, ``Path`` and lists of them) converted without pydantic.

Typer (0.29) converts every option value through a pydantic ``TypeAdapter`` that it builds the first time the
option is parsed, even for a ``str`` or an absent option. Importing pydantic's schema machinery and building the
adapters costs about 80 ms at every start, a fifth of a no-op ``calsync sync``. For a string from the command
line or the environment, the adapter of these types does almost nothing: a ``str`` stays as it is, a ``Path``
option becomes ``Path(value)`` after a few ``os.stat`` checks. ``install()`` gives such options a converter
that does exactly that for the values that pass, and hands every other case (another type, a value that is not a
string, a check that fails and needs Typer's message) to Typer's own converter, so results and error messages
stay Typer's.

This reaches into Typer's internals (``typer._coercion``, ``_TyperParameter._runtime_param``). ``app.py``
imports this module inside ``try``: with a Typer that lacks them, nothing is installed and Typer converts as it
always does. ``tests/cli/test_params.py`` checks, value by value, that both converters agree.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import _TyperParameter
from typer.models import ParameterInfo

_Convert = Callable[[object], object]
"""A converter of one value: the converted value, or ``_TYPER`` when Typer's converter must decide."""
_TYPER = object()


def install(command: Any) -> None:
    """Give every option and argument of ``command`` (and of its subcommands) whose type is plain the converter
    of this module; leave the others to Typer. Idempotent."""
    for param in getattr(command, "params", ()):
        install_param(param)
    for sub in getattr(command, "commands", {}).values():
        install(sub)


def install_param(param: object) -> None:
    """``install()`` for one parameter (the ``--help`` option, which Typer makes per command when first parsed)."""
    if isinstance(param, _TyperParameter) and param._runtime_param is None:
        descriptor = param.type_descriptor
        if descriptor.file_annotation is None and _converter(descriptor.annotation, descriptor.parameter_info):
            info, annotation = descriptor.parameter_info, descriptor.annotation
            param._runtime_param = _PlainParam(parameter_info=info, annotation=annotation)


@dataclass(frozen=True)
class _PlainParam(RuntimeParam):
    """Typer's conversion of a plain type, without pydantic for the values that pass."""

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Any) -> Any:
        convert = _converter(self.annotation, self.parameter_info)
        converted = convert(value) if convert is not None else _TYPER
        if converted is _TYPER:
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)
        return converted


def _converter(annotation: object, info: ParameterInfo) -> _Convert | None:
    """The converter for values of ``annotation``, or ``None`` when Typer's converter is always needed."""
    if info.parser is not None:
        return None
    if annotation is str:
        return _string
    if annotation is bool:
        return _boolean
    if annotation is Path and _plain_path(info):
        return lambda value: _path(value, info)
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation)
        item = _converter(item_type, info)
        return None if item is None else lambda values: _items(values, item)
    return None


def _string(value: object) -> object:
    return value if type(value) is str else _TYPER


def _boolean(value: object) -> object:
    """A flag's value is a ``bool`` already (or ``None``, which ``RuntimeParam.coerce`` returns as it is)."""
    return value if type(value) is bool else _TYPER


def _plain_path(info: ParameterInfo) -> bool:
    """Whether the options ask for nothing but the existence and kind checks (no ``-``, no resolving)."""
    return not info.allow_dash and not info.resolve_path and info.path_type is None


def _path(value: object, info: ParameterInfo) -> object:
    """``typer._param_types.coerce_cli_path`` for a path that passes its checks; ``_TYPER`` otherwise."""
    if isinstance(value, Path):
        path = value
    elif type(value) is str:
        path = Path(value)
    else:
        return _TYPER
    try:
        mode = path.stat().st_mode
    except OSError:
        return _TYPER if info.exists else path
    if (not info.file_okay and stat.S_ISREG(mode)) or (not info.dir_okay and stat.S_ISDIR(mode)):
        return _TYPER
    if (info.readable and not os.access(path, os.R_OK)) or (info.writable and not os.access(path, os.W_OK)):
        return _TYPER
    return path


def _items(values: object, item: _Convert) -> object:
    if not isinstance(values, list | tuple):
        return _TYPER
    converted = [item(value) for value in values]
    return _TYPER if any(value is _TYPER for value in converted) else converted
