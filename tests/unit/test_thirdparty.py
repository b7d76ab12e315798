"""Where a patch comes from and what its rollback can do, said before approval."""

from app.core.thirdparty import patch_source, rollback_notes


def test_third_party_sources_name_themselves_others_come_from_the_driver() -> None:
    assert patch_source("choco", "windows") == "choco"
    assert patch_source("winget", "windows") == "winget"
    assert patch_source("", "windows") == "wua"
    assert patch_source("debian-security", "apt") == "apt"
    assert patch_source("", "unknown") == ""


def test_rollback_notes_name_each_manager_that_cannot_roll_back_once() -> None:
    notes = rollback_notes(["apt", "winget", "choco", "winget", "brew", "wua"])
    assert len(notes) == 2
    assert notes[0].startswith("winget upgrades cannot be rolled back")
    assert notes[1].startswith("Homebrew upgrades cannot be rolled back")
    assert rollback_notes(["apt", "choco", "dnf"]) == []
