"""The layering rules of DESIGN.md §4, checked on the import statements of ``app/``.

* Only ``app/ui`` imports Qt (PySide6), and inside it only ``app/ui/qt.py`` does.
* ``app/core`` is pure: it imports neither the store, the UI, the services nor I/O modules.
* ``app/ui`` and ``app/cli`` (the shells) import only ``app.services``, ``app.core`` and
  (for the UI) ``app.ui``, and never touch the facade's ``store``, ``remote`` or
  ``deployer``: ``service.deployments`` and ``service.credentials`` are the doors.
* ``app/reports`` renders what it is handed: it imports neither the services, the shells
  nor a store repository.
* Only ``app/services`` (and the engine itself) import the engine, the transports, the
  discovery and the drivers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "qtpy")
IO_MODULES = ("sqlite3", "sqlite_utils", "socket", "subprocess", "asyncio", "ssl", "http",
              "urllib", "requests", "paramiko", "winrm", "shutil")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else \
        _module_name(path)
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str) -> list[str]:
    """Absolute names of every module (and imported name) a source file imports."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append(module)
            found.extend(f"{module}.{alias.name}" for alias in node.names)
    return found


def _hits(imports: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted({m for m in imports for p in prefixes if m == p or m.startswith(p + ".")})


#: Names of the ``app`` package itself that anyone may import.
APP_TOP_NAMES = ("app.__version__", "app.APP_NAME")
#: What the shells may import of ``app`` (besides :data:`APP_TOP_NAMES`).
SHELL_ALLOWED = {"app.cli": ("app.services", "app.core", "app.cli"),
                 "app.ui": ("app.services", "app.core", "app.ui")}
#: The ``gui`` command starts the desktop application: the one hop from shell to shell.
SHELL_EXCEPTIONS = {"app.cli.site": ("app.ui.main",)}
#: Packages only the services may import (the engine also imports the others).
BEHIND_SERVICES = ("app.deploy", "app.remote", "app.discovery", "app.drivers")
ALLOWED_BEHIND = {"app.deploy": ("app.remote", "app.drivers"),
                  "app.remote": ("app.remote",), "app.discovery": ("app.discovery",),
                  "app.drivers": ("app.drivers", "app.remote")}
#: Facade attributes no shell may touch.
FACADE_INTERNALS = ("store", "remote", "deployer")


def _package(name: str) -> str:
    return ".".join(name.split(".")[:2])


def layer_problems(name: str, source: str, package: str | None = None) -> list[str]:
    """Every layering rule ``source`` (the module ``name``) breaks, one line each."""
    if package is None:
        package = name.rsplit(".", 1)[0]
    imports = _imports_in(source, package)
    problems: list[str] = []
    top = _package(name)
    if top in SHELL_ALLOWED:
        own = [m for m in imports if m.startswith("app.") and m not in APP_TOP_NAMES]
        allowed = SHELL_ALLOWED[top] + SHELL_EXCEPTIONS.get(name, ())
        bad = sorted({m for m in own if not any(m == a or m.startswith(a + ".")
                                               for a in allowed)})
        if bad:
            problems.append(f"{name} (a shell) imports {bad}; go through app.services")
        touched = sorted({node.attr for node in ast.walk(ast.parse(source))
                          if isinstance(node, ast.Attribute) and node.attr in FACADE_INTERNALS})
        if touched:
            problems.append(f"{name} (a shell) touches .{', .'.join(touched)} of the facade; "
                            "use service.deployments / service.credentials")
    if top == "app.reports":
        bad = _hits(imports, ("app.services", "app.ui", "app.cli", *BEHIND_SERVICES))
        bad += sorted({m for m in _hits(imports, ("app.store",))
                       if m.endswith(("Repo", "SiteDB", ".db"))})
        if bad:
            problems.append(f"{name} (reports render what they are handed) imports {bad}")
    if top not in ("app.services", *SHELL_ALLOWED):
        behind = [p for p in BEHIND_SERVICES if p != top and p not in
                  ALLOWED_BEHIND.get(top, ())]
        bad = _hits(imports, tuple(behind))
        if bad:
            problems.append(f"{name} imports {bad}; only app.services may")
    return problems


SOURCES = sorted(APP.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(APP)))
def test_layering(path: Path) -> None:
    name = _module_name(path)
    imports = _imports(path)
    in_ui = name == "app.ui" or name.startswith("app.ui.")
    qt = _hits(imports, QT_MODULES)
    if not in_ui:
        assert not qt, f"{name} imports Qt ({qt}); only app/ui may"
    elif name != "app.ui.qt":
        assert not qt, f"{name} imports Qt directly ({qt}); import it from app.ui.qt"
    if name.startswith("app.core"):
        bad = _hits(imports, ("app.store", "app.ui", "app.services", "app.cli", "app.remote",
                              "app.discovery", "app.deploy", "app.drivers", "app.reports",
                              *IO_MODULES))
        assert not bad, f"{name} (core must be pure) imports {bad}"
    if in_ui:
        bad = _hits(imports, ("app.store", "sqlite3", "sqlite_utils"))
        assert not bad, f"{name} (ui) imports {bad}; go through app.services"
    assert not layer_problems(name, path.read_text(encoding="utf-8"),
                              name if path.name == "__init__.py" else None)


def test_the_checker_sees_violations() -> None:
    source = (
        "from PySide6.QtCore import Qt\n"
        "import sqlite3\n"
        "from ..store import db\n"
        "def f():\n    import subprocess\n"
    )
    found = _imports_in(source, "app.core")
    assert "PySide6.QtCore" in _hits(found, QT_MODULES)
    assert _hits(found, IO_MODULES) == ["sqlite3", "subprocess"]
    assert "app.store.db" in _hits(found, ("app.store",))


GOOD_SHELL = (
    "from app.core.models import Asset\n"
    "from app.services import SiteService\n"
    "from app.services.reports import generate\n"
    "def f(service):\n    return service.deployments.run(1), service.credentials.unlocked\n"
)


@pytest.mark.parametrize("name", ["app.cli.deploy", "app.ui.deploy_wizard"])
def test_the_layer_checker_accepts_a_shell_that_goes_through_the_services(name: str) -> None:
    assert layer_problems(name, GOOD_SHELL) == []


@pytest.mark.parametrize(("name", "line", "expected"), [
    ("app.cli.scan", "from app.discovery import local_subnets", "app.discovery"),
    ("app.cli.creds", "from app.remote.ssh import fetch_host_key", "app.remote.ssh"),
    ("app.cli.scan", "from app.store.scans import ScanRecord", "app.store.scans"),
    ("app.ui.reports_page", "from app.reports.report import ReportResult", "app.reports"),
    ("app.ui.credentials", "import app.remote.vault", "app.remote.vault"),
    ("app.ui.pages", "def f(service):\n    return service.deployer.run(1)", ".deployer"),
    ("app.cli.creds", "def f(service):\n    return service.remote.lock()", ".remote"),
    ("app.ui.priorities", "def f(s):\n    with s.store.atomic():\n        pass", ".store"),
    ("app.reports.data", "from app.services import SiteService", "app.services"),
    ("app.reports.report", "from app.store.reports import ReportRepo", "ReportRepo"),
    ("app.store.repos", "from app.drivers.registry import assess_host", "app.drivers"),
    ("app.deploy.engine", "from app.discovery import scan", "app.discovery"),
])
def test_the_layer_checker_fails_on_a_forbidden_import(name: str, line: str,
                                                        expected: str) -> None:
    problems = layer_problems(name, GOOD_SHELL * name.startswith(("app.cli", "app.ui"))
                              + line + "\n")
    assert problems, f"{line!r} in {name} was not caught"
    assert expected in " ".join(problems)


def test_the_checker_catches_an_io_import_in_core() -> None:
    found = _imports_in("import socket\nfrom app.core import models\n", "app.core")
    assert _hits(found, IO_MODULES) == ["socket"]
