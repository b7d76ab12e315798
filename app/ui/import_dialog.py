"""Import assets from a CSV file: preview, map columns, dry run, import with progress.

The work is done by :meth:`SiteService.import_csv` on the write pool; this dialog only
collects the mapping and shows what happened, including every refused row and why.
"""

from __future__ import annotations

from pathlib import Path

from app.core.progress import Progress
from app.core.records import IMPORTABLE_COLUMNS
from app.services import CsvPreview, ImportReport, SiteService, preview_csv
from app.ui import dialogs
from app.ui.qt import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    Qt,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import Task, TaskError, TaskRunner
from app.ui.widgets import make_table_widget

IGNORE = "(ignore)"
CSV_FILTER = "CSV files (*.csv *.txt);;All files (*)"

_COLUMN_LABELS = {
    "hostname": "Host name", "ips": "IP addresses", "macs": "MAC addresses",
    "location": "Location", "os": "OS (one line, e.g. Ubuntu 22.04)",
    "os_family": "OS family", "os_name": "OS name", "os_version": "OS version",
    "os_build": "OS build / revision", "kind": "Kind", "manufacturer": "Manufacturer",
    "model": "Model", "serial": "Serial number", "vendor": "Vendor",
    "order_number": "Order number", "purchase_date": "Purchase date",
    "warranty_end": "Warranty end", "support_contact": "Support contact", "owner": "Owner",
    "tags": "Tags", "ring": "Ring", "impact": "Impact", "data_sensitivity": "Sensitive data",
    "critical_operations": "Critical operations", "public_facing": "Public-facing",
    "internet_facing": "Internet-facing", "notes": "Notes",
}


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    item.setToolTip(text)
    return item


class ImportDialog(QDialog):
    """Import a CSV file into the open site."""

    imported = Signal(object)  # ImportReport

    def __init__(self, parent: QWidget | None, service: SiteService, runner: TaskRunner) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import assets from CSV")
        self.setObjectName("importDialog")
        self.service = service
        self.runner = runner
        self.path: Path | None = None
        self.preview: CsvPreview | None = None
        self.report: ImportReport | None = None
        self.task: Task | None = None
        self.combos: list[QComboBox] = []

        self.file_label = QLabel("No file chosen.")
        self.file_label.setTextFormat(Qt.TextFormat.PlainText)
        self.file_label.setWordWrap(True)
        choose = QPushButton("Choose file…")
        choose.setObjectName("chooseFile")
        choose.clicked.connect(self._on_choose_clicked)
        top = QHBoxLayout()
        top.addWidget(self.file_label, 1)
        top.addWidget(choose)

        self.mapping_table = make_table_widget(
            "mappingTable", "Column mapping", ["CSV column", "Example value", "Import into"],
            single=False)
        self.mapping_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch
        )
        self.mapping_table.setColumnWidth(0, 180)
        self.mapping_table.setColumnWidth(1, 220)
        self.mapping_table.verticalHeader().setDefaultSectionSize(30)
        self.preview_table = make_table_widget("previewTable", "File preview", [],
                                               single=False)
        self.errors_table = make_table_widget("errorsTable", "Refused rows",
                                              ["Row", "Field", "Problem"], single=False)
        self.errors_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch
        )
        self.errors_table.setColumnWidth(0, 60)
        self.errors_table.setColumnWidth(1, 140)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.mapping_table, "Column mapping")
        self.tabs.addTab(self.preview_table, "Preview")
        self.tabs.addTab(self.errors_table, "Refused rows")

        self.summary = QLabel(
            "Choose a CSV file exported from a spreadsheet, another inventory tool or "
            "PatchDesk itself. Rows whose host name, MAC or IP matches an existing asset "
            "update it; the others are added."
        )
        self.summary.setObjectName("importSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("importProgress")
        self.progress.hide()

        self.check_button = QPushButton("Check (dry run)")
        self.check_button.setObjectName("dryRunButton")
        self.check_button.clicked.connect(lambda: self._start(dry_run=True))
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("importButton")
        self.import_button.clicked.connect(lambda: self._start(dry_run=False))
        self.cancel_button = QPushButton("Cancel import")
        self.cancel_button.setObjectName("cancelImport")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.cancel_button.hide()
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(0)
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self.resize(820, 560)
        self._set_busy(False)

    # -- file -------------------------------------------------------------------------------
    def _on_choose_clicked(self) -> None:
        path = dialogs.ask_open_file(self, "Import CSV", CSV_FILTER)
        if path:
            self.load_file(path)

    def load_file(self, path: Path | str) -> Task:
        """Read the file's header and first rows (in the background) and prefill the mapping."""
        self.path = Path(path)
        self.preview = None
        self.report = None
        self.file_label.setText(str(self.path))
        self.summary.setText("Reading the file…")
        self._set_busy(True, progress=False)
        target = self.path
        return self.runner.submit(
            lambda: preview_csv(target, max_rows=20), name="preview_csv",
            on_result=self._on_preview, on_error=self._on_failed,
        )

    def _on_preview(self, preview: CsvPreview) -> None:
        self.preview = preview
        self._set_busy(False)
        headers = preview.headers
        self.preview_table.clear()
        self.preview_table.setColumnCount(len(headers))
        self.preview_table.setHorizontalHeaderLabels(headers)
        self.preview_table.setRowCount(len(preview.rows))
        for r, row in enumerate(preview.rows):
            for c in range(len(headers)):
                self.preview_table.setItem(r, c, _item(row[c] if c < len(row) else ""))
        self.mapping_table.setRowCount(len(headers))
        self.combos = []
        for r, header in enumerate(headers):
            self.mapping_table.setItem(r, 0, _item(header))
            example = next((row[r] for row in preview.rows if r < len(row) and row[r]), "")
            self.mapping_table.setItem(r, 1, _item(example))
            combo = QComboBox()
            combo.setAccessibleName(f"Import column {header} into")
            combo.addItem(IGNORE, "")
            for col in IMPORTABLE_COLUMNS:
                combo.addItem(_COLUMN_LABELS.get(col, col), col)
            target = preview.mapping.get(header, "")
            combo.setCurrentIndex(max(combo.findData(target), 0))
            combo.currentIndexChanged.connect(self._on_mapping_changed)
            self.mapping_table.setCellWidget(r, 2, combo)
            self.combos.append(combo)
        self.errors_table.setRowCount(0)
        mapped = len(self.mapping())
        self.summary.setText(
            f"{preview.total_rows:,} data rows, {len(headers)} columns; {mapped} mapped. "
            "Check the mapping, then run a dry run or import."
        )
        self._set_busy(False)

    def mapping(self) -> dict[str, str]:
        """CSV header → our column for every column not ignored."""
        if self.preview is None:
            return {}
        result = {}
        for header, combo in zip(self.preview.headers, self.combos, strict=True):
            target = combo.currentData()
            if target:
                result[header] = str(target)
        return result

    def set_mapping(self, header: str, column: str) -> None:
        """Map one CSV header to one of our columns ('' to ignore it)."""
        assert self.preview is not None
        combo = self.combos[self.preview.headers.index(header)]
        combo.setCurrentIndex(max(combo.findData(column), 0))

    def _on_mapping_changed(self, _index: int) -> None:
        targets = [c.currentData() for c in self.combos if c.currentData()]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            self.summary.setText(
                "Each column can be filled from one CSV column only: "
                + ", ".join(_COLUMN_LABELS.get(d, d) for d in dupes) + " is chosen twice."
            )
        else:
            self.summary.setText(f"{len(targets)} columns mapped.")
        self._set_busy(False)

    # -- running ----------------------------------------------------------------------------
    def _start(self, *, dry_run: bool) -> Task | None:
        if self.path is None or self.preview is None:
            return None
        mapping = self.mapping()
        if not mapping:
            self.summary.setText("Map at least one column (e.g. a host name, IP or MAC column).")
            return None
        path, service = self.path, self.service
        self.summary.setText("Checking rows…" if dry_run else "Importing…")
        self.progress.setRange(0, max(self.preview.total_rows, 1))
        self.progress.setValue(0)
        self._set_busy(True, progress=True)

        def work(progress: object, cancel: object) -> ImportReport:
            return service.import_csv(path, mapping, dry_run=dry_run,
                                      progress=progress, cancel=cancel)  # type: ignore[arg-type]

        self.task = self.runner.submit(
            work, name="import_csv", write=not dry_run, with_progress=True,
            on_result=self._on_report, on_error=self._on_failed,
            on_progress=self._on_progress, on_cancelled=self._on_cancelled,
        )
        return self.task

    def _on_progress(self, progress: Progress) -> None:
        self.progress.setRange(0, max(progress.total, 1))
        self.progress.setValue(progress.done)

    def _on_report(self, report: ImportReport) -> None:
        self.task = None
        self.report = report
        self._set_busy(False)
        errors = [(e.row, f.field, f.message) for e in report.errors for f in e.errors]
        self.errors_table.setRowCount(len(errors))
        for r, (row, field, message) in enumerate(errors):
            self.errors_table.setItem(r, 0, _item(str(row)))
            self.errors_table.setItem(r, 1, _item(field))
            self.errors_table.setItem(r, 2, _item(message))
        refused = len(report.errors)
        refused_text = (f"{refused} row(s) refused — see Refused rows." if refused
                        else "No rows refused.")
        if report.dry_run:
            self.summary.setText(
                f"Dry run: would add {len(report.added):,}, update {len(report.updated):,}, "
                f"leave {report.unchanged:,} unchanged. {refused_text} Nothing was written."
            )
        else:
            self.summary.setText(
                f"Imported: {len(report.added):,} added, {len(report.updated):,} updated, "
                f"{report.unchanged:,} unchanged. {refused_text}"
            )
            self.import_button.setEnabled(False)
            self.close_button.setDefault(True)
            self.imported.emit(report)
        if refused:
            self.tabs.setCurrentWidget(self.errors_table)

    def _on_failed(self, error: TaskError) -> None:
        self.task = None
        self._set_busy(False)
        self.summary.setText(error.message)

    def _on_cancelled(self) -> None:
        self.task = None
        self._set_busy(False)
        self.summary.setText("Import cancelled; nothing was written.")

    def _on_cancel_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.summary.setText("Cancelling…")

    def _set_busy(self, busy: bool, *, progress: bool = False) -> None:
        ready = not busy and self.preview is not None and bool(self.combos)
        self.check_button.setEnabled(ready)
        if busy or self.report is None or self.report.dry_run:
            self.import_button.setEnabled(ready)
        self.progress.setVisible(busy and progress)
        self.cancel_button.setVisible(busy and progress)
        self.close_button.setEnabled(not busy)

    def reject(self) -> None:
        """Close, unless an import is running (cancel it first)."""
        if self.task is not None:
            self._on_cancel_clicked()
            return
        super().reject()
