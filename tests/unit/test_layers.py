"""The layering rules of DESIGN.md §4, checked on the import statements of ``app/``.

* Only ``app/ui`` imports Qt (PySide6), and inside it only ``app/ui/qt.py`` does.
* ``app/core`` is pure: it imports neither the store, the UI, the services nor I/O modules.
* ``app/ui`` does not reach into the store; it goes through the services.
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
