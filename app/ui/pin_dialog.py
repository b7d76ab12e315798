"""The named person's PIN, asked before an approval or an exception is recorded ([12].8)."""

from __future__ import annotations

from app.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


class PinDialog(QDialog):
    """Asks ``name``'s PIN (hidden as typed); use :meth:`ask`."""

    def __init__(self, parent: QWidget | None, name: str, purpose: str) -> None:
        super().__init__(parent)
        self.setObjectName("pinDialog")
        self.setWindowTitle("Confirm who you are")
        layout = QVBoxLayout(self)
        text = QLabel(f"To {purpose} as {name}, {name} enters their PIN. The audit log "
                      "records that it was proved by PIN.")
        text.setWordWrap(True)
        layout.addWidget(text)
        form = QFormLayout()
        self.pin_edit = QLineEdit()
        self.pin_edit.setObjectName("pinEdit")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setAccessibleName(f"{name}'s PIN")
        form.addRow(f"{name}'s &PIN", self.pin_edit)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @classmethod
    def ask(cls, parent: QWidget | None, name: str, purpose: str) -> str | None:
        """Show the dialog modally; the PIN, or None if cancelled (tests monkeypatch this)."""
        dialog = cls(parent, name, purpose)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                return dialog.pin_edit.text()
            return None
        finally:
            dialog.deleteLater()
