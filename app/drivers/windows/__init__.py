"""The PowerShell scripts of the Windows driver, loaded from package data with their hashes.

Each ``*.ps1`` here is readable and reviewable, starts with ``# PatchDesk script: NAME`` and
prints exactly one JSON document. Parameters are never interpolated into script text: a
first line ``$PatchDeskArgs = '<base64 JSON>'`` is prepended (base64 has no quote
characters), and the script decodes it (tech-notes §6.5).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

SCRIPTS = ("facts", "installed_updates", "installed_software", "pending_reboot",
           "wua_task", "wua_worker", "deploy_state", "reboot")
_MARKER = re.compile(r"^# PatchDesk script: ([a-z_]+)$")
ARGS_LINE = "$PatchDeskArgs = '{}'\n"


@dataclass(frozen=True, slots=True)
class WindowsScript:
    """One script: its name (the marker), text (LF line ends) and SHA-256 of that text."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the UTF-8 text: what the lab endpoint and reviewers pin."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@cache
def script(name: str) -> WindowsScript:
    """Load one script by name.

    Raises:
        ValueError: unknown name, or the file's marker line does not name it.
    """
    if name not in SCRIPTS:
        raise ValueError(f"no Windows script named {name!r}")
    text = resources.files("app.drivers.windows").joinpath(f"{name}.ps1").read_text(
        encoding="utf-8").replace("\r\n", "\n")
    marker = _MARKER.match(text.split("\n", 1)[0])
    if marker is None or marker.group(1) != name:
        raise ValueError(f"{name}.ps1 does not start with '# PatchDesk script: {name}'")
    return WindowsScript(name, text)


def with_args(item: WindowsScript, args: Mapping[str, Any] | None = None) -> str:
    """The script text to send, with its parameters as a base64 JSON first line."""
    if not args:
        return item.text
    blob = base64.b64encode(json.dumps(dict(args), separators=(",", ":"),
                                       ensure_ascii=True).encode("utf-8")).decode("ascii")
    return ARGS_LINE.format(blob) + item.text
