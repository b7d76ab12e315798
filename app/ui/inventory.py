"""The Inventory page: the asset table with its filter box and the detail panel."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.models import Asset, AuditEvent
from app.ui.models import (
    AssetFilterProxy,
    AssetTableModel,
    describe_event,
    enum_label,
    local_time,
    os_family_label,
)
from app.ui.qt import (
    QAbstractItemView,
    QAction,
    QByteArray,
    QFormLayout,
    QFrame,
    QGuiApplication,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMenu,
    QModelIndex,
    QPoint,
    QScrollArea,
    QSettings,
    QShortcut,
    QSplitter,
    QStackedWidget,
    Qt,
    QTableView,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)

FILTER_DEBOUNCE_MS = 150
_DEFAULT_WIDTHS = (170, 120, 130, 200, 110, 150, 130, 75, 85, 100, 125)


def page_header(title: str, subtitle: str = "") -> tuple[QWidget, QLabel]:
    """A page title with a muted subtitle line; returns the widget and the subtitle label."""
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 4)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setProperty("role", "page-title")
    sub = QLabel(subtitle)
    sub.setProperty("role", "page-subtitle")
    sub.setTextFormat(Qt.TextFormat.PlainText)
    sub.setWordWrap(True)
    layout.addWidget(label)
    layout.addWidget(sub)
    return holder, sub


def make_table_view(name: str, accessible: str) -> QTableView:
    """A read-only, row-selecting table view with fixed row heights (fast at 10k+ rows).

    A QTableView rather than a QTreeView: the tree lays out every row (calling into the
    Python model per row) whenever the filter changes; the table only touches what it shows.
    """
    view = QTableView()
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setTabKeyNavigation(False)
    vertical = view.verticalHeader()
    vertical.hide()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(view.fontMetrics().height() + 10)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionsMovable(True)
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return view


def _value_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class AssetDetails(QFrame):
    """Read-only view of one asset's fields and its change log."""

    SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
        ("Identity", (("Host name", "hostname"), ("Kind", "kind"), ("Tags", "tags"))),
        ("Network", (("IP addresses", "ips"), ("MAC addresses", "macs"),
                     ("First seen", "first_seen"), ("Last seen", "last_seen"))),
        ("Operating system", (("Family", "os_family"), ("Name", "os_name"),
                              ("Version", "os_version"), ("Build / revision", "os_build"))),
        ("Hardware", (("Manufacturer", "manufacturer"), ("Model", "model"),
                      ("Serial number", "serial"))),
        ("Purchase & support", (("Vendor", "vendor"), ("Order number", "order_number"),
                                ("Purchased", "purchase_date"),
                                ("Warranty end", "warranty_end"),
                                ("Support contact", "support_contact"))),
        ("Ownership", (("Location", "location"), ("Owner", "owner"), ("Ring", "ring"))),
        ("Criticality", (("Impact if down", "impact"), ("Sensitive data", "data_sensitivity"),
                         ("Exposure", "exposure"))),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailPanel")
        self.setAccessibleName("Asset details")
        self.asset: Asset | None = None
        self.values: dict[str, QLabel] = {}

        self.title = QLabel()
        self.title.setProperty("role", "page-title")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        self.subtitle = _value_label()
        self.subtitle.setProperty("role", "page-subtitle")

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(14, 12, 14, 12)
        body_layout.addWidget(self.title)
        body_layout.addWidget(self.subtitle)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(3)
        for section, rows in self.SECTIONS:
            heading = QLabel(section)
            heading.setProperty("role", "section")
            form.addRow(heading)
            for name, key in rows:
                value = _value_label()
                value.setObjectName(f"detail_{key}")
                self.values[key] = value
                caption = QLabel(name)
                caption.setProperty("role", "muted")
                form.addRow(caption, value)
        body_layout.addLayout(form)
        heading = QLabel("Notes")
        heading.setProperty("role", "section")
        body_layout.addWidget(heading)
        self.notes = _value_label()
        self.notes.setObjectName("detail_notes")
        body_layout.addWidget(self.notes)
        heading = QLabel("Change log")
        heading.setProperty("role", "section")
        body_layout.addWidget(heading)
        self.history = _value_label()
        self.history.setObjectName("detail_history")
        body_layout.addWidget(self.history)
        body_layout.addStretch(1)

        self.placeholder = QLabel("Select an asset to see its details.")
        self.placeholder.setProperty("role", "muted")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def show_asset(self, asset: Asset | None) -> None:
        """Show an asset's fields (None: the placeholder)."""
        self.asset = asset
        if asset is None:
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self.title.setText(asset.label)
        self.subtitle.setText(
            " · ".join(p for p in (asset.os_display, asset.location, asset.owner) if p)
            or "No OS, location or owner recorded yet"
        )
        exposure = [
            text for flag, text in (
                (asset.critical_operations, "critical operations"),
                (asset.public_facing, "public-facing"),
                (asset.internet_facing, "internet-facing"),
            ) if flag
        ]
        values = {
            "hostname": asset.hostname,
            "kind": "" if asset.kind == "unknown" else enum_label(asset.kind),
            "tags": ", ".join(asset.tags),
            "ips": "\n".join(asset.ips),
            "macs": "\n".join(asset.macs),
            "first_seen": local_time(asset.first_seen),
            "last_seen": local_time(asset.last_seen),
            "os_family": "" if asset.os_family == "unknown" else os_family_label(asset.os_family),
            "os_name": asset.os_name,
            "os_version": asset.os_version,
            "os_build": asset.os_build,
            "manufacturer": asset.manufacturer,
            "model": asset.model,
            "serial": asset.serial,
            "vendor": asset.vendor,
            "order_number": asset.order_number,
            "purchase_date": asset.purchase_date.isoformat() if asset.purchase_date else "",
            "warranty_end": asset.warranty_end.isoformat() if asset.warranty_end else "",
            "support_contact": asset.support_contact,
            "location": asset.location,
            "owner": asset.owner,
            "ring": enum_label(asset.ring),
            "impact": enum_label(asset.impact),
            "data_sensitivity": ", ".join(enum_label(d) for d in asset.data_sensitivity),
            "exposure": ", ".join(exposure),
        }
        for key, label in self.values.items():
            text = values.get(key, "")
            label.setText(text or "—")
            label.setProperty("role", "" if text else "muted")
            label.style().unpolish(label)
            label.style().polish(label)
        self.notes.setText(asset.notes or "—")
        self.history.setText("Loading…")

    def show_history(self, asset_id: int, events: Sequence[AuditEvent]) -> None:
        """Show the change log of the asset on display (ignored if the selection moved on)."""
        if self.asset is None or self.asset.id != asset_id:
            return
        lines = []
        for e in events:
            what = e.action.removeprefix("asset.")
            detail = describe_event(e) if e.action != "asset.add" else ""
            if e.action == "asset.add":
                detail = f"added ({e.details.get('source', 'manual')})"
            lines.append(f"{local_time(e.ts)}  {e.actor}  {what}" + (f": {detail}" if detail
                                                                      else ""))
        self.history.setText("\n".join(lines) if lines else "No recorded changes.")


class InventoryPage(QWidget):
    """The asset table, its filter box, actions and the detail panel."""

    edit_requested = Signal()
    history_wanted = Signal(int)
    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inventoryPage")
        self.model = AssetTableModel(self)
        self.proxy = AssetFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        header, self.summary = page_header("Inventory")

        self.search = QLineEdit()
        self.search.setObjectName("inventorySearch")
        self.search.setAccessibleName("Filter assets")
        self.search.setPlaceholderText(
            "Filter by host name, IP, MAC, OS, location, owner or tag  (Ctrl+F)"
        )
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(FILTER_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.apply_filter)

        self.toolbar = QHBoxLayout()
        self.toolbar.setSpacing(6)
        self.toolbar.addWidget(self.search, 1)

        self.view = make_table_view("inventoryView", "Assets")
        self.view.setModel(self.proxy)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.view.doubleClicked.connect(lambda _i: self.edit_requested.emit())
        hdr = self.view.horizontalHeader()
        for col, width in enumerate(_DEFAULT_WIDTHS):
            hdr.resizeSection(col, width)
        hdr.setSortIndicator(AssetTableModel.COL_HOSTNAME, Qt.SortOrder.AscendingOrder)
        self.view.setSortingEnabled(True)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # The source's signals, not the proxy's: filtering emits one per removed range.
        self.model.modelReset.connect(self._update_summary)
        self.model.rowsInserted.connect(self._update_summary)
        self.model.rowsRemoved.connect(self._update_summary)
        for key in ("Return", "Enter"):
            QShortcut(QKeySequence(key), self.view, self.edit_requested.emit,
                      Qt.ShortcutContext.WidgetShortcut)

        self.empty = QLabel(
            "This site has no assets yet.\n\n"
            "Add one with Edit ▸ Add asset (Ctrl+Shift+A), or import a spreadsheet with "
            "File ▸ Import CSV (Ctrl+I), or find the devices on your network on the "
            "Discover page (Ctrl+2)."
        )
        self.empty.setObjectName("inventoryEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setProperty("role", "muted")
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.view)
        self.table_stack.addWidget(self.empty)

        self.details = AssetDetails()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("inventorySplitter")
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.splitter, 1)

        self.copy_ip = QAction("Copy IP address", self)
        self.copy_ip.triggered.connect(lambda: self._copy("ip"))
        self.copy_hostname = QAction("Copy host name", self)
        self.copy_hostname.triggered.connect(lambda: self._copy("hostname"))
        self._context_actions: list[QAction | None] = []
        self._update_summary()

    # -- wiring -----------------------------------------------------------------------------
    def add_tool_actions(self, actions: Sequence[QAction]) -> None:
        """Put buttons for the window's actions next to the filter box."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.toolbar.addWidget(button)

    def set_context_actions(self, actions: Sequence[QAction | None]) -> None:
        """The window's actions to offer in the table's context menu (None: a separator)."""
        self._context_actions = list(actions)

    # -- data -------------------------------------------------------------------------------
    def set_assets(self, assets: Sequence[Asset]) -> None:
        """Show a fresh list of assets, keeping the sort order and the selection if possible."""
        selected = {a.id for a in self.selected_assets() if a.id is not None}
        self.model.set_assets(assets)
        hdr = self.view.horizontalHeader()
        self.model.sort(hdr.sortIndicatorSection(), hdr.sortIndicatorOrder())
        if selected:
            self.select_ids(selected)
        self._on_selection_changed()

    def select_ids(self, ids: set[int], *, current: int | None = None) -> None:
        """Select the rows of some assets (those hidden by the filter are skipped)."""
        sel = self.view.selectionModel()
        sel.clearSelection()
        first: QModelIndex | None = None
        for asset_id in ids:
            row = self.model.row_of(asset_id)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():
                continue
            flags = (sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
            sel.select(index, flags)
            if first is None or asset_id == current:
                first = index
        if first is not None:
            sel.setCurrentIndex(first, sel.SelectionFlag.NoUpdate)
            self.view.scrollTo(first)

    def selected_assets(self) -> list[Asset]:
        """The selected assets, in view order."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.proxy.asset_at(r) for r in rows]

    def apply_filter(self) -> None:
        """Filter now (the box debounces typing by 150 ms)."""
        self._debounce.stop()
        self.proxy.set_filter_text(self.search.text())
        self._update_summary()
        self._on_selection_changed()

    def focus_search(self) -> None:
        """Put the cursor in the filter box, text selected."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def show_history(self, asset_id: int, events: Sequence[AuditEvent]) -> None:
        """Deliver an asset's change log to the detail panel."""
        self.details.show_history(asset_id, events)

    # -- state ------------------------------------------------------------------------------
    def save_state(self, settings: QSettings) -> None:
        """Remember column widths, order, sort and the splitter position."""
        settings.setValue("inventory/header", self.view.horizontalHeader().saveState())
        settings.setValue("inventory/splitter", self.splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` remembered."""
        header = settings.value("inventory/header")
        if isinstance(header, QByteArray | bytes):
            self.view.horizontalHeader().restoreState(header)
        splitter = settings.value("inventory/splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(splitter)

    # -- slots ------------------------------------------------------------------------------
    def _update_summary(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        noun = "asset" if total == 1 else "assets"
        if self.proxy.filter_text and shown != total:
            self.summary.setText(f"Showing {shown:,} of {total:,} {noun}")
        else:
            self.summary.setText(f"{total:,} {noun}")
        self.table_stack.setCurrentIndex(1 if total == 0 else 0)

    def _on_selection_changed(self, *_args: object) -> None:
        assets = self.selected_assets()
        asset = assets[0] if len(assets) == 1 else None
        if asset is None and len(assets) > 1:
            self.details.show_asset(None)
            self.details.placeholder.setText(f"{len(assets)} assets selected.")
        else:
            self.details.placeholder.setText("Select an asset to see its details.")
            self.details.show_asset(asset)
            if asset is not None and asset.id is not None:
                self.history_wanted.emit(asset.id)
        self.selection_changed.emit()

    def _on_view_context_menu(self, pos: QPoint) -> None:
        if not self.view.indexAt(pos).isValid():
            return
        menu = QMenu(self)
        for action in self._context_actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        if self._context_actions:
            menu.addSeparator()
        menu.addAction(self.copy_ip)
        menu.addAction(self.copy_hostname)
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _copy(self, what: str) -> None:
        assets = self.selected_assets()
        if what == "ip":
            values = [ip for a in assets for ip in a.ips[:1]]
        else:
            values = [a.hostname for a in assets if a.hostname]
        if values:
            QGuiApplication.clipboard().setText("\n".join(values))
