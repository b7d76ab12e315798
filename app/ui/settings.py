"""Per-user GUI settings (window layout, recent sites) stored with QSettings.

``PATCHDESK_CONFIG_DIR`` redirects them to an INI file in that folder, which the tests use
to keep each run's settings in a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from app import APP_NAME
from app.ui.qt import QSettings

MAX_RECENT = 8
ORG_NAME = APP_NAME


def app_settings() -> QSettings:
    """The settings store (INI file under ``$PATCHDESK_CONFIG_DIR`` when that is set)."""
    folder = os.environ.get("PATCHDESK_CONFIG_DIR")
    if folder:
        return QSettings(str(Path(folder) / f"{APP_NAME}.ini"), QSettings.Format.IniFormat)
    return QSettings(ORG_NAME, APP_NAME)


def _as_list(value: object) -> list[str]:
    # QSettings returns a str for a one-element list in INI files, None when unset.
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return []


def recent_sites(*, prune: bool = True) -> list[str]:
    """Recently opened site files, newest first; files that no longer exist are dropped."""
    settings = app_settings()
    paths = _as_list(settings.value("recent_sites"))
    if prune:
        kept = [p for p in paths if Path(p).is_file()]
        if kept != paths:
            settings.setValue("recent_sites", kept)
        paths = kept
    return paths[:MAX_RECENT]


def add_recent_site(path: Path | str) -> list[str]:
    """Put a site at the top of the recent list (at most :data:`MAX_RECENT` kept)."""
    text = str(Path(path).expanduser().resolve())
    paths = [p for p in recent_sites(prune=False) if p != text]
    paths = [text, *paths][:MAX_RECENT]
    app_settings().setValue("recent_sites", paths)
    return paths


def clear_recent_sites() -> None:
    """Forget every recent site."""
    app_settings().remove("recent_sites")
