"""Structure figures of the package, printed for the restructure's before/after comparison.

Usage: python scripts/structure_metrics.py [package_dir]

* top-level packages (folders with an ``__init__.py`` directly under the package);
* per vendor, the files outside ``testing/`` that hold its code (its name in the path, a class or
  function named after it, or an import of its client or hook), and the folders they sit in;
* lines outside ``testing/`` whose annotations mention ``Any``;
* ``type: ignore`` comments outside ``testing/``;
* the ten longest functions outside ``testing/``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

VENDORS = {"velip": "Velip", "televoips": "TeleVoips", "octopush": "Octopush", "kaleyra": "Kaleyra"}


def annotation_lines_with_any(tree: ast.AST) -> set[int]:
    lines: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is None:
            return
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Name) and sub.id == "Any") or (
                isinstance(sub, ast.Attribute) and sub.attr == "Any"
            ):
                lines.add(sub.lineno)
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and re.search(r"\bAny\b", sub.value):
                lines.add(sub.lineno)

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if a is not None:
                    mark(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
    return lines


def main(root: Path) -> None:
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    outside = [p for p in files if "testing" not in p.relative_to(root).parts]
    packages = sorted(p.parent.name for p in root.glob("*/__init__.py"))
    print(f"top-level packages: {len(packages)} ({', '.join(packages)})")
    for vendor, cls in VENDORS.items():
        spans = []
        pattern = re.compile(rf"^\s*(class|def|async def)\s+\w*({cls}|{vendor})\w*", re.M | re.I)
        for p in outside:
            rel = p.relative_to(root)
            text = p.read_text()
            if vendor in str(rel).lower() or pattern.search(text) or re.search(rf"(vendors|hooks)\.{vendor}\b", text):
                spans.append(rel)
        folders = sorted({str(r.parent) for r in spans})
        print(f"{vendor}: {len(spans)} files in {len(folders)} folders ({', '.join(folders)})")
    any_lines = 0
    ignores = 0
    functions: list[tuple[int, str]] = []
    for p in outside:
        text = p.read_text()
        tree = ast.parse(text)
        any_lines += len(annotation_lines_with_any(tree))
        ignores += len(re.findall(r"#\s*type:\s*ignore", text))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                functions.append((length, f"{p.relative_to(root)}:{node.lineno} {node.name}"))
    print(f"annotation lines with Any outside testing/: {any_lines}")
    print(f"type: ignore outside testing/: {ignores}")
    functions.sort(reverse=True)
    print("longest functions outside testing/:")
    for length, name in functions[:10]:
        print(f"  {length:4d} lines  {name}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "airflow_provider_voice"))
