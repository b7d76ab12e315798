"""The smaller pages of the main window: site settings and placeholders (the dashboard,
:mod:`app.ui.dashboard`, and the audit log, :mod:`app.ui.audit_page`, are re-exported here).

Each page loads its own data (see :class:`app.ui.page.Page`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.core.errors import FieldError, ValidationError
from app.core.models import Site
from app.ui import dialogs
from app.ui.audit_page import AuditPage
from app.ui.dashboard import DashboardPage, RiskOverview, risk_overview
from app.ui.page import Page
from app.ui.qt import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskError
from app.ui.widgets import form_row, page_header, plain_label

if TYPE_CHECKING:
    pass

__all__ = ["AuditPage", "DashboardPage", "PlaceholderPage", "RiskOverview", "SiteSettingsPage",
           "risk_overview"]

LOGO_FILTER = "Images (*.png *.jpg *.jpeg *.svg);;All files (*)"


class PlaceholderPage(QWidget):
    """An honest page for a workflow that is not built yet."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"placeholder_{title.lower()}")
        header, _sub = page_header(title)
        body = plain_label(text)
        body.setObjectName("placeholderText")
        body.setMaximumWidth(640)
        note = plain_label("Not available in this version yet.", role="muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addSpacing(8)
        layout.addWidget(body)
        layout.addWidget(note)
        layout.addStretch(1)


class SiteSettingsPage(Page):
    """Edit the site's name, client, address, MSP name and logo."""

    save_requested = Signal(dict)
    #: Per-site settings changed (``monitor_hours``, ``stale_days``).
    settings_save_requested = Signal(dict)
    browse_logo_requested = Signal()
    #: The site's identity was saved (the stored :class:`Site`).
    site_saved = Signal(object)
    #: The monitoring settings were saved (all the site's settings).
    settings_saved = Signal(dict)

    FIELDS = (
        ("name", "Site &name", "how this site is called in the app and on reports"),
        ("client", "&Client", "the customer (for MSPs)"),
        ("address", "&Address", "street, city — printed on reports"),
        ("msp_name", "&MSP / IT provider", "your company, printed on reports"),
        ("logo_path", "&Logo file", "PNG or SVG shown on reports"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("siteSettingsPage")
        header, self.subtitle = page_header(
            "Site settings", "Identity and branding of this site, used on reports."
        )
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._site: Site | None = None
        self._path = ""
        for key, label, hint in self.FIELDS:
            edit = QLineEdit()
            edit.setObjectName(f"site_{key}")
            edit.setAccessibleName(label.replace("&", ""))
            edit.setPlaceholderText(hint)
            edit.textChanged.connect(self._on_edited)
            self.edits[key] = edit
            error = plain_label(role="field-error")
            error.hide()
            self.errors[key] = error
            box = QVBoxLayout()
            box.setSpacing(2)
            if key == "logo_path":
                row = QHBoxLayout()
                row.addWidget(edit, 1)
                browse = QPushButton("Browse…")
                browse.clicked.connect(self.browse_logo_requested.emit)
                row.addWidget(browse)
                box.addLayout(row)
            else:
                box.addWidget(edit)
            box.addWidget(error)
            form_row(form, label, box, edit)
        self.path_label = plain_label(role="muted")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Site file", self.path_label)
        self._settings: dict[str, object] = {}
        self.monitor_spin = QSpinBox()
        self.monitor_spin.setObjectName("site_monitor_hours")
        self.monitor_spin.setAccessibleName("Check every N hours")
        self.monitor_spin.setRange(0, 24 * 7)
        self.monitor_spin.setSpecialValueText("off")
        self.monitor_spin.setSuffix(" hours")
        self.monitor_spin.valueChanged.connect(lambda _v: self._on_edited(""))
        self.stale_spin = QSpinBox()
        self.stale_spin.setObjectName("site_stale_days")
        self.stale_spin.setAccessibleName("Assessment stale after N days")
        self.stale_spin.setRange(1, 365)
        self.stale_spin.setSuffix(" days")
        self.stale_spin.valueChanged.connect(lambda _v: self._on_edited(""))
        monitor_form = QFormLayout()
        monitor_form.addRow(plain_label("Monitoring", role="section"))
        monitor_form.addRow(plain_label(
            "While PatchDesk is open it repeats the last network scan and, with the "
            "credential vault unlocked, the deep scans, then notifies you of new missing "
            "updates, new devices, overdue updates and new known-exploited matches.",
            role="muted"))
        monitor_form.addRow("&Check every", self.monitor_spin)
        monitor_form.addRow("Assessment &stale after", self.stale_spin)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("siteSave")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self._on_revert_clicked)
        self.status = plain_label(role="muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.status, 1)
        holder = QWidget()
        holder.setMaximumWidth(720)
        inner = QVBoxLayout(holder)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(form)
        inner.addLayout(monitor_form)
        inner.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addWidget(holder)
        layout.addStretch(1)
        self._update_buttons()
        for edit in self.edits.values():
            edit.returnPressed.connect(self._on_save_clicked)
        self.save_requested.connect(self.save_site)
        self.settings_save_requested.connect(self.save_settings)
        self.browse_logo_requested.connect(self._on_browse_logo)

    def save_site(self, changes: dict[str, str]) -> None:
        """Save the edits of the site's identity."""
        service = self.service
        if service is None:
            return

        def done(site: Site) -> None:
            self.site_saved.emit(site)
            self.set_status("Saved.")

        def failed(error: TaskError) -> None:
            if isinstance(error.exception, ValidationError):
                self.show_errors(error.exception.errors)
            elif self.runner is not None:
                self.runner.unhandled_error.emit(error)

        self.write("site", lambda: service.update_site(**changes), done, failed)

    def save_settings(self, changes: dict[str, Any]) -> None:
        """Save the monitoring settings."""
        service = self.service
        if service is None:
            return

        def done(settings: dict[str, Any]) -> None:
            self.set_settings(settings)
            self.set_status("Saved.")
            self.settings_saved.emit(settings)

        self.write("site settings", lambda: service.update_settings(**changes), done)

    def _on_browse_logo(self) -> None:
        folder = str(self.service.path.parent) if self.service else ""
        path = dialogs.ask_open_file(self, "Choose logo", LOGO_FILTER, folder)
        if path:
            self.edits["logo_path"].setText(path)

    def set_site(self, site: Site | None, path: str = "") -> None:
        """Show a site's values (discarding unsaved edits)."""
        self._site = site
        self._path = path
        for key, edit in self.edits.items():
            edit.blockSignals(True)
            edit.setText(getattr(site, key) if site else "")
            edit.blockSignals(False)
        self.path_label.setText(path)
        self.show_errors([])
        self._update_buttons()

    def set_settings(self, settings: dict[str, object]) -> None:
        """Show the per-site monitoring settings (discarding unsaved edits)."""
        from app.ui.monitor import monitor_hours, stale_days

        self._settings = dict(settings)
        for spin, value in ((self.monitor_spin, int(monitor_hours(self._settings))),
                            (self.stale_spin, stale_days(self._settings))):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._update_buttons()

    def settings_changes(self) -> dict[str, int]:
        """Monitoring settings that differ from the saved ones."""
        from app.ui.monitor import MONITOR_HOURS, STALE_DAYS, monitor_hours, stale_days

        if self._site is None:
            return {}
        out: dict[str, int] = {}
        if self.monitor_spin.value() != int(monitor_hours(self._settings)):
            out[MONITOR_HOURS] = self.monitor_spin.value()
        if self.stale_spin.value() != stale_days(self._settings):
            out[STALE_DAYS] = self.stale_spin.value()
        return out

    def _on_revert_clicked(self) -> None:
        self.set_site(self._site, self._path)
        self.set_settings(self._settings)

    def changes(self) -> dict[str, str]:
        """Fields whose text differs from the saved site."""
        if self._site is None:
            return {}
        return {
            key: edit.text().strip() for key, edit in self.edits.items()
            if edit.text().strip() != getattr(self._site, key)
        }

    def show_errors(self, errors: Sequence[FieldError]) -> None:
        """Show validation errors under their fields."""
        by_key = {e.field: e.message for e in errors}
        for key, label in self.errors.items():
            label.setText(by_key.get(key, ""))
            label.setVisible(key in by_key)
        self.status.setText("")

    def set_status(self, text: str) -> None:
        """A short note next to the buttons (e.g. 'Saved')."""
        self.status.setText(text)

    def _on_edited(self, _text: str) -> None:
        self.status.setText("")
        self._update_buttons()

    def _update_buttons(self) -> None:
        dirty = bool(self.changes()) or bool(self.settings_changes())
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    def _on_save_clicked(self) -> None:
        changes = self.changes()
        if changes:
            self.save_requested.emit(changes)
        settings = self.settings_changes()
        if settings:
            self.settings_save_requested.emit(settings)
