"""``make bench``: codon-lsp's save-to-diagnostics times against the bare compiler.

Drives the server over stdio with pygls's LSP client and, in the same run and
interleaved with it, times ``codon build -cir`` on the same files. Prints a
table, writes ``docs/bench.json`` and ``docs/bench.png``. It measures; it never
fails on a timing. ``--quick`` runs fewer repetitions (for trying it out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "server")]

import workloads  # noqa: E402
from codon_lsp.diagnostics import diagnostics_from_output  # noqa: E402
from codon_lsp.logging_setup import configure_logging  # noqa: E402
from codon_lsp.project_files import collect_project_files  # noqa: E402
from codon_lsp.toolchain import Toolchain, find_codon  # noqa: E402
from lsp_session import ServerSession, server_session  # noqa: E402
from processes import (  # noqa: E402
    children_cpu_s,
    processes_mentioning,
    rss_bytes,
    run_bare,
)
from warm_jit import WarmJit, as_compiler_output  # noqa: E402

Figures = dict[str, Any]


def summary(values: list[float]) -> Figures:
    """Median and 95th percentile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1)]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "n": len(ordered),
    }


def bare_argv(toolchain: Toolchain, out: Path, file: str) -> list[str]:
    return [str(toolchain.executable), "build", "-cir", "-o", str(out), file]


def compile_durations(session: ServerSession, path: Path) -> list[float]:
    return [
        float(event.fields["duration_s"])
        for event in session.events
        if event.name == "compile.finished"
        and event.fields.get("path") == str(path)
        and "duration_s" in event.fields
    ]


async def latency(
    session: ServerSession,
    toolchain: Toolchain,
    path: Path,
    content: Callable[[int], str],
    saves: int,
    scratch: Path,
) -> Figures:
    """Save-to-diagnostics of the server and the bare compiler, interleaved."""
    server_s, bare_s, overhead_s = [], [], []
    finished_before = session.count("compile.finished")
    for index in range(saves + 1):
        text = content(1000 + index)
        path.write_text(text)
        if index % 2:
            bare = run_bare(bare_argv(toolchain, scratch, path.name), path.parent)
        version = session.change(path, text)
        sent = session.save(path)
        published = await session.publication_of(path, version, sent)
        await session.wait_for(
            lambda n=finished_before + index + 1: (
                session.count("compile.finished") >= n
            ),
            "compile.finished",
        )
        if index % 2 == 0:
            bare = run_bare(bare_argv(toolchain, scratch, path.name), path.parent)
        if index == 0:
            continue  # the first check also pays for the server's first imports
        server_s.append(published.at - sent)
        bare_s.append(bare.wall_s)
        compiler_s = compile_durations(session, path)[-1]
        overhead_s.append(published.at - sent - compiler_s)
    server, bare_fig = summary(server_s), summary(bare_s)
    return {
        "server": server,
        "bare": bare_fig,
        "ratio_median": round(server["median_ms"] / bare_fig["median_ms"], 3),
        "difference_median_ms": round(
            statistics.median(s - b for s, b in zip(server_s, bare_s, strict=True))
            * 1000,
            1,
        ),
        "overhead": summary(overhead_s),
        "last_diagnostics": len(published.diagnostics),
    }


async def burst(
    session: ServerSession, path: Path, bursts: int, one_compile_s: float
) -> Figures:
    """10 saves of changing content within a second, ``bursts`` times."""
    rounds = []
    for round_index in range(bursts):
        await session.settle()
        cpu_before = children_cpu_s(session.pid)
        counts_before = {
            name: session.count(name)
            for name in ("compile.started", "compile.finished", "compile.superseded")
        }
        for index in range(10):
            text = workloads.broken(5000 + 100 * round_index + index)
            version, sent = session.edit_and_save(path, text)
            if index < 9:
                await asyncio.sleep(0.1)
        published = await session.publication_of(path, version, sent)
        await session.settle()
        counts = {
            name.split(".")[1]: session.count(name) - before
            for name, before in counts_before.items()
        }
        rounds.append(
            {
                **counts,
                "cpu_s": round(children_cpu_s(session.pid) - cpu_before, 2),
                "last_diagnostics_after_last_save_ms": round(
                    (published.at - sent) * 1000, 1
                ),
                "last_diagnostics": len(published.diagnostics),
            }
        )
    return {
        "rounds": rounds,
        "one_compile_ms": round(one_compile_s * 1000, 1),
        "completed_median": statistics.median(r["finished"] for r in rounds),
        "cpu_s_median": statistics.median(r["cpu_s"] for r in rounds),
        "last_diagnostics_ms_median": statistics.median(
            r["last_diagnostics_after_last_save_ms"] for r in rounds
        ),
    }


async def unchanged_resave(session: ServerSession, path: Path, saves: int) -> Figures:
    """Saving content the server has already checked: the cache must answer."""
    await session.settle()
    version, sent = session.edit_and_save(path, workloads.broken(424242))
    expected = await session.publication_of(path, version, sent)
    await session.settle()
    started_before = session.count("compile.started")
    cpu_before = children_cpu_s(session.pid)
    times = []
    for _ in range(saves):
        sent = session.save(path)
        published = await session.publication_of(path, version, sent)
        times.append(published.at - sent)
        same = published.diagnostics == expected.diagnostics
    return {
        **summary(times),
        "compilers_started": session.count("compile.started") - started_before,
        "children_cpu_s": round(children_cpu_s(session.pid) - cpu_before, 2),
        "same_diagnostics": same,
    }


async def memory(
    session: ServerSession, folder: Path, checks: int, settings_jobs: int
) -> Figures:
    """RSS when idle and after ``checks`` checks (real compiles, none cached)."""
    await session.settle()
    await asyncio.sleep(1.0)
    idle = rss_bytes(session.pid)
    files = [folder / f"mem_{index}.py" for index in range(settings_jobs)]
    for file in files:
        file.write_text(workloads.clean(0))
        session.open(file)
    await session.settle()
    samples = [(0, idle)]
    done = 0
    started_before = session.count("compile.started")
    while done < checks:
        pending = []
        for file in files:
            done += 1
            # Most checks end at a syntax error (a 40 ms compile) so that 200
            # checks fit the time budget; every tenth is a full type check.
            text = workloads.clean(done) if done % 10 == 0 else workloads.syntax(done)
            pending.append((file, *session.edit_and_save(file, text)))
        for file, version, sent in pending:
            await session.publication_of(file, version, sent)
        if done % 25 < len(files):
            samples.append((done, rss_bytes(session.pid)))
    await session.settle()
    await asyncio.sleep(1.0)
    after = rss_bytes(session.pid)
    samples.append((done, after))
    return {
        "idle_mb": round(idle / 2**20, 1),
        "after_checks_mb": round(after / 2**20, 1),
        "checks": done,
        "compiles_started": session.count("compile.started") - started_before,
        "growth_mb": round((after - idle) / 2**20, 1),
        "samples_mb": [[n, round(rss / 2**20, 1)] for n, rss in samples],
    }


async def typing(
    toolchain: Toolchain, folder: Path, seconds: float, debounce_ms: int
) -> Figures:
    """Compiles started per minute of typing with ``checkOn: change``."""
    settings = {
        "compiler": {"path": str(toolchain.executable)},
        "checkOn": "change",
        "debounceMs": debounce_ms,
    }
    path = folder / "typing.py"
    path.write_text("")
    rng = random.Random(7)
    async with server_session(folder, settings, ROOT / "server") as session:
        session.open(path)
        await session.wait_for(lambda: session.publications_for(path), "first check")
        await session.settle()
        text, typed, keystrokes = "", 0, 0
        program = workloads.TYPED_PROGRAM
        started = time.monotonic()
        counts_before = {
            name: session.count(name)
            for name in ("compile.started", "compile.finished", "compile.superseded")
        }
        while time.monotonic() - started < seconds:
            word = rng.randint(4, 12)
            for _ in range(word):
                text += program[typed % len(program)]
                typed += 1
                keystrokes += 1
                session.change(path, text)
                await asyncio.sleep(0.15)
            pause = rng.choice([0.3, 0.5, 0.8, 1.2, 2.5])
            await asyncio.sleep(pause)
        elapsed = time.monotonic() - started
        await session.settle()
        counts = {
            name.split(".")[1]: session.count(name) - before
            for name, before in counts_before.items()
        }
    return {
        "seconds": round(elapsed, 1),
        "keystrokes": keystrokes,
        "debounce_ms": debounce_ms,
        **counts,
        "started_per_minute": round(counts["started"] * 60 / elapsed, 1),
        "completed_per_minute": round(counts["finished"] * 60 / elapsed, 1),
    }


def folder_check(toolchain: Toolchain, folder: Path, scratch: Path) -> Figures:
    """``codon-lsp check`` on 20 files against 20 sequential compiler calls.

    Run as sequential, check, check, sequential and compared by medians, so a
    change in the machine's other load during the phase hits both sides.
    """
    files = []
    for index in range(20):
        file = folder / f"prog_{index:02d}.py"
        file.write_text(workloads.folder_program(index))
        files.append(file)
    command = [
        "env",
        f"PYTHONPATH={ROOT / 'server'}",
        sys.executable,
        "-m",
        "codon_lsp",
        "check",
        str(folder),
        "--codon",
        str(toolchain.executable),
    ]
    sequential, checked = [], []
    for order in ("sequential", "check", "check", "sequential"):
        if order == "sequential":
            runs = [
                run_bare(bare_argv(toolchain, scratch, file.name), folder)
                for file in files
            ]
            sequential.append((sum(r.wall_s for r in runs), sum(r.cpu_s for r in runs)))
        else:
            run = run_bare(command, ROOT)
            checked.append((run.wall_s, run.cpu_s))
            exit_code = run.exit_code
    sequential_s = statistics.median(wall for wall, _ in sequential)
    checked_s = statistics.median(wall for wall, _ in checked)
    return {
        "files": len(files),
        "sequential_s": round(sequential_s, 2),
        "sequential_cpu_s": round(statistics.median(c for _, c in sequential), 2),
        "codon_lsp_check_s": round(checked_s, 2),
        "codon_lsp_check_cpu_s": round(statistics.median(c for _, c in checked), 2),
        "codon_lsp_check_cores_used": round(
            statistics.median(c / w for w, c in checked), 2
        ),
        "codon_lsp_check_exit": exit_code,
        "speedup": round(sequential_s / checked_s, 2),
        "runs": {"sequential": sequential, "check": checked},
    }


def _diagnostic_key(diagnostic: Any) -> tuple[int, int, int, int, str]:
    start, end = diagnostic.range.start, diagnostic.range.end
    return (start.line, start.character, end.line, end.character, diagnostic.message)


async def warm_jit(
    session: ServerSession, toolchain: Toolchain, folder: Path, scratch: Path, n: int
) -> Figures:
    """The warm-JIT first pass against the bare compiler and the full check."""
    jit = WarmJit(toolchain.root)
    cases: dict[str, tuple[Path, Callable[[int], str]]] = {
        "broken": (folder / "jit_broken.py", workloads.broken),
        "import_error": (
            folder / "jit_imports.py",
            lambda k: workloads.importer(k).replace("shout('hi')", f"shout({k})"),
        ),
        "clean": (folder / "jit_clean.py", workloads.clean),
    }
    figures: Figures = {"startup_s": round(jit.startup_s, 2)}
    try:
        figures["rss_mb"] = round(rss_bytes(jit.process.pid) / 2**20, 1)
        for name, (path, content) in cases.items():
            jit_s, bare_s, same_start, same_range, same_message = [], [], 0, 0, 0
            path.write_text(content(0))
            session.open(path)
            for index in range(n):
                text = content(7000 + index)
                error, seconds = jit.check(path, text)
                version, sent = session.edit_and_save(path, text)
                full = await session.publication_of(path, version, sent)
                bare = run_bare(bare_argv(toolchain, scratch, path.name), folder)
                jit_s.append(seconds)
                bare_s.append(bare.wall_s)
                fast = diagnostics_from_output(
                    as_compiler_output(error),
                    target=path,
                    stdlib=toolchain.stdlib,
                    project=collect_project_files(path, text),
                ).get(path.resolve(), [])
                full_keys = [_diagnostic_key(d) for d in full.diagnostics]
                fast_keys = [_diagnostic_key(d) for d in fast]
                same_range += fast_keys == full_keys
                same_start += [k[:2] for k in fast_keys] == [k[:2] for k in full_keys]
                same_message += [k[4] for k in fast_keys] == [k[4] for k in full_keys]
            figures[name] = {
                "jit": summary(jit_s),
                "bare": summary(bare_s),
                "ratio_median": round(
                    statistics.median(jit_s) / statistics.median(bare_s), 3
                ),
                "same_message": f"{same_message}/{n}",
                "same_start": f"{same_start}/{n}",
                "same_range": f"{same_range}/{n}",
            }
    finally:
        jit.close()
    return figures


def chart(results: Figures, target: Path) -> None:
    """A small bar chart of the medians, bare compiler beside the server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, bare, ours = [], [], []
    for name in ("clean", "broken", "imports"):
        figures = results["latency"][name]
        labels.append(f"save: {name}")
        bare.append(figures["bare"]["median_ms"] / 1000)
        ours.append(figures["server"]["median_ms"] / 1000)
    labels.append("burst: last diag.")
    bare.append(results["burst"]["one_compile_ms"] / 1000)
    ours.append(results["burst"]["last_diagnostics_ms_median"] / 1000)
    labels.append("re-save unchanged")
    bare.append(results["latency"]["broken"]["bare"]["median_ms"] / 1000)
    ours.append(results["unchanged_resave"]["median_ms"] / 1000)
    if "broken" in results.get("warm_jit", {}):
        labels.append("warm JIT (experiment)")
        bare.append(results["warm_jit"]["broken"]["bare"]["median_ms"] / 1000)
        ours.append(results["warm_jit"]["broken"]["jit"]["median_ms"] / 1000)
    labels.append("folder of 20 / 10")
    bare.append(results["folder"]["sequential_s"] / 10)
    ours.append(results["folder"]["codon_lsp_check_s"] / 10)

    figure, axes = plt.subplots(figsize=(7.5, 4.0), dpi=100)
    positions = range(len(labels))
    axes.barh([p + 0.2 for p in positions], bare, 0.4, label="bare codon build -cir")
    axes.barh([p - 0.2 for p in positions], ours, 0.4, label="codon-lsp")
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlabel("seconds (median)")
    axes.set_title("codon-lsp against the bare compiler")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)


def row(name: str, figures: Figures) -> str:
    server, bare = figures["server"], figures["bare"]
    return (
        f"{name:<22}{server['median_ms']:>9.0f}{server['p95_ms']:>9.0f}"
        f"{bare['median_ms']:>9.0f}{bare['p95_ms']:>9.0f}"
        f"{figures['ratio_median']:>8.2f}{figures['overhead']['median_ms']:>10.1f}"
    )


def table(results: Figures) -> str:
    """The figures as a plain-text table."""
    latency = results["latency"]
    lines = [
        f"codon-lsp benchmark: {results['codon']} on {results['machine']}",
        "",
        "save -> diagnostics    server ms          bare ms         ratio  overhead",
        "                       median     p95   median     p95  median  median ms",
        *(row(name, latency[name]) for name in ("clean", "broken", "imports")),
    ]
    b = results["burst"]
    lines += [
        "",
        "burst of 10 saves in 1 s (median of rounds):",
        f"  compiles run to the end: {b['completed_median']}"
        f"   compiler CPU: {b['cpu_s_median']} s"
        f"   last diagnostics {b['last_diagnostics_ms_median']:.0f} ms after the"
        f" last save (one compile: {b['one_compile_ms']:.0f} ms)",
    ]
    u = results["unchanged_resave"]
    lines.append(
        f"unchanged re-save: median {u['median_ms']} ms, p95 {u['p95_ms']} ms,"
        f" compilers started: {u['compilers_started']}"
    )
    f = results["folder"]
    lines.append(
        f"folder of {f['files']}: codon-lsp check {f['codon_lsp_check_s']} s,"
        f" sequential {f['sequential_s']} s, speedup {f['speedup']}x"
        f" (check used {f['codon_lsp_check_cores_used']} cores on average)"
    )
    m = results["memory"]
    lines.append(
        f"server RSS: idle {m['idle_mb']} MB, after {m['checks']} checks"
        f" {m['after_checks_mb']} MB (growth {m['growth_mb']} MB);"
        f" processes left behind: {results['leftover_processes']}"
    )
    t = results["typing"]
    lines.append(
        f"typing {t['seconds']} s with checkOn=change (debounce {t['debounce_ms']} ms):"
        f" {t['started_per_minute']} compiles started/min,"
        f" {t['completed_per_minute']} ran to the end/min"
    )
    if "broken" in results.get("warm_jit", {}):
        w = results["warm_jit"]
        lines.append(
            f"warm JIT first pass (startup {w['startup_s']} s, RSS {w['rss_mb']} MB):"
        )
        for name in ("broken", "import_error", "clean"):
            c = w[name]
            lines.append(
                f"  {name:<13} jit {c['jit']['median_ms']:.0f} ms vs bare"
                f" {c['bare']['median_ms']:.0f} ms (x{c['ratio_median']});"
                f" same message {c['same_message']}, start {c['same_start']},"
                f" range {c['same_range']}"
            )
    return "\n".join(lines)


class Phases:
    """Wall time per benchmark phase, printed as it goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._start, 1)
        print(f"  [{name}: {self.seconds[name]} s]", file=sys.stderr, flush=True)
        self._start = now


async def run(quick: bool) -> Figures:
    toolchain = find_codon(None)
    saves = 4 if quick else 10
    phases = Phases()
    results: Figures = {
        "codon": toolchain.version_text,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
    }
    with tempfile.TemporaryDirectory(prefix="codon-lsp-bench-") as tmp:
        workspace = Path(tmp) / "workspace"
        scratch = Path(tmp) / "scratch" / "bare.cir"
        workspace.mkdir()
        scratch.parent.mkdir()
        workloads.write_imported_modules(workspace)
        files = {
            "clean": (workspace / "clean.py", workloads.clean),
            "broken": (workspace / "broken.py", workloads.broken),
            "imports": (workspace / "imports.py", workloads.importer),
        }
        settings = {"compiler": {"path": str(toolchain.executable)}}
        async with server_session(workspace, settings, ROOT / "server") as session:
            results["latency"] = {}
            for name, (path, content) in files.items():
                path.write_text(content(0))
                session.open(path)
                await session.wait_for(
                    lambda p=path: session.publications_for(p), path.name
                )
                results["latency"][name] = await latency(
                    session, toolchain, path, content, saves, scratch
                )
                print(row(name, results["latency"][name]), flush=True)
            phases.done("latency")
            one_compile = results["latency"]["broken"]["bare"]["median_ms"] / 1000
            burst_path = workspace / "burst.py"
            burst_path.write_text(workloads.broken(1))
            session.open(burst_path)
            results["burst"] = await burst(
                session, burst_path, 2 if quick else 3, one_compile
            )
            phases.done("burst")
            results["unchanged_resave"] = await unchanged_resave(
                session, files["broken"][0], saves
            )
            phases.done("unchanged re-save")
            results["warm_jit"] = await warm_jit(
                session, toolchain, workspace, scratch, min(saves, 6)
            )
            phases.done("warm JIT")
            results["memory"] = await memory(
                session, workspace, 40 if quick else 200, 2
            )
            phases.done("memory")
            server_pid = session.pid
        await asyncio.sleep(0.5)
        leftovers = [pid for pid in processes_mentioning(tmp) if pid != server_pid]
        results["leftover_processes"] = len(leftovers)
        folder = Path(tmp) / "folder"
        folder.mkdir()
        results["folder"] = folder_check(toolchain, folder, scratch)
        phases.done("folder")
        typing_folder = Path(tmp) / "typing"
        typing_folder.mkdir()
        results["typing"] = await typing(
            toolchain, typing_folder, 10 if quick else 30, 600
        )
        phases.done("typing")
        results["leftover_processes"] += len(processes_mentioning(tmp))
    results["phase_seconds"] = phases.seconds
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    # The table is the output; our own debug events would only bury it.
    configure_logging(level="warning", log_file=None, stdio_mode=False)
    results = asyncio.run(run(args.quick))
    print()
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, args.out / "bench.png")
    print(f"\nwrote {args.out / 'bench.json'} and {args.out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
