"""The wizard's choice of execution engine: PatchDesk's own, or Ansible when it is
installed (the extra ``.[ansible]``), each with what it does, and the playbooks Ansible
would run, shown before anything runs. Hidden when Ansible is not installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.ui.qt import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFont,
    QGroupBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from app.ui.widgets import plain_label

if TYPE_CHECKING:
    from app.services.deployments import DeploymentService

LABELS = {"builtin": "&PatchDesk (built-in)", "ansible": "&Ansible (ansible-runner)"}


class EngineChoice(QGroupBox):
    """Radio buttons for the engines, their descriptions and "Show the playbooks…".

    Args:
        deployments: the site's deployment service (engines, playbooks).
        specs: the chosen patches ("name" or "name=version"), asked when the playbooks
            are shown.
        parent: the page whose layout it joins at the foot.
    """

    def __init__(self, deployments: DeploymentService, specs: Callable[[], Sequence[str]],
                 parent: QWidget | None = None) -> None:
        super().__init__("Who runs the deployment", parent)
        self.setObjectName("engineChoice")
        self.deployments = deployments
        self.specs = specs
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        layout = QVBoxLayout(self)
        for kind, text in deployments.engines().items():
            button = QRadioButton(LABELS.get(kind, kind))
            button.setObjectName(f"engine_{kind}")
            button.setChecked(kind == "builtin")
            self.group.addButton(button)
            self.buttons[kind] = button
            layout.addWidget(button)
            layout.addWidget(plain_label(text, name=f"engineText_{kind}"))
        self.playbooks_button = QPushButton("Show the &playbooks…")
        self.playbooks_button.setObjectName("showPlaybooks")
        self.playbooks_button.clicked.connect(self.show_playbooks)
        self.buttons["ansible"].toggled.connect(self.playbooks_button.setEnabled)
        self.playbooks_button.setEnabled(False)
        layout.addWidget(self.playbooks_button)
        layout.addWidget(plain_label("A deployment that is resumed keeps the engine that "
                                     "started it.", name="engineResumeNote"))
        self.chosen = False  # the user picked one (else: the engine that ran it before)
        self.group.buttonClicked.connect(lambda _b: setattr(self, "chosen", True))
        self.setVisible(not deployments.engine_problem("ansible"))
        below = parent.layout() if parent is not None else None
        if below is not None:  # at the foot of the page it is given (the schedule page)
            below.addWidget(self)

    def kind(self) -> str:
        """The engine the user chose; "" when they did not choose (a resumed deployment
        keeps its engine, a new one runs on the built-in engine)."""
        if not self.chosen:
            return ""
        return next((k for k, b in self.buttons.items() if b.isChecked()), "")

    def show_playbooks(self) -> None:
        """The playbooks Ansible would run, one tab each (plain text, read-only)."""
        shown = self.deployments.playbooks(specs=list(self.specs()))
        dialog = QDialog(self)
        dialog.setObjectName("playbooksDialog")
        dialog.setWindowTitle("Playbooks Ansible runs for this deployment")
        dialog.resize(820, 560)
        tabs = QTabWidget(dialog)
        for name, text in shown.items():
            view = QPlainTextEdit()
            view.setReadOnly(True)
            view.setPlainText(text)
            view.setFont(QFont("monospace"))
            view.setObjectName(f"playbook_{name.split()[0]}")
            tabs.addTab(view, name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(plain_label("Values (hosts, versions, commands) come from each "
                                     "host's variables and are never evaluated; keys and "
                                     "passwords are handed to ansible-runner, never written "
                                     "into these files."))
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        dialog.open()
