"""os-release parser and package-family table."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers.parsers import ParseError
from app.drivers.parsers.osrelease import PACKAGE_FAMILIES, package_family, parse_os_release

DATA = Path(__file__).resolve().parents[1] / "data"


def test_debian12_captured() -> None:
    rel = parse_os_release((DATA / "apt" / "debian-12" / "os-release").read_text())
    assert (rel.id, rel.version_id, rel.version_codename) == ("debian", "12", "bookworm")
    assert rel.pretty_name == "Debian GNU/Linux 12 (bookworm)"
    assert rel.id_like == ()
    assert rel.get("HOME_URL") == "https://www.debian.org/"
    assert package_family(rel) == "apt"


def test_quoting_escapes_and_comments() -> None:
    text = (
        "# comment\n"
        "\n"
        'NAME="Foo \\"Bar\\" \\$HOME \\`x\\` \\\\ \\n"\n'
        "ID='rocky'\n"
        'ID_LIKE="rhel centos fedora"\n'
        "VERSION_ID=9.4\n"
        "BARE=a\\ b\n"
        "EMPTY=\n"
    )
    rel = parse_os_release(text)
    assert rel.name == 'Foo "Bar" $HOME `x` \\ \\n'
    assert rel.id == "rocky" and rel.id_like == ("rhel", "centos", "fedora")
    assert rel.version_id == "9.4"
    assert rel.get("BARE") == "a b" and rel.get("EMPTY") == ""
    assert package_family(rel) == "dnf"


def test_defaults_when_fields_missing() -> None:
    rel = parse_os_release("VERSION_ID=1\n")
    assert (rel.id, rel.name, rel.pretty_name) == ("linux", "Linux", "Linux")
    assert package_family(rel) is None


@pytest.mark.parametrize(
    ("os_id", "id_like", "family"),
    [
        ("ubuntu", "debian", "apt"),
        ("linuxmint", "ubuntu debian", "apt"),
        ("raspbian", "debian", "apt"),
        ("almalinux", "rhel centos fedora", "dnf"),
        ("ol", "fedora", "dnf"),
        ("fedora", "", "dnf"),
        ("sles", "suse", "zypper"),
        ("opensuse-leap", "suse opensuse", "zypper"),
        ("opensuse-tumbleweed", "opensuse suse", "zypper"),
        ("zorin", "ubuntu debian", "apt"),  # unknown ID, known ID_LIKE
        ("nixos", "", None),
        ("alpine", "", None),
    ],
)
def test_family_uses_id_then_id_like(os_id: str, id_like: str, family: str | None) -> None:
    rel = parse_os_release(f'ID={os_id}\nID_LIKE="{id_like}"\n')
    assert package_family(rel) == family


def test_family_table_is_data() -> None:
    assert {f for _, f in PACKAGE_FAMILIES} == {"apt", "dnf", "zypper"}


@pytest.mark.parametrize(
    "text",
    [
        "NAME=Foo Bar\n",  # two words unquoted
        'NAME="unterminated\n',
        "NAME='x' trailing\n",
        "lowercase=1\n",
        "<html><body>404</body></html>\n",
        "# only a comment\n",
        "",
    ],
)
def test_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_os_release(text)
