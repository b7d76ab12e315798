"""The test lab itself works: hosts, repository, devices, isolation, lifecycle.

Stdlib only (no paramiko): SSH is checked through its banner, commands run via lab.exec.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.lab.lab import (
    DEFAULT_INSTALLED,
    DEFAULT_UPGRADES,
    SECURITY_SUITE,
    HostSpec,
    Lab,
    LabError,
    _netns_list,
    cleanup_stale,
    default_hosts,
    find_debian_mirror,
    ssh_banner,
    tcp_open,
)

LAB_DIR = Path(__file__).resolve().parents[1] / "lab"
INST_RE = re.compile(r"^Inst (\S+) \[(\S+)\] \((\S+) (.+?) \[(\S+)\]\)$", re.MULTILINE)


def apt_simulate_upgrade(lab: Lab, host: str) -> dict[str, tuple[str, str, str]]:
    lab.exec(host, "apt-get -q update", check=True)
    out = lab.exec(host, ["apt-get", "-s", "upgrade"], check=True).stdout
    return {m[0]: (m[1], m[2], m[3]) for m in INST_RE.findall(out)}


# --------------------------------------------------------------------------- no root needed


def test_mirror_is_derived_from_apt_configuration(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PATCHDESK_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# nothing here\n")
    (tmp_path / "sources.list.d" / "a.list").write_text(
        "deb-src http://src.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://list.invalid/debian bookworm-updates main\n"
    )
    (tmp_path / "sources.list.d" / "b.sources").write_text(
        textwrap.dedent(
            """\
            Types: deb
            # a comment
            URIs: http://sec.invalid/debian-security
            Suites: bookworm-security
            Components: main

            Types: deb
            Enabled: no
            URIs: http://disabled.invalid/debian
            Suites: bookworm

            Types: deb deb-src
            URIs: http://mirror.invalid/debian/ http://second.invalid/debian
            Suites: bookworm
             bookworm-updates
            Components: main
            """
        )
    )
    (tmp_path / "sources.list.d" / "c.list.disabled").write_text(
        "deb http://ignored.invalid/debian bookworm main\n"
    )
    assert find_debian_mirror("bookworm", tmp_path) == "http://mirror.invalid/debian"
    with pytest.raises(LabError, match="no Debian mirror"):
        find_debian_mirror("trixie", tmp_path)
    monkeypatch.setenv("PATCHDESK_LAB_MIRROR", "http://override.invalid/debian")
    assert find_debian_mirror("bookworm", tmp_path) == "http://override.invalid/debian"


def test_device_nbstat_answer_format() -> None:
    sys.path.insert(0, str(LAB_DIR))
    try:
        import devices
    finally:
        sys.path.remove(str(LAB_DIR))
    query = _nbstat_query(0x4242)
    reply = devices.nbstat_response(query, "WIN-LAB01", "02:99:00:00:00:1e", "WORKGROUP")
    assert reply is not None
    names, mac = _parse_nbstat(reply, 0x4242)
    assert ("WIN-LAB01", 0x00, False) in names
    assert ("WORKGROUP", 0x00, True) in names
    assert mac == "02:99:00:00:00:1e"
    assert devices.nbstat_response(b"\0" * 10, "X", "02:00:00:00:00:00", "W") is None


def _nbstat_query(trn_id: int) -> bytes:
    name = bytes([32]) + b"CK" + b"A" * 30 + b"\0"
    return struct.pack(">HHHHHH", trn_id, 0, 1, 0, 0, 0) + name + struct.pack(">HH", 0x21, 1)


def _parse_nbstat(reply: bytes, trn_id: int) -> tuple[list[tuple[str, int, bool]], str]:
    """Parse an NBSTAT reply the way tech-notes §5.7 describes it."""
    rid, flags, _qd, ancount = struct.unpack(">HHHH", reply[:8])
    assert rid == trn_id
    assert flags & 0x8000
    assert flags & 7 == 0
    assert ancount == 1
    off = 12 + 34  # header + encoded name
    rtype, _rclass, _ttl, _rdlen = struct.unpack(">HHIH", reply[off : off + 10])
    assert rtype == 0x21
    off += 10
    count = reply[off]
    off += 1
    names = []
    for _ in range(count):
        raw = reply[off : off + 15].decode("ascii").rstrip()
        suffix = reply[off + 15]
        (nflags,) = struct.unpack(">H", reply[off + 16 : off + 18])
        names.append((raw, suffix, bool(nflags & 0x8000)))
        off += 18
    mac = ":".join(f"{b:02x}" for b in reply[off : off + 6])
    return names, mac


# --------------------------------------------------------------------------- the lab


@pytest.mark.lab
def test_default_hosts_addresses_and_macs(lab: Lab) -> None:
    expected = {
        "deb1": 10,
        "deb2": 11,
        "deb3": 12,
        "deb4": 13,
        "printer1": 20,
        "win1": 30,
        "fw1": 40,
    }
    third = lab.subnet.network_address.packed[2]
    for name, last in expected.items():
        info = lab.host(name)
        assert info.ip == str(lab.subnet.network_address + last)
        assert info.mac == f"02:99:00:00:{third:02x}:{last:02x}"
        assert info.netns == f"{lab.prefix}-{name}"
        assert info.netns in _netns_list()
    assert lab.repo_ip == str(lab.subnet.network_address + 1)
    out = lab.exec("deb1", ["ip", "-o", "link", "show", "eth0"], check=True).stdout
    assert lab.host("deb1").mac in out


@pytest.mark.lab
def test_debian_hosts_show_ssh_banner_from_root_namespace(lab: Lab) -> None:
    for name in lab.host_names("debian"):
        banner = ssh_banner(lab.host(name).ip, 22, timeout=3)
        assert re.match(r"SSH-2\.0-OpenSSH_\S+ Debian-", banner), banner
        assert lab.exec(name, "hostname", check=True).stdout.strip() == name
        os_release = lab.exec(name, "cat /etc/os-release", check=True).stdout
        assert 'VERSION_ID="12"' in os_release


@pytest.mark.lab
def test_apt_simulate_upgrade_lists_exactly_the_four_updates(lab: Lab) -> None:
    for name in lab.host_names("debian"):
        upgrades = apt_simulate_upgrade(lab, name)
        assert {n: (old, new) for n, (old, new, _) in upgrades.items()} == {
            n: (old, new) for n, (old, new, _) in DEFAULT_UPGRADES.items()
        }, (name, upgrades)
        origin = upgrades["pd-openssl"][2]
        assert origin.endswith(f"/{SECURITY_SUITE}"), origin
        assert origin.startswith("Debian-Security:"), origin
        for pkg in ("pd-tools", "pd-broken", "pd-kernel"):
            assert not upgrades[pkg][2].endswith("-security"), upgrades[pkg]


@pytest.mark.lab
def test_hosts_start_with_the_old_versions_installed(lab: Lab) -> None:
    out = lab.exec("deb2", ["dpkg-query", "-W", "-f=${Package} ${Version}\\n", "pd-*"]).stdout
    assert dict(line.split() for line in out.splitlines()) == DEFAULT_INSTALLED
    assert lab.exec("deb2", "cat /usr/share/pd-tools/VERSION").stdout.strip() == "2.0-1"
    # only the lab repository is configured
    sources = lab.exec("deb2", "cat /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null")
    uris = re.findall(r"https?://\S+", sources.stdout)
    assert uris
    assert all(u.startswith(lab.repo_url + "/") for u in uris), uris


@pytest.mark.lab
def test_sudo_asks_admin_for_a_password_but_not_nopw(lab: Lab) -> None:
    denied = lab.exec("deb1", ["sudo", "-n", "true"], user="admin")
    assert denied.returncode != 0
    assert "password is required" in denied.stderr
    ok = lab.exec("deb1", ["sudo", "-S", "-p", "", "id", "-u"], user="admin", input="labpass\n")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "0"
    assert lab.exec("deb1", ["sudo", "-n", "id", "-u"], user="nopw").stdout.strip() == "0"
    sshd = lab.exec("deb1", ["/usr/sbin/sshd", "-T"], check=True).stdout
    assert "permitrootlogin no" in sshd


@pytest.mark.lab
def test_printer_listeners(lab: Lab) -> None:
    ip = lab.host("printer1").ip
    for port in (80, 631):
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=5) as resp:
            body = resp.read().decode()
            assert "LaserJet" in resp.headers["Server"]
        assert re.search(r"<title>HP LaserJet[^<]*</title>", body)
    with socket.create_connection((ip, 9100), timeout=3) as s:
        s.sendall(b"\x1b%-12345X@PJL INFO ID\r\n")
        s.settimeout(3)
        data = b""
        while b"\x0c" not in data:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
    assert b"LaserJet" in data


@pytest.mark.lab
def test_windows_listeners_and_nbstat(lab: Lab) -> None:
    info = lab.host("win1")
    for port in (135, 139, 445, 3389, 5985):
        assert tcp_open(info.ip, port, 2), port
    assert not tcp_open(info.ip, 22, 2)
    req = urllib.request.Request(f"http://{info.ip}:5985/wsman")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)  # noqa: S310
    assert err.value.code == 404
    assert err.value.headers["Server"] == "Microsoft-HTTPAPI/2.0"
    err.value.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(_nbstat_query(0x1111), (info.ip, 137))
        reply, _ = s.recvfrom(2048)
    names, mac = _parse_nbstat(reply, 0x1111)
    assert ("WIN-LAB01", 0x00, False) in names
    assert mac == info.mac


@pytest.mark.lab
def test_client_namespace_is_isolated(lab: Lab) -> None:
    routes = lab.client_run(["ip", "-4", "route"], check=True).stdout
    assert "default" not in routes
    assert routes.strip().startswith(str(lab.subnet))
    for ns in [lab.client_ns, lab.bridge_ns, *(h.netns for h in map(lab.host, lab.hosts))]:
        out = subprocess.run(
            ["ip", "-n", ns, "route", "show", "default"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == "", (ns, out)
    # 127.0.0.1 in the client is its own loopback, not the root namespace's
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        probe = (
            "import socket,sys\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), 2)\n"
            "except ConnectionRefusedError: print('refused')\n"
            "else: print('connected')\n"
            "try:\n"
            "    socket.create_connection(('192.0.2.1', 9), 2)\n"
            "except OSError as e: print('outside', e.errno)\n"
        )
        out = lab.client_run([sys.executable, "-I", "-c", probe], check=True).stdout.split("\n")
    assert out[0] == "refused"
    assert out[1] == "outside 101"  # ENETUNREACH: there is no route out
    # ... but the lab is reachable from the client
    reach = f"import socket; socket.create_connection(('{lab.host('deb1').ip}', 22), 2)"
    lab.client_run([sys.executable, "-I", "-c", reach], check=True)


@pytest.mark.lab
def test_firewalled_host_drops_but_answers_arp(lab: Lab) -> None:
    info = lab.host("fw1")
    if not info.firewall_active:
        pytest.skip("nft is not installed: fw1 is closed, not firewalled")
    probe = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{info.ip}', 22), 1)\n"
        "except TimeoutError: print('timeout')\n"
        "except OSError as e: print('error', e)\n"
    )
    assert lab.client_run([sys.executable, "-I", "-c", probe]).stdout.strip() == "timeout"
    neigh = lab.client_run(["ip", "neigh", "show", info.ip], check=True).stdout
    assert info.mac in neigh


@pytest.mark.lab
def test_closed_host_resets_connections(lab: Lab, lab_host) -> None:
    info = lab_host(kind="closed")
    probe = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{info.ip}', 22), 2)\n"
        "except ConnectionRefusedError: print('refused')\n"
    )
    assert lab.client_run([sys.executable, "-I", "-c", probe]).stdout.strip() == "refused"
    assert info.mac in lab.client_run(["ip", "neigh", "show", info.ip], check=True).stdout


@pytest.mark.lab
def test_hold_dpkg_lock_makes_apt_fail(lab: Lab, lab_host) -> None:
    host = lab_host().name
    with lab.hold_dpkg_lock(host) as holder:
        res = lab.exec(host, "apt-get install -y pd-tools")
        assert res.returncode != 0
        assert "Could not get lock /var/lib/dpkg/lock-frontend" in res.stderr
        assert f"held by process {holder.pid}" in res.stderr
    res = lab.exec(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q pd-tools")
    assert res.returncode == 0, res.stderr


@pytest.mark.lab
def test_upgrade_behaviours_and_reboot(lab: Lab, lab_host) -> None:
    host = lab_host().name
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    ok = lab.exec(host, "apt-get install -y -q pd-kernel pd-openssl pd-tools", env=env)
    assert ok.returncode == 0, ok.stderr
    assert lab.exec(host, "cat /var/run/reboot-required.pkgs").stdout.split() == ["pd-kernel"]
    assert lab.exec(host, "cat /usr/share/pd-openssl/VERSION").stdout.strip() == "1.0-2"
    broken = lab.exec(host, "apt-get install -y -q pd-broken", env=env)
    assert broken.returncode == 100
    assert "pd-broken" in broken.stdout + broken.stderr
    status = lab.exec(host, ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "pd-broken"]).stdout
    assert status.strip() == "iF"
    before = lab.boot_id(host)
    started = lab.exec(host, "stat -c %Y /proc/1").stdout
    lab.simulate_reboot(host)
    assert lab.boot_id(host) != before
    assert lab.exec(host, "stat -c %Y /proc/1").stdout >= started
    assert lab.exec(host, "test -e /var/run/reboot-required").returncode == 1
    # the disk survives the reboot
    assert lab.exec(host, "cat /usr/share/pd-kernel/VERSION").stdout.strip() == "5.1-1"
    assert ssh_banner(lab.host(host).ip, 22, 3).startswith("SSH-2.0-")


@pytest.mark.lab
def test_stop_and_start_host_keeps_its_disk(lab: Lab, lab_host) -> None:
    info = lab_host()
    lab.exec(info.name, "echo kept > /root/marker", check=True)
    boot = lab.boot_id(info.name)
    lab.stop_host(info.name)
    assert not tcp_open(info.ip, 22, 1)
    with pytest.raises(LabError, match="not running"):
        lab.exec(info.name, "true")
    assert lab.read_file(info.name, "/root/marker") == "kept\n"
    lab.start_host(info.name)
    assert tcp_open(info.ip, 22, 2)
    assert lab.exec(info.name, "cat /root/marker").stdout == "kept\n"
    assert lab.boot_id(info.name) != boot


@pytest.mark.lab
def test_remove_host_makes_it_unreachable(lab: Lab, lab_host) -> None:
    info = lab_host()
    assert ssh_banner(info.ip, 22, 3).startswith("SSH-2.0-")
    lab.remove_host(info.name)
    assert not tcp_open(info.ip, 22, 1)
    assert info.netns not in _netns_list()
    with pytest.raises(LabError, match="no host"):
        lab.host(info.name)


@pytest.mark.lab
def test_custom_host_spec(lab: Lab, lab_host) -> None:
    info = lab_host(sudo_password="s3cret", packages={"pd-openssl": "1.0-2", "pd-tools": "2.0-1"})
    assert info.password == "s3cret"
    out = lab.exec(info.name, ["dpkg-query", "-W", "-f=${Package} ${Version}\\n", "pd-*"])
    assert dict(line.split() for line in out.stdout.splitlines()) == {
        "pd-openssl": "1.0-2",
        "pd-tools": "2.0-1",
    }
    ok = lab.exec(info.name, ["sudo", "-S", "-p", "", "true"], user="admin", input="s3cret\n")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.lab
def test_regenerate_host_key(lab: Lab, lab_host) -> None:
    info = lab_host()
    old = lab.read_file(info.name, "/etc/ssh/ssh_host_ed25519_key.pub")
    new = lab.regenerate_host_key(info.name)
    assert new.split()[1] != old.split()[1]
    assert ssh_banner(info.ip, 22, 3).startswith("SSH-2.0-")


@pytest.mark.lab
def test_republish_drops_and_restores_a_version(lab: Lab, lab_host) -> None:
    host = lab_host().name
    key = ("pd-openssl", "1.0-1")
    pool = lab.repo_url + "/debian/pool/main/p/pd-openssl/pd-openssl_1.0-1_all.deb"
    lab.republish(drop=[key])
    try:
        assert ("pd-openssl", "1.0-1", "bookworm") not in lab.indexed_versions()
        lab.exec(host, "apt-get -q update", check=True)
        policy = lab.exec(host, "apt-cache madison pd-openssl", check=True).stdout
        assert "1.0-2" in policy
        assert "1.0-1" not in policy
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(pool, timeout=5)  # noqa: S310
    finally:
        lab.republish(restore=[key])
    lab.exec(host, "apt-get -q update", check=True)
    assert "1.0-1" in lab.exec(host, "apt-cache madison pd-openssl", check=True).stdout
    with urllib.request.urlopen(pool, timeout=5) as resp:  # noqa: S310
        assert resp.status == 200


@pytest.mark.lab
def test_add_package_version(lab: Lab, lab_host) -> None:
    host = lab_host().name
    lab.add_package_version("pd-extra", "0.1-1", security=True)
    lab.exec(host, "apt-get -q update", check=True)
    res = lab.exec(host, "apt-get -s install pd-extra", check=True).stdout
    assert re.search(r"^Inst pd-extra \(0\.1-1 Debian-Security:12/bookworm-security", res, re.M)


@pytest.mark.lab
def test_second_lab_with_other_subnet_and_clean_teardown(lab: Lab) -> None:
    with pytest.raises(LabError, match="used by another running lab"):
        Lab(subnet=str(lab.subnet)).start([])
    other = Lab(subnet=None)  # the first free 10.99.N.0/24
    try:
        other.start([HostSpec("d1"), HostSpec("p1", kind="printer")])
        assert other.subnet != lab.subnet
        d1 = other.host("d1")
        third = other.subnet.network_address.packed[2]
        assert d1.ip == str(other.subnet.network_address + 10)
        assert d1.mac == f"02:99:00:00:{third:02x}:0a"
        assert ssh_banner(d1.ip, 22, 3).startswith("SSH-2.0-")
        assert other.exec("d1", "apt-get -q update").returncode == 0
        assert ssh_banner(lab.host("deb1").ip, 22, 3).startswith("SSH-2.0-")
    finally:
        other.teardown()
    other.teardown()  # idempotent
    assert not [ns for ns in _netns_list() if ns.startswith(other.prefix)]
    assert not Path(f"/sys/class/net/{other.prefix}-root").exists()
    assert not other.dir.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert other.prefix not in mounts
    # its subnet is gone from the root namespace (and the helpers refuse to probe it now)
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
    assert str(other.subnet) not in routes.stdout
    with pytest.raises(LabError, match="refusing to connect"):
        tcp_open(d1.ip, 22, 0.5)


@pytest.mark.lab
def test_cleanup_removes_a_lab_whose_runner_was_killed(lab: Lab, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(LAB_DIR.parents[1])!r})
        from tests.lab.lab import Lab, HostSpec
        lab = Lab(subnet=None)
        lab.start([HostSpec("d1")])
        print(lab.prefix, lab.subnet, flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PATCHDESK_LAB_QUIET": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout
        prefix, subnet = proc.stdout.readline().split()
        assert prefix.startswith("pdl"), prefix
        assert f"{prefix}-d1" in _netns_list()
        # a live lab is left alone, by the shell fallback too (python3 failing here)
        assert prefix not in cleanup_stale()
        no_python = tmp_path / "bin"
        no_python.mkdir()
        (no_python / "python3").write_text("#!/bin/sh\nexit 1\n")
        (no_python / "python3").chmod(0o755)
        res = subprocess.run(["bash", str(LAB_DIR / "cleanup.sh")], capture_output=True,
                             text=True, timeout=120,
                             env={**os.environ, "PATH": f"{no_python}:{os.environ['PATH']}"})
        assert "falling back to shell" in res.stderr
        assert f"{prefix} is running" in res.stderr and f"{lab.prefix} is running" in res.stderr
        assert f"{prefix}-d1" in _netns_list()
        assert tcp_open(lab.host("deb1").ip, 22, 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert f"{prefix}-d1" in _netns_list()  # killed runs leave their lab behind ...
    res = subprocess.run(
        ["bash", str(LAB_DIR / "cleanup.sh")], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "removed:" in res.stdout  # (a concurrent run's cleanup may have beaten us to it)
    assert not [ns for ns in _netns_list() if ns.startswith(prefix)]  # ... cleanup.sh not
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
    assert subnet not in routes.stdout
    # and the session lab is untouched
    assert lab.prefix not in res.stdout
    assert tcp_open(lab.host("deb1").ip, 22, 2)


def test_default_lab_spec_is_seven_hosts() -> None:
    kinds = [s.kind for s in default_hosts()]
    assert kinds.count("debian") == 4
    assert {"printer", "windows", "firewalled"} <= set(kinds)
