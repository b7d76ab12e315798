"""The macOS driver and deployer on captured outputs (scripted transport): what runs as
whom, Apple and Homebrew updates as patches, major upgrades kept apart, Apple silicon
without an owner credential deferred to the user, the owner's password on stdin only."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.core.models import Classification
from app.core.thirdparty import patch_source, rollback_notes
from app.drivers.base import DriverError
from app.drivers.macos.deploy import MacDeployer
from app.drivers.macos.driver import assess_macos, brew_short
from app.remote.ssh import SshCredential
from tests.fakes import FakeResult, ScriptedTransport, contains

DATA = Path(__file__).resolve().parents[1] / "data"


def read(path: str) -> str:
    return (DATA / path).read_text(encoding="utf-8")


def facts_output(*, arch: str, hardware: str, brew: str) -> str:
    sections = {
        "sw_vers": "ProductName:\tmacOS\nProductVersion:\t12.7.5\nBuildVersion:\t21H1222\n",
        "kernel": "21.6.0", "arch": arch, "hostname": "mac1",
        "hardware": hardware, "boottime": "{ sec = 1700000000, usec = 0 }",
        "who": "", "df": "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                       "/dev/disk1s1 488245288 200000000 288245288 41% /",
        "history": read("macos/macos-10.10/InstallHistory.plist"), "brew": brew,
    }
    return "".join(f"\n@@pd:{k}@@\n{v}\n" for k, v in sections.items()) + "\n@@pd:end@@\n"


@dataclass
class MacTransport(ScriptedTransport):
    credential: SshCredential = field(default_factory=lambda: SshCredential("admin"))
    inputs: list[str | None] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, sudo: bool = False, timeout: float = 120.0,
            input: str | None = None, env: Mapping[str, str] | None = None,
            c_locale: bool = True) -> FakeResult:
        self.inputs.append(input)
        return super().run(argv, sudo=sudo, timeout=timeout, input=input, env=env,
                           c_locale=c_locale)


def mac(arch: str = "x86_64", *, owner: str = "", owner_password: str | None = None,
        brew_owner: str = "maria") -> MacTransport:
    hardware = read("macos/macos-14/system_profiler-hardware.json") if arch == "arm64" \
        else read("macos/macos-12/system_profiler-hardware.txt")
    t = MacTransport(credential=SshCredential("admin", password="x", macos_owner=owner,
                                              macos_owner_password=owner_password))
    brew_path = "/opt/homebrew/bin/brew" if arch == "arm64" else "/usr/local/bin/brew"
    t.on(lambda a: a[:2] == ["sh", "-c"] and "sec sw_vers" in a[2], 0,
         facts_output(arch=arch, hardware=hardware, brew=f"{brew_path} {brew_owner}"))
    t.on(lambda a: list(a[:2]) == ["softwareupdate", "--list"], 0,
         read("macos/macos-12/softwareupdate-list.txt"))
    t.on(contains("outdated"), 0, read("brew/homebrew-4/outdated-mixed.json"))
    t.on(lambda a: "list" in a and "--versions" in a, 0, "")
    t.on(lambda a: a[:2] == ["sh", "-c"] and a[2].startswith("uname -m"), 0,
         f"{arch}\n@@brew@@\n{brew_path} {brew_owner}\n")
    t.on(lambda a: a[:2] == ["sh", "-c"] and a[2].startswith("cat /var/lib/patchdesk/apple"), 0, "")
    t.on(lambda a: a[:2] == ["sh", "-c"] and "job-start" in a, 0, "started job1\n")
    return t


def test_assessment_lists_apple_and_homebrew_updates_with_sources() -> None:
    t = mac()
    result = assess_macos(t)
    assert result.driver == "macos"
    assert (result.facts.os_name, result.facts.os_version, result.facts.serial) == (
        "macOS", "12.7.5", "C02ZX0AAJGH5")
    assert result.facts.model == "Mac Pro (MacPro7,1)"
    updates = {u.package: u for u in result.updates}
    assert set(updates) == {"Safari17.6MontereyAuto-17.6", "macOS Monterey 12.7.6-21H1320",
                            "homebrew/core/git", "homebrew/core/openssl@3",
                            "homebrew/cask/firefox"}
    monterey = updates["macOS Monterey 12.7.6-21H1320"]
    assert (monterey.source, monterey.reboot_required, monterey.classification,
            monterey.installed_version) == ("apple", True, Classification.SECURITY, "12.7.5")
    assert not updates["Safari17.6MontereyAuto-17.6"].reboot_required
    git = updates["homebrew/core/git"]
    assert (git.source, git.installed_version, git.candidate_version) == (
        "brew", "2.43.0", "2.44.0")
    assert any("pinned at 3.2.0_1" in e for e in updates["homebrew/core/openssl@3"].evidence)
    # The Sonoma upgrade is kept apart, with a warning, never among the updates.
    assert result.facts.details["major_upgrades"] == [
        {"label": "macOS Sonoma 14.6.1-23G93", "title": "macOS Sonoma 14.6.1",
         "version": "14.6.1"}]
    assert any("major macOS upgrade" in w for w in result.warnings)
    # Install history: the latest version per name is the inventory.
    assert {p.name: p.version for p in result.packages}["Chinese Word List Update"] == "2.2"
    assert len(result.facts.details["install_history"]) == 7
    # brew ran as its owner through sudo -u, never as root; softwareupdate without sudo.
    brew_calls = [(a, s) for a, s in t.calls if "outdated" in a]
    assert brew_calls == [(("sudo", "-u", "maria", "-H", "env",
                            "HOMEBREW_NO_AUTO_UPDATE=1", "HOMEBREW_NO_ANALYTICS=1",
                            "HOMEBREW_NO_INSTALL_CLEANUP=1", "HOMEBREW_NO_ENV_HINTS=1",
                            "/usr/local/bin/brew", "outdated", "--json=v2"), True)]
    assert all(not s for a, s in t.calls if a[0] == "softwareupdate")


def test_brew_runs_directly_when_the_ssh_user_owns_it_and_never_as_root() -> None:
    t = mac(brew_owner="admin")
    assess_macos(t)
    assert [(a[0], s) for a, s in t.calls if "outdated" in a] == [("/usr/local/bin/brew",
                                                                  False)]
    root = mac(brew_owner="root")
    result = assess_macos(root)
    assert not [a for a, _ in root.calls if "outdated" in a]
    assert any("never runs brew as root" in w for w in result.warnings)
    assert all(u.source == "apple" for u in result.updates)


def test_apple_silicon_without_owner_is_deferred_to_the_user() -> None:
    t = mac("arm64")
    result = assess_macos(t)
    assert result.facts.details["apple_silicon"] is True
    assert result.facts.details["apple_install"].startswith("deferred to the user: ")
    apple = [u for u in result.updates if u.source == "apple"]
    assert apple and all(any(e.startswith("install deferred to the user") for e in u.evidence)
                         for u in apple)
    with pytest.raises(DriverError) as err:
        MacDeployer().simulate(t, {"Safari17.6MontereyAuto-17.6": "17.6"})
    assert err.value.kind == "deferred_to_user"
    with pytest.raises(DriverError):
        MacDeployer().start(t, "job1", {"Safari17.6MontereyAuto-17.6": "17.6"})
    assert not [a for a, _ in t.calls if "job-start" in a]  # nothing started, no dialog
    # Homebrew alone is not Apple's: it still installs.
    sim = MacDeployer().simulate(t, {"homebrew/core/git": "2.44.0"})
    assert [str(c) for c in sim.changes] == ["homebrew/core/git 2.43.0 → 2.44.0"]


def test_owner_password_goes_on_stdin_only() -> None:
    t = mac("arm64", owner="maria", owner_password="s3cret-owner")
    deployer = MacDeployer()
    sim = deployer.simulate(t, {"macOS Monterey 12.7.6-21H1320": "12.7.6",
                                "homebrew/cask/firefox": "123.0"})
    assert {c.name for c in sim.changes} == {"macOS Monterey 12.7.6-21H1320",
                                             "homebrew/cask/firefox"}
    answer = deployer.start(t, "job1", {"macOS Monterey 12.7.6-21H1320": "12.7.6",
                                        "homebrew/cask/firefox": "123.0"})
    assert answer == ("started", "job1")
    index = next(i for i, (a, _s) in enumerate(t.calls) if "job-start" in a)
    argv, sudo = t.calls[index]
    assert sudo
    assert "s3cret-owner" not in " ".join(argv)
    assert t.inputs[index] == "s3cret-owner\n"
    assert argv[3:] == ("job-start", "job1", "maria", "/opt/homebrew/bin/brew", "maria",
                        "cask", "firefox", "123.0", "apple", "macOS Monterey 12.7.6-21H1320",
                        "12.7.6")


def test_pinned_formula_and_unknown_versions_are_refused() -> None:
    t = mac()
    with pytest.raises(DriverError, match=re.escape("pinned at 3.2.0_1")):
        MacDeployer().simulate(t, {"homebrew/core/openssl@3": "3.2.1"})
    with pytest.raises(DriverError, match=re.escape("offers macOS Monterey 12.7.6-21H1320 12.7.6")):
        MacDeployer().simulate(t, {"macOS Monterey 12.7.6-21H1320": "12.7.7"})
    with pytest.raises(DriverError) as err:
        MacDeployer().start_rollback(t, "job1", [])
    assert err.value.kind == "rollback_unavailable"
    assert MacDeployer().keep_for_rollback(t, "job1", {"homebrew/core/git": "2.43.0"}) == {}


def test_sources_and_rollback_notes() -> None:
    assert brew_short("homebrew/cask/firefox") == ("cask", "firefox")
    assert brew_short("homebrew/core/git") == ("formula", "git")
    assert patch_source("brew", "macos") == "brew"
    assert patch_source("Debian-Security:12/bookworm-security", "apt") == "apt"
    assert patch_source("", "windows") == "wua"
    assert patch_source("", "macos") == ""
    notes = rollback_notes(["apt", "apple", "brew", "apple"])
    assert len(notes) == 2 and notes[0].startswith("Apple updates cannot be rolled back")
    assert rollback_notes(["apt", "dnf"]) == []


def test_plan_names_of_apple_and_homebrew_have_their_own_rules() -> None:
    from app.core.validate import check_package_pin

    label = "Command Line Tools (macOS Mojave version 10.14) for Xcode-10.3"
    assert check_package_pin(label, "10.3", "apple") == []
    assert check_package_pin(label, "10.3") != []  # not a Linux package name
    assert check_package_pin("homebrew/cask/alfred", "5.1,2134", "brew") == []
    assert check_package_pin("homebrew/cask/alfred", "5.1,2134") != []
    for name, version, source in (("$(id) x", "1", "apple"), ("-i x", "1", "apple"),
                                  ("macOS 14", "1;reboot", "apple"), ("a/b", "1", "brew"),
                                  ("homebrew/core/x;id", "1", "brew"),
                                  ("homebrew/core/git", "--force", "brew")):
        assert check_package_pin(name, version, source) != []


def test_the_registry_picks_the_mac_deployer_by_uname() -> None:
    from app.drivers.registry import deployer_for

    # The lab's Macs have a Debian os-release underneath: uname -s decides.
    t = ScriptedTransport("m1").on(lambda a: "uname -s" in a[-1], 0,
                                   'ID=debian\nPRETTY_NAME="Debian"\n\n@@pd:uname-s@@\nDarwin\n')
    assert isinstance(deployer_for(t), MacDeployer)
    t = ScriptedTransport("l1").on(lambda a: "uname -s" in a[-1], 0,
                                   'ID=debian\nPRETTY_NAME="Debian"\n\n@@pd:uname-s@@\nLinux\n')
    assert deployer_for(t).tool == "apt"


def test_cli_owner_options_come_together_and_never_on_argv(tmp_path: Path, capsys) -> None:
    import io
    import sys

    from app.cli import main

    site = str(tmp_path / "s.pdsite")
    old = sys.stdin
    try:
        sys.stdin = io.StringIO("pw\n")
        code = main(["--site", site, "cred", "add", "m", "--ssh-user", "admin",
                     "--password-stdin", "--macos-owner", "maria", "--scope", "all"],
                    out=io.StringIO())
    finally:
        sys.stdin = old
    assert code == 2
    assert "--macos-owner needs" in capsys.readouterr().err
    # There is no option that takes the password itself.
    assert main(["--site", site, "cred", "add", "m", "--ssh-user", "admin",
                 "--macos-owner-password", "x", "--scope", "all"], out=io.StringIO()) == 2
