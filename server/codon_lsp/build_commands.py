"""Release builds and binary scans as CLI subcommands and as editor commands.

``codon-lsp build`` / ``codon-lsp scan`` and the LSP commands
``codon.buildRelease`` / ``codon.scanBinary`` run the same ``build_pipeline``
and ``binary_scan`` code; only how a result is shown differs (a report on
stdout and an exit status, or diagnostics, progress, a log entry and a
message in the editor).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from codon_lsp.binary_scan import (
    PolicyError,
    ScanError,
    ScanPolicy,
    load_policy,
    policy_from_ids,
    scan_binary,
)
from codon_lsp.build_pipeline import (
    DEFAULT_BUILD_TIMEOUT_S,
    BuildConfigError,
    BuildProgress,
    BuildRequest,
    BuildResult,
    run_build,
)
from codon_lsp.build_report import (
    build_json,
    build_text,
    render_json,
    scan_json,
    scan_text,
)
from codon_lsp.cli_arguments import (
    add_define_option,
    add_format_option,
    positive_number,
)
from codon_lsp.progress import work_done
from codon_lsp.settings import Settings, parse_define_arguments
from codon_lsp.toolchain import CodonNotFound, find_codon
from codon_lsp.uris import uri_to_path

if TYPE_CHECKING:
    from codon_lsp.server import CodonLanguageServer

log = structlog.get_logger("codon")

BUILD_COMMAND = "codon.buildRelease"
SCAN_COMMAND = "codon.scanBinary"
BUILD_OWNER = "build"
"""The diagnostics producer name of builds (see ``publish_extra_diagnostics``)."""
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# Command line.


def add_build_parser(subparsers: Any) -> None:
    """Register ``build`` on the top-level parser."""
    parser = subparsers.add_parser(
        "build",
        help="build with codon, scan the artifact and print a report",
        # The epilog's example must not be wrapped at its hyphens.
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "example, a stripped release build:\n"
            "  codon-lsp build --codon-arg=-linker-flags=-s -o out/app main.py"
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--release",
        dest="release",
        action="store_true",
        default=True,
        help="an optimised build (codon build -release; the default)",
    )
    mode.add_argument(
        "--debug", dest="release", action="store_false", help="a debug build"
    )
    parser.add_argument(
        "--kind",
        choices=("exe", "lib", "pyext", "obj"),
        default="exe",
        help="executable (the default), shared library, Python extension, object",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="OUT", help="default: build/<stem>"
    )
    add_define_option(parser, "a define passed to the compilation")
    parser.add_argument(
        "--codon-arg",
        dest="codon_args",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra codon build argument (repeatable; one that starts with -"
        " is joined with =, as in the example below)",
    )
    parser.add_argument("--policy", type=Path, metavar="FILE", help='{"failOn": [...]}')
    add_format_option(parser)
    parser.add_argument("--codon", metavar="PATH", help="the Codon compiler to use")
    parser.add_argument(
        "--timeout",
        type=positive_number,
        default=DEFAULT_BUILD_TIMEOUT_S,
        metavar="SECONDS",
        help="seconds before the build is killed (default: %(default)s)",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.set_defaults(func=build_main)


def add_scan_parser(subparsers: Any) -> None:
    """Register ``scan`` on the top-level parser."""
    parser = subparsers.add_parser("scan", help="scan an ELF binary for hardening")
    add_format_option(parser)
    parser.add_argument("--policy", type=Path, metavar="FILE", help='{"failOn": [...]}')
    parser.add_argument(
        "--codon", metavar="PATH", help="the Codon whose folder to flag"
    )
    parser.add_argument("binary", type=Path, metavar="BINARY")
    parser.set_defaults(func=scan_main)


def build_main(args: argparse.Namespace) -> int:
    """Run ``codon-lsp build``; 0 passed, 1 build or policy failure, 2 usage."""
    try:
        policy = load_policy(args.policy) if args.policy else ScanPolicy()
        toolchain = find_codon(args.codon)
        request = BuildRequest(
            source=args.file,
            output=args.output,
            kind=args.kind,
            release=args.release,
            defines=parse_define_arguments(args.defines),
            trusted_extra_args=args.codon_args,
            policy=policy,
            timeout_s=args.timeout,
            # The same columns as ``codon-lsp check`` (UTF-16, as LSP), so a
            # tool reading both reports finds one error at one place.
            position_encoding="utf-16",
        )
        result = asyncio.run(run_build(request, toolchain))
    except (PolicyError, CodonNotFound, BuildConfigError, ValueError) as error:
        sys.stderr.write(f"codon-lsp build: {error}\n")
        return EXIT_USAGE
    except OSError as error:
        sys.stderr.write(f"codon-lsp build: {error}\n")
        return EXIT_FAILED

    if args.format == "json":
        sys.stdout.write(render_json(build_json(result)))
    else:
        sys.stdout.write(build_text(result))
    return EXIT_PASSED if result.ok else EXIT_FAILED


def scan_main(args: argparse.Namespace) -> int:
    """Run ``codon-lsp scan``; 0 scanned, 1 policy failure, 2 not scannable."""
    try:
        policy = load_policy(args.policy) if args.policy else ScanPolicy()
        scan = scan_binary(args.binary, toolchain_roots=_toolchain_roots(args.codon))
    except (PolicyError, ScanError, CodonNotFound) as error:
        sys.stderr.write(f"codon-lsp scan: {error}\n")
        return EXIT_USAGE

    failed = policy.failures(scan.findings)
    if args.format == "json":
        sys.stdout.write(render_json(scan_json(scan, failed)))
    else:
        sys.stdout.write(scan_text(scan, failed))
    return EXIT_FAILED if failed else EXIT_PASSED


def _toolchain_roots(explicit: str | None) -> list[Path]:
    """The Codon folder to flag; a compiler asked for by name must exist.

    A scan works without Codon, which only sharpens the findings, so one not
    found by searching is no error; one named with ``--codon`` that is not
    there is (raises CodonNotFound).
    """
    if explicit is not None:
        return [find_codon(explicit).root]
    try:
        return [find_codon(None).root]
    except CodonNotFound:
        return []


# Editor.


def register(server: CodonLanguageServer) -> None:
    """Add ``codon.buildRelease`` and ``codon.scanBinary`` to ``server``."""

    @server.command(BUILD_COMMAND)
    async def build_release(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        uri = args[0] if args and isinstance(args[0], str) else None
        output = args[1] if len(args) > 1 and isinstance(args[1], str) else None
        return await build_in_editor(server, uri, output)

    @server.command(SCAN_COMMAND)
    async def scan_binary_command(ls: LanguageServer, *args: Any) -> dict[str, Any]:
        uri = args[0] if args and isinstance(args[0], str) else None
        return await scan_in_editor(server, uri)


async def build_in_editor(
    server: CodonLanguageServer, uri: str | None, output: str | None
) -> dict[str, Any]:
    """The editor command: build ``uri`` with progress, diagnostics and a message."""
    path = _local_path(uri)
    if path is None:
        return _refuse(server, f"codon.buildRelease needs a file URI, got {uri!r}")
    if not server.trusted:
        return _refuse(
            server,
            "codon-lsp: builds are off in an untrusted workspace; trust the "
            "workspace to build, or run `codon-lsp build` in a terminal",
        )
    assert uri is not None
    settings = await server.settings_for(uri)
    try:
        toolchain = server.toolchain_for(settings)
        request = _editor_request(server, settings, path, output)
    except (CodonNotFound, PolicyError) as error:
        return _refuse(server, f"codon-lsp build: {error}")

    cancelled_by_user = False
    async with work_done(server, f"Building {path.name}", cancellable=True) as work:

        def report(step: BuildProgress) -> None:
            work.report(f"{step.step}: {step.message}", step.percentage)

        build = asyncio.ensure_future(
            run_build(request, toolchain, progress=report, observer=server.observe)
        )

        def cancel() -> None:
            nonlocal cancelled_by_user
            cancelled_by_user = True
            build.cancel()

        work.on_cancel(cancel)
        try:
            result = await build
        except BuildConfigError as error:
            return _refuse(server, f"codon-lsp build: {error}")
        except asyncio.CancelledError:
            if not cancelled_by_user:
                raise
            server.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Info,
                    message=f"Build of {path.name} cancelled",
                )
            )
            return {"status": "cancelled", "ok": False, "source": str(path)}
        except Exception as error:  # the editor gets a message, never a traceback
            log.exception("build.failed", path=str(path))
            return _refuse(server, f"codon-lsp build of {path.name} failed: {error}")

    _show_result(server, path, result)
    return build_json(result)


def _editor_request(
    server: CodonLanguageServer, settings: Settings, path: Path, output: str | None
) -> BuildRequest:
    extra = [*settings.compiler.extra_args, *settings.build.extra_args]
    user_extra = _user_level_extra_args(server)
    output_dir = settings.build.output_dir
    return BuildRequest(
        source=path,
        output=_output_path(path, output),
        output_dir=Path(output_dir).expanduser() if output_dir else None,
        kind=settings.build.kind,
        release=True,
        defines=settings.compiler.defines,
        extra_args=[arg for arg in extra if arg not in user_extra],
        trusted_extra_args=[arg for arg in extra if arg in user_extra],
        policy=policy_from_ids(settings.build.fail_on),
        timeout_s=settings.build.timeout_seconds,
        position_encoding=server.position_encoding,
    )


def _output_path(source: Path, output: str | None) -> Path | None:
    """An output path given as a URI, an absolute path, or relative to the source."""
    if not output:
        return None
    chosen = uri_to_path(output) if output.startswith("file:") else Path(output)
    if chosen is None:
        return None
    chosen = chosen.expanduser()
    return chosen if chosen.is_absolute() else source.parent / chosen


def _user_level_extra_args(server: CodonLanguageServer) -> set[str]:
    """Extra arguments the user set in user-level settings, which may be privileged.

    Only a server that can tell user-level settings apart (``user_settings()``)
    lets privileged flags through; otherwise every flag from settings is
    treated as a workspace's and plugin/linker flags are refused.
    """
    user_settings = getattr(server, "user_settings", None)
    if not callable(user_settings):
        return set()
    settings = user_settings()
    if not isinstance(settings, Settings):
        return set()
    return {*settings.compiler.extra_args, *settings.build.extra_args}


def _show_result(
    server: CodonLanguageServer, source: Path, result: BuildResult
) -> None:
    paths = set(result.diagnostics) | {source}
    server.store.clear_owner(BUILD_OWNER)
    for path in sorted(paths):
        server.publish_extra_diagnostics(
            BUILD_OWNER, path, list(result.diagnostics.get(path, []))
        )
    server.window_log_message(
        types.LogMessageParams(type=types.MessageType.Log, message=build_text(result))
    )
    if result.ok:
        kind, text = types.MessageType.Info, f"Built {result.artifact}"
    elif result.status == "policy-failed":
        kind, text = (
            types.MessageType.Warning,
            f"Built {result.artifact}, but {result.detail}",
        )
    else:
        kind, text = (
            types.MessageType.Error,
            f"Build of {source.name} failed: {result.detail}",
        )
    server.window_show_message(types.ShowMessageParams(type=kind, message=text))


async def scan_in_editor(
    server: CodonLanguageServer, uri: str | None
) -> dict[str, Any]:
    """The editor command: scan the ELF file at ``uri`` (a URI or a path)."""
    path = _local_path(uri)
    if uri is None or path is None:
        return _refuse(server, f"codon.scanBinary needs a file URI, got {uri!r}")
    roots = await _toolchain_roots_for(server, uri)
    policy = policy_from_ids((await server.settings_for(uri)).build.fail_on)
    try:
        scan = await asyncio.to_thread(scan_binary, path, toolchain_roots=roots)
    except ScanError as error:
        return _refuse(server, f"codon-lsp scan: {error}")
    failed = policy.failures(scan.findings)
    server.window_log_message(
        types.LogMessageParams(
            type=types.MessageType.Log, message=scan_text(scan, failed)
        )
    )
    worst = [item for item in scan.findings if item.severity != "info"]
    summary = f"Scan of {path.name}: {len(scan.findings)} findings"
    if worst:
        summary += f" ({', '.join(sorted({item.id for item in worst}))})"
    kind = types.MessageType.Info
    if failed:
        kind = types.MessageType.Warning
        summary += (
            f"; the scan policy fails on {', '.join(sorted({f.id for f in failed}))}"
        )
    server.window_show_message(types.ShowMessageParams(type=kind, message=summary))
    return scan_json(scan, failed)


async def _toolchain_roots_for(server: CodonLanguageServer, uri: str) -> list[Path]:
    try:
        return [server.toolchain_for(await server.settings_for(uri)).root]
    except CodonNotFound:
        return []


def _local_path(uri: str | None) -> Path | None:
    if not uri:
        return None
    path = uri_to_path(uri)
    return path.absolute() if path is not None else None


def _refuse(server: CodonLanguageServer, message: str) -> dict[str, Any]:
    log.warning("build.refused", reason=message)
    server.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Error, message=message)
    )
    return {"status": "refused", "ok": False, "detail": message}
