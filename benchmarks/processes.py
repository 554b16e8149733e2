"""What the kernel says about processes: memory, children's CPU, leftovers.

The server reaps every compiler it starts with ``wait4``, so the kernel adds
each compiler's CPU time to the server's ``cutime``/``cstime`` (fields 16 and
17 of ``/proc/PID/stat``): the difference across a scenario is exactly the
CPU its compilers used, killed ones included. The bare compiler is started
and reaped by the benchmark itself, whose ``wait4`` returns the same figures.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for {pid}")


def children_cpu_s(pid: int) -> float:
    """CPU seconds of the reaped children of ``pid`` (user + system)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_name = stat.rsplit(")", 1)[1].split()
    # Fields 16 and 17 of stat; after_name starts at field 3.
    return (int(after_name[13]) + int(after_name[14])) / _TICKS


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or working directory mention ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        if text in cmdline or cwd.startswith(text):
            found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class BareRun:
    """One bare compiler run: wall time, CPU time, exit status, stderr."""

    wall_s: float
    cpu_s: float
    exit_code: int
    stderr: str


def run_bare(argv: list[str], cwd: Path, stdin: bytes | None = None) -> BareRun:
    """Run a command as a user would in a terminal; time it and read its rusage."""
    reset_child_cpu()
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, stderr = process.communicate(stdin)
    wall = time.monotonic() - started
    # communicate() reaped it already; the rusage of that reap is in RUSAGE_CHILDREN.
    return BareRun(wall, _last_child_cpu(), process.returncode, stderr.decode())


_children_cpu_seen = 0.0


def _last_child_cpu() -> float:
    global _children_cpu_seen
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    spent = total - _children_cpu_seen
    _children_cpu_seen = total
    return spent


def reset_child_cpu() -> None:
    """Forget children reaped so far (call before a run whose CPU you want)."""
    _last_child_cpu()
