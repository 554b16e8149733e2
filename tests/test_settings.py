"""Settings: typed, defaulted, wrong values reported and replaced, all documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from codon_lsp.settings import (
    Settings,
    camel_case,
    merge_raw,
    parse_define_arguments,
    parse_settings,
)

DOCS = Path(__file__).parent.parent / "docs" / "settings.md"


def setting_keys(cls: type = Settings, prefix: str = "") -> list[str]:
    keys = []
    defaults = cls()
    for field in dataclasses.fields(cls):
        key = prefix + camel_case(field.name)
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            keys += setting_keys(type(value), key + ".")
        else:
            keys.append(key)
    return keys


def test_defaults_when_nothing_is_sent() -> None:
    settings, problems = parse_settings(None)
    assert problems == []
    assert settings == Settings()
    assert settings.compiler.timeout_seconds == 30.0
    assert settings.limits.memory_mb == 2048
    assert settings.check_on == "save"


def test_camel_case_values_are_structured() -> None:
    settings, problems = parse_settings(
        {
            "compiler": {"extraArgs": ["-disable-opt"], "defines": {"N": "3"}},
            "debounceMs": 250,
        }
    )
    assert problems == []
    assert settings.compiler.extra_args == ["-disable-opt"]
    assert settings.compiler.defines == {"N": "3"}
    assert settings.debounce_ms == 250


def test_wrong_values_are_reported_and_replaced_by_defaults() -> None:
    settings, problems = parse_settings(
        {
            "compiler": {"timeoutSeconds": "soon", "path": "/opt/codon"},
            "limits": {"threads": 0},
            "checkOn": "sometimes",
            "telemetry": "yes",
            "colour": "blue",
        }
    )
    assert settings.compiler.timeout_seconds == 30.0
    assert settings.compiler.path == "/opt/codon"
    assert settings.limits.threads == 8
    assert settings.check_on == "save"
    assert settings.telemetry.url is None
    assert sorted(p.split(":")[0] for p in problems) == sorted(
        ["compiler.timeoutSeconds", "limits.threads", "checkOn", "telemetry", "colour"]
    )
    assert (
        "checkOn: 'sometimes' is not one of save, change, using the default" in problems
    )


def test_layers_merge_key_by_key() -> None:
    merged = merge_raw(
        {"compiler": {"path": "/a", "defines": {"A": "1"}}},
        {"compiler": {"defines": {"B": "2"}}},
    )
    assert merged == {"compiler": {"path": "/a", "defines": {"A": "1", "B": "2"}}}


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [key for key in setting_keys() if f"`codon.{key}`" not in text]
    assert missing == []


def test_defines_codon_would_reject_are_left_out_and_reported() -> None:
    settings, problems = parse_settings(
        {"compiler": {"defines": {"N": "3", "M": "abc", "bad name": "1"}}}
    )
    assert settings.compiler.defines == {"N": "3"}
    assert len(problems) == 2
    assert all(p.startswith("compiler.defines: bad define") for p in problems)


def test_define_arguments_are_checked() -> None:
    assert parse_define_arguments(["N=3", "M=-1"]) == {"N": "3", "M": "-1"}
    for bad in (["BAR"], ["FOO=abc"], ["1X=2"]):
        with pytest.raises(ValueError, match="bad define"):
            parse_define_arguments(bad)
