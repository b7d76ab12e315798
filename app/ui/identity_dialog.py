"""The identity conflicts dialog of the Inventory page ([12].5): each conflict names the
host that reported a MAC address (A) and the asset that had it (B); a person keeps A, B or
both, optionally merging the other's details into the one kept. The decision goes to
:meth:`app.services.identity.IdentityService.resolve` (audited)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.core.identity import Keep
from app.ui.qt import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    Qt,
    QVBoxLayout,
    QWidget,
)

#: The resolver: (conflict id, keep, merge) → starts the change (the page's write).
Resolver = Callable[[int, Keep, bool], None]


def conflict_text(row: dict[str, Any]) -> str:
    """One conflict in a line: its MAC address, A and B."""
    return (f"#{row['id']}: {row['mac']} reported by A = {row['claimed_by_label']} "
            f"(#{row['claimed_by']}); B = {row['owner_label']} (#{row['owner']}) had it")


class IdentityConflictsDialog(QDialog):
    """Lists the open identity conflicts and resolves the one chosen."""

    def __init__(self, conflicts: Sequence[dict[str, Any]], resolve: Resolver,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("identityConflictsDialog")
        self.setWindowTitle("Identity conflicts")
        self.resolve = resolve
        intro = QLabel(
            "A host reported a MAC address another asset already has. Both records were "
            "kept. Decide which record is the machine: A (the host that reported the "
            "address; B is deleted), B (the asset that had it; A is deleted), or both (two "
            "machines; B keeps the address). Every decision is in the audit log.")
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("identityConflictList")
        self.list.setAccessibleName("Identity conflicts")
        for row in conflicts:
            item = QListWidgetItem(conflict_text(row))
            item.setData(Qt.ItemDataRole.UserRole, int(row["id"]))
            self.list.addItem(item)
        self.keep_a = QRadioButton("Keep &A (delete B)")
        self.keep_b = QRadioButton("Keep &B (delete A)")
        self.keep_both = QRadioButton("Keep b&oth: two machines")
        self.keep_both.setChecked(True)
        self.merge = QCheckBox("&Merge the deleted record's details into the one kept")
        self.keep_both.toggled.connect(lambda on: self.merge.setEnabled(not on))
        self.merge.setEnabled(False)
        choices = QHBoxLayout()
        for button in (self.keep_a, self.keep_b, self.keep_both):
            choices.addWidget(button)
        self.resolve_button = QPushButton("&Resolve")
        self.resolve_button.setObjectName("identityResolve")
        self.resolve_button.clicked.connect(self._on_resolve_clicked)
        self.list.currentRowChanged.connect(
            lambda row: self.resolve_button.setEnabled(row >= 0))
        self.list.setCurrentRow(0 if conflicts else -1)
        self.resolve_button.setEnabled(bool(conflicts))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.resolve_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addLayout(choices)
        layout.addWidget(self.merge)
        layout.addWidget(buttons)
        self.resize(640, 360)

    def keep(self) -> Keep:
        """The choice made."""
        if self.keep_a.isChecked():
            return Keep.A
        return Keep.B if self.keep_b.isChecked() else Keep.BOTH

    def _on_resolve_clicked(self) -> None:
        if self.list.currentRow() < 0:
            return
        item = self.list.currentItem()
        keep = self.keep()
        self.resolve(int(item.data(Qt.ItemDataRole.UserRole)), keep,
                     self.merge.isChecked() and keep is not Keep.BOTH)
        self.list.takeItem(self.list.row(item))
        if self.list.count() == 0:
            self.accept()
