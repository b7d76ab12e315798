"""The dialog to add or edit one asset, with every field grouped and validated inline.

Validation is the domain's own: the dialog builds an :class:`Asset` and calls
``normalized()``; each :class:`FieldError` is shown in red under the field it is about and
the dialog stays open. IP and MAC fields are also checked as the user types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.core.errors import FieldError, ValidationError
from app.core.models import Asset, AssetKind, DataSensitivity, Impact, OsFamily, Ring
from app.core.validate import normalize_ip, normalize_mac, parse_date, split_list
from app.ui.models import enum_label, os_family_label
from app.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    Qt,
    QVBoxLayout,
    QWidget,
)
from app.ui.widgets import plain_label

#: FieldError.field names (from the domain and CSV records) → the dialog's field keys.
_FIELD_ALIASES = {"ip": "ips", "mac": "macs", "os": "os_name"}




def _set_invalid(widget: QWidget, invalid: bool) -> None:
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


def _enum_combo(values: list[tuple[str, object]], name: str) -> QComboBox:
    combo = QComboBox()
    combo.setAccessibleName(name)
    for label, value in values:
        combo.addItem(label, value)
    return combo


#: The criticality questionnaire: (key, question, one line of help). The answers feed the
#: risk score (``app.core.risk``): impact, sensitive data, operations and exposure.
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("impact", "If it stopped working, how bad would that be?",
     "Think of a working day without it: who is stuck, and what is lost or late?"),
    ("data", "Which sensitive data does it store or process?",
     "Personal: names, HR or customer records. Health: patient records. Payment: card data."),
    ("operations", "Does it run critical operations?",
     "Production, safety, finance or anything with a legal deadline depends on it."),
    ("public", "Do people outside the organisation use a service on it?",
     "A website, web shop, webmail, customer portal or a partner interface."),
    ("internet", "Can it be reached from the internet?",
     "A public address, a forwarded port, or a VPN / remote-desktop gateway."),
)

IMPACT_LABELS = {Impact.NONE: "None — nobody would notice",
                 Impact.LOW: "Low — an inconvenience",
                 Impact.HIGH: "High — a team cannot work",
                 Impact.CRITICAL: "Critical — the business stops"}


def _help(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setProperty("role", "muted")
    return label


class CriticalityForm(QWidget):
    """The criticality questionnaire: five short questions, each with one line of help.

    With ``mixed`` the form edits several assets at once: the impact list gets a "keep each
    asset's" entry and the boxes are tri-state, where the partial state keeps each value.
    """

    KEEP = "keep"

    def __init__(self, parent: QWidget | None = None, *, mixed: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("criticalityForm")
        self.mixed = mixed
        self.impact = _enum_combo([(IMPACT_LABELS[i], i) for i in Impact], "Impact if down")
        self.impact.setObjectName("impactCombo")
        if mixed:
            self.impact.insertItem(0, "(keep each asset's answer)", self.KEEP)
        self.sensitivity = {
            DataSensitivity.PERSONAL: QCheckBox("Personal data"),
            DataSensitivity.HEALTH: QCheckBox("Health / patient data"),
            DataSensitivity.PAYMENT: QCheckBox("Payment card data"),
        }
        self.critical_operations = QCheckBox("Yes, it runs critical operations")
        self.public_facing = QCheckBox("Yes, it offers a public-facing service")
        self.internet_facing = QCheckBox("Yes, it is reachable from the internet")
        self.boxes = [*self.sensitivity.values(), self.critical_operations, self.public_facing,
                      self.internet_facing]
        for box in self.boxes:
            box.setTristate(mixed)
        answers: dict[str, list[QWidget]] = {
            "impact": [self.impact],
            "data": list(self.sensitivity.values()),
            "operations": [self.critical_operations],
            "public": [self.public_facing],
            "internet": [self.internet_facing],
        }
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for number, (key, question, help_text) in enumerate(QUESTIONS, start=1):
            title = QLabel(f"{number}. {question}")
            title.setTextFormat(Qt.TextFormat.PlainText)
            title.setWordWrap(True)
            title.setProperty("role", "section")
            layout.addWidget(title)
            row = QHBoxLayout()
            row.setContentsMargins(16, 0, 0, 0)
            for widget in answers[key]:
                row.addWidget(widget)
            row.addStretch(1)
            layout.addLayout(row)
            hint = _help(help_text)
            hint.setContentsMargins(16, 0, 0, 0)
            layout.addWidget(hint)
        if mixed:
            layout.addSpacing(6)
            layout.addWidget(_help("A box shown half-checked (▣) keeps each asset's own "
                                   "answer; click it to set the answer for all of them."))

    # -- values ------------------------------------------------------------------------
    def set_asset(self, asset: Asset) -> None:
        """Show one asset's answers."""
        self.set_assets([asset])

    def set_assets(self, assets: Sequence[Asset]) -> None:
        """Show the answers the assets share; differing ones as "keep" (mixed forms)."""
        impacts = {a.impact for a in assets}
        if len(impacts) == 1:
            self.impact.setCurrentIndex(max(self.impact.findData(impacts.pop()), 0))
        elif self.mixed:
            self.impact.setCurrentIndex(0)

        def show(box: QCheckBox, values: set[bool]) -> None:
            if len(values) == 1:
                box.setChecked(values.pop())
            else:
                box.setCheckState(Qt.CheckState.PartiallyChecked)

        for kind, box in self.sensitivity.items():
            show(box, {kind in a.data_sensitivity for a in assets})
        show(self.critical_operations, {a.critical_operations for a in assets})
        show(self.public_facing, {a.public_facing for a in assets})
        show(self.internet_facing, {a.internet_facing for a in assets})

    def apply(self, asset: Asset) -> Asset:
        """The asset with the form's answers (answers left at "keep" keep its own)."""
        changes: dict[str, object] = {}
        impact = self.impact.currentData()
        if impact != self.KEEP:
            changes["impact"] = Impact(impact)
        data = set(asset.data_sensitivity)
        for kind, box in self.sensitivity.items():
            state = box.checkState()
            if state == Qt.CheckState.Checked:
                data.add(kind)
            elif state == Qt.CheckState.Unchecked:
                data.discard(kind)
        changes["data_sensitivity"] = tuple(k for k in DataSensitivity if k in data)
        for name, box in (("critical_operations", self.critical_operations),
                          ("public_facing", self.public_facing),
                          ("internet_facing", self.internet_facing)):
            state = box.checkState()
            if state != Qt.CheckState.PartiallyChecked:
                changes[name] = state == Qt.CheckState.Checked
        return asset.with_changes(**changes)

    def keeps_everything(self) -> bool:
        """Whether no answer is set (a bulk edit would change nothing)."""
        return self.impact.currentData() == self.KEEP and all(
            b.checkState() == Qt.CheckState.PartiallyChecked for b in self.boxes)


class CriticalityDialog(QDialog):
    """Set the criticality of several assets at once. Use :meth:`ask`."""

    def __init__(self, parent: QWidget | None, assets: Sequence[Asset]) -> None:
        super().__init__(parent)
        self.setObjectName("criticalityDialog")
        self.assets = list(assets)
        n = len(self.assets)
        self.setWindowTitle(f"Set criticality — {n} asset{'s' if n != 1 else ''}")
        self.result_assets: list[Asset] = []
        names = ", ".join(a.label for a in self.assets[:6]) + (
            f" and {n - 6} more" if n > 6 else "")
        intro = _help(f"For {names}. The answers raise or lower the risk score of every "
                      "missing update on these assets.")
        self.form = CriticalityForm(mixed=n > 1)
        self.form.set_assets(self.assets)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(f"Apply to {n} asset{'s' if n != 1 else ''}")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addSpacing(4)
        layout.addWidget(self.form)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(560, 0)

    def changed_assets(self) -> list[Asset]:
        """The assets whose answers the form changes."""
        return [new for old in self.assets if (new := self.form.apply(old)) != old]

    def accept(self) -> None:
        """Close with the changed assets in :attr:`result_assets`."""
        self.result_assets = self.changed_assets()
        super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, assets: Sequence[Asset]) -> list[Asset] | None:
        """Show the dialog modally; the changed assets (maybe none), or None if cancelled."""
        dialog = cls(parent, assets)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                return dialog.result_assets
            return None
        finally:
            dialog.deleteLater()


class AssetDialog(QDialog):
    """Create or edit an asset. Use :meth:`ask`."""

    def __init__(self, parent: QWidget | None = None, asset: Asset | None = None) -> None:
        super().__init__(parent)
        self.base = asset or Asset()
        self.result_asset: Asset | None = None
        editing = asset is not None and asset.id is not None
        self.setWindowTitle(f"Edit asset — {asset.label}" if editing and asset else "Add asset")
        self.setObjectName("assetDialog")
        self.fields: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}

        self.general_error = plain_label(role="field-error", hidden=True)
        self.general_error.setObjectName("generalError")

        # -- widgets --------------------------------------------------------------------
        self.hostname = self._line("hostname", "Host name", "e.g. fileserver01.corp.local")
        self.ips = self._line("ips", "IP addresses", "comma-separated, e.g. 10.0.0.5, fe80::1")
        self.macs = self._line("macs", "MAC addresses", "comma-separated, e.g. 00:1a:2b:3c:4d:5e")
        self.os_family = _enum_combo([(os_family_label(f), f) for f in OsFamily], "OS family")
        self.fields["os_family"] = self.os_family
        self.os_name = self._line("os_name", "OS name", "e.g. Ubuntu, Windows Server")
        self.os_version = self._line("os_version", "OS version", "e.g. 22.04, 2022")
        self.os_build = self._line("os_build", "Build / revision", "e.g. 20348.2340, 5.15.0-105")
        self.kind = _enum_combo([(enum_label(k), k) for k in AssetKind], "Kind")
        self.fields["kind"] = self.kind
        self.manufacturer = self._line("manufacturer", "Manufacturer", "e.g. Dell")
        self.model = self._line("model", "Model", "e.g. PowerEdge R650")
        self.serial = self._line("serial", "Serial number", "")
        self.vendor = self._line("vendor", "Vendor", "who sold it")
        self.order_number = self._line("order_number", "Order number", "")
        self.purchase_date = self._line("purchase_date", "Purchase date", "YYYY-MM-DD")
        self.warranty_end = self._line("warranty_end", "Warranty end", "YYYY-MM-DD")
        self.support_contact = self._line(
            "support_contact", "Support contact", "phone, e-mail or contract number"
        )
        self.location = self._line("location", "Location", "e.g. HQ / server room")
        self.owner = self._line("owner", "Owner", "person or team responsible")
        self.tags = self._line("tags", "Tags", "comma-separated, e.g. finance, dmz")
        self.ring = _enum_combo(
            [("(none)" if r == Ring.NONE else enum_label(r), r) for r in Ring], "Ring"
        )
        self.fields["ring"] = self.ring
        self.criticality = CriticalityForm()
        self.impact = self.criticality.impact
        self.fields["impact"] = self.impact
        self.sensitivity = self.criticality.sensitivity
        self.critical_operations = self.criticality.critical_operations
        self.public_facing = self.criticality.public_facing
        self.internet_facing = self.criticality.internet_facing
        self.notes = QPlainTextEdit()
        self.notes.setAccessibleName("Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setPlaceholderText("Anything a colleague should know about this device")
        self.notes.setMinimumHeight(70)
        self.fields["notes"] = self.notes

        # -- layout ---------------------------------------------------------------------
        identity = self._group("Identity && network", [
            ("Host name", "hostname"), ("IP addresses", "ips"), ("MAC addresses", "macs"),
        ])
        os_group = self._group("Operating system", [
            ("Family", "os_family"), ("Name", "os_name"), ("Version", "os_version"),
            ("Build / revision", "os_build"),
        ])
        hardware = self._group("Hardware", [
            ("Kind", "kind"), ("Manufacturer", "manufacturer"), ("Model", "model"),
            ("Serial number", "serial"),
        ])
        purchase = self._group("Purchase && support", [
            ("Vendor", "vendor"), ("Order number", "order_number"),
            ("Purchase date", "purchase_date"), ("Warranty end", "warranty_end"),
            ("Support contact", "support_contact"),
        ])
        ownership = self._group("Ownership", [
            ("Location", "location"), ("Owner", "owner"), ("Tags", "tags"), ("Ring", "ring"),
        ])
        criticality = QGroupBox("Criticality")
        crit_layout = QVBoxLayout(criticality)
        crit_layout.addWidget(self.criticality)
        impact_error = plain_label(role="field-error", hidden=True)
        impact_error.setObjectName("error_impact")
        self.errors["impact"] = impact_error
        crit_layout.addWidget(impact_error)
        notes_group = QGroupBox("Notes")
        notes_layout = QVBoxLayout(notes_group)
        notes_layout.addWidget(self._with_error("notes", self.notes))

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        left = QVBoxLayout()
        for group in (identity, os_group, hardware):
            left.addWidget(group)
        left.addStretch(1)
        right = QVBoxLayout()
        for group in (purchase, ownership):
            right.addWidget(group)
        right.addStretch(1)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        grid.addWidget(criticality, 1, 0, 1, 2)
        grid.addWidget(notes_group, 2, 0, 1, 2)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addWidget(self.general_error)
        body_layout.addLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Save" if editing else "Add")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(self.buttons)
        self.resize(900, 720)

        self.ips.textChanged.connect(lambda _t: self._check_list("ips", normalize_ip))
        self.macs.textChanged.connect(lambda _t: self._check_list("macs", normalize_mac))
        self._fill(self.base)
        self.hostname.setFocus()

    # -- building helpers -------------------------------------------------------------------
    def _line(self, key: str, name: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(key)
        edit.setAccessibleName(name)
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        self.fields[key] = edit
        return edit

    def _with_error(self, key: str, widget: QWidget) -> QWidget:
        label = plain_label(role="field-error", hidden=True)
        label.setObjectName(f"error_{key}")
        self.errors[key] = label
        box = QVBoxLayout()
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(widget)
        box.addWidget(label)
        return self._wrap(box)

    @staticmethod
    def _wrap(layout: QVBoxLayout | QHBoxLayout) -> QWidget:
        holder = QWidget()
        layout.setContentsMargins(0, 0, 0, 0)
        holder.setLayout(layout)
        holder.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        return holder

    def _group(self, title: str, rows: list[tuple[str, str]]) -> QGroupBox:
        group = QGroupBox(title)
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, key in rows:
            form.addRow(label, self._with_error(key, self.fields[key]))
        return group

    # -- values -----------------------------------------------------------------------------
    def _fill(self, a: Asset) -> None:
        self.hostname.setText(a.hostname)
        self.ips.setText(", ".join(a.ips))
        self.macs.setText(", ".join(a.macs))
        self._select(self.os_family, a.os_family)
        self.os_name.setText(a.os_name)
        self.os_version.setText(a.os_version)
        self.os_build.setText(a.os_build)
        self._select(self.kind, a.kind)
        self.manufacturer.setText(a.manufacturer)
        self.model.setText(a.model)
        self.serial.setText(a.serial)
        self.vendor.setText(a.vendor)
        self.order_number.setText(a.order_number)
        self.purchase_date.setText(a.purchase_date.isoformat() if a.purchase_date else "")
        self.warranty_end.setText(a.warranty_end.isoformat() if a.warranty_end else "")
        self.support_contact.setText(a.support_contact)
        self.location.setText(a.location)
        self.owner.setText(a.owner)
        self.tags.setText(", ".join(a.tags))
        self._select(self.ring, a.ring)
        self.criticality.set_asset(a)
        self.notes.setPlainText(a.notes)

    @staticmethod
    def _select(combo: QComboBox, value: object) -> None:
        index = combo.findData(value)
        combo.setCurrentIndex(max(index, 0))

    def build(self) -> Asset:
        """The asset as typed, validated and normalised.

        Raises:
            ValidationError: listing every invalid field.
        """
        errors: list[FieldError] = []
        dates = {}
        for key in ("purchase_date", "warranty_end"):
            edit = self.fields[key]
            assert isinstance(edit, QLineEdit)
            try:
                dates[key] = parse_date(edit.text())
            except ValueError as exc:
                errors.append(FieldError(key, str(exc)))
                dates[key] = None
        candidate = self.base.with_changes(
            hostname=self.hostname.text().strip(),
            ips=tuple(split_list(self.ips.text())),
            macs=tuple(split_list(self.macs.text())),
            os_family=self.os_family.currentData(),
            os_name=self.os_name.text().strip(),
            os_version=self.os_version.text().strip(),
            os_build=self.os_build.text().strip(),
            kind=self.kind.currentData(),
            manufacturer=self.manufacturer.text().strip(),
            model=self.model.text().strip(),
            serial=self.serial.text().strip(),
            vendor=self.vendor.text().strip(),
            order_number=self.order_number.text().strip(),
            purchase_date=dates["purchase_date"],
            warranty_end=dates["warranty_end"],
            support_contact=self.support_contact.text().strip(),
            location=self.location.text().strip(),
            owner=self.owner.text().strip(),
            tags=tuple(t.strip() for t in self.tags.text().split(",") if t.strip()),
            ring=self.ring.currentData(),
            impact=self.impact.currentData(),
            data_sensitivity=tuple(v for v, box in self.sensitivity.items() if box.isChecked()),
            critical_operations=self.critical_operations.isChecked(),
            public_facing=self.public_facing.isChecked(),
            internet_facing=self.internet_facing.isChecked(),
            notes=self.notes.toPlainText().strip(),
        )
        try:
            normalized = candidate.normalized()
        except ValidationError as exc:
            errors.extend(exc.errors)
        if errors:
            raise ValidationError(errors)
        return normalized

    # -- errors -----------------------------------------------------------------------------
    def show_errors(self, errors: list[FieldError]) -> None:
        """Show each error under its field (unknown fields at the top); clear the others."""
        by_key: dict[str, list[str]] = {}
        general: list[str] = []
        for err in errors:
            key = _FIELD_ALIASES.get(err.field, err.field)
            if key in self.errors:
                by_key.setdefault(key, []).append(err.message)
            else:
                general.append(str(err))
        for key, label in self.errors.items():
            messages = by_key.get(key, [])
            label.setText("\n".join(dict.fromkeys(messages)))
            label.setVisible(bool(messages))
            _set_invalid(self.fields[key], bool(messages))
        self.general_error.setText("\n".join(general))
        self.general_error.setVisible(bool(general))
        first = next((k for k in self.errors if k in by_key), None)
        if first is not None:
            self.fields[first].setFocus()

    def error_text(self, key: str) -> str:
        """The error shown under a field ('' when none); for tests and accessibility."""
        label = self.errors[key]
        return label.text() if not label.isHidden() else ""

    def _check_list(self, key: str, check: Callable[[str], str]) -> None:
        edit = self.fields[key]
        assert isinstance(edit, QLineEdit)
        messages = []
        for item in split_list(edit.text()):
            try:
                check(item)
            except ValueError as exc:
                messages.append(str(exc))
        label = self.errors[key]
        label.setText("\n".join(messages))
        label.setVisible(bool(messages))
        _set_invalid(edit, bool(messages))

    # -- closing ----------------------------------------------------------------------------
    def accept(self) -> None:
        """Close only if every field is valid; otherwise show the errors inline."""
        try:
            asset = self.build()
        except ValidationError as exc:
            self.show_errors(exc.errors)
            return
        self.show_errors([])
        self.result_asset = asset
        super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, asset: Asset | None = None) -> Asset | None:
        """Show the dialog modally; return the valid asset, or None if cancelled."""
        dialog = cls(parent, asset)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                return dialog.result_asset
            return None
        finally:
            dialog.deleteLater()
