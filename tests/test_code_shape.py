"""The shape rules of ``course_utils``, read from the source (pure AST, nothing imported).

* every public function (module level, no leading ``_``) and every public class's
  ``__init__`` names each of its parameters in its docstring (for ``__init__``: the
  class docstring or its own);
* a function over 60 lines carries a ``# Longer than 60 lines:`` comment saying why;
* a module over 450 lines carries a comment about the ~450-line guideline near its top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450
TOP_LINES = 80  # "near the top": the module comment must be within these lines
FUNCTION_REASON = "# Longer than 60 lines:"
MODULE_REASON = re.compile(r"^\s*#.*450[- ]lines?\b")


def undocumented_parameters(source: str) -> list[str]:
    """``"name: [parameters]"`` for each public function whose docstring omits a parameter."""
    tree = ast.parse(source)
    found = []
    for node in tree.body:
        defs = [(node, "")] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            defs += [(m, ast.get_docstring(node) or "") for m in node.body
                     if isinstance(m, ast.FunctionDef) and m.name == "__init__"]
        for func, class_doc in defs:
            if func.name.startswith("_") and func.name != "__init__":
                continue
            doc = class_doc + (ast.get_docstring(func) or "")
            args = func.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
            missing = [n for n in names if n not in ("self", "cls")
                       and not re.search(rf"\b{re.escape(n)}\b", doc)]
            if missing:
                owner = f"{node.name}." if func is not node else ""
                found.append(f"{owner}{func.name}: {missing}")
    return found


def long_functions_without_reason(source: str) -> list[str]:
    """``"name (n lines)"`` for each function over the limit without a reason comment."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        body = lines[node.lineno - 1:node.end_lineno]
        if length > MAX_FUNCTION_LINES and not any(
                line.strip().startswith(FUNCTION_REASON) for line in body):
            found.append(f"{node.name} ({length} lines)")
    return found


def module_too_long_without_reason(source: str) -> bool:
    """True if the module is over the limit and no comment near its top says why."""
    lines = source.splitlines()
    return len(lines) > MAX_MODULE_LINES and not any(
        MODULE_REASON.search(line) for line in lines[:TOP_LINES])


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(PACKAGE.parent)) for p in paths]


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_public_functions_document_every_parameter(path: Path):
    missing = undocumented_parameters(path.read_text(encoding="utf-8"))
    assert not missing, f"{path.name}: name these parameters in the docstrings: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_functions_are_short_or_say_why(path: Path):
    long = long_functions_without_reason(path.read_text(encoding="utf-8"))
    assert not long, (f"{path.name}: split these functions, or start them with a "
                      f"'{FUNCTION_REASON} <reason>' comment: {long}")


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_modules_are_short_or_say_why(path: Path):
    assert not module_too_long_without_reason(path.read_text(encoding="utf-8")), (
        f"{path.name} is over {MAX_MODULE_LINES} lines: split it, or say why in a comment "
        f"near its top that mentions the ~{MAX_MODULE_LINES} lines guideline")


def test_package_found():
    assert len(MODULES) > 20 and (PACKAGE / "__init__.py") in MODULES


# The checks themselves must be able to fail.

def test_an_undocumented_parameter_is_found():
    source = '''
def public(a, b, *rest, c=1, **extra):
    """Uses ``a`` and ``rest`` and ``extra``."""

def _private(x):
    """Nothing."""

class Thing:
    """Takes ``size``."""
    def __init__(self, size, colour):
        pass

class _Hidden:
    def __init__(self, anything):
        pass
'''
    assert undocumented_parameters(source) == ["public: ['b', 'c']", "Thing.__init__: ['colour']"]
    # a name only as part of a longer word does not count
    assert undocumented_parameters('def f(n):\n    """n_classes."""\n') == ["f: ['n']"]


def test_a_long_function_needs_its_reason():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    long = f"def long():\n{body}"
    assert long_functions_without_reason(long) == [f"long ({MAX_FUNCTION_LINES + 1} lines)"]
    explained = f"def long():\n    {FUNCTION_REASON} one table, read top to bottom.\n{body}"
    assert long_functions_without_reason(explained) == []
    # a reason in another function does not count
    other = f"def other():\n    {FUNCTION_REASON} x\n    pass\n\n\n{long}"
    assert long_functions_without_reason(other) == [f"long ({MAX_FUNCTION_LINES + 1} lines)"]
    fits = "def short():\n" + "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    assert long_functions_without_reason(fits) == []


def test_a_long_module_needs_its_reason():
    code = "".join(f"x{i} = {i}\n" for i in range(MAX_MODULE_LINES))
    assert not module_too_long_without_reason(code)
    assert module_too_long_without_reason(code + "y = 1\n")
    assert not module_too_long_without_reason(
        "# Longer than the course's ~450 lines on purpose: one picture.\n" + code)
    assert not module_too_long_without_reason("# Over the ~450-line guideline: why.\n" + code)
    # not in a docstring, and not far down
    assert module_too_long_without_reason('"""Over 450 lines."""\n' + code)
    assert module_too_long_without_reason(code + "# Longer than 450 lines: why.\n")
