"""The Discover page: scan IP ranges, watch hosts stream in, merge them into the inventory.

The scan runs on a worker thread (``SiteService.scan_network``); each live host it reports
is queued and moved into the results model in batches by a 100 ms timer, so the GUI thread
only ever does small amounts of work. Everything that came from the network (names,
banners, titles) is shown as plain text.
"""

from __future__ import annotations

import ipaddress
import queue
import time
from collections.abc import Callable, Sequence
from typing import Any

from app.core.errors import ValidationError
from app.core.progress import CancelToken, Progress
from app.services import (
    LargeRangeError,
    PublicScanError,
    check_scan_range,
    parse_scan_ports,
)
from app.ui import dialogs
from app.ui.page import Page
from app.ui.qt import (
    QAbstractTableModel,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QModelIndex,
    QNetworkInterface,
    QPersistentModelIndex,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSettings,
    QSplitter,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import Task, TaskError
from app.ui.widgets import make_table_view, page_header, plain_label

#: Columns of the results table: (header, key in the host dict).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("IP", "ip"),
    ("MAC", "mac"),
    ("Vendor", "vendor"),
    ("Names", "names"),
    ("Open ports", "ports"),
    ("Type", "device_type"),
    ("OS guess", "os_guess"),
    ("Change", "change"),
)
CUSTOM_PROFILE = "custom"
NMAP_FILTER = "Nmap XML reports (*.xml);;All files (*)"


def host_row(host: dict[str, Any]) -> dict[str, Any]:
    """A discovered host (``HostResult.to_dict()`` or a stored scan host) as display texts."""
    names = list(host.get("hostnames") or [])
    netbios = host.get("netbios_name")
    if netbios and netbios not in names:
        names.append(netbios)
    ip = str(host.get("ip", ""))
    try:
        sort_ip: tuple[int, int] = (ipaddress.ip_address(ip).version, int(ipaddress.ip_address(ip)))
    except ValueError:
        sort_ip = (9, 0)
    return {
        "ip": ip,
        "sort_ip": sort_ip,
        "mac": host.get("mac") or "",
        "vendor": host.get("vendor") or "",
        "names": ", ".join(names),
        "ports": ", ".join(str(p) for p in host.get("open_ports") or []),
        "device_type": host.get("device_type") or "",
        "os_guess": host.get("os_guess") or "",
        "change": host.get("change") or "",
        "evidence": list(host.get("evidence") or []),
        "banner": host.get("ssh_banner") or "",
        "title": host.get("http_title") or "",
        "server": host.get("http_server") or "",
        "alive": host.get("alive_reason") or "",
        "changes": host.get("changes") or {},
    }


class DiscoveredModel(QAbstractTableModel):
    """Live hosts of the current (or last) scan, appended in batches."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._by_ip: dict[str, int] = {}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(COLUMNS)):
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return row[key]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(row["evidence"]) or None
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def clear(self) -> None:
        """Forget every row."""
        self.beginResetModel()
        self.rows = []
        self._by_ip = {}
        self.endResetModel()

    def add_hosts(self, hosts: Sequence[dict[str, Any]]) -> None:
        """Append new hosts, or update rows of hosts already shown, in one batch."""
        fresh: list[dict[str, Any]] = []
        for host in hosts:
            row = host_row(host)
            at = self._by_ip.get(row["ip"])
            if at is None:
                fresh.append(row)
            else:
                self.rows[at] = row
                self.dataChanged.emit(self.index(at, 0), self.index(at, len(COLUMNS) - 1))
        if fresh:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for offset, row in enumerate(fresh):
                self._by_ip[row["ip"]] = first + offset
                self.rows.append(row)
            self.endInsertRows()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][1]
        self.layoutAboutToBeChanged.emit()
        if key == "ip":
            self.rows.sort(key=lambda r: r["sort_ip"])
        else:
            self.rows.sort(key=lambda r: (r[key] == "", str(r[key]).lower(), r["sort_ip"]))
        if order == Qt.SortOrder.DescendingOrder:
            self.rows.reverse()
        self._by_ip = {r["ip"]: i for i, r in enumerate(self.rows)}
        self.layoutChanged.emit()


def local_subnets_qt() -> list[str]:
    """IPv4 subnets of this machine's interfaces that are up (not loopback), as CIDR."""
    found: list[str] = []
    for iface in QNetworkInterface.allInterfaces():
        flags = iface.flags()
        if not (flags & QNetworkInterface.InterfaceFlag.IsUp) or (
                flags & QNetworkInterface.InterfaceFlag.IsLoopBack):
            continue
        for entry in iface.addressEntries():
            ip = entry.ip().toString()
            prefix = entry.prefixLength()
            if ":" in ip or prefix < 8 or prefix >= 32:
                continue
            network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
            if str(network) not in found:
                found.append(str(network))
    return found


def confirm_large_scan(parent: QWidget | None, count: int) -> bool:
    """Ask before scanning more than a /16; True to go ahead (tests monkeypatch this)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Scan a large range?",
                      f"The range covers {count:,} addresses (more than a /16). Scanning it "
                      "can take a long time and will be noticed by network monitoring.\n\n"
                      "Scan it anyway?",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box.exec() == QMessageBox.StandardButton.Yes


def confirm_public_scan(parent: QWidget | None, count: int) -> bool:
    """Ask before scanning public Internet addresses; True to go ahead (tests monkeypatch
    this)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Scan public Internet addresses?",
                      f"The range includes {count:,} public Internet address"
                      f"{'es' if count != 1 else ''}. Only scan networks you are allowed "
                      "to scan.\n\nScan them?",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box.exec() == QMessageBox.StandardButton.Yes


class DiscoverPage(Page):
    """Range, profile and Start/Cancel; a progress line; live results; the last scan's diff."""

    #: (targets, exclude, ports, allow_large, merge) — :meth:`start_scan` runs the scan.
    start_requested = Signal(str, str, object, bool, bool)
    cancel_requested = Signal()
    #: Selected IPs of the shown scan to add to the inventory.
    add_requested = Signal(int, object)
    #: A scan merged hosts into the inventory, or hosts of a scan were added to it.
    assets_changed = Signal()

    def __init__(self, profiles: dict[str, tuple[int, ...]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("discoverPage")
        self.profiles = dict(profiles or {})
        self.scan_id: int | None = None
        self.merged = True
        self.running = False
        #: The scan in flight (None when idle).
        self.scan_task: Task | None = None
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._started = 0.0
        self._drain = QTimer(self)
        self._drain.setInterval(100)
        self._drain.timeout.connect(self.drain)

        header, _subtitle = page_header(
            "Discover", "Find the devices on a network: live hosts, open ports, MAC vendor, "
            "names and a type/OS guess. No agent and no root needed.")

        self.range_edit = QLineEdit()
        self.range_edit.setObjectName("rangeEdit")
        self.range_edit.setAccessibleName("Range to scan")
        self.range_edit.setPlaceholderText("e.g. 10.0.0.0/24, 10.0.1.5-40, printer.local, "
                                           "!10.0.0.1")
        self.range_edit.returnPressed.connect(self._on_start_clicked)
        self.exclude_edit = QLineEdit()
        self.exclude_edit.setObjectName("excludeEdit")
        self.exclude_edit.setAccessibleName("Addresses to exclude")
        self.exclude_edit.setPlaceholderText("exclude (optional)")
        self.profile_combo = QComboBox()
        self.profile_combo.setObjectName("profileCombo")
        self.profile_combo.setAccessibleName("Port profile")
        for name in self.profiles:
            self.profile_combo.addItem(name)
        self.profile_combo.addItem(CUSTOM_PROFILE)
        self.profile_combo.currentTextChanged.connect(self._on_profile_combo_changed)
        self.ports_edit = QLineEdit()
        self.ports_edit.setObjectName("portsEdit")
        self.ports_edit.setAccessibleName("TCP ports")
        self.ports_edit.textEdited.connect(self._on_ports_edited)
        for edit in (self.range_edit, self.exclude_edit, self.ports_edit):
            edit.setMinimumWidth(80)
        self.merge_check = QCheckBox("Add and update assets without review")
        self.merge_check.setObjectName("mergeCheck")
        self.merge_check.setChecked(False)
        self.merge_check.setToolTip("Off (the default): the scan is recorded and its hosts "
                                    "are listed for review; tick the ones to add and press "
                                    "\u201cAdd selected\u201d.")
        self.start_button = QPushButton("Start scan")
        self.start_button.setObjectName("startButton")
        self.start_button.setDefault(True)
        self.start_button.setShortcut("Ctrl+Return")
        self.start_button.clicked.connect(self._on_start_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)

        self.import_button = QPushButton("Import Nmap XML…")
        self.import_button.setObjectName("importNmapButton")
        self.import_button.setToolTip("Bring in a scan made with nmap -oX: stored with its "
                                      "difference to the inventory and merged like a scan")
        self.import_button.clicked.connect(self._on_import_clicked)

        self.error_label = plain_label(name="rangeError", role="field-error", hidden=True)

        self.progress = QProgressBar()
        self.progress.setObjectName("scanProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status_label = plain_label("Ready.", name="scanStatus", wrap=False)

        self.model = DiscoveredModel(self)
        self.table = make_table_view("discoveredTable", "Discovered hosts", self.model,
                                     (110, 130, 160, 170, 130, 110, 110))
        self.table.setSortingEnabled(True)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        self.details = QPlainTextEdit()
        self.details.setObjectName("hostDetails")
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a host to see why it was found and guessed "
                                        "as it was.")
        self.diff_view = QPlainTextEdit()
        self.diff_view.setObjectName("scanDiff")
        self.diff_view.setReadOnly(True)
        self.diff_view.setPlaceholderText("The difference between this scan and the inventory "
                                          "appears here when the scan ends.")
        self.review_label = plain_label(name="scanReview", role="banner", hidden=True)
        self.add_new_button = QPushButton("Add all new")
        self.add_new_button.setObjectName("addAllNewButton")
        self.add_new_button.hide()
        self.add_new_button.clicked.connect(self._on_add_new_clicked)
        self.history_combo = QComboBox()
        self.history_combo.setObjectName("scanHistory")
        self.history_combo.setAccessibleName("Earlier scans")
        self.history_combo.setToolTip("Show an earlier scan: its hosts, its difference to the "
                                      "inventory, and hosts not added yet")
        self.history_combo.addItem("No earlier scan", None)
        self.history_combo.activated.connect(self._on_history_activated)
        self.add_button = QPushButton("Add selected to inventory")
        self.add_button.setObjectName("addSelectedButton")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self._on_add_clicked)

        form = QHBoxLayout()
        form.addWidget(QLabel("Range"))
        form.addWidget(self.range_edit, 3)
        form.addWidget(self.exclude_edit, 1)
        form2 = QHBoxLayout()
        form2.addWidget(QLabel("Ports"))
        form2.addWidget(self.profile_combo)
        form2.addWidget(self.ports_edit, 2)
        form2.addWidget(self.start_button)
        form2.addWidget(self.cancel_button)
        form2.addWidget(self.import_button)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(QLabel("Evidence"))
        side_layout.addWidget(self.details, 2)
        side_layout.addWidget(QLabel("Difference to the inventory"))
        side_layout.addWidget(self.diff_view, 1)
        side_layout.addWidget(self.add_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(header)
        layout.addLayout(form)
        layout.addLayout(form2)
        layout.addWidget(self.merge_check)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        review = QHBoxLayout()
        review.addWidget(self.review_label, 1)
        review.addWidget(self.add_new_button)
        layout.addLayout(review)
        history = QHBoxLayout()
        history.addWidget(QLabel("History"))
        history.addWidget(self.history_combo, 1)
        layout.addLayout(history)
        layout.addWidget(splitter, 1)
        if self.profiles:
            self._on_profile_combo_changed(self.profile_combo.currentText())
        self.start_requested.connect(self.start_scan)
        self.cancel_requested.connect(self.cancel_scan)
        self.add_requested.connect(self.add_scanned_hosts)

    # -- settings ----------------------------------------------------------------------
    def restore_state(self, settings: QSettings) -> None:
        """Last range, profile, ports and merge choice (the range defaults to local nets)."""
        text = settings.value("discover/range", "", str)
        self.range_edit.setText(str(text) or ", ".join(local_subnets_qt()))
        profile = str(settings.value("discover/profile", "default", str))
        if self.profile_combo.findText(profile) >= 0:
            self.profile_combo.setCurrentText(profile)
        ports = str(settings.value("discover/ports", "", str))
        if profile == CUSTOM_PROFILE and ports:
            self.ports_edit.setText(ports)
        # A key of its own: adding without review is off unless chosen since it existed.
        merge = settings.value("discover/auto_add", False, bool)
        self.merge_check.setChecked(bool(merge))

    def save_state(self, settings: QSettings) -> None:
        """Remember the form for next time."""
        settings.setValue("discover/range", self.range_edit.text())
        settings.setValue("discover/profile", self.profile_combo.currentText())
        settings.setValue("discover/ports", self.ports_edit.text())
        settings.setValue("discover/auto_add", self.merge_check.isChecked())

    # -- scanning ----------------------------------------------------------------------
    def start_scan(self, targets: str, exclude: str, ports_text: object, allow_large: bool,
                   merge: bool, allow_public: bool = False) -> None:
        """Check the range and ports, then scan on a worker thread (results stream in)."""
        service, runner = self.service, self.runner
        if service is None or runner is None or self.running:
            return
        text = str(ports_text or "").strip()
        try:
            ports = parse_scan_ports(text) if text else None
            count = check_scan_range(targets, exclude, allow_large=allow_large,
                                     allow_public=allow_public)
        except LargeRangeError as exc:
            if confirm_large_scan(self, exc.count):
                self.start_scan(targets, exclude, ports_text, True, merge, allow_public)
            return
        except PublicScanError as exc:  # [12].14: its own explicit choice
            if confirm_public_scan(self, exc.count):
                self.start_scan(targets, exclude, ports_text, allow_large, merge, True)
            return
        except ValidationError as exc:
            self.show_error(str(exc))
            return

        def scan(progress: Callable[[Progress], None], cancel: CancelToken) -> Any:
            return service.scan_network(targets, exclude=exclude, ports=ports,
                                        allow_large=allow_large,
                                        allow_public=allow_public, merge=merge,
                                        progress=progress, cancel=cancel,
                                        on_host=self.host_found)

        def done(record: Any) -> None:
            self.scan_task = None
            if service is not self.service:
                return
            self.scan_finished(record)
            if record.merged:
                self.assets_changed.emit()
            self.wrote.emit("scan")

        def failed(error: TaskError) -> None:
            self.scan_task = None
            self.scan_failed(error.message)

        def cancelled() -> None:
            self.scan_task = None
            self.scan_failed("The scan was cancelled before it started.")

        self.scan_started(count)
        self.scan_task = runner.submit(
            scan, name="scan", with_progress=True, on_result=done, on_error=failed,
            on_progress=self.show_progress, on_cancelled=cancelled)

    def cancel_scan(self) -> None:
        """Stop the running scan; what it found so far is kept."""
        if self.scan_task is not None:
            self.scan_task.cancel()
            self.status_label.setText("Cancelling…")

    def add_scanned_hosts(self, scan_id: int, ips: object) -> None:
        """Add the chosen hosts of a scan to the inventory."""
        service = self.service
        if service is None:
            return
        chosen = [str(ip) for ip in ips] if isinstance(ips, list) else []

        def add() -> Any:
            added = service.add_scanned_hosts(scan_id, chosen)
            return added, service.scan_record(scan_id)

        def done(result: Any) -> None:
            added, record = result
            self.scan_finished(record)
            self.assets_changed.emit()
            self.status_message.emit(f"Added {len(added)} host(s) to the inventory.", 5000)

        self.write("add scanned hosts", add, done)

    @staticmethod
    def ask_nmap_file(parent: QWidget) -> str | None:
        """Ask for an Nmap XML report (tests replace this)."""
        return dialogs.ask_open_file(parent, "Import Nmap XML", NMAP_FILTER)

    def _on_import_clicked(self) -> None:
        path = type(self).ask_nmap_file(self)
        if path:
            self.import_nmap(path, self.merge_check.isChecked())

    def import_nmap(self, path: str, merge: bool) -> None:
        """Import an Nmap XML report as a scan (write pool) and show it with its diff."""
        service = self.service
        if service is None or self.running:
            return
        self.show_error("")
        self.status_label.setText(f"Importing {path}…")

        def done(record: Any) -> None:
            self.scan_finished(record)
            s = record.summary
            self.status_label.setText(
                f"Imported {s.get('live', 0)} host(s) from {record.targets.removeprefix('nmap: ')}"
                f" — {s.get('new', 0)} new, {s.get('changed', 0)} changed, "
                f"{s.get('gone', 0)} not seen.")
            if record.merged:
                self.assets_changed.emit()

        def failed(error: TaskError) -> None:
            self.show_error(error.message)
            self.status_label.setText("Import failed.")

        self.write("scan", lambda: service.discovery.import_nmap(path, merge=merge), done,
                   failed)

    # -- scan lifecycle ----------------------------------------------------------------
    def show_error(self, message: str) -> None:
        """Show why the scan cannot start (inline, plain text)."""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def scan_started(self, total: int) -> None:
        """The main window started a scan of ``total`` addresses."""
        self.running = True
        self.scan_id = None
        self.show_error("")
        self.model.clear()
        self.details.clear()
        self.diff_view.clear()
        self._queue = queue.SimpleQueue()
        self._started = time.monotonic()
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.setFormat(f"0 of {total:,} addresses")
        self.review_label.hide()
        self.add_new_button.hide()
        self.status_label.setText(f"Scanning {total:,} addresses…")
        self._set_running(True)
        self._drain.start()

    def host_found(self, host: Any) -> None:
        """Called on the scanning thread for each live host: only queues it."""
        self._queue.put(host.to_dict() if hasattr(host, "to_dict") else dict(host))

    def drain(self) -> None:
        """Move queued hosts into the table (GUI thread, every 100 ms)."""
        batch: list[dict[str, Any]] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.model.add_hosts(batch)

    def show_progress(self, progress: Progress) -> None:
        """Progress line: addresses done, hosts/second, ETA, live hosts so far."""
        self.progress.setMaximum(max(1, progress.total))
        self.progress.setValue(min(progress.done, progress.total))
        elapsed = max(1e-3, time.monotonic() - self._started)
        rate = progress.done / elapsed
        remaining = (progress.total - progress.done) / rate if rate > 0 else 0.0
        self.status_label.setText(
            f"{progress.done:,} of {progress.total:,} addresses · {rate:,.0f} hosts/s · "
            f"ETA {remaining:,.0f} s · {self.model.rowCount()} live")
        self.progress.setFormat(f"{progress.done:,} of {progress.total:,} addresses · "
                                f"{time_left(remaining) if progress.done else 'estimating'}")

    def scan_finished(self, record: Any) -> None:
        """Show the stored scan: every host with its change, and the diff."""
        self._drain.stop()
        self.drain()
        self.running = False
        self.scan_id = record.id
        self.merged = record.merged
        self.model.clear()
        self.model.add_hosts(record.hosts)
        self.progress.setValue(self.progress.maximum())
        s = record.summary
        elapsed = (record.finished_at - record.started_at).total_seconds() \
            if record.finished_at else 0.0
        state = "Cancelled" if record.cancelled else "Done"
        self.status_label.setText(
            f"{state}: {s.get('live', 0)} live of {record.addresses:,} addresses in "
            f"{elapsed:.1f} s — {s.get('new', 0)} new, {s.get('changed', 0)} changed, "
            f"{s.get('gone', 0)} not seen.")
        self.diff_view.setPlainText(diff_text(record))
        self.progress.setFormat(f"{record.addresses:,} of {record.addresses:,} addresses · "
                                f"{state.lower()}")
        self._set_running(False)
        self._offer_review(record)
        self.load_history()

    # -- review and history ------------------------------------------------------------
    def _offer_review(self, record: Any) -> None:
        """After a scan that added nothing: select its new hosts and say what to do."""
        new = [r for r in range(len(self.model.rows)) if self.model.rows[r]["change"] == "new"]
        if record.merged or not new:
            self.review_label.hide()
            self.add_new_button.hide()
            return
        self.review_label.setText(
            f"Review: {len(new)} new device{'s were' if len(new) > 1 else ' was'} found and "
            "not added. Untick (Ctrl+click) the ones you do not want, then press "
            "\u201cAdd selected to inventory\u201d, or add them all.")
        self.review_label.show()
        self.add_new_button.show()
        selection = self.table.selectionModel()
        selection.clearSelection()
        for row in new:
            selection.select(self.model.index(row, 0),
                             selection.SelectionFlag.Select | selection.SelectionFlag.Rows)

    def _on_add_new_clicked(self) -> None:
        if self.scan_id is not None:
            self.add_requested.emit(self.scan_id, [r["ip"] for r in self.model.rows
                                                   if r["change"] == "new"])

    def load(self) -> None:
        """Read the scan history (the page's own data)."""
        self.load_history()

    def load_history(self) -> None:
        """Refill the list of earlier scans (in the background)."""
        self.read(lambda service: service.scans(50), "scan history", self.set_history,
                  loading=False)
        self.stale = False

    def set_history(self, scans: Sequence[Any]) -> None:
        """Offer these stored scans (newest first)."""
        self.history_combo.clear()
        if not scans:
            self.history_combo.addItem("No earlier scan", None)
        for record in scans:
            self.history_combo.addItem(history_text(record), record.id)
        if self.scan_id is not None:
            self.history_combo.setCurrentIndex(max(0, self.history_combo.findData(self.scan_id)))

    def show_scan(self, scan_id: int) -> None:
        """Show a stored scan: its hosts, its diff, and those not added yet for review."""
        if self.running:
            return
        self.read(lambda service: service.scan_record(scan_id), "scan record",
                  self.scan_finished, loading=False)

    def _on_history_activated(self, index: int) -> None:
        scan_id = self.history_combo.itemData(index)
        if isinstance(scan_id, int):
            self.show_scan(scan_id)

    def scan_failed(self, message: str) -> None:
        """The scan could not run."""
        self._drain.stop()
        self.running = False
        self.show_error(message)
        self.status_label.setText("Scan failed.")
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.range_edit, self.exclude_edit, self.profile_combo,
                       self.ports_edit, self.merge_check, self.import_button):
            widget.setEnabled(not running)
        self._on_selection_changed()

    # -- slots -------------------------------------------------------------------------
    def _on_start_clicked(self) -> None:
        if self.running:
            return
        self.start_requested.emit(self.range_edit.text(), self.exclude_edit.text(),
                                  self.ports_edit.text(), False, self.merge_check.isChecked())

    def _on_profile_combo_changed(self, name: str) -> None:
        if name in self.profiles:
            self.ports_edit.setText(",".join(str(p) for p in self.profiles[name]))

    def _on_ports_edited(self, _text: str) -> None:
        if self.profile_combo.currentText() != CUSTOM_PROFILE:
            self.profile_combo.blockSignals(True)
            self.profile_combo.setCurrentText(CUSTOM_PROFILE)
            self.profile_combo.blockSignals(False)

    def selected_rows(self) -> list[dict[str, Any]]:
        """Rows selected in the results table."""
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        return [self.model.rows[r] for r in sorted(rows) if r < len(self.model.rows)]

    def _on_selection_changed(self, *_args: object) -> None:
        rows = self.selected_rows()
        self.add_button.setEnabled(
            not self.running and self.scan_id is not None
            and any(not r["change"] or r["change"] == "new" or not self.merged for r in rows))
        if len(rows) == 1:
            self.details.setPlainText(details_text(rows[0]))
        elif not rows:
            self.details.clear()

    def _on_add_clicked(self) -> None:
        if self.scan_id is not None:
            self.add_requested.emit(self.scan_id, [r["ip"] for r in self.selected_rows()])


def time_left(seconds: float) -> str:
    """Time left in words: "about 40 s left", "about 3 min left"."""
    if seconds < 1:
        return "almost done"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


def history_text(record: Any) -> str:
    """One earlier scan as the history list shows it."""
    s = record.summary or {}
    when = record.started_at.astimezone().strftime("%Y-%m-%d %H:%M")
    how = "added" if record.merged else "for review"
    state = ", cancelled" if record.cancelled else ""
    return (f"#{record.id}  {when}  {record.targets}  — {s.get('live', 0)} live, "
            f"{s.get('new', 0)} new ({how}{state})")


def details_text(row: dict[str, Any]) -> str:
    """A host's evidence as plain text."""
    lines = [f"{row['ip']}  {row['names']}".strip(), ""]
    for label, key in (("Alive because", "alive"), ("MAC", "mac"), ("Vendor", "vendor"),
                       ("Open ports", "ports"), ("Type", "device_type"),
                       ("OS guess", "os_guess"), ("SSH banner", "banner"),
                       ("Web title", "title"), ("Web server", "server")):
        if row[key]:
            lines.append(f"{label}: {row[key]}")
    if row["evidence"]:
        lines += ["", "Evidence:", *(f"  • {e}" for e in row["evidence"])]
    if row["changes"]:
        lines += ["", "Changed since the inventory:",
                  *(f"  • {k}: {v[0]} → {v[1]}" for k, v in row["changes"].items())]
    return "\n".join(lines)


def diff_text(record: Any) -> str:
    """The scan's diff against the inventory as plain text."""
    new = [h for h in record.hosts if h.get("change") == "new"]
    changed = [h for h in record.hosts if h.get("change") == "changed"]
    lines: list[str] = []
    if new:
        lines.append(f"New ({len(new)}):")
        lines += [f"  + {h['ip']}  {', '.join(h.get('hostnames') or [])}".rstrip() for h in new]
    if changed:
        lines.append(f"Changed ({len(changed)}):")
        for h in changed:
            detail = "; ".join(f"{k} {v[0]} → {v[1]}" for k, v in h["changes"].items())
            lines.append(f"  ~ {h['ip']}  {detail}")
    if record.gone:
        lines.append(f"Not seen this time ({len(record.gone)}):")
        lines += [f"  - {g['label']}  ({', '.join(g['ips'])})" for g in record.gone]
    if record.cancelled:
        lines.append("The scan was cancelled, so nothing is reported as gone.")
    return "\n".join(lines) or "No difference to the inventory."
