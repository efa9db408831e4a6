"""The code-shape figures of the source tree, as one JSON object.

    python benchmarks/code_shape.py [--root src] [--no-duplicates]

- ``files_over_600_lines``: source files longer than 600 lines (path: lines);
- ``functions_over_80_lines``: functions and methods longer than 80 lines (ast, decorators
  excluded; ``path:qualname``: lines);
- ``private_cross_module_uses``: imports of another module's private name
  (``from .x import _name``) and attribute uses ``module._name`` where ``module`` is an imported
  project module (``self._x`` and a module's own names do not count);
- ``duplicate_pairs``: pairs the ``duplicates`` tool reports over ``--root`` (``--most 200``);
- ``entry_point_arguments``: for ``iter_fit``-style entry points (functions named ``iter_*``
  or ``fit*`` with ``config`` or ``spec`` among their arguments, plus every ``iter_fit``), the
  number of arguments other than the config object.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def long_functions(tree: ast.AST, path: str) -> dict[str, int]:
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found[f"{path}:{name}"] = lines
                visit(child, name + ".")

    visit(tree, "")
    return found


def _project_modules(tree: ast.AST, package: str) -> set[str]:
    """Local names bound to project modules: ``from . import io``, ``import pkg.core.x as y``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                package)):
            for alias in node.names:
                names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(package):
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def private_uses(tree: ast.AST, path: str, package: str) -> list[str]:
    uses = []
    modules = _project_modules(tree, package)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                package)):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    uses.append(f"{path}:{node.lineno} from {node.module or '.'} import "
                                f"{alias.name}")
        elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
              and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
              and node.value.id in modules):
            uses.append(f"{path}:{node.lineno} {node.value.id}.{node.attr}")
    return uses


def entry_point_arguments(tree: ast.AST, path: str) -> dict[str, int]:
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        names = [n for n in names if n not in ("self", "cls")]
        has_config = any(n in ("config", "spec") for n in names)
        if node.name == "iter_fit" or (
            has_config and (node.name.startswith("iter_") or node.name.startswith("fit"))
        ):
            others = [n for n in names if n not in ("config", "spec")]
            found[f"{path}:{node.name}"] = len(others) + bool(args.vararg) + bool(args.kwarg)
    return found


def duplicate_pairs(root: Path) -> tuple[int | None, list[str]]:
    """The pair count the ``duplicates`` tool reports over ``root``, and its listed rows."""
    tool = shutil.which("duplicates")
    if tool is None:
        return None, []
    done = subprocess.run([tool, "--repo", str(root), "--most", "200", "--seconds", "120"],
                          capture_output=True, text=True, check=False)
    head = re.search(r"(\d+) pairs? of places", done.stdout)
    rows = [line for line in done.stdout.splitlines() if re.match(r"D\d+ ", line)]
    if head is None:
        return (0 if "no pair" in done.stdout.lower() or not rows else len(rows)), rows
    return int(head.group(1)), rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="src", help="the source folder (default: src)")
    parser.add_argument("--package", default="napari_microdeblur")
    parser.add_argument("--no-duplicates", action="store_true", help="skip the duplicates run")
    args = parser.parse_args(argv)
    root = Path(args.root)
    long_files, long_funcs, private, entries = {}, {}, [], {}
    for path in python_files(root):
        text = path.read_text()
        rel = str(path.relative_to(root))
        n_lines = len(text.splitlines())
        if n_lines > MAX_FILE_LINES:
            long_files[rel] = n_lines
        tree = ast.parse(text, filename=rel)
        long_funcs.update(long_functions(tree, rel))
        private += private_uses(tree, rel, args.package)
        entries.update(entry_point_arguments(tree, rel))
    pairs, rows = (None, []) if args.no_duplicates else duplicate_pairs(root)
    figures = {
        "root": str(root),
        "files_over_600_lines": long_files,
        "functions_over_80_lines": long_funcs,
        "private_cross_module_uses": len(private),
        "private_cross_module_list": private,
        "duplicate_pairs": pairs,
        "duplicate_rows": rows,
        "entry_point_arguments": entries,
    }
    json.dump(figures, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
