"""An experiment: a warm Codon (its JIT, through libcodonc's C API) that checks sooner.

Run as a script, this is a fork server. It loads ``libcodonc.so`` with ctypes,
calls ``jit_init`` once (that parses and type-checks the standard library, the
slow part of every cold compile), defines a guard function, then forks a child
per request. The child compiles the program as one JIT cell preceded by a call
to the guard on line 0: a program that type-checks raises the guard's
exception before any of its own statements run, so no user code executes, and
a program with an error never reaches code generation. Each child starts from
the pristine parent, so no definition leaks from one check into the next.

Protocol: one JSON object per line on stdin (``folder``, ``name``, ``source``),
one per line on stdout (``error``: the JIT's error text or null, ``seconds``).
``WarmJit`` is the benchmark's side of it.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GUARD_MESSAGE = "codon-lsp: checked, not run"
_GUARD = f"def __codon_lsp_stop():\n    raise ValueError('{GUARD_MESSAGE}')\n".encode()
_JIT_MESSAGE = re.compile(
    r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<text>.*)$"
)


class _JitResult(ctypes.Structure):
    _fields_ = [("result", ctypes.c_void_p), ("error", ctypes.c_char_p)]


def _load(lib_dir: Path) -> Any:
    ctypes.CDLL(str(lib_dir / "libcodonrt.so"), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(str(lib_dir / "libcodonc.so"), mode=ctypes.RTLD_GLOBAL)
    lib.jit_init.restype = ctypes.c_void_p
    lib.jit_init.argtypes = [ctypes.c_char_p]
    lib.jit_execute_safe.restype = _JitResult
    lib.jit_execute_safe.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint8,
    ]
    return lib


def _check_in_child(lib: Any, jit: int, request: dict[str, str], out: int) -> None:
    os.chdir(request["folder"])
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    # Line -1: the guard call is line 0, so the program keeps its own numbers.
    code = b"__codon_lsp_stop()\n" + request["source"].encode()
    result = lib.jit_execute_safe(jit, code, request["name"].encode(), -1, 0)
    error = result.error.decode("utf-8", "replace") if result.error else None
    if error is not None and GUARD_MESSAGE in error:
        error = None
    os.write(out, json.dumps({"error": error}).encode())
    os._exit(0)


def serve(lib_dir: Path) -> None:
    """The fork server's loop (the script's entry point)."""
    lib = _load(lib_dir)
    jit = lib.jit_init(b"codon")
    lib.jit_execute_safe(jit, _GUARD, b"<codon-lsp>", 0, 0)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(read_end)
            _check_in_child(lib, jit, request, write_end)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as answer:
            raw = answer.read()
        os.waitpid(child, 0)
        reply = json.loads(raw) if raw else {"error": "the JIT child died"}
        reply["seconds"] = time.monotonic() - started
        print(json.dumps(reply), flush=True)


class WarmJit:
    """The benchmark's handle on a running fork server."""

    def __init__(self, codon_root: Path) -> None:
        lib_dir = codon_root / "lib" / "codon"
        env = dict(os.environ, CODON_PATH=str(lib_dir / "stdlib"))
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(lib_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()
        self.startup_s = time.monotonic() - started

    def check(self, path: Path, source: str) -> tuple[str | None, float]:
        """The JIT's error text for ``source`` as ``path`` (None: clean), and time."""
        assert self.process.stdin is not None and self.process.stdout is not None
        started = time.monotonic()
        request = {"folder": str(path.parent), "name": path.name, "source": source}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        return reply["error"], time.monotonic() - started

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def as_compiler_output(error: str | None) -> str:
    """The JIT's ``file:line:col: text`` lines in the compiler's 0.19 format."""
    if not error:
        return ""
    lines = []
    for line in error.splitlines():
        match = _JIT_MESSAGE.match(line)
        if match is None:
            lines.append(f"error: {line}")
        else:
            lines.append(
                f"{match['file']}:{match['line']} ({match['col']}): "
                f"error: {match['text']}"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
