"""Docstring house rules, checked on the source with ``ast`` (no import needed).

- Sphinx field lists: each ``:param x:``, ``:type x:``, ``:returns:``, ``:rtype:`` and ``:raises X:`` field starts
  on its own line; two fields on one line render as one run-on paragraph.
- Every public class of the package (outside the simulator, ``airflow_provider_voice/testing``) has a docstring.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "airflow_provider_voice"
SOURCE_DIRS = (PACKAGE, ROOT / "dags", ROOT / "benchmarks")
FIELD_MARKER = re.compile(r":(?:param|type|raises)\b|:(?:returns|rtype):")
LITERAL = re.compile(r"``.+?``")


def _files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots if root.is_dir() for path in root.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _statements(node: ast.AST, field: str) -> list[ast.stmt]:
    value = getattr(node, field, None)
    return value if isinstance(value, list) else []  # a lambda's ``body`` is an expression


def _docstrings(tree: ast.Module) -> Iterator[ast.Constant]:
    """Every bare string statement: module, class and function docstrings, and attribute docstrings.

    :param tree: a parsed module.
    """
    for node in ast.walk(tree):
        statements = [s for field in ("body", "orelse", "finalbody") for s in _statements(node, field)]
        for statement in statements:
            if (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            ):
                yield statement.value


def _docstring_lines(source: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every line of every docstring of ``source``.

    :param source: the text of a Python module.
    """
    for node in _docstrings(ast.parse(source)):
        for offset, line in enumerate(node.value.splitlines()):
            yield node.lineno + offset, line


def midline_field_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every docstring line where a field marker follows other text.

    Sphinx only reads a field that starts its line: ``per-recipient messages. :param audio: ...`` is prose.
    Markers quoted as inline literals (````:param x:````) are not fields.

    :param source: the text of a Python module.
    """
    found = []
    for number, line in _docstring_lines(source):
        text = LITERAL.sub("``x``", line.strip())
        if any(match.start() > 0 for match in FIELD_MARKER.finditer(text)):
            found.append((number, line.strip()))
    return sorted(found)


def packed_field_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every docstring line of ``source`` that holds two or more field markers.

    :param source: the text of a Python module.
    """
    found = [(number, line.strip()) for number, line in _docstring_lines(source) if len(FIELD_MARKER.findall(line)) > 1]
    return sorted(found)


def _public_classes(body: list[ast.stmt]) -> Iterator[ast.ClassDef]:
    """Public classes at module level and nested in public classes (not the local classes of a function).

    :param body: a module's or a class's statements.
    """
    for statement in body:
        if isinstance(statement, ast.ClassDef) and not statement.name.startswith("_"):
            yield statement
            yield from _public_classes(statement.body)
        elif isinstance(statement, (ast.If, ast.Try)):  # e.g. ``if TYPE_CHECKING:`` / ``try: ... except ImportError``
            for branch in (statement.body, statement.orelse, *(h.body for h in getattr(statement, "handlers", ()))):
                yield from _public_classes(branch)


def undocumented_public_classes(source: str) -> list[tuple[int, str]]:
    """``(line number, name)`` of every public class of ``source`` without a docstring.

    :param source: the text of a Python module.
    """
    classes = _public_classes(ast.parse(source).body)
    return [(cls.lineno, cls.name) for cls in classes if not (ast.get_docstring(cls) or "").strip()]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_walk_finds_the_package() -> None:
    files = {_relative(path) for path in _files(PACKAGE)}
    assert "airflow_provider_voice/__init__.py" in files
    assert len(files) > 20


def test_no_docstring_line_packs_two_fields() -> None:
    found = [
        f"{_relative(path)}:{line}: {text}"
        for path in _files(*SOURCE_DIRS)
        for line, text in packed_field_lines(_read(path))
    ]
    assert found == [], "one Sphinx field per line:\n" + "\n".join(found)


def test_every_field_starts_its_line() -> None:
    found = [
        f"{_relative(path)}:{line}: {text}"
        for path in _files(*SOURCE_DIRS)
        for line, text in midline_field_lines(_read(path))
    ]
    assert found == [], "a Sphinx field must start its line:\n" + "\n".join(found)


def test_every_public_class_has_a_docstring() -> None:
    testing = PACKAGE / "testing"
    found = [
        f"{_relative(path)}:{line}: class {name}"
        for path in _files(PACKAGE)
        if testing not in path.parents
        for line, name in undocumented_public_classes(_read(path))
    ]
    assert found == [], "public classes without a docstring:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('def f(a, b):\n    """Do.\n\n    :param a: one. :param b: two.\n    """\n', [4]),
        ('def f(a):\n    """Do.\n\n    :param a: one.\n    :returns: it. :raises ValueError: bad.\n    """\n', [5]),
        ('class C:\n    """C.\n\n    :type a: int. :rtype: str\n    """\n', [4]),
        ('"""Module. :param a: one.\n:returns: x :raises E: y"""\n', [2]),
        ('x = 1\n"""Attribute. :param a: one. :param b: two."""\n', [2]),
        ('async def f(a, b):\n    """Do :param a: and :param b: together."""\n', [2]),
        ('def f(a, b):\n    """Do.\n\n    :param a: one.\n    :param b: two, see :class:`C`.\n    """\n', []),
        ('def f(type):\n    """Do.\n\n    :param type: ``voice_sms``.\n    :returns: the ticket.\n    """\n', []),
        ('def f():\n    return ":param a: x :param b: y"\n', []),
    ],
)
def test_packed_field_detection(source: str, expected: list[int]) -> None:
    assert [line for line, _ in packed_field_lines(source)] == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('def f(a, b):\n    """Do.\n\n    :param a: one, and\n        more. :param b: two.\n    """\n', [5]),
        ('class C:\n    """Every endpoint. :param key: API key."""\n', [2]),
        ('def f(a, b):\n    """Do.\n\n    :param a: one, as in\n        ``:param b:`` of :func:`g`.\n    """\n', []),
        ('def f():\n    """Do.\n\n    :returns: a handle; raises :class:`E` when late.\n    """\n', []),
    ],
)
def test_midline_field_detection(source: str, expected: list[int]) -> None:
    assert [line for line, _ in midline_field_lines(source)] == expected


def test_undocumented_class_detection() -> None:
    source = (
        'class Bare:\n    pass\n\n\nclass _Private:\n    pass\n\n\nclass Good:\n    """Good."""\n\n'
        "    class Inner:\n        x = 1\n\n\nif True:\n    class Guarded:\n        pass\n\n\n"
        "def f():\n    class Local:\n        pass\n"
    )
    assert undocumented_public_classes(source) == [(1, "Bare"), (12, "Inner"), (17, "Guarded")]
