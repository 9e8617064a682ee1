"""Production code never imports the development kit (``devkit``).

Read from the source with :mod:`ast`, not by importing it: a runtime check
would only see the imports that ran, and would miss one tucked inside a
function. The ``pakat devpki`` command is registered in the CLI by module name
(a string handed to importlib when that command runs), which is not an import
statement and is what keeps ``devkit`` optional for a production install.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_PACKAGES = ("pakat", "signer", "validation", "envelopes", "web", "agent", "hsm_config")
DEVKIT = "devkit"
# Literal-string forms of an import; the CLI's lazy registration passes a variable, not a literal.
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def _module_name(path: Path) -> str:
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


def _is_devkit(name: str) -> bool:
    return name == DEVKIT or name.startswith(DEVKIT + ".")


def devkit_imports(source: str, importer: str, is_package: bool = False) -> list[str]:
    """Every import of ``devkit`` in ``source``, as ``line: statement``, at any depth."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(node.module, node.level, importer, is_package)
                if node.level
                else node.module or ""
            )
            # `from . import devkit` names a module too, not only the `from` part.
            names = [base, *(f"{base}.{alias.name}" if base else alias.name for alias in node.names)]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                called in DYNAMIC_IMPORTERS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                names = [first.value]
        if any(_is_devkit(name) for name in names):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _production_sources() -> list[Path]:
    return sorted(path for package in PRODUCTION_PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_every_production_package_has_sources() -> None:
    # A renamed or moved package would otherwise leave this check looking at nothing.
    for package in PRODUCTION_PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), package
    assert not (ROOT / "hsm_config" / "devpki.py").exists(), "the dev kit moved to devkit/"


@pytest.mark.parametrize(
    "path", _production_sources(), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_production_module_does_not_import_devkit(path: Path) -> None:
    found = devkit_imports(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")
    assert not found, f"{path.relative_to(ROOT)} imports the development kit: {found}"


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
    assert devkit_imports(source, "pakat.cli"), source


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
    assert not devkit_imports(source, "pakat.cli"), source
