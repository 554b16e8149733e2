"""Derive the extension's ``contributes.configuration`` from the server's settings.

Reads ``server/codon_lsp/settings.py`` as source text (no imports, so any
Python 3.10+ runs it): every dataclass field with its type, default and the
docstring under it becomes a ``codon.*`` setting. ``--write`` updates
package.json, ``--check`` fails when package.json is out of date, and
``--keys`` prints the server's setting keys one per line.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE_JSON = HERE.parent / "package.json"
SETTINGS_PY = HERE.parent.parent / "server" / "codon_lsp" / "settings.py"

ROOT_CLASS = "Settings"

# Settings that act on the whole server process, not on one folder's files.
WINDOW_SCOPED = {
    "codon.compiler.maxConcurrent",
    "codon.metrics.port",
    "codon.metrics.host",
    "codon.logLevel",
    "codon.logFile",
}
WINDOW_SCOPED_SECTIONS = ("codon.telemetry.",)

# Defaults computed at run time by the server; the extension leaves them unset.
RUNTIME_DEFAULTS = {
    "codon.compiler.maxConcurrent": "Unset uses the number of CPU cores.",
}

# Settings of the extension itself; the server never sees them.
EXTENSION_ONLY: dict[str, dict[str, Any]] = {
    "codon.server.interpreter": {
        "type": ["string", "null"],
        "default": None,
        "scope": "machine-overridable",
        "markdownDescription": (
            "Python 3.10+ that runs the bundled language server. Unset uses the "
            "interpreter selected in the Python extension, then `python3` on PATH."
        ),
    },
}


class SchemaError(Exception):
    """settings.py holds a field this script cannot describe."""


def read_module(path: Path) -> ast.Module:
    """Parse settings.py."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def literal_aliases(module: ast.Module) -> dict[str, list[str]]:
    """Module-level ``Name = Literal[...]`` aliases and their choices."""
    aliases: dict[str, list[str]] = {}
    for node in module.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Subscript)
            and isinstance(value.value, ast.Name)
            and value.value.id == "Literal"
        ):
            choices = ast.literal_eval(value.slice)
            aliases[target.id] = list(
                choices if isinstance(choices, tuple) else [choices]
            )
    return aliases


def dataclasses_by_name(module: ast.Module) -> dict[str, ast.ClassDef]:
    """Every class defined at module level, by name."""
    return {node.name: node for node in module.body if isinstance(node, ast.ClassDef)}


def field_docs(cls: ast.ClassDef) -> list[tuple[ast.AnnAssign, str]]:
    """Each annotated field of a class with the docstring that follows it."""
    fields: list[tuple[ast.AnnAssign, str]] = []
    body = cls.body
    for index, node in enumerate(body):
        if not isinstance(node, ast.AnnAssign):
            continue
        doc = ""
        following = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = following.value.value.strip()
        fields.append((node, doc))
    return fields


def camel_case(name: str) -> str:
    """``extra_args`` -> ``extraArgs``, the key clients send."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def json_type(annotation: ast.expr, aliases: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON schema of a field's annotation."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        left = json_type(annotation.left, aliases)
        right = json_type(annotation.right, aliases)
        types = [*_as_list(left["type"]), *_as_list(right["type"])]
        return {**left, **right, "type": types}
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return {"type": "null"}
    if isinstance(annotation, ast.Name):
        simple = {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
        }
        if annotation.id in simple:
            return {"type": simple[annotation.id]}
        if annotation.id in aliases:
            return {"type": "string", "enum": aliases[annotation.id]}
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name):
        if annotation.value.id == "list":
            return {"type": "array", "items": json_type(annotation.slice, aliases)}
        if annotation.value.id == "dict" and isinstance(annotation.slice, ast.Tuple):
            values = json_type(annotation.slice.elts[1], aliases)
            return {"type": "object", "additionalProperties": values}
    raise SchemaError(f"cannot describe annotation {ast.unparse(annotation)}")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def default_value(node: ast.AnnAssign, key: str) -> Any:
    """The JSON default of a field; runtime defaults become null."""
    if key in RUNTIME_DEFAULTS:
        return None
    value = node.value
    if value is None:
        raise SchemaError(f"{key} has no default")
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        for keyword in value.keywords:
            if keyword.arg == "default_factory" and isinstance(keyword.value, ast.Name):
                factories: dict[str, Any] = {"dict": {}, "list": []}
                if keyword.value.id in factories:
                    return factories[keyword.value.id]
        raise SchemaError(f"{key}: cannot evaluate default {ast.unparse(value)}")
    return ast.literal_eval(value)


def scope_of(key: str) -> str:
    """Window scope for process-wide settings, resource scope for the rest."""
    if key in WINDOW_SCOPED or key.startswith(WINDOW_SCOPED_SECTIONS):
        return "window"
    return "resource"


def server_properties(path: Path = SETTINGS_PY) -> dict[str, dict[str, Any]]:
    """Every server setting as a VS Code configuration property."""
    module = read_module(path)
    aliases = literal_aliases(module)
    classes = dataclasses_by_name(module)
    properties: dict[str, dict[str, Any]] = {}
    _add_class(classes[ROOT_CLASS], "codon.", classes, aliases, properties)
    return properties


def _add_class(
    cls: ast.ClassDef,
    prefix: str,
    classes: dict[str, ast.ClassDef],
    aliases: dict[str, list[str]],
    properties: dict[str, dict[str, Any]],
) -> None:
    for node, doc in field_docs(cls):
        if not isinstance(node.target, ast.Name):
            continue
        key = prefix + camel_case(node.target.id)
        annotation = node.annotation
        if isinstance(annotation, ast.Name) and annotation.id in classes:
            _add_class(classes[annotation.id], key + ".", classes, aliases, properties)
            continue

        schema = json_type(annotation, aliases)
        if key in RUNTIME_DEFAULTS:
            schema["type"] = [*_as_list(schema["type"]), "null"]
            doc = f"{doc} {RUNTIME_DEFAULTS[key]}".strip()
        properties[key] = {
            **schema,
            "default": default_value(node, key),
            "scope": scope_of(key),
            "markdownDescription": doc,
        }


def configuration(path: Path = SETTINGS_PY) -> dict[str, Any]:
    """The whole ``contributes.configuration`` object."""
    properties = {**server_properties(path), **EXTENSION_ONLY}
    return {"title": "Codon", "properties": dict(sorted(properties.items()))}


def main(argv: list[str] | None = None) -> int:
    """Write, check or list the settings; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="update package.json")
    mode.add_argument("--check", action="store_true", help="fail if out of date")
    mode.add_argument("--keys", action="store_true", help="print server keys")
    args = parser.parse_args(argv)

    if args.keys:
        sys.stdout.write("".join(f"{key}\n" for key in sorted(server_properties())))
        return 0

    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    wanted = configuration()
    if args.check:
        current = package.get("contributes", {}).get("configuration")
        if current != wanted:
            sys.stderr.write(
                "package.json settings are stale: run settings_schema.py --write\n"
            )
            return 1
        return 0

    package.setdefault("contributes", {})["configuration"] = wanted
    PACKAGE_JSON.write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
