"""The deploy wizard: choosing patches, rings and a schedule on stored assessments; and,
against the lab's real Debian hosts, test ring → named approval → pilot → production →
verification end to end without stalling the GUI, a halt with rollback, and closing mid-run
then resuming."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.assessment import Assessment, Update
from app.core.clock import utcnow
from app.core.deployment import (
    Deployment,
    Gates,
    HostState,
    PackageChange,
    PackagePin,
    Phase,
    RebootPolicy,
    Stage,
    Target,
    targets_csv,
)
from app.core.models import Asset, AssetPatch, Classification, Ring, Severity
from app.core.patchgroups import group_patches
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo
from app.ui.deploy import questions
from app.ui.deploy.helpers import (
    P_PATCHES,
    P_REVIEW,
    P_SUMMARY,
    P_TARGETS,
    P_TEST,
    window_start,
    window_text,
)
from app.ui.deploy.wizard import DeployWizard
from app.ui.pin_dialog import PinDialog
from app.ui.qt import QWizard
from app.ui.tasks import TaskRunner
from tests.ui.stall import StallMeter

MASTER = "lab master password"


# -- helpers --------------------------------------------------------------------------------
@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    tasks.cancel_all()
    assert tasks.wait_for_done(120_000)


class Closing:
    """Answers for the close confirmation (queued; yes when none) and the answers given."""

    def __init__(self) -> None:
        self.answers: list[bool] = []
        self.asked: list[bool] = []

    def append(self, answer: bool) -> None:
        self.answers.append(answer)

    def __call__(self, _cls: type, _parent: object) -> bool:
        answer = self.answers.pop(0) if self.answers else True
        self.asked.append(answer)
        return answer


@pytest.fixture(autouse=True)
def closing(monkeypatch: pytest.MonkeyPatch) -> Closing:
    """No real question box: close confirmations are answered by the test."""
    recorder = Closing()
    monkeypatch.setattr(DeployWizard, "confirm_close", classmethod(recorder))
    return recorder


def click_next(qtbot, wizard: DeployWizard) -> None:
    page = wizard.currentPage()
    which = (QWizard.WizardButton.CommitButton if page.isCommitPage()
             else QWizard.WizardButton.NextButton)
    button = wizard.button(which)
    assert button.isEnabled(), f"Next is disabled on page {wizard.currentId()}"
    button.click()


def open_wizard(qtbot, service: SiteService, runner: TaskRunner) -> DeployWizard:
    wizard = DeployWizard(service, runner)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.patches_page.loaded, timeout=20_000)
    return wizard


def record_assessment(service: SiteService, asset: Asset, updates: list[Update]) -> None:
    now = utcnow()
    with service.store.atomic() as db:
        AssessmentRepo(db).record_success(int(asset.id or 0), now, now,
                                          Assessment(host=asset.label, driver="apt",
                                                     updates=updates))


@pytest.fixture
def patched_site(tmp_path: Path) -> Iterator[SiteService]:
    """A site with three hosts and stored assessments (no lab needed)."""
    service = SiteService.open(tmp_path / "wizard.pdsite", create=True, actor="tester")
    made = [service.add_asset(Asset(hostname=name, ips=(ip,), ring=ring)) for name, ip, ring in (
        ("alpha", "10.0.0.1", Ring.TEST), ("bravo", "10.0.0.2", Ring.PILOT),
        ("charlie", "10.0.0.3", Ring.NONE))]
    ssl = Update("pd-openssl", "1.0-2", "1.0-1", classification=Classification.SECURITY,
                 severity=Severity.IMPORTANT, cves=("CVE-2024-0001",))
    tools = Update("pd-tools", "2.1-1", "2.0-1", classification=Classification.BUGFIX)
    record_assessment(service, made[0], [ssl, tools])
    record_assessment(service, made[1], [ssl])
    record_assessment(service, made[2], [ssl, tools])
    yield service
    service.close()


# -- pure helpers ---------------------------------------------------------------------------
def test_group_patches_by_package_and_version_most_urgent_first() -> None:
    patches = [
        AssetPatch(1, "zlib", "2", classification=Classification.BUGFIX),
        AssetPatch(1, "ssl", "3", classification=Classification.SECURITY,
                   severity=Severity.LOW, cves=("CVE-1",)),
        AssetPatch(2, "ssl", "3", classification=Classification.SECURITY,
                   severity=Severity.CRITICAL, cves=("CVE-2",)),
        AssetPatch(3, "ssl", "4", classification=Classification.SECURITY),
    ]
    groups = group_patches(patches)
    assert [(g.package, g.version, g.asset_ids) for g in groups] == [
        ("ssl", "3", (1, 2)), ("ssl", "4", (3,)), ("zlib", "2", (1,))]
    assert groups[0].severity is Severity.CRITICAL
    assert groups[0].cves == ("CVE-1", "CVE-2")
    assert groups[0].spec == "ssl=3"


def test_window_round_trip() -> None:
    start = datetime(2031, 5, 4, 22, 30, tzinfo=UTC)
    assert window_start(window_text(start)) == start
    assert window_start("") is None
    assert window_start("Saturdays 22:00") is None


def test_targets_csv_keeps_formulas_as_text() -> None:
    dep = Deployment(id=7, packages=(PackagePin("p", "1"),), targets=(
        Target(asset_id=1, label="=cmd|' /C calc'!A0", address="10.0.0.1", stage=Stage.TEST,
               state=HostState.FAILED, detail="-boom", before={"p": "0"}, after={"p": "1"}),))
    lines = targets_csv(dep).splitlines()
    assert lines[0].startswith("deployment,host,address,ring")
    assert "'=cmd|' /C calc'!A0" in lines[1]
    assert ",'-boom," in lines[1]


# -- without the lab ------------------------------------------------------------------------
def test_patches_targets_and_a_maintenance_window_then_resume(
        qtbot, patched_site: SiteService, runner: TaskRunner,
        shown_errors: list[tuple[str, str]]) -> None:
    wizard = open_wizard(qtbot, patched_site, runner)
    page = wizard.patches_page
    assert [g.package for g in page.groups] == ["pd-openssl", "pd-tools"]
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()  # nothing chosen yet
    page.class_combo.setCurrentIndex(page.class_combo.findText("Bug fix"))
    assert page.table.isRowHidden(0) and not page.table.isRowHidden(1)
    page.class_combo.setCurrentIndex(0)
    page.filter_edit.setText("cve-2024")
    assert not page.table.isRowHidden(0) and page.table.isRowHidden(1)
    page.check_package("pd-openssl")
    assert next_button.isEnabled()
    click_next(qtbot, wizard)

    assert wizard.currentId() == P_TARGETS
    targets = wizard.targets_page
    # Every host missing pd-openssl, each in its own ring by default.
    assert dict(targets.chosen()) == {
        a.id: s for a, s in zip(patched_site.assets(),
                                (Stage.TEST, Stage.PILOT, Stage.PRODUCTION), strict=True)}
    assert "1 test" in targets.warning.text()
    targets.set_stage("alpha", Stage.PRODUCTION)
    assert "No host is in the test ring" in targets.warning.text()
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # a warning only
    for name in ("alpha", "bravo", "charlie"):
        targets.set_checked(name, False)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    targets.set_checked("alpha", True)
    targets.set_checked("charlie", True)
    targets.set_stage("alpha", Stage.TEST)
    targets.failure_mode.setCurrentIndex(targets.failure_mode.findData("count"))
    targets.failure_spin.setValue(2)
    targets.reboot_combo.setCurrentIndex(targets.reboot_combo.findData("never"))
    click_next(qtbot, wizard)

    schedule = wizard.schedule_page
    assert "pd-openssl=1.0-2 to 2 host(s)" in schedule.summary.text()
    schedule.window_radio.setChecked(True)
    start = datetime.now().astimezone() + timedelta(hours=2)
    schedule.start_edit.setDateTime(schedule.start_edit.dateTime().fromSecsSinceEpoch(
        int(start.timestamp())))
    click_next(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentId() == P_TEST, timeout=10_000)

    dep = wizard.dep
    assert dep is not None
    stored = patched_site.deployment(dep.id)
    assert stored.phase is Phase.PLANNED
    assert {t.label: t.stage for t in stored.targets} == {"alpha": Stage.TEST,
                                                           "charlie": Stage.PRODUCTION}
    assert stored.gates.max_failures == 2
    assert stored.gates.reboot is RebootPolicy.NEVER
    started = window_start(stored.window)
    assert started is not None and abs((started - start).total_seconds()) < 61
    # Waiting for the window: a countdown, Start now, nothing running, no going back.
    test_page = wizard.test_page
    qtbot.waitUntil(lambda: test_page.wait_box.isVisible())
    assert "Waiting for the maintenance window" in test_page.wait_label.text()
    assert not wizard.running
    assert not wizard.button(QWizard.WizardButton.BackButton).isVisible() or \
        not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert not wizard.button(QWizard.WizardButton.CommitButton).isEnabled()

    # Closing while only waiting does not ask; the plan stays and reopens at the same page.
    wizard.reject()
    assert not wizard.isVisible()
    opened: list[DeployWizard] = []
    DeployWizard.resume(patched_site, runner, dep.id, on_open=opened.append)
    qtbot.waitUntil(lambda: bool(opened), timeout=10_000)
    again = opened[0]
    qtbot.addWidget(again)
    assert again is not wizard
    assert again.currentId() == P_TEST
    qtbot.waitUntil(lambda: again.test_page.wait_box.isVisible())
    assert patched_site.deployment(dep.id).phase is Phase.PLANNED
    # Start now: the run begins at once (here every host fails pre-flight: no credentials).
    again.test_page.start_now_button.click()
    assert not again.test_page.wait_box.isVisible()
    qtbot.waitUntil(lambda: not again.busy and again.dep is not None
                    and again.dep.phase is not Phase.PLANNED, timeout=20_000)
    assert patched_site.deployment(dep.id).phase is not Phase.PLANNED
    again.reject()


def test_one_version_per_package(qtbot, patched_site: SiteService, runner: TaskRunner,
                                 shown_errors) -> None:
    asset = patched_site.assets()[2]
    record_assessment(patched_site, asset, [Update("pd-openssl", "1.0-3", "1.0-1")])
    wizard = open_wizard(qtbot, patched_site, runner)
    versions = [(g.package, g.version) for g in wizard.patches_page.groups]
    assert ("pd-openssl", "1.0-2") in versions and ("pd-openssl", "1.0-3") in versions
    wizard.patches_page.check_package("pd-openssl")
    click_next(qtbot, wizard)
    assert wizard.currentId() == P_PATCHES
    assert shown_errors and "Choose one version of pd-openssl" in shown_errors[-1][1]


# -- against the lab ------------------------------------------------------------------------
@pytest.fixture
def lab_site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "deploy.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.people.add("J. Smith", "4711-blue")  # approvals need the approver's PIN ([12].8)
    yield service
    service.close()


@pytest.fixture(autouse=True)
def approver_pin(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The PIN dialog answers J. Smith's PIN; returns the names it was asked for."""
    asked: list[str] = []

    def ask(_parent: object, name: str, _purpose: str) -> str:
        asked.append(name)
        return "4711-blue"

    monkeypatch.setattr(PinDialog, "ask", staticmethod(ask))
    return asked


def add_hosts(lab_host, site: SiteService, names: list[str]) -> None:
    for name in names:
        info = lab_host(name=name)
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))


def version(lab, host: str, package: str) -> str:
    out = lab.exec(host, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", package])
    return str(out.stdout).strip()


def install_commands(lab, host: str, package: str) -> int:
    text = lab.read_file(host, "/var/log/apt/history.log")
    return sum(1 for line in text.splitlines()
               if line.startswith("Commandline:") and f" {package}=" in line)


def plan_in_wizard(qtbot, wizard: DeployWizard, package: str,
                   rings: dict[str, Stage]) -> None:
    """Choose one package and the rings, start now; returns on the test ring page."""
    wizard.patches_page.check_package(package)
    click_next(qtbot, wizard)
    assert wizard.currentId() == P_TARGETS
    for label, stage in rings.items():
        wizard.targets_page.set_stage(label, stage)
    assert {wizard.assets[a].label: s for a, s in wizard.targets_page.chosen()} == rings
    wizard.targets_page.wave_spin.setValue(1)
    click_next(qtbot, wizard)
    assert wizard.schedule_page.now_radio.isChecked()
    click_next(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentId() == P_TEST, timeout=20_000)
    assert wizard.dep is not None


@pytest.mark.lab
def test_the_approval_page_shows_the_whole_change_set(qtbot, patched_site: SiteService,
                                                       runner: TaskRunner) -> None:
    old, new = "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"
    changes = (PackageChange("zlib1g-dev", old, new, "upgrade", requested=True),
               PackageChange("zlib1g", old, new, "upgrade"),
               PackageChange("libc6-dev", "", "2.36-9+deb12u14", "install"))
    alpha, bravo = (patched_site.find_assets(n)[0] for n in ("alpha", "bravo"))
    targets = (
        Target(int(alpha.id or 0), "alpha", "10.0.0.1", Stage.TEST, state=HostState.SUCCEEDED,
               changes=changes[:2], before={"zlib1g-dev": old, "zlib1g": old},
               after={"zlib1g-dev": new, "zlib1g": new}),
        Target(int(bravo.id or 0), "bravo", "10.0.0.2", Stage.PRODUCTION, changes=changes))
    with patched_site.store.atomic() as db:
        dep = DeploymentRepo(db).create(Deployment(
            id=0, packages=(PackagePin("zlib1g-dev", new),), targets=targets,
            phase=Phase.AWAITING_APPROVAL))
    wizard = DeployWizard(patched_site, runner, deployment=dep)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == P_REVIEW
    label = wizard.review_page.changes_label
    assert label.text() == (f"Changes: zlib1g-dev {old} → {new}, and with it: libc6-dev (new) "
                            f"2.36-9+deb12u14, zlib1g {old} → {new}")
    assert label.isVisible()
    table = wizard.review_page.table
    assert table.item(0, 3).text() == f"zlib1g {new}, zlib1g-dev {new}"


def test_wizard_end_to_end_against_the_lab(qtbot, lab, lab_host, lab_site: SiteService,
                                           runner: TaskRunner, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["wtest", "wpilot", "wprod"]
    add_hosts(lab_host, lab_site, names)
    lab_site.assess_assets()
    wizard = open_wizard(qtbot, lab_site, runner)
    with StallMeter() as meter:
        plan_in_wizard(qtbot, wizard, "pd-openssl", {"wtest": Stage.TEST,
                                                     "wpilot": Stage.PILOT,
                                                     "wprod": Stage.PRODUCTION})
        assert wizard.running
        assert not wizard.button(QWizard.WizardButton.CommitButton).isEnabled()
        qtbot.waitUntil(lambda: wizard.currentId() == P_REVIEW, timeout=300_000)
    dep = wizard.dep
    assert dep is not None and dep.phase is Phase.AWAITING_APPROVAL
    log = wizard.test_page.log_view.toPlainText()
    assert "pre-flight passed" in log and "wtest: installing pd-openssl=1.0-2" in log
    assert version(lab, "wtest", "pd-openssl") == "1.0-2 ii"
    assert version(lab, "wpilot", "pd-openssl") == "1.0-1 ii"  # nothing past the test ring
    review = wizard.review_page
    qtbot.waitUntil(lambda: review.approve_button.isEnabled())
    assert review.table.rowCount() == 1
    assert review.table.item(0, 0).text() == "wtest"
    assert "pd-openssl 1.0-1" in review.table.item(0, 2).text()
    assert "pd-openssl 1.0-2" in review.table.item(0, 3).text()
    assert "1 of 1 host(s) installed" in review.gate_label.text()
    assert review.changes_label.text() == "Changes: pd-openssl 1.0-1 → 1.0-2"
    assert not wizard.button(QWizard.WizardButton.CommitButton).isEnabled()  # approve first
    assert review.approver_edit.text()  # the OS user by default
    review.approver_edit.setText("J. Smith")
    review.note_edit.setText("test ring looks fine")
    shot = os.environ.get("PATCHDESK_SCREENSHOT")
    if shot:
        wizard.grab().save(shot)

    with StallMeter() as meter2:
        review.approve_button.click()
        qtbot.waitUntil(lambda: wizard.currentId() == P_SUMMARY, timeout=600_000)
    assert meter.worst < 100, f"GUI thread stalled for {meter.worst} ms (test ring)"
    assert meter2.worst < 100, f"GUI thread stalled for {meter2.worst} ms (rollout)"
    assert meter.ticks > 50 and meter2.ticks > 50

    summary = wizard.summary_page
    qtbot.waitUntil(lambda: summary.headline.text().startswith("Done"), timeout=10_000)
    assert summary.headline.text() == "Done: every host is installed (3 of 3)."
    assert "Approved by J. Smith: test ring looks fine" in summary.details.text()
    verified = {t.label: t.verified for t in summary.model.objects()}
    assert verified == dict.fromkeys(names, "installed")
    for name in names:
        assert version(lab, name, "pd-openssl") == "1.0-2 ii"
    stored = lab_site.deployment(dep.id)
    assert stored.phase is Phase.DONE
    assert stored.approval is not None and stored.approval.approver == "J. Smith"

    # Export: CSV of the targets and the JSON of the whole deployment.
    out = {"csv": tmp_path / "dep.csv", "json": tmp_path / "dep.json"}
    monkeypatch.setattr(questions, "ask_export_path",
                        lambda _parent, kind, _suggested: str(out[kind]))
    summary.csv_button.click()
    qtbot.waitUntil(lambda: out["csv"].exists(), timeout=10_000)
    summary.json_button.click()
    qtbot.waitUntil(lambda: out["json"].exists(), timeout=10_000)
    rows = out["csv"].read_text().splitlines()
    assert len(rows) == 4 and all(",installed," in r for r in rows[1:])
    data = json.loads(out["json"].read_text())
    assert data["phase"] == "done" and data["approval"]["approver"] == "J. Smith"
    assert any("approved by J. Smith" in line["message"] for line in data["log"])
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert not wizard.isVisible()


@pytest.mark.lab
def test_halt_in_the_test_ring_then_rollback(qtbot, lab, lab_host, lab_site: SiteService,
                                             runner: TaskRunner,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    add_hosts(lab_host, lab_site, ["htest", "hprod"])
    lab_site.assess_assets()
    wizard = open_wizard(qtbot, lab_site, runner)
    assert ("pd-broken", "1.1-1") in [(g.package, g.version)
                                      for g in wizard.patches_page.groups]
    plan_in_wizard(qtbot, wizard, "pd-broken", {"htest": Stage.TEST,
                                                "hprod": Stage.PRODUCTION})
    page = wizard.test_page
    qtbot.waitUntil(lambda: page.rollback_button.isVisible() and not wizard.busy,
                    timeout=300_000)
    assert page.halt_label.isVisible()
    assert "test host(s) failed" in page.halt_label.text()
    assert wizard.dep is not None and wizard.dep.phase is Phase.HALTED
    assert version(lab, "htest", "pd-broken").startswith("1.1-1 i")
    assert version(lab, "hprod", "pd-broken") == "1.0-1 ii"
    asked: list[int] = []
    monkeypatch.setattr(questions, "confirm_rollback",
                        lambda _parent, dep: asked.append(dep.id) or True)
    page.rollback_button.click()
    qtbot.waitUntil(lambda: wizard.dep is not None
                    and wizard.dep.phase is Phase.ROLLED_BACK and not wizard.busy,
                    timeout=300_000)
    assert asked == [wizard.dep.id]
    assert "Rolled back" in page.halt_label.text()
    assert version(lab, "htest", "pd-broken") == "1.0-1 ii"
    click_next(qtbot, wizard)
    assert wizard.currentId() == P_SUMMARY
    assert wizard.summary_page.headline.text() == "Rolled back."


@pytest.mark.lab
def test_close_mid_run_asks_then_resume_finishes_without_installing_twice(
        qtbot, lab, lab_host, lab_site: SiteService, runner: TaskRunner, closing: Closing) -> None:
    names = ["rtest", "rprod"]
    add_hosts(lab_host, lab_site, names)
    outcomes = lab_site.assess_assets()
    assert all(o.ok for o in outcomes), [o.to_dict() for o in outcomes if not o.ok]
    wizard = open_wizard(qtbot, lab_site, runner)
    plan_in_wizard(qtbot, wizard, "pd-tools", {"rtest": Stage.TEST,
                                               "rprod": Stage.PRODUCTION})
    dep_id = wizard.dep.id if wizard.dep else 0
    qtbot.waitUntil(lambda: "rtest: installing" in wizard.test_page.log_view.toPlainText(),
                    timeout=120_000)
    closing.append(False)  # "Cancel": the wizard stays open and keeps running
    wizard.close()
    assert closing.asked == [False]
    assert wizard.isVisible() and wizard.running
    closing.append(True)
    wizard.close()
    assert closing.asked == [False, True]
    assert not wizard.isVisible()
    qtbot.waitUntil(lambda: runner.active == 0, timeout=60_000)
    stopped = lab_site.deployment(dep_id)
    assert stopped.phase in (Phase.TEST_RING, Phase.AWAITING_APPROVAL)

    opened: list[DeployWizard] = []
    DeployWizard.resume(lab_site, runner, dep_id, on_open=opened.append)
    qtbot.waitUntil(lambda: bool(opened), timeout=10_000)
    again = opened[0]
    qtbot.addWidget(again)
    assert again.currentId() in (P_TEST, P_REVIEW)
    # the resumed wizard reads the stored log in the background: wait for it
    qtbot.waitUntil(lambda: "rtest: installing" in again.test_page.log_view.toPlainText()
                    or again.currentId() == P_REVIEW, timeout=30_000)
    qtbot.waitUntil(lambda: again.currentId() == P_REVIEW, timeout=300_000)
    qtbot.waitUntil(lambda: again.review_page.approve_button.isEnabled())
    again.review_page.approver_edit.setText("J. Smith")
    again.review_page.approve_button.click()
    qtbot.waitUntil(lambda: again.currentId() == P_SUMMARY, timeout=300_000)
    qtbot.waitUntil(lambda: again.summary_page.headline.text().startswith("Done"))
    assert again.summary_page.headline.text() == "Done: every host is installed (2 of 2)."
    for name in names:
        assert version(lab, name, "pd-tools") == "2.1-1 ii"
        assert install_commands(lab, name, "pd-tools") == 1, name
    assert closing.asked == [False, True]  # nothing running at the end: no question
    again.button(QWizard.WizardButton.FinishButton).click()


def test_failed_preflight_offers_override_and_retry(
        qtbot, patched_site: SiteService, runner: TaskRunner,
        monkeypatch: pytest.MonkeyPatch, shown_errors: list[tuple[str, str]]) -> None:
    # No credentials on this site: every host fails pre-flight. The engine halts before
    # installing anything; the page shows why per host and offers Override and Retry.
    wizard = open_wizard(qtbot, patched_site, runner)
    wizard.patches_page.check_package("pd-tools")
    click_next(qtbot, wizard)
    click_next(qtbot, wizard)
    click_next(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentId() == P_TEST, timeout=10_000)
    page = wizard.test_page
    qtbot.waitUntil(lambda: page.continue_button.isVisible() and not wizard.busy,
                    timeout=30_000)
    assert not wizard.button(QWizard.WizardButton.CommitButton).isEnabled()
    states = {t.label: page.model.data(page.model.index(row, 4))
              for row, t in enumerate(page.model.objects())}
    assert states == {"alpha": "excluded (pre-flight)", "charlie": "excluded (pre-flight)"}
    assert "no SSH credential" in page.model.data(page.model.index(0, 9))
    qtbot.waitUntil(lambda: "pre-flight failed" in page.log_view.toPlainText())
    assert page.override_button.isVisible() and not page.override_button.isEnabled()
    page.table.selectRow(0)
    assert page.override_button.isEnabled()
    reasons: list[str] = []
    monkeypatch.setattr(questions, "ask_override_reason",
                        lambda _parent, target: reasons.append(target.label) or "known good")
    page.override_button.click()
    qtbot.waitUntil(lambda: wizard.dep is not None and wizard.dep.targets[0].override != ""
                    and not wizard.busy, timeout=10_000)
    assert reasons == ["alpha"]
    dep = patched_site.deployment(wizard.dep.id)
    assert dep.target(dep.targets[0].asset_id).override == "tester: known good"
    assert "override by tester: known good" in page.model.data(page.model.index(0, 9))
    # Retry: alpha now takes part in the test ring; without a credential it fails there,
    # and the deployment halts with the reason shown prominently.
    page.continue_button.click()
    qtbot.waitUntil(lambda: page.halt_label.isVisible() and not wizard.busy, timeout=30_000)
    assert "test host(s) failed" in page.halt_label.text()
    # alpha failed before anything was installed: no Roll back ([13]).
    assert not page.rollback_button.isVisible()
    assert "Nothing was installed" in page.halt_label.text()
    assert wizard.button(QWizard.WizardButton.CommitButton).isEnabled()  # on to the summary
    wizard.reject()  # nothing running: closes without asking
    assert not wizard.isVisible()


@pytest.mark.lab
def test_a_preflight_that_leaves_hosts_out_pauses_before_installing(
        qtbot, lab, lab_host, lab_site: SiteService, runner: TaskRunner) -> None:
    # The wizard asks the engine to stop right after pre-flight when hosts were left out
    # (``pause_after_preflight``): nothing is installed until the user goes on without them.
    names = ["qtest", "qprod", "qgone"]
    add_hosts(lab_host, lab_site, names)
    lab_site.assess_assets()
    wizard = open_wizard(qtbot, lab_site, runner)
    wizard.patches_page.check_package("pd-openssl")
    click_next(qtbot, wizard)
    for label, stage in (("qtest", Stage.TEST), ("qprod", Stage.PRODUCTION),
                         ("qgone", Stage.PRODUCTION)):
        wizard.targets_page.set_stage(label, stage)
    click_next(qtbot, wizard)
    wizard.schedule_page.window_radio.setChecked(True)  # wait, to change the site first
    click_next(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.test_page.wait_box.isVisible(), timeout=20_000)
    gone = next(a for a in lab_site.assets() if a.label == "qgone")
    lab_site.delete_assets([int(gone.id or 0)])  # pre-flight: "the asset was deleted"
    page = wizard.test_page
    page.start_now_button.click()
    qtbot.waitUntil(lambda: wizard.paused_for_preflight and not wizard.busy, timeout=120_000)
    dep = lab_site.deployment(wizard.dep.id)
    assert dep.phase is Phase.TEST_RING
    assert [t.label for t in dep.targets if t.excluded] == ["qgone"]
    assert version(lab, "qtest", "pd-openssl") == "1.0-1 ii"  # nothing installed yet
    assert page.continue_button.isVisible()
    assert page.continue_button.text() == "&Continue without them"
    assert not wizard.button(QWizard.WizardButton.CommitButton).isEnabled()
    page.continue_button.click()
    qtbot.waitUntil(lambda: wizard.currentId() == P_REVIEW, timeout=300_000)
    assert not wizard.paused_for_preflight
    assert version(lab, "qtest", "pd-openssl") == "1.0-2 ii"
    wizard.reject()


def test_a_wizard_waits_for_a_run_the_engine_holds(qtbot, patched_site: SiteService,
                                                   runner: TaskRunner,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's run lock is the one registry of running deployments: a wizard opened
    on a deployment another run holds waits, and starts when that run has stopped."""
    import threading

    alpha, charlie = (patched_site.find_assets(n)[0] for n in ("alpha", "charlie"))
    dep = patched_site.deployments.plan([PackagePin("pd-tools", "2.1-1")],
                                        [(alpha, Stage.TEST), (charlie, Stage.PRODUCTION)],
                                        Gates())
    entered, release = threading.Event(), threading.Event()
    real_transport_for = patched_site.remote.transport_for

    def held(asset: Asset) -> object:  # the other run's pre-flight, stuck on a host
        entered.set()
        release.wait(20)
        return real_transport_for(asset)  # no credentials: fails without connecting

    monkeypatch.setattr(patched_site.remote, "transport_for", held)
    other = threading.Thread(target=lambda: patched_site.deployer.run(dep.id))
    other.start()
    started: list[int] = []
    real_run = patched_site.deployments.run

    def run(dep_id: int, **kwargs: object) -> Deployment:
        started.append(dep_id)
        return real_run(dep_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(patched_site.deployments, "run", run)
    try:
        assert entered.wait(10)
        assert patched_site.deployments.busy(dep.id) == "running"
        wizard = DeployWizard(patched_site, runner, deployment=dep)
        qtbot.addWidget(wizard)
        wizard.show()
        assert wizard.currentId() == P_TEST
        qtbot.waitUntil(lambda: "Waiting for the previous run" in
                        wizard.test_page.phase_label.text(), timeout=5_000)
        qtbot.wait(600)  # a few polls: still waiting, nothing started
        assert started == [] and not wizard.running
    finally:
        release.set()
        other.join(20)
    qtbot.waitUntil(lambda: started == [dep.id], timeout=10_000)
    qtbot.waitUntil(lambda: not wizard.busy, timeout=20_000)
    wizard.reject()
