"""House rules of the package layout, measured on the source (fast: ast only).

* no module over 450 lines;
* no function over 80 lines, docstring excluded;
* no import of another family's private module (a family is a top-level
  subpackage or module of ``sklearn_hallu``; the package's own top-level
  private modules, such as ``_compat`` and ``_support``, are shared by all).

Run ``python tests/test_layout.py`` to print the measurements.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sklearn_hallu"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def module_lengths():
    """``{module path: line count}``."""
    return {str(p.relative_to(PACKAGE.parent)): len(p.read_text().splitlines())
            for p in _modules()}


def function_lengths():
    """``{"module:function": lines without the docstring}`` of every function and method."""
    out = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                        and isinstance(first.value.value, str)):
                    n -= first.end_lineno - first.lineno + 1
                out[f"{path.relative_to(PACKAGE.parent)}:{node.name}"] = n
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


def test_no_module_over_the_limit():
    long = {m: n for m, n in module_lengths().items() if n > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_over_the_limit():
    long = {f: n for f, n in function_lengths().items() if n > MAX_FUNCTION_LINES}
    assert not long, long


def test_no_import_of_another_familys_private_module():
    assert not private_imports()


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


if __name__ == "__main__":
    main()
