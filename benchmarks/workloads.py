"""The programs the benchmark checks, each with a literal that varies per save.

Every save must change the content, or the server's result cache would answer
instead of the compiler; ``n`` is that literal.
"""

from __future__ import annotations

from pathlib import Path


def clean(n: int) -> str:
    return f"def scale(x: int) -> int:\n    return x * {n}\n\nprint(scale(2))\n"


def broken(n: int) -> str:
    return f'total = {n}\nlabel = total + "items"\nprint(label)\n'


def syntax(n: int) -> str:
    """A syntax error: Codon reports it before reading its standard library."""
    return f"count = {n}\ndef broken(:\n    pass\n"


def importer(n: int) -> str:
    return (
        "from geometry import area\n"
        "from text import shout\n"
        "from numbers_util import clamp\n\n"
        f"print(area({n}, 3), shout('hi'), clamp({n}, 0, 10))\n"
    )


IMPORTED_MODULES = {
    "geometry.py": "def area(w: int, h: int) -> int:\n    return w * h\n",
    "text.py": "def shout(s: str) -> str:\n    return s.upper() + '!'\n",
    "numbers_util.py": (
        "def clamp(x: int, low: int, high: int) -> int:\n"
        "    return max(low, min(x, high))\n"
    ),
}


def write_imported_modules(folder: Path) -> None:
    for name, text in IMPORTED_MODULES.items():
        (folder / name).write_text(text)


def folder_program(index: int) -> str:
    """The 20-file folder: mostly clean programs, every fifth one broken."""
    if index % 5 == 4:
        return broken(index)
    return (
        f"def f{index}(values: list[int]) -> int:\n"
        "    total = 0\n"
        "    for v in values:\n"
        "        total += v * v\n"
        "    return total\n\n"
        f"print(f{index}([1, 2, {index}]))\n"
    )


TYPED_PROGRAM = (
    "def mean(values: list[float]) -> float:\n"
    "    return sum(values) / len(values)\n\n"
    "data = [1.5, 2.5, 3.0]\n"
    "print(mean(data))\n"
    "names = ['ada', 'grace']\n"
    "for name in names:\n"
    "    print(name.upper())\n"
)
"""What the typing simulation types, one character at a time."""
