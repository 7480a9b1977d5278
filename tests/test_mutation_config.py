"""`make mutate` leaves out every hypothesis property test by its marker, not by a list of test ids.

The exclusion is ``-m "not slow and not property"`` in ``[tool.mutmut]`` of pyproject.toml, and
tests/conftest.py puts ``property`` on every ``@given`` test. Here the ``@given`` tests are found
independently, by their decorator in the source, and the mutation-tested directories are collected
with mutmut's own pytest arguments: none of them may be selected, and the marker must sit on
exactly them. A property test that stopped being excluded would run for seconds per mutant and
make verdicts random (docs/mutation.md).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

from tests.helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
MUTMUT = PYPROJECT["mutmut"]
TEST_DIRS: list[str] = MUTMUT["pytest_add_cli_args_test_selection"]


def _is_given(decorator: ast.expr) -> bool:
    call = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(call, ast.Name) and call.id == "given") or (
        isinstance(call, ast.Attribute) and call.attr == "given"
    )


def _given_tests() -> set[str]:
    """``path::name`` (``path::Class::name`` for methods) of every function decorated with ``given``."""
    found: set[str] = set()
    for directory in TEST_DIRS:
        for path in sorted((ROOT / directory).rglob("test_*.py")):
            module = ast.parse(path.read_text(), filename=str(path))
            where = path.relative_to(ROOT).as_posix()
            scopes: list[tuple[str, list[ast.stmt]]] = [(where, module.body)]
            scopes += [(f"{where}::{c.name}", c.body) for c in module.body if isinstance(c, ast.ClassDef)]
            for prefix, body in scopes:
                found |= {
                    f"{prefix}::{f.name}"
                    for f in body
                    if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                    and any(_is_given(d) for d in f.decorator_list)
                }
    return found


def _collected(*args: str) -> set[str]:
    """The test functions (parameters stripped) pytest selects with these arguments."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return {line.split("[")[0] for line in result.stdout.splitlines() if "::" in line}


def test_the_source_scan_finds_the_property_tests() -> None:
    given = _given_tests()
    assert "tests/kube/test_selectors.py::test_satisfiable_agrees_with_a_brute_force_witness_search" in given
    assert "tests/simulation/test_audit.py::test_reviewing_our_own_output_is_unchanged" in given
    assert {test.split("/")[1] for test in given} == {"kube", "policy", "engine", "native", "simulation"}


def _pure_layers() -> list[str]:
    """The layers import-linter keeps free of HTTP, prometheus and the Kubernetes client."""
    (contract,) = (
        c for c in PYPROJECT["importlinter"]["contracts"] if c["name"].startswith("The pure layers")
    )
    return [module.removeprefix("webhook.") for module in contract["source_modules"]]


def test_every_pure_layer_is_mutated_with_its_tests() -> None:
    layers = _pure_layers()
    assert set(layers) == {"admission", "kube", "policy", "engine", "native", "simulation"}
    assert sorted(MUTMUT["only_mutate"]) == sorted(f"webhook/{layer}/*" for layer in layers)
    assert sorted(TEST_DIRS) == sorted(f"tests/{layer}" for layer in layers)
    assert all((ROOT / directory).is_dir() for directory in TEST_DIRS)


def test_what_the_selected_tests_read_is_copied_for_mutmut() -> None:
    """mutmut runs the tests in mutants/, which holds the package and only what also_copy names."""
    assert all((ROOT / path).exists() for path in MUTMUT["also_copy"])
    read = {"policies.yaml", "policies.schema.json", "examples", "docs", "deploy/base", "charts"}
    assert read <= set(MUTMUT["also_copy"])


def test_the_property_marker_is_on_exactly_the_given_tests() -> None:
    assert _collected("-m", "property", *TEST_DIRS) == _given_tests()


def test_mutmut_runs_no_property_test() -> None:
    selected = _collected(*MUTMUT["pytest_add_cli_args"], *TEST_DIRS)
    assert len(selected) > 300  # the unit tests themselves are selected (test functions, not cases)
    assert "tests/kube/test_selectors.py::test_requirements_satisfiable" in selected
    assert not selected & _given_tests()
