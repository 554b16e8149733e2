"""Typed settings of the server and how they are read from a client's JSON.

Clients send settings as camelCase JSON (``initializationOptions``, the
``codon`` section of ``workspace/configuration``). Every field has a default
and a one-line doc; a value of the wrong type is reported once and replaced by
its default, and unknown keys are reported, never fatal.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import cattrs
import cattrs.errors

LogLevel = Literal["debug", "info", "warning", "error"]
CheckTrigger = Literal["save", "change"]
OutputKind = Literal["exe", "lib", "pyext", "obj"]


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, kw_only=True)
class CompilerSettings:
    """How Codon is found and invoked for checks."""

    path: str | None = None
    """The codon binary; unset searches CODON_DIR, PATH, ~/.codon, Python packages."""
    defines: dict[str, str] = field(default_factory=dict)
    """Passed as ``-D NAME=VALUE`` to every compilation; values are whole numbers."""
    extra_args: list[str] = field(default_factory=list)
    """Extra arguments given to ``codon build`` before the file name."""
    timeout_seconds: float = 30.0
    """A check still running after this long is killed and reported."""
    max_concurrent: int = field(default_factory=_cores)
    """How many compilations may run at once across all files."""
    persistent_cache: bool = True
    """Keep check results on disk, so unchanged files are answered without compiling."""


@dataclass(frozen=True, kw_only=True)
class LimitSettings:
    """The sandbox limits of every program started by a run command."""

    timeout_seconds: float = 30.0
    """Wall-clock limit of a run; the program's process group is killed after it."""
    memory_mb: int = 2048
    """Address-space limit of a run, in MiB."""
    threads: int = 8
    """Thread limit, passed as OMP_NUM_THREADS and the like."""
    max_output_bytes: int = 1_000_000
    """Output kept from a run; the rest is dropped and the run is told so."""


@dataclass(frozen=True, kw_only=True)
class PythonSettings:
    """The CPython interpreter used by the fallbacks."""

    interpreter: str | None = None
    """Interpreter for CPython runs and CODON_PYTHON; unset uses python3 on PATH."""


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """Release builds."""

    kind: OutputKind = "exe"
    """What ``codon build`` produces: exe, lib, pyext or obj."""
    output_dir: str | None = None
    """Folder for artifacts; unset uses a ``build`` folder beside the source."""
    extra_args: list[str] = field(default_factory=list)
    """Extra build flags; linker and plugin flags count only from user settings."""
    fail_on: list[str] = field(default_factory=list)
    """Scan finding ids that fail a build; empty warns only."""
    timeout_seconds: float = 600.0
    """A build still running after this long is killed and reported."""


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    """The Prometheus endpoint."""

    port: int | None = None
    """Serve /metrics on this port; unset serves nothing."""
    host: str = "127.0.0.1"
    """Address the metrics endpoint binds to."""


@dataclass(frozen=True, kw_only=True)
class TelemetrySettings:
    """Reporting compile metrics to a GraphMemory-IDE backend."""

    url: str | None = None
    """Backend base URL, e.g. http://localhost:8080; unset turns reporting off."""
    user_id: str | None = None
    """Sent as user_id with every event."""
    username: str | None = None
    """With a password from CODON_LSP_GRAPHMEMORY_PASSWORD, exchanged for a token."""
    ca_file: str | None = None
    """CA bundle used to verify the backend's TLS certificate."""
    client_cert: str | None = None
    """Client certificate (PEM) for mutual TLS."""
    client_key: str | None = None
    """Key of the client certificate (PEM)."""
    verify_tls: bool = True
    """Verify the backend's certificate."""
    outbox_max_events: int = 10_000
    """Events kept while the backend is down; older ones are dropped and counted."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a client can configure."""

    compiler: CompilerSettings = field(default_factory=CompilerSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    python: PythonSettings = field(default_factory=PythonSettings)
    build: BuildSettings = field(default_factory=BuildSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    check_on: CheckTrigger = "save"
    """When to check: on save, or also on change after a pause in typing."""
    debounce_ms: int = 600
    """Pause in typing before an unsaved buffer is checked (checkOn: change)."""
    log_level: LogLevel = "info"
    """Lowest level of log events written."""
    log_file: str | None = None
    """File that receives JSON log lines."""


_DEFINE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DEFINE_VALUE = re.compile(r"[+-]?[0-9]+\Z")


def define_problem(name: str, value: str) -> str | None:
    """Why Codon would reject ``-D name=value``, or None.

    Codon reads define values as integers; anything else makes it abort.
    """
    if not _DEFINE_NAME.match(name):
        return f"bad define name {name!r}: expected an identifier"
    if not _DEFINE_VALUE.match(value):
        return f"bad define {name}={value!r}: Codon takes whole numbers only"
    return None


def parse_define_arguments(arguments: list[str]) -> dict[str, str]:
    """``["N=1", "M=2"]`` -> ``{"N": "1", "M": "2"}``; ValueError on a bad one."""
    defines = {}
    for argument in arguments:
        name, equals, value = argument.partition("=")
        if not equals:
            raise ValueError(f"bad define {argument!r}: expected NAME=VALUE")
        problem = define_problem(name, value)
        if problem is not None:
            raise ValueError(problem)
        defines[name] = value
    return defines


_converter = cattrs.Converter(forbid_extra_keys=True)
_T = TypeVar("_T")


def camel_case(name: str) -> str:
    """``extra_args`` -> ``extraArgs``: the key a client sends for a field."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _structure_section(
    cls: type[_T], raw: object, where: str, problems: list[str]
) -> _T:
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        problems.append(f"{where or 'settings'}: expected an object, using defaults")
        return cls()

    fields = _FIELD_TYPES[cls]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = snake_case(str(key))
        path = f"{where}.{key}" if where else str(key)
        if name not in fields:
            problems.append(f"{path}: unknown setting, ignored")
            continue
        if cls is Settings and name in _SECTIONS:
            values[name] = _structure_section(_SECTIONS[name], value, path, problems)
            continue
        choices = _choices(fields[name])
        if choices and value not in choices:
            problems.append(
                f"{path}: {value!r} is not one of {', '.join(choices)}, "
                "using the default"
            )
            continue
        try:
            structured = _converter.structure(value, fields[name])
        except (
            cattrs.BaseValidationError,
            cattrs.errors.CattrsError,
            ValueError,
            TypeError,
        ) as error:
            problems.append(f"{path}: {_describe(error)}, using the default")
            continue
        if name in _POSITIVE and structured is not None and structured <= 0:
            problems.append(f"{path}: must be greater than 0, using the default")
            continue
        if name == "defines":
            structured = _valid_defines(structured, path, problems)
        values[name] = structured
    return cls(**values)


def _valid_defines(
    defines: dict[str, str], where: str, problems: list[str]
) -> dict[str, str]:
    kept = {}
    for name, value in defines.items():
        problem = define_problem(name, value)
        if problem is None:
            kept[name] = value
        else:
            problems.append(f"{where}: {problem}, left out")
    return kept


def _choices(field_type: Any) -> tuple[str, ...]:
    """The values a ``Literal`` field takes; empty for any other type."""
    if typing.get_origin(field_type) is Literal:
        return tuple(str(choice) for choice in typing.get_args(field_type))
    return ()


def _describe(error: Exception) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        inner = error.exceptions[0] if error.exceptions else error
        return f"invalid value ({inner})"
    return f"invalid value ({error})"


_POSITIVE = frozenset(
    {
        "timeout_seconds",
        "max_concurrent",
        "memory_mb",
        "threads",
        "max_output_bytes",
        "debounce_ms",
        "outbox_max_events",
        "port",
    }
)
_SECTIONS: dict[str, type] = {
    "compiler": CompilerSettings,
    "limits": LimitSettings,
    "python": PythonSettings,
    "build": BuildSettings,
    "metrics": MetricsSettings,
    "telemetry": TelemetrySettings,
}
_FIELD_TYPES: dict[type, dict[str, Any]] = {
    cls: typing.get_type_hints(cls) for cls in (Settings, *_SECTIONS.values())
}


def parse_settings(raw: object) -> tuple[Settings, list[str]]:
    """Structure a client's JSON into ``Settings``; also return what was wrong."""
    problems: list[str] = []
    settings = _structure_section(Settings, raw, "", problems)
    return settings, problems


def merge_raw(*layers: object) -> dict[str, Any]:
    """Merge JSON setting layers; later layers win key by key, sections deeply."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, Mapping):
            _merge_into(merged, layer)
    return merged


def _merge_into(target: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        elif isinstance(value, Mapping):
            target[key] = {}
            _merge_into(target[key], value)
        else:
            target[key] = value
