"""The Reports page: choose sections and a period, write the PDF report in the background."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.models import Site
from app.core.progress import CancelToken, Progress
from app.services.compliance import frameworks as bundled_frameworks
from app.services.reports import SECTIONS, ReportOptions, ReportResult, generate
from app.ui.page import Page
from app.ui.qt import (
    QCheckBox,
    QDate,
    QDateEdit,
    QDesktopServices,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QUrl,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import Task, TaskError, TaskRunner
from app.ui.widgets import fit_to_text, form_row, page_header, plain_label

if TYPE_CHECKING:
    from app.services import SiteService

log = logging.getLogger(__name__)

SECTION_HINTS = {
    "exec": "compliance, missing patches by severity, devices by OS, trend, top risks",
    "inventory": "every asset: address, OS revision, hardware, warranty, owner",
    "patches": "missing updates per patch and per host, with CVEs and first seen",
    "deployments": "plan, test ring, approval, waves, reboots, failures, rollback",
    "exceptions": "exceptions and urgency decisions",
    "checklist": "patch-audit checklist judged from the data, audit-log integrity",
    "hosts": "one block per host: facts, software count, missing updates",
}


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class ReportIdentityDialog(QDialog):
    """Before a report of a site without client or MSP details: who it is for, who prepared
    it, and the logo on its first page."""

    SAVE, SKIP = "save", "skip"

    def __init__(self, parent: QWidget | None, site: Site) -> None:
        super().__init__(parent)
        self.setObjectName("reportIdentityDialog")
        self.setWindowTitle("Who is this report for?")
        intro = plain_label(
            "The report's first page names the client and who prepared it. This site has "
            "no such details yet; they are saved with the site (Site settings) and used on "
            "every report.")
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, label, hint in (
                ("client", "&Client", "the customer this site belongs to"),
                ("address", "&Address", "street, city — printed on reports"),
                ("msp_name", "&Prepared by", "your company (MSP / IT provider)"),
                ("logo_path", "&Logo file", "PNG or JPEG shown on page 1")):
            edit = QLineEdit(str(getattr(site, key) or ""))
            edit.setObjectName(f"identity_{key}")
            edit.setPlaceholderText(hint)
            self.edits[key] = edit
            if key == "logo_path":
                browse = QPushButton("Browse…")
                browse.clicked.connect(self._on_browse_clicked)
                row = QHBoxLayout()
                row.addWidget(edit, 1)
                row.addWidget(browse)
                form_row(form, label, row, edit)
            else:
                form.addRow(label, edit)
        self.error = plain_label(role="field-error", hidden=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Save and write the report",
                                             QDialogButtonBox.ButtonRole.AcceptRole)
        self.skip_button = buttons.addButton("Write it without",
                                             QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button.setDefault(True)
        self.choice = ""
        self.save_button.clicked.connect(self._on_save_clicked)
        self.skip_button.clicked.connect(self._on_skip_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        fit_to_text(self)

    def values(self) -> dict[str, str]:
        """The details typed (trimmed)."""
        return {key: edit.text().strip() for key, edit in self.edits.items()}

    def _on_browse_clicked(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Logo", "",
                                                    "Images (*.png *.jpg *.jpeg)")
        if path:
            self.edits["logo_path"].setText(path)

    def _on_save_clicked(self) -> None:
        values = self.values()
        if not values["client"] and not values["msp_name"]:
            self.error.setText("Enter the client or who prepared the report, or write the "
                               "report without them.")
            self.error.show()
            return
        logo = values["logo_path"]
        if logo and not Path(logo).expanduser().is_file():
            self.error.setText(f"No such file: {logo}")
            self.error.show()
            return
        self.choice = self.SAVE
        self.accept()

    def _on_skip_clicked(self) -> None:
        self.choice = self.SKIP
        self.accept()


class ReportsPage(Page):
    """Section checkboxes, an optional period, the output file, and Generate.

    The page runs :func:`app.services.reports.generate` on the task runner's write pool
    (it records the report's figures in the site) and shows its progress.
    """

    runner: TaskRunner
    #: Emitted with the result when a report was written (for a status-bar message).
    report_written = Signal(object)

    def __init__(self, runner: TaskRunner, service: SiteService | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reportsPage")
        self.runner = runner
        self.service = service
        self.task: Task | None = None
        self.last_result: ReportResult | None = None
        #: The site's identity as last read (None: not read yet).
        self.site: Site | None = None
        self._identity_asked = False
        header, self.subtitle = page_header(
            "Reports",
            "A branded PDF for the client: executive summary, inventory, missing patches, "
            "deployments and the patch-audit checklist, from this site's records.")

        sections = QGroupBox("Sections")
        grid = QGridLayout(sections)
        self.section_boxes: dict[str, QCheckBox] = {}
        for row, (key, title) in enumerate(SECTIONS.items()):
            box = QCheckBox(title)
            box.setObjectName(f"section_{key}")
            box.setChecked(True)
            box.toggled.connect(lambda _on: self._update_enabled())
            hint = plain_label(SECTION_HINTS[key], role="muted", wrap=False)
            grid.addWidget(box, row, 0)
            grid.addWidget(hint, row, 1)
            self.section_boxes[key] = box

        frameworks = QGroupBox("Compliance frameworks (one appendix each)")
        frameworks.setObjectName("reportFrameworks")
        fw_grid = QGridLayout(frameworks)
        self.framework_boxes: dict[str, QCheckBox] = {}
        for i, fw in enumerate(bundled_frameworks().values()):
            # the short name (the part before ":" or "("); the full title is the tooltip
            box = QCheckBox(fw.title.split(":")[0].split(" (")[0].split(",")[0])
            box.setObjectName(f"framework_{fw.id}")
            box.setToolTip(f"{fw.title} {fw.version}")
            fw_grid.addWidget(box, i // 2, i % 2)  # two columns: fits a 1024 px screen
            self.framework_boxes[fw.id] = box

        period = QGroupBox("Period (deployments, audit events and trend)")
        form = QFormLayout(period)
        today = date.today()
        self.use_from = QCheckBox("From")
        self.use_from.setObjectName("useFrom")
        self.from_date = QDateEdit(_qdate(today.replace(day=1)))
        self.from_date.setObjectName("fromDate")
        self.use_to = QCheckBox("To")
        self.use_to.setObjectName("useTo")
        self.to_date = QDateEdit(_qdate(today))
        self.to_date.setObjectName("toDate")
        for edit, box in ((self.from_date, self.use_from), (self.to_date, self.use_to)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            box.toggled.connect(edit.setEnabled)
            box.toggled.connect(lambda _on: self._update_enabled())
            edit.dateChanged.connect(lambda _d: self._update_enabled())
        form.addRow(self.use_from, self.from_date)
        form.addRow(self.use_to, self.to_date)

        self.output = QLineEdit()
        self.output.setObjectName("reportOutput")
        self.output.setAccessibleName("Report file")
        self.output.setPlaceholderText("Where to save the PDF")
        self.output.textChanged.connect(lambda _t: self._update_enabled())
        browse = QPushButton("Choose…")
        browse.setObjectName("reportBrowse")
        browse.clicked.connect(self._on_browse_clicked)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Save as"))
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)

        self.open_when_done = QCheckBox("Open when done")
        self.open_when_done.setObjectName("openWhenDone")
        self.open_when_done.setChecked(True)
        self.generate_button = QPushButton("Generate report")
        self.generate_button.setObjectName("generateReport")
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelReport")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.progress = QProgressBar()
        self.progress.setObjectName("reportProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setVisible(False)
        self.status = plain_label(name="reportStatus")
        actions = QHBoxLayout()
        actions.addWidget(self.open_when_done)
        actions.addStretch(1)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.generate_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addWidget(sections)
        layout.addWidget(frameworks)
        layout.addWidget(period)
        layout.addLayout(out_row)
        layout.addLayout(actions)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.set_service(service)

    # -- state ---------------------------------------------------------------------------
    def bind(self, service: SiteService | None, runner: TaskRunner) -> None:
        self.runner = runner
        self.site = None
        self._identity_asked = False
        self.stale = True
        self.set_service(service)

    def set_service(self, service: SiteService | None) -> None:
        """Work on another site (or none); proposes a file name beside the site."""
        self.service = service
        if service is not None and not self.output.text():
            stem = service.path.stem
            self.output.setText(str(Path.home() / f"{stem}-report-{date.today()}.pdf"))
        self._update_enabled()

    def options(self) -> ReportOptions:
        """The sections and period chosen.

        Raises:
            UserError: the period ends before it starts.
        """
        return ReportOptions(
            tuple(k for k, box in self.section_boxes.items() if box.isChecked()),
            _pydate(self.from_date.date()) if self.use_from.isChecked() else None,
            _pydate(self.to_date.date()) if self.use_to.isChecked() else None,
            tuple(k for k, box in self.framework_boxes.items() if box.isChecked()))

    def _problem(self) -> str:
        if self.service is None:
            return "Open a site first."
        if not any(box.isChecked() for box in self.section_boxes.values()):
            return "Choose at least one section."
        if (self.use_from.isChecked() and self.use_to.isChecked()
                and self.from_date.date() > self.to_date.date()):
            return "The period starts after it ends."
        if not self.output.text().strip():
            return "Choose where to save the PDF."
        return ""

    def _update_enabled(self) -> None:
        busy = self.task is not None
        problem = self._problem()
        self.generate_button.setEnabled(not busy and not problem)
        self.generate_button.setToolTip(problem)
        if problem and not busy:
            self.status.setText(problem)
        elif not busy and self.status.text() in {
                "Open a site first.", "Choose at least one section.",
                "The period starts after it ends.", "Choose where to save the PDF."}:
            self.status.setText("")

    # -- actions -------------------------------------------------------------------------
    @staticmethod
    def ask_output_path(parent: QWidget, current: str) -> str:
        """Ask where to save the PDF ("" when cancelled); tests replace this."""
        path, _filter = QFileDialog.getSaveFileName(parent, "Save report as", current,
                                                    "PDF files (*.pdf)")
        if path and not path.lower().endswith(".pdf"):
            path += ".pdf"
        return str(path)

    def _on_browse_clicked(self) -> None:
        path = self.ask_output_path(self, self.output.text())
        if path:
            self.output.setText(path)

    @staticmethod
    def ask_identity(parent: QWidget, site: Site) -> tuple[str, dict[str, str]]:
        """Ask for the client and MSP details: ("save", values), ("skip", {}) or ("", {})
        when cancelled; tests replace this."""
        dialog = ReportIdentityDialog(parent, site)
        try:
            dialog.exec()
            return dialog.choice, dialog.values() if dialog.choice == dialog.SAVE else {}
        finally:
            dialog.deleteLater()

    def load(self) -> None:
        """Read the site's identity (whether the report would name a client and an MSP)."""
        self.read(lambda service: service.site(), "report site",
                  lambda site: setattr(self, "site", site))

    def needs_identity(self) -> bool:
        """The site has no client or no MSP named, and nobody was asked in this session."""
        site = self.site
        return (site is not None and not self._identity_asked
                and not (site.client and site.msp_name))

    def generate(self) -> Task | None:
        """Start writing the report in the background (None if the form is incomplete, or
        while the client and MSP details are being saved first)."""
        problem = self._problem()
        if problem or self.service is None or self.task is not None:
            return None
        if self.needs_identity() and self.site is not None:
            self._identity_asked = True
            choice, values = type(self).ask_identity(self, self.site)
            if not choice:
                self.status.setText("No report was written.")
                return None
            if choice == ReportIdentityDialog.SAVE:
                service = self.service
                changes = {k: v for k, v in values.items() if v}

                def saved(site: Site) -> None:
                    self.site = site
                    self.status_message.emit("Saved the client and MSP details.", 5000)
                    self.generate()

                def failed(error: TaskError) -> None:
                    self._identity_asked = False
                    self.status.setText(f"The details were not saved: {error.message}")

                self.write("site", lambda: service.update_site(**changes), saved, failed)
                return None
        options = self.options()
        service = self.service
        target = Path(self.output.text().strip()).expanduser()

        def work(progress: Any, cancel: CancelToken) -> ReportResult:
            return generate(service, target, options, progress=progress, cancel=cancel)

        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText("Collecting the site's records…")
        self.task = self.runner.submit(
            work, name="report", write=True, with_progress=True,
            on_result=self._on_task_succeeded, on_error=self._on_task_failed,
            on_progress=self._on_task_progressed, on_cancelled=self._on_task_cancelled)
        self.task.finished.connect(self._on_task_finished)
        self.cancel_button.setEnabled(self.task is not None and self.task.running)
        self._update_enabled()
        return self.task

    def _on_cancel_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")

    # -- task outcome (GUI thread) -------------------------------------------------------
    def _on_task_progressed(self, progress: Progress) -> None:
        self.progress.setValue(int(progress.fraction * 1000))
        if progress.message:
            self.status.setText(progress.message)

    def _on_task_succeeded(self, result: ReportResult) -> None:
        self.last_result = result
        self.progress.setValue(1000)
        pct = result.figures.get("compliance_pct")
        self.status.setText(
            f"Wrote {result.pages} page(s) to {result.path} in {result.seconds:.1f} s — "
            f"compliance {'—' if pct is None else f'{pct}%'}, "
            f"{result.figures.get('missing_total', 0)} missing update(s).")
        self.report_written.emit(result)
        if self.open_when_done.isChecked() and not QDesktopServices.openUrl(
                QUrl.fromLocalFile(str(result.path))):
            # No PDF viewer answered: say so rather than leave the user waiting for one.
            message = (f"The report was written but could not be opened (no program for "
                       f"PDF files answered). Open it from {result.path}.")
            self.status.setText(f"{self.status.text()}\n{message}")
            self.status_message.emit(message, 15_000)

    def _on_task_failed(self, error: TaskError) -> None:
        self.status.setText(f"The report was not written: {error.message}")

    def _on_task_cancelled(self) -> None:
        self.status.setText("Cancelled; no report was written.")

    def _on_task_finished(self) -> None:
        self.task = None
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self._update_enabled()
