"""A damaged site file in the GUI: the refusal offers its backup ("Restore backup") at
start-up and from File ▸ Open; choosing it puts the backup in place, keeps the damaged
file beside it, and opens the restored site ([12], issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services import SiteService
from app.ui import dialogs
from app.ui import main as ui_main
from app.ui.mainwindow import MainWindow
from app.ui.qt import QApplication, QMessageBox, QTimer
from tests.integration.test_site_file_faults import damaged_site_with_backup


def click_when_shown(text: str, seen: list[str]) -> None:
    """Click the button ``text`` of the next message box (noting its text)."""

    def check() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text() + "\n" + box.informativeText())
            for button in box.buttons():
                if button.text() == text:
                    button.click()
                    return
            pytest.fail(f"no {text!r} button in {[b.text() for b in box.buttons()]}")
        QTimer.singleShot(20, check)

    QTimer.singleShot(0, check)


def test_start_up_offers_the_backup_of_a_damaged_site(qtbot: object, tmp_path: Path) -> None:
    path, backup = damaged_site_with_backup(tmp_path)
    seen: list[str] = []
    click_when_shown("Restore backup", seen)
    service = ui_main.open_first_site(str(path))
    assert service is not None
    try:
        assert "is damaged" in seen[0] and f"Restore the backup {backup.name}" in seen[0]
        assert [a.hostname for a in service.assets()] == ["in-the-backup"]
        assert service.audit_events(limit=1)[0].action == "site.restore_backup"
    finally:
        service.close()
    assert [p for p in tmp_path.iterdir() if ".damaged-" in p.name]


def test_a_damaged_site_without_backup_offers_no_restore(qtbot: object, tmp_path: Path) -> None:
    path = tmp_path / "nb.pdsite"
    SiteService.open(path, create=True).close()
    path.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8000)
    seen: list[str] = []
    click_when_shown("Quit", seen)
    assert ui_main.open_first_site(str(path)) is None
    assert "Restore" not in seen[0]


def test_file_open_of_a_damaged_site_asks_to_restore_its_backup(
        window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        shown_errors: list[tuple[str, str]]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    path, backup = damaged_site_with_backup(other)
    questions: list[str] = []
    answers = iter([False, True])

    def confirm(parent: object, title: str, question: str) -> bool:
        questions.append(question)
        return next(answers)

    monkeypatch.setattr(dialogs, "confirm", confirm)
    assert not window.open_site_path(path)  # declined: nothing changed, nothing shown
    assert not [p for p in other.iterdir() if ".damaged-" in p.name]
    assert window.open_site_path(path)  # accepted: restored and opened
    assert f"Restore the backup {backup.name}?" in questions[0]
    assert window.service is not None
    assert [a.hostname for a in window.service.assets()] == ["in-the-backup"]
    assert not shown_errors
    SiteService.open(path).close()  # the restored file opens on its own too
