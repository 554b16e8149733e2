"""The CPython fallbacks as text edits: source and compiler message in, edits out.

Three ways out of a Codon compile error, each computed from the file's text
alone (no compiler, no editor):

- rewrite an import so that the module comes from CPython
  (``from python import X``), keeping every name the file used bound;
- decorate the function that holds the error with ``@python``;
- add the ``## codon: auto_python=1`` directive (Codon 0.19 and later).

Edits replace or insert whole lines, so they need no column arithmetic and
apply the same in every position encoding.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FixKind = Literal["python_import", "python_decorator", "auto_python"]

AUTO_PYTHON_DIRECTIVE = "## codon: auto_python=1"
"""The file directive of Codon 0.19+ that imports unresolved modules from CPython."""

_NO_MODULE = re.compile(r"no module named '(?P<module>[^']+)'")
_CANNOT_IMPORT = re.compile(
    r"cannot import name '(?P<name>[^']+)' from '(?P<module>[^']+)'"
)
_EXISTING_DIRECTIVE = re.compile(r"^##\s*codon:.*\bauto_python\b")
_PREAMBLE = re.compile(r"^#!|^#.*coding[:=]")
_INDENT_STEP = "    "


@dataclass(frozen=True, kw_only=True)
class LineEdit:
    """Replace lines ``first_line`` up to (not including) ``end_line`` by ``new_text``.

    Lines are 0-based. ``first_line == end_line`` inserts before that line.
    ``new_text`` ends with a newline unless it is empty.
    """

    first_line: int
    end_line: int
    new_text: str


@dataclass(frozen=True, kw_only=True)
class Fallback:
    """One way out of an error: a title for the user and the edits that do it."""

    kind: FixKind
    title: str
    edits: tuple[LineEdit, ...]
    preferred: bool = False


@dataclass(frozen=True)
class _Statement:
    """A logical line: its physical lines (0-based, end exclusive) and first token."""

    first_line: int
    end_line: int
    indent: str
    words: tuple[str, ...]
    header_colon: tuple[int, int] | None
    """Where the first bracket-free ``:`` ends (0-based line, column), if any."""


def apply_edits(source: str, edits: Sequence[LineEdit]) -> str:
    """The source with ``edits`` applied (they must not overlap)."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    for edit in sorted(edits, key=lambda e: (e.first_line, e.end_line), reverse=True):
        lines[edit.first_line : edit.end_line] = (
            [edit.new_text] if edit.new_text else []
        )
    return "".join(lines)


def fallbacks_for(
    source: str, message: str, line: int, *, auto_python_supported: bool
) -> list[Fallback]:
    """Every fallback for a compiler ``message`` reported on 0-based ``line``."""
    statements = _statements(source)
    found: list[Fallback] = []

    rewrite = python_import_fix(source, message, line, statements=statements)
    if rewrite is not None:
        found.append(rewrite)
    if auto_python_supported and rewrite is not None and _NO_MODULE.search(message):
        directive = auto_python_fix(source, line, statements=statements)
        if directive is not None:
            found.append(directive)
    if not message.startswith("syntax error"):
        decorator = python_decorator_fix(source, line, statements=statements)
        if decorator is not None:
            found.append(decorator)
    return found


def python_import_fix(
    source: str,
    message: str,
    line: int,
    *,
    statements: list[_Statement] | None = None,
) -> Fallback | None:
    """Rewrite the import on ``line`` that ``message`` rejects to come from CPython."""
    statements = statements if statements is not None else _statements(source)
    statement = _statement_at(statements, line)
    if statement is None or statement.words[:1] not in (("import",), ("from",)):
        return None
    text = "".join(
        source.splitlines(keepends=True)[statement.first_line : statement.end_line]
    )
    nodes = _parse_statement(text)
    if nodes is None:
        return None

    missing = _NO_MODULE.search(message)
    cannot = _CANNOT_IMPORT.search(message)
    if missing is not None:
        module = missing["module"]
        replaced = [_without_module(node, module) for node in nodes]
    elif cannot is not None:
        module = cannot["module"].removesuffix(".__init__")
        replaced = [_without_name(node, module, cannot["name"]) for node in nodes]
    else:
        return None
    if all(lines is None for lines in replaced):
        return None

    new_lines: list[str] = []
    for node, lines in zip(nodes, replaced, strict=True):
        new_lines.extend(lines if lines is not None else [_source_of(node, text)])
    new_text = "".join(f"{statement.indent}{entry}\n" for entry in new_lines)
    if cannot is not None:
        title = f"Import `{cannot['name']}` from CPython's `{module}`"
    else:
        title = f"Import `{module}` from CPython"
    return Fallback(
        kind="python_import",
        title=title,
        edits=(
            LineEdit(
                first_line=statement.first_line,
                end_line=statement.end_line,
                new_text=new_text,
            ),
        ),
        preferred=True,
    )


def auto_python_fix(
    source: str, line: int, *, statements: list[_Statement] | None = None
) -> Fallback | None:
    """Add the ``auto_python`` directive when ``line`` holds a plain ``import``.

    ``from X import name`` under the directive compiles but fails at run time
    (CPython is asked for a module ``X.name``), so it is not offered there.
    """
    statements = statements if statements is not None else _statements(source)
    statement = _statement_at(statements, line)
    if statement is None or statement.words[:1] != ("import",):
        return None
    lines = source.splitlines()
    if any(_EXISTING_DIRECTIVE.match(text) for text in lines):
        return None
    at = 0
    while at < min(len(lines), 2) and _PREAMBLE.match(lines[at]):
        at += 1
    return Fallback(
        kind="auto_python",
        title="Import unresolved modules from CPython in this file",
        edits=(
            LineEdit(first_line=at, end_line=at, new_text=AUTO_PYTHON_DIRECTIVE + "\n"),
        ),
    )


def python_decorator_fix(
    source: str, line: int, *, statements: list[_Statement] | None = None
) -> Fallback | None:
    """Add ``@python`` to the innermost function around ``line`` that can take it.

    A method, a generator, an ``async def`` or an already decorated function
    cannot; an enclosing plain function can, and is offered instead.
    """
    statements = statements if statements is not None else _statements(source)
    index = _statement_index_at(statements, line)
    if index is None:
        return None
    for function in _enclosing_functions(statements, index):
        if _can_run_in_python(statements, function):
            return _decorate(source, statements[function])
    return None


def enclosing_function_name(source: str, line: int) -> str | None:
    """The name of the innermost function whose body holds ``line``, if any."""
    statements = _statements(source)
    index = _statement_index_at(statements, line)
    if index is None:
        return None
    for function in _enclosing_functions(statements, index):
        return _function_name(statements[function])
    return None


def _decorate(source: str, header: _Statement) -> Fallback:
    name = _function_name(header) or "function"
    decorator = f"{header.indent}@python\n"
    title = f"Run `{name}` in CPython (add @python)"
    lines = source.splitlines(keepends=True)
    colon = header.header_colon
    after_colon = lines[colon[0]][colon[1] :].strip() if colon is not None else ""
    if colon is None or not after_colon or after_colon.startswith("#"):
        edit = LineEdit(
            first_line=header.first_line, end_line=header.first_line, new_text=decorator
        )
        return Fallback(kind="python_decorator", title=title, edits=(edit,))

    # Codon cannot parse a decorated function whose body shares the def line.
    head = "".join(lines[header.first_line : colon[0]]) + lines[colon[0]][: colon[1]]
    rest = "".join(lines[colon[0] + 1 : header.end_line])
    body = f"{header.indent}{_INDENT_STEP}{after_colon}\n"
    new_text = f"{decorator}{head.rstrip()}\n{body}{rest}"
    edit = LineEdit(
        first_line=header.first_line, end_line=header.end_line, new_text=new_text
    )
    return Fallback(kind="python_decorator", title=title, edits=(edit,))


def _function_name(header: _Statement) -> str | None:
    words = header.words[1:] if header.words[:1] == ("async",) else header.words
    return words[1] if len(words) > 1 and words[0] == "def" else None


def _is_def(statement: _Statement) -> bool:
    return statement.words[:1] == ("def",) or statement.words[:2] == ("async", "def")


def _enclosing_functions(statements: list[_Statement], index: int) -> list[int]:
    """Functions around statement ``index``, innermost first, up to a class."""
    found: list[int] = []
    current = statements[index]
    if _is_def(current):
        found.append(index)
    width = len(current.indent)
    for earlier in range(index - 1, -1, -1):
        candidate = statements[earlier]
        if len(candidate.indent) >= width:
            continue
        width = len(candidate.indent)
        if candidate.words[:1] == ("class",):
            break
        if _is_def(candidate):
            found.append(earlier)
    return found


def _can_run_in_python(statements: list[_Statement], index: int) -> bool:
    header = statements[index]
    if header.words[:1] == ("async",):
        return False
    if index > 0 and statements[index - 1].words[:1] == ("@",):
        return False
    if _is_method(statements, index):
        return False
    return not _is_generator(statements, index)


def _is_method(statements: list[_Statement], index: int) -> bool:
    width = len(statements[index].indent)
    for earlier in range(index - 1, -1, -1):
        candidate = statements[earlier]
        if len(candidate.indent) < width:
            return candidate.words[:1] == ("class",)
    return False


def _is_generator(statements: list[_Statement], index: int) -> bool:
    header = statements[index]
    if "yield" in header.words and header.header_colon is not None:
        return True
    nested_width: int | None = None
    for statement in statements[index + 1 :]:
        width = len(statement.indent)
        if width <= len(header.indent):
            break
        if nested_width is not None and width > nested_width:
            continue
        nested_width = None
        if _is_def(statement) or statement.words[:1] == ("class",):
            nested_width = width
            continue
        if "yield" in statement.words:
            return True
    return False


def _statement_index_at(statements: list[_Statement], line: int) -> int | None:
    for index, statement in enumerate(statements):
        if statement.first_line <= line < statement.end_line:
            return index
    return None


def _statement_at(statements: list[_Statement], line: int) -> _Statement | None:
    index = _statement_index_at(statements, line)
    return statements[index] if index is not None else None


def _statements(source: str) -> list[_Statement]:
    """The logical lines of ``source``, as far as the tokenizer gets through it."""
    statements: list[_Statement] = []
    words: list[str] = []
    start: tuple[int, int] | None = None
    depth = 0
    colon: tuple[int, int] | None = None
    lines = source.splitlines()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if (
                token.type in (tokenize.NEWLINE, tokenize.ENDMARKER)
                and start is not None
            ):
                first = start[0] - 1
                indent = lines[first][: start[1]] if first < len(lines) else ""
                statements.append(
                    _Statement(first, token.end[0], indent, tuple(words), colon)
                )
                words, start, depth, colon = [], None, 0, None
                continue
            if token.type in _SKIPPED_TOKENS:
                continue
            if start is None:
                start = token.start
            words.append(token.string)
            if token.string in "([{" and token.type == tokenize.OP:
                depth += 1
            elif token.string in ")]}" and token.type == tokenize.OP:
                depth -= 1
            elif token.string == ":" and depth == 0 and colon is None:
                colon = (token.end[0] - 1, token.end[1])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return statements


_SKIPPED_TOKENS = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
)


def _parse_statement(text: str) -> list[ast.stmt] | None:
    try:
        return ast.parse(text.strip()).body
    except SyntaxError:
        return None


def _source_of(node: ast.stmt, text: str) -> str:
    return ast.get_source_segment(text.strip(), node) or ast.unparse(node)


def _module_alias(module: str) -> str:
    return "_" + module.replace(".", "_")


def _without_module(node: ast.stmt, module: str) -> list[str] | None:
    """``node`` rewritten to take ``module`` from CPython; None if it is not there."""
    if isinstance(node, ast.ImportFrom):
        if node.level or node.module is None or not _names_module(node.module, module):
            return None
        if any(alias.name == "*" for alias in node.names):
            return None
        return _from_python(node.module, [(a.name, a.asname) for a in node.names])
    if not isinstance(node, ast.Import):
        return None
    moved = [alias for alias in node.names if _names_module(alias.name, module)]
    if not moved:
        return None
    kept = [alias for alias in node.names if alias not in moved]
    lines = [_plain_import(kept)] if kept else []
    for alias in moved:
        lines.extend(_python_import(alias.name, alias.asname))
    return lines


def _without_name(node: ast.stmt, module: str, name: str) -> list[str] | None:
    """``from module import ..., name, ...`` with ``name`` taken from CPython."""
    if not isinstance(node, ast.ImportFrom) or node.level or node.module != module:
        return None
    moved = [alias for alias in node.names if alias.name == name]
    if not moved:
        return None
    kept = [alias for alias in node.names if alias.name != name]
    lines = [f"from {module} import {_alias_list(kept)}"] if kept else []
    lines.extend(_from_python(module, [(a.name, a.asname) for a in moved]))
    return lines


def _names_module(imported: str, missing: str) -> bool:
    """Whether importing ``imported`` needs the module Codon reported missing."""
    return (
        imported == missing
        or imported.startswith(missing + ".")
        or missing.startswith(imported + ".")
    )


def _python_import(module: str, asname: str | None) -> list[str]:
    if asname is not None or "." not in module:
        suffix = f" as {asname}" if asname is not None else ""
        return [f"from python import {module}{suffix}"]
    # ``import a.b`` binds ``a`` with ``a.b`` loaded; CPython's ``a`` may not load
    # ``b`` by itself, so the submodule is imported first under a private name.
    top = module.split(".", 1)[0]
    return [
        f"from python import {module} as {_module_alias(module)}",
        f"from python import {top}",
    ]


def _from_python(module: str, names: list[tuple[str, str | None]]) -> list[str]:
    alias = _module_alias(module)
    lines = [f"from python import {module} as {alias}"]
    lines.extend(f"{asname or name} = {alias}.{name}" for name, asname in names)
    return lines


def _plain_import(aliases: list[ast.alias]) -> str:
    return f"import {_alias_list(aliases)}"


def _alias_list(aliases: list[ast.alias]) -> str:
    return ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in aliases)
