"""The questions the deploy wizard asks (tests replace these functions on this module)."""

from __future__ import annotations

from app.core.deployment import Deployment, Target
from app.ui import dialogs
from app.ui.qt import QInputDialog, QWidget


def ask_override_reason(parent: QWidget | None, target: Target) -> str | None:
    """Ask why a host that failed pre-flight should take part anyway; None if cancelled."""
    text, ok = QInputDialog.getText(
        parent, "Override pre-flight",
        f"{target.label} failed pre-flight:\n" + "\n".join(f"• {p}" for p in target.preflight)
        + "\n\nWhy should it take part anyway? (recorded in the audit log)")
    return text.strip() if ok and text.strip() else None


def ask_master_password(parent: QWidget | None, error: str = "") -> str | None:
    """Ask for the vault's master password before planning (pre-flight connects to every
    host with the stored credentials); None if cancelled."""
    return dialogs.MasterPasswordDialog.ask(parent, create=False, error=error)


def confirm_rollback(parent: QWidget | None, dep: Deployment) -> bool:
    """Ask before rolling back a whole deployment from the wizard."""
    return dialogs.confirm(parent, "Roll back deployment",
                           f"Roll back deployment {dep.id}? The versions recorded before "
                           "installing are restored on every host that was changed.")


def ask_export_path(parent: QWidget | None, kind: str, suggested: str) -> str | None:
    """Ask where to export (``kind`` is ``csv`` or ``json``); None if cancelled."""
    filters = "CSV files (*.csv)" if kind == "csv" else "JSON files (*.json)"
    return dialogs.ask_save_file(parent, f"Export deployment ({kind.upper()})",
                                 filters + ";;All files (*)", suggested)
