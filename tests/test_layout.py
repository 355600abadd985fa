"""House rules of the repository's layout, measured on the source (fast: ast only).

Every Python file of the repository (library, research, benchmarks, examples,
docs, tests) follows them:

* no module over 800 lines (a module holds one concept; one cohesive class may
  make it long);
* no function over 80 lines, docstring excluded;
* inside the package, no import of another family's private module (a family is a
  top-level subpackage or module of ``sklearn_hallu``; the package's own top-level
  private modules, such as ``_compat`` and ``_support``, are shared by all);
* outside the package (tests aside), no import of any private library module:
  research, benchmarks and examples use the public API, as a user would.

Run ``python tests/test_layout.py`` to print the measurements.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sklearn_hallu"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
#: Folders that hold no source of ours (environments, builds, generated docs).
SKIPPED = {".venv", "venv", "build", "dist", "_build", "auto_examples", "gen_modules",
           "__pycache__", ".git"}


def _files():
    """Every Python file of the repository."""
    return sorted(p for p in ROOT.rglob("*.py")
                  if not SKIPPED.intersection(p.relative_to(ROOT).parts)
                  and not any(part.endswith(".egg-info") for part in p.parts))


def _modules():
    return [p for p in _files() if PACKAGE in p.parents]


def _dotted(path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def module_lengths():
    """``{file path: line count}`` of every Python file."""
    return {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _files()}


def function_lengths():
    """``{"module:function": lines without the docstring}`` of every function and method."""
    out = {}
    for path in _files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                        and isinstance(first.value.value, str)):
                    n -= first.end_lineno - first.lineno + 1
                out[f"{path.relative_to(ROOT)}:{node.lineno}:{node.name}"] = n
    return out


def _is_module(dotted):
    base = PACKAGE.parent.joinpath(*dotted)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def private_imports():
    """``[(importing module, imported private module)]`` across families."""
    bad = []
    for path in _modules():
        here = _dotted(path)
        package = here if path.name == "__init__.py" else here[:-1]
        family = here[1] if len(here) > 1 else None
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name.split(".") for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                mod = base + (node.module.split(".") if node.module else [])
                targets = [mod] + [mod + [a.name] for a in node.names if _is_module(mod + [a.name])]
            for t in targets:
                if len(t) < 3 or t[0] != PACKAGE.name or t[1] == family:
                    continue
                if any(part.startswith("_") for part in t[2:]):
                    bad.append((".".join(here), ".".join(t)))
    return bad


def _imported(tree):
    """Dotted names imported by absolute imports of ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def private_imports_outside():
    """``[(file, imported private module)]`` of files outside the package and the tests."""
    bad = []
    for path in _files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("sklearn_hallu", "tests"):
            continue
        for name in _imported(ast.parse(path.read_text())):
            parts = name.split(".")
            if parts[0] == PACKAGE.name and any(p.startswith("_") and p != "__version__"
                                                for p in parts[1:]):
                bad.append((str(rel), name))
    return bad


def test_the_rules_see_the_whole_repository():
    seen = {p.relative_to(ROOT).parts[0] for p in _files()}
    assert {"sklearn_hallu", "tests", "research", "benchmarks", "examples"} <= seen, seen


def test_no_module_over_the_limit():
    long = {m: n for m, n in module_lengths().items() if n > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_over_the_limit():
    long = {f: n for f, n in function_lengths().items() if n > MAX_FUNCTION_LINES}
    assert not long, long


def test_no_import_of_another_familys_private_module():
    assert not private_imports()


def test_no_import_of_a_private_library_module_from_outside():
    assert not private_imports_outside()


def main():
    mods = sorted(module_lengths().items(), key=lambda kv: -kv[1])
    funcs = sorted(function_lengths().items(), key=lambda kv: -kv[1])
    print(f"modules: {len(mods)}; largest (limit {MAX_MODULE_LINES}):")
    for m, n in mods[:5]:
        print(f"  {n:4d}  {m}")
    print(f"functions: {len(funcs)}; longest without docstring (limit {MAX_FUNCTION_LINES}):")
    for f, n in funcs[:5]:
        print(f"  {n:4d}  {f}")
    print(f"imports of another family's private module: {private_imports() or 'none'}")
    print(f"private imports from outside the package: {private_imports_outside() or 'none'}")


if __name__ == "__main__":
    main()
