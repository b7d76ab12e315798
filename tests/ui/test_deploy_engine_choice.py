"""The wizard's engine choice: offered when Ansible is installed, says what each engine
does, shows the playbooks before anything runs, and leaves a resumed deployment on the
engine that started it unless the user picks one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services import SiteService
from app.ui.deploy.wizard import DeployWizard
from app.ui.qt import QDialog, QPlainTextEdit, QTabWidget
from app.ui.tasks import TaskRunner


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    tasks.cancel_all()
    assert tasks.wait_for_done(60_000)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SiteService]:
    site = SiteService.open(tmp_path / "w.pdsite", create=True, actor="tech")
    yield site
    site.close()


def test_engine_choice_on_the_schedule_page(qtbot, runner: TaskRunner,
                                            service: SiteService) -> None:
    wizard = DeployWizard(service, runner)
    qtbot.addWidget(wizard)
    choice = wizard.engine_choice
    assert choice.parent() is wizard.schedule_page
    available = not service.deployments.engine_problem("ansible")
    assert choice.isHidden() is not available
    if not available:
        assert choice.kind() == ""
        return
    texts = service.deployments.engines()
    assert "playbooks" in texts["ansible"] and "SSH" in texts["builtin"]
    assert choice.kind() == ""  # not chosen: a resumed deployment keeps its engine
    assert not choice.playbooks_button.isEnabled()
    choice.buttons["ansible"].click()
    assert choice.kind() == "ansible" and choice.playbooks_button.isEnabled()
    choice.specs = lambda: ["pd-tools=2.1-1"]
    choice.playbooks_button.click()
    dialog = choice.findChild(QDialog, "playbooksDialog")
    assert dialog is not None and dialog.isVisible()
    tabs = dialog.findChild(QTabWidget)
    names = [tabs.tabText(i) for i in range(tabs.count())]
    assert {"install.yml", "rollback.yml", "reboot.yml"} <= set(names)
    install = tabs.widget(names.index("install.yml"))
    assert isinstance(install, QPlainTextEdit) and install.isReadOnly()
    assert "ansible.builtin.apt:" in install.toPlainText()
    variables = tabs.widget(names.index("host_vars (install)"))
    assert "pd-tools=2.1-1" in variables.toPlainText()
    dialog.reject()
    choice.buttons["builtin"].click()
    assert choice.kind() == "builtin"
