"""Import layering: every lumpcheck import points down the pipeline, the checker is a small kernel, and private
names stay private (design notes, style.md §1–3).

Layers, lowest first: errors; ir; io, bounds, solver; reduction; prove; equivalence; epsilon; apps. A module
imports only from its own layer or a lower one. The checker sits beside them: it imports only errors, ir, io and
the trusted bounds (bounds/__init__, propagate, arith, and
graph_interval/graph_symbolic for graphs), and only apps (and tests) import it, except that untrusted
code may import the kernel's format constants from checker/document.py. No cycles, no function-local imports of
lumpcheck modules, no `try: import … except ImportError` around them, no private names across modules.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.io import save_model
from lumpcheck.ir.activation import RELU
from lumpcheck.ir.network import Layer, Network
from lumpcheck.prove.prover import prove
from lumpcheck.prove.records import write_certificate
from lumpcheck.reduction.lumping import reduce

PACKAGE = Path(__file__).resolve().parents[1] / "lumpcheck"
FIXTURES = Path(__file__).resolve().parent / "layer_fixtures"
RANK = {"errors": 0, "ir": 1, "io": 2, "bounds": 2, "solver": 2, "reduction": 3, "prove": 4, "equivalence": 5,
        "epsilon": 6, "apps": 7}
TRUSTED_BOUNDS = {"lumpcheck.bounds", "lumpcheck.bounds.propagate", "lumpcheck.bounds.arith", "lumpcheck.bounds.graph_interval",
                  "lumpcheck.bounds.graph_symbolic", "lumpcheck.bounds.squash"}
KERNEL_BASE = {"errors", "ir", "io", "bounds", "checker"}
KERNEL_CONSTANTS = {"FORMAT", "FORMAT_VERSION", "DIFF_FORMAT", "DIFF_FORMAT_VERSION", "GRAPH_FORMAT",
                    "GRAPH_FORMAT_VERSION", "DOMAIN_FORMAT", "DOMAIN_FORMAT_VERSION", "BOUND_FORMAT", "BOUND_FORMAT_VERSION",
                    "UNION_FORMAT", "UNION_FORMAT_VERSION",
                    "SEMANTICS", "SOLVER_CHECKS", "AXIOMS"}
"""What untrusted code may import from lumpcheck.checker.document (the format's constants, never checking code)."""
UNTRUSTED = ("lumpcheck.reduction", "lumpcheck.prove", "lumpcheck.equivalence", "lumpcheck.epsilon", "lumpcheck.apps",
             "lumpcheck.solver", "lumpcheck.bounds.tighten", "lumpcheck.bounds.deviation")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str | None:
    """The top-level subpackage of a lumpcheck module ('ir', 'checker', ...; 'errors'); None for lumpcheck itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(tree: ast.Module, module: str, is_package: bool = False) -> list[tuple[str, list[str], ast.stmt, bool]]:
    """(imported module, names, node, top-level?) for every lumpcheck import in a module's syntax tree; names
    imported by `from M import a` that are themselves modules (files or packages under lumpcheck/) count as module
    imports."""
    top = set(map(id, _top_level_imports(tree)))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lumpcheck" or alias.name.startswith("lumpcheck."):
                    out.append((alias.name, [], node, id(node) in top))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            if target == "lumpcheck" or target.startswith("lumpcheck."):
                names = [a.name for a in node.names]
                submodules = [n for n in names if _is_module(f"{target}.{n}")]
                for n in submodules:
                    out.append((f"{target}.{n}", [], node, id(node) in top))
                rest = [n for n in names if n not in submodules]
                if rest:
                    out.append((target, rest, node, id(node) in top))
    return out


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _top_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """Imports executed when the module loads: at module level, also inside top-level if/try (not TYPE_CHECKING)."""
    out: list[ast.stmt] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
            elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return out


def _type_checking_imports(tree: ast.Module) -> set[int]:
    return {id(n) for node in tree.body if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING" for n in ast.walk(node)}


def _guarded_imports(tree: ast.Module) -> set[int]:
    """Imports inside a `try` whose handler catches ImportError or ModuleNotFoundError."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                h.type is not None and any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                                           for n in ast.walk(h.type)) for h in node.handlers):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every broken layering rule in one module's source (module: its dotted name, e.g. lumpcheck.ir.network)."""
    tree = ast.parse(source)
    typing_only, guarded = _type_checking_imports(tree), _guarded_imports(tree)
    here = package_of(module)
    out = []
    for target, names, node, top in imports_of(tree, module, is_package):
        where = f"{module}:{node.lineno}"
        if id(node) in typing_only:
            continue
        if not top:
            out.append(f"{where}: function-local import of {target} (put it at the top; move shared code down a layer)")
        if id(node) in guarded:
            out.append(f"{where}: {target} imported under try/except ImportError (our own modules are always there)")
        private = [n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
        if private and target != module:
            out.append(f"{where}: private name(s) {private} imported from {target} (give them a public name)")
        out += [f"{where}: {problem}" for problem in _layer_problems(module, here, target, names)]
    return out


def _layer_problems(module: str, here: str | None, target: str, names: list[str]) -> list[str]:
    there = package_of(target)
    if there is None:  # the root package: only its constant __version__ (it re-exports lazily, loading nothing)
        return [] if set(names) <= {"__version__"} else [f"imports {names} from the root package lumpcheck"]
    if there == here or here is None:
        return []
    if here == "checker":
        if there not in KERNEL_BASE:
            return [f"the checker imports {target} ({there} is not errors, ir, io or bounds)"]
        if there == "bounds" and target not in TRUSTED_BOUNDS:
            return [f"the checker imports {target} (untrusted: only bounds.propagate/arith/squash/graph_* are in the kernel)"]
        return []
    if there == "checker":
        constants_only = target == "lumpcheck.checker.document" and names and set(names) <= KERNEL_CONSTANTS
        return [] if here == "apps" or constants_only else [
            f"{here} imports {target} {names} (only apps use the checker; others may import its constants "
            f"{sorted(KERNEL_CONSTANTS)} from lumpcheck.checker.document)"]
    if RANK[there] > RANK[here]:
        return [f"{here} (layer {RANK[here]}) imports {target} from the higher layer {there} ({RANK[there]})"]
    return []


def package_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in PACKAGE.rglob("*.py"))


# ---------------------------------------------------------------- the rules hold for the package


def test_every_import_respects_the_layers():
    problems = [v for module, path in package_modules()
                for v in violations(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")]
    assert problems == [], "\n".join(problems)


def test_tests_use_public_names_only():
    tests = Path(__file__).resolve().parent
    problems = []
    for path in sorted(tests.rglob("*.py")):
        if FIXTURES in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lumpcheck"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
                problems += [f"{path.relative_to(tests)}:{node.lineno}: {node.module}.{n}" for n in private]
    assert problems == [], "\n".join(problems)


def test_every_package_is_ranked_and_layers_have_no_cycles():
    modules = dict(package_modules())
    assert {package_of(m) for m in modules} - {None} <= set(RANK) | {"checker"}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, _, _, top in imports_of(tree, module, path.name == "__init__.py"):
            if top and target in modules and target != module:
                graph[module].add(target)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_rule_check_catches_each_kind_of_violation():
    """Deliberate violations (tests/layer_fixtures/*.py; line 1 names the module each pretends to be)."""
    expected = {
        "checker_imports_prover.py": "the checker imports lumpcheck.prove.prover",
        "checker_imports_tighten.py": "untrusted: only bounds.propagate/arith",
        "ir_imports_reduction.py": "ir (layer 1) imports lumpcheck.reduction.lumping from the higher layer reduction",
        "prove_imports_checker.py": "prove imports lumpcheck.checker.strict",
        "function_local_import.py": "function-local import of lumpcheck.equivalence.engine",
        "guarded_import.py": "imported under try/except ImportError",
        "private_name.py": "private name(s) ['_Verifier'] imported from lumpcheck.checker.strict",
    }
    assert sorted(p.name for p in FIXTURES.glob("*.py")) == sorted(expected)
    for name, message in expected.items():
        source = (FIXTURES / name).read_text(encoding="utf-8")
        module = source.splitlines()[0].removeprefix("# module: ").strip()
        found = violations(source, module)
        assert any(message in v for v in found), (name, found)


def test_allowed_imports_are_not_flagged():
    ok = {
        "lumpcheck.prove.records": "from ..checker.document import FORMAT, FORMAT_VERSION\nfrom .. import __version__\n",
        "lumpcheck.apps.cli": "from ..checker import check\nfrom ..equivalence.engine import verify\n",
        "lumpcheck.checker.strict": "from ..bounds import by_method\nfrom ..ir.network import Network\n",
        "lumpcheck.bounds.tighten": "from ..solver.z3 import Optimizer\n",
        "lumpcheck.io.onnx.write": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ...apps import cli\n",
    }
    for module, source in ok.items():
        assert violations(source, module) == [], module


# ---------------------------------------------------------------- the kernel loads alone

KERNEL_RUN = """
import json, sys
from lumpcheck.checker import check
result = check(sys.argv[1], sys.argv[2], sys.argv[3])
print(json.dumps({"valid": result.valid, "reasons": result.reasons,
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] == "lumpcheck")}))
"""


@pytest.mark.parametrize("box", [False, True], ids=["everywhere", "domain-reduction"])
def test_the_checker_runs_without_loading_untrusted_code(tmp_path, box):
    rng = np.random.default_rng(5)
    w = rng.integers(-4, 5, size=(3, 2)) / 4.0
    net = Network([Layer(np.vstack([w, 2 * w]), np.zeros(6), RELU), Layer(rng.integers(-4, 5, size=(1, 6)) / 4.0, np.zeros(1))])
    red = reduce(net)
    original, reduced, cert = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.json"
    save_model(net, original, dtype="float64")
    save_model(red.network, reduced, dtype="float64")
    domain = None
    if box:
        from lumpcheck.ir.domain import Box
        domain = Box((Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1)))
    write_certificate(prove(original, reduced, red, domain=domain), cert)
    proc = subprocess.run([sys.executable, "-c", KERNEL_RUN, str(cert), str(original), str(reduced)],
                          capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    assert out["valid"], out["reasons"]
    loaded = [m for m in out["modules"] if m.startswith(UNTRUSTED)]
    assert loaded == [], f"the checker loaded untrusted modules: {loaded}"
    assert "lumpcheck.checker.strict" in out["modules"]


def test_import_lumpcheck_is_cheap():
    code = "import sys, lumpcheck; print(sorted(m for m in sys.modules if m.split('.')[0] in ('lumpcheck', 'numpy', 'z3', 'onnx')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['lumpcheck']"
    code = "import lumpcheck; print(lumpcheck.reduce.__module__, lumpcheck.Network.__module__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["lumpcheck.reduction.lumping", "lumpcheck.ir.network"]
