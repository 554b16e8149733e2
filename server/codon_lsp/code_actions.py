"""Quick fixes for Codon's errors: the CPython fallbacks as LSP code actions.

Each Codon error diagnostic in a ``textDocument/codeAction`` request gets the
fallbacks ``fallback_edits`` finds for it (rewrite the import, ``@python``,
the ``auto_python`` directive), as ``quickfix`` actions whose workspace edit
names the document version it was computed from, plus a command action that
runs the file with CPython. The edit itself is computed in
``codeAction/resolve``; a document that changed since the request gets none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from lsprotocol import types
from pygls.workspace import TextDocument

from codon_lsp import fallback_edits
from codon_lsp.diagnostics import SOURCE as CODON_SOURCE
from codon_lsp.fallback_edits import Fallback, LineEdit
from codon_lsp.toolchain import CodonNotFound

if TYPE_CHECKING:
    from codon_lsp.server import CodonLanguageServer

log = structlog.get_logger("codon")

RUN_WITH_CPYTHON_COMMAND = "codon.runWithCPython"


def register(server: CodonLanguageServer) -> None:
    """Add ``textDocument/codeAction`` and ``codeAction/resolve`` to ``server``."""

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True
        ),
    )
    async def code_action(
        ls: CodonLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        try:
            return await actions_for(ls, params)
        except Exception:  # a failed lookup must not reach the editor as an error
            log.exception("code_action.failed", uri=params.text_document.uri)
            return None

    @server.feature(types.CODE_ACTION_RESOLVE)
    def resolve(ls: CodonLanguageServer, action: types.CodeAction) -> types.CodeAction:
        try:
            return resolve_action(ls, action)
        except Exception:
            log.exception("code_action.resolve_failed", title=action.title)
            return action


async def actions_for(
    server: CodonLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """The quick fixes for the Codon errors in ``params.context``."""
    uri = params.text_document.uri
    errors = [
        diagnostic
        for diagnostic in params.context.diagnostics
        if diagnostic.source == CODON_SOURCE
        and diagnostic.severity in (None, types.DiagnosticSeverity.Error)
    ]
    if not errors:
        return []
    wanted = params.context.only
    if wanted and not any(
        kind.startswith(types.CodeActionKind.QuickFix) for kind in wanted
    ):
        return []

    document = server.workspace.get_text_document(uri)
    auto_python = await _supports_auto_python(server, uri)
    actions: list[types.CodeAction] = []
    for diagnostic in errors:
        fixes = fallback_edits.fallbacks_for(
            document.source,
            diagnostic.message,
            diagnostic.range.start.line,
            auto_python_supported=auto_python,
        )
        actions.extend(
            _unresolved(fix, diagnostic, uri, document.version) for fix in fixes
        )
    if server.trusted:
        # Running is refused in an untrusted workspace: offer nothing that fails.
        actions.append(_run_with_cpython(uri, errors))
    unique = _without_duplicates(actions)
    if not _client_resolves_edits(server):
        # Without codeAction/resolve the edit must travel with the action.
        return [resolve_action(server, action) for action in unique]
    return unique


def _client_resolves_edits(server: CodonLanguageServer) -> bool:
    try:
        support = server.client_capabilities.text_document.code_action.resolve_support  # type: ignore[union-attr]
    except AttributeError:
        return False
    return support is not None and "edit" in support.properties


async def _supports_auto_python(server: CodonLanguageServer, uri: str) -> bool:
    try:
        return server.toolchain_for(await server.settings_for(uri)).supports_auto_python
    except CodonNotFound:
        return False


def _unresolved(
    fix: Fallback, diagnostic: types.Diagnostic, uri: str, version: int | None
) -> types.CodeAction:
    return types.CodeAction(
        title=fix.title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        is_preferred=fix.preferred or None,
        data={
            "uri": uri,
            "version": version,
            "kind": fix.kind,
            "message": diagnostic.message,
            "line": diagnostic.range.start.line,
        },
    )


def _run_with_cpython(uri: str, errors: list[types.Diagnostic]) -> types.CodeAction:
    return types.CodeAction(
        title="Run this file with CPython",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=errors,
        command=types.Command(
            title="Run this file with CPython",
            command=RUN_WITH_CPYTHON_COMMAND,
            arguments=[uri],
        ),
    )


def _without_duplicates(actions: list[types.CodeAction]) -> list[types.CodeAction]:
    """One action per title: two diagnostics in one function need one ``@python``."""
    seen: set[str] = set()
    unique = []
    for action in actions:
        if action.title not in seen:
            seen.add(action.title)
            unique.append(action)
    return unique


def resolve_action(
    server: CodonLanguageServer, action: types.CodeAction
) -> types.CodeAction:
    """The edit of an action from ``actions_for``, unless its document changed."""
    data: Any = action.data
    if action.edit is not None or not isinstance(data, dict) or "kind" not in data:
        return action
    document = server.workspace.get_text_document(str(data["uri"]))
    if document.version != data.get("version"):
        log.info("code_action.stale", uri=document.uri, title=action.title)
        return action
    fixes = fallback_edits.fallbacks_for(
        document.source,
        str(data["message"]),
        int(data["line"]),
        auto_python_supported=data["kind"] == "auto_python",
    )
    chosen = next((fix for fix in fixes if fix.kind == data["kind"]), None)
    if chosen is None:
        return action
    action.edit = workspace_edit(document, chosen.edits, server.position_encoding)
    if server.observability is not None:
        server.observability.fallback_applied(str(data["kind"]), document.path)
    return action


def workspace_edit(
    document: TextDocument, edits: tuple[LineEdit, ...], encoding: str
) -> types.WorkspaceEdit:
    """Line edits as one versioned ``TextDocumentEdit`` of ``document``."""
    lines = document.lines
    text_edits: list[
        types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit
    ] = [
        types.TextEdit(
            range=types.Range(
                start=_line_start(lines, edit.first_line, encoding),
                end=_line_start(lines, edit.end_line, encoding),
            ),
            new_text=edit.new_text,
        )
        for edit in edits
    ]
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=document.uri, version=document.version
                ),
                edits=text_edits,
            )
        ]
    )


def _line_start(lines: Sequence[str], line: int, encoding: str) -> types.Position:
    """The start of ``line``; past a last line without newline, that line's end."""
    if line < len(lines) or not lines or lines[-1].endswith(("\n", "\r")):
        return types.Position(line=line, character=0)
    return types.Position(line=len(lines) - 1, character=_units(lines[-1], encoding))


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2
