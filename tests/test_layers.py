"""The house plan, read from the source: imports run one way, floor by floor, with no cycle.

Floors, lowest first (a module may import its own package and any lower floor):

====  ===========================================  ==========================================
 0    ``pakat``                                    errors, dates, settings, text, files, readers
 1    ``signer``                                   making signatures
 2    ``validation``                               judging them (uses the signer's HTTP and revocation)
 3    ``hsm_config``, ``agent``                    what a deployment configures; the user-side agent
 4    ``envelopes``                                the use cases: documents, sessions, batches, tenders
 5    ``envelopes.services``                       the composition root
 6    ``web``, ``envelopes.jobs``                  entry points: HTTP, RQ jobs
 7    ``commands``                                 the command line (``pakat serve`` runs the web app)
 8    ``pakat.__main__``                           ``python -m pakat``: run, never imported
====  ===========================================  ==========================================

``devkit`` (the development PKI, responders and tokens) stands beside the house:
it may use production code, production code never imports it (``pakat devpki``
is registered by module name, a string, not an import).

Imports are read with :mod:`ast`, not by importing: a runtime check would only
see the imports that ran, and would miss one tucked inside a function. ``from
package import module`` counts as importing that module, not the package's
``__init__`` (which Python runs for any submodule anyway).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEVKIT = "devkit"
# Most specific prefix wins.
FLOORS: dict[str, int] = {
    "pakat": 0,
    "signer": 1,
    "validation": 2,
    "hsm_config": 3,
    "agent": 3,
    "envelopes": 4,
    "envelopes.services": 5,
    "envelopes.jobs": 6,
    "web": 6,
    "commands": 7,
    "pakat.__main__": 8,
}
PACKAGES = sorted({name.split(".")[0] for name in FLOORS} | {DEVKIT})
# The engines and the ground know nothing of the web, SQL or the queue.
SERVICE_LIBRARIES = ("flask", "werkzeug", "sqlalchemy", "alembic", "rq", "redis", "waitress")
WITHOUT_SERVICE_LIBRARIES = ("pakat", "signer", "validation", "hsm_config", "agent")
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve_relative(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """The absolute name ``from <level dots><module> import …`` refers to inside ``importer``."""
    package = importer if is_package else importer.rpartition(".")[0]
    base = package.split(".")
    # Python refuses dots that climb past the top-level package; reading them as the root
    # errs towards flagging `from .. import devkit`, which is the safe side here.
    base = base[: max(len(base) - (level - 1), 0)]
    return ".".join([*base, module] if module else base)


def imported_names(source: str, importer: str, is_package: bool = False) -> Iterator[tuple[int, str, list[str]]]:
    """Each import in ``source`` at any depth: (line, statement, the dotted names it may load).

    ``from a import b`` may load ``a.b`` (a module) or just ``a`` (b a name in it): both are
    given, and :func:`_targets` keeps whichever is a module. A literal string passed to
    ``importlib.import_module`` or ``__import__`` is an import too.
    """
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(node.module, node.level, importer, is_package)
            names = [base, *(f"{base}.{alias.name}" if base else alias.name for alias in node.names)]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in DYNAMIC_IMPORTERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names = [first.value]
        if names:
            yield node.lineno, ast.unparse(node), names


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:  # alembic's scripts, run by alembic
                found[module_name(path)] = path
    return found


def project_imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, statement, module) for each project module ``path`` imports."""
    name = module_name(path)
    source = path.read_text(encoding="utf-8")
    for line, statement, names in imported_names(source, name, path.name == "__init__.py"):
        for target in _targets(names):
            if target != name:
                yield line, statement, target


def _targets(names: list[str]) -> set[str]:
    known = modules()
    modules_named = {n for n in names if n in known}
    if len(names) > 1 and any(n in modules_named for n in names[1:]):
        # `from a import b, c`: the submodules among b, c; `a` too if some of them are plain names in it.
        subs = {n for n in names[1:] if n in modules_named}
        return subs | ({names[0]} if len(subs) < len(names) - 1 and names[0] in known else set())
    deepest = set()
    for n in names:
        while n and n not in known:
            n = n.rpartition(".")[0]
        if n:
            deepest.add(n)
    return deepest


def floor(module: str) -> int | None:
    best, best_len = None, -1
    for prefix, level in FLOORS.items():
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
            best, best_len = level, len(prefix)
    return best


def _production_sources() -> list[Path]:
    return sorted(path for name, path in modules().items() if not name.startswith(DEVKIT))


def _ids(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_every_package_of_the_plan_is_there() -> None:
    # A renamed or moved package would otherwise leave these checks looking at nothing.
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), package
    assert not (ROOT / "hsm_config" / "devpki.py").exists(), "the dev kit moved to devkit/"
    unplanned = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {*PACKAGES, "bench", "tests"}
    assert not unplanned, f"packages the plan does not place: {sorted(unplanned)}"


@pytest.mark.parametrize("path", _production_sources(), ids=_ids)
def test_imports_run_down_the_floors(path: Path) -> None:
    own, here = module_name(path).split(".")[0], floor(module_name(path))
    assert here is not None, f"{_ids(path)} is on no floor of the plan"
    upward = [
        f"{line}: {statement} ({target}, floor {floor(target)} > {here})"
        for line, statement, target in project_imports(path)
        if not target.startswith(DEVKIT)
        and (target_floor := floor(target)) is not None
        and (target_floor > here or (target_floor == here and target.split(".")[0] != own))
    ]
    assert not upward, f"{_ids(path)} (floor {here}) imports upward or sideways: {upward}"


@pytest.mark.parametrize("path", _production_sources(), ids=_ids)
def test_production_never_imports_the_dev_kit(path: Path) -> None:
    name = module_name(path)
    found = [f"{line}: {statement}" for line, statement, names in
             imported_names(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
             if any(n == DEVKIT or n.startswith(DEVKIT + ".") for n in names)]
    assert not found, f"{_ids(path)} imports the development kit: {found}"


@pytest.mark.parametrize("package", WITHOUT_SERVICE_LIBRARIES)
def test_the_ground_and_the_engines_know_no_web_sql_or_queue(package: str) -> None:
    found = []
    for name, path in modules().items():
        if name.split(".")[0] != package:
            continue
        for line, statement, names in imported_names(path.read_text(encoding="utf-8"), name):
            if any(n.split(".")[0] in SERVICE_LIBRARIES for n in names):
                found.append(f"{_ids(path)}:{line}: {statement}")
    assert not found, found


def test_no_module_imports_itself_back() -> None:
    graph = {name: {t for _, _, t in project_imports(path)} for name, path in modules().items()}
    cycles = strongly_connected(graph)
    assert not cycles, f"import cycles: {cycles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (iterative: no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import devkit", id="import"),
        pytest.param("import devkit.devpki as pki", id="import-submodule"),
        pytest.param("from devkit import devpki", id="from-package"),
        pytest.param("from devkit.softhsm import SoftHSMError", id="from-submodule"),
        pytest.param("def f():\n    from devkit.devsetup import DevEnvironment\n", id="in-function"),
        pytest.param("class C:\n    def m(self):\n        import devkit.cli\n", id="in-method"),
        pytest.param("try:\n    import devkit\nexcept ImportError:\n    pass\n", id="in-try"),
        pytest.param("import importlib\nimportlib.import_module('devkit.cli')\n", id="import-module-literal"),
        pytest.param("__import__('devkit')\n", id="dunder-import-literal"),
        pytest.param("from .. import devkit", id="relative-past-top-level"),
    ],
)
def test_the_scan_catches_every_form_of_import(source: str) -> None:
    names = [n for _, _, found in imported_names(source, "pakat.terminal") for n in found]
    assert any(n == DEVKIT or n.startswith(DEVKIT + ".") for n in names), source


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('LAZY = {"devpki": ("devkit.cli", "devpki")}', id="cli-registration-by-name"),
        pytest.param("import importlib\nimportlib.import_module(module_name)\n", id="import-module-variable"),
        pytest.param("from hsm_config.deployment import Deployment", id="production-import"),
        pytest.param("import devkitten", id="name-prefix"),
        # Inside the pakat package this is pakat.devkit, not the dev kit.
        pytest.param("from . import devkit", id="relative-sibling"),
    ],
)
def test_the_scan_leaves_other_code_alone(source: str) -> None:
    names = [n for _, _, found in imported_names(source, "pakat.terminal") for n in found]
    assert not any(n == DEVKIT or n.startswith(DEVKIT + ".") for n in names), source


def test_an_upward_import_is_caught() -> None:
    assert floor("envelopes.jobs") == 6 and floor("envelopes.tenders") == 4 and floor("pakat.__main__") == 8
    assert _targets(["web", "web.errors"]) == {"web.errors"}
    assert _targets(["envelopes.services", "envelopes.services.Services"]) == {"envelopes.services"}
