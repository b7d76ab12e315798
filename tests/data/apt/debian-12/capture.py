"""Re-capture the Debian 12 fixtures in tests/data/{apt,facts}/debian-12 from the test lab.

Run as root from the repository root: ``.venv/bin/python tests/data/apt/debian-12/capture.py``.
It starts its own lab (prefix ``pdlparse``, subnet 10.98.0.0/24) with one Debian 12 host,
runs each command inside that host with LANG=C/LC_ALL=C, writes stdout (and the exit code
as ``<name>.rc``) next to this file, and tears the lab down. It talks only to the lab's
own network namespaces.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from tests.lab.lab import HostSpec, Lab  # noqa: E402

APT = Path(__file__).resolve().parent
FACTS = ROOT / "tests" / "data" / "facts" / "debian-12"
REBOOT = ROOT / "tests" / "data" / "reboot" / "debian-12"
DPKG_FMT = (
    r"${binary:Package}\t${db:Status-Abbrev}\t${Version}\t${Architecture}"
    r"\t${source:Package}\t${source:Version}\n"
)
PKGS = "pd-openssl pd-tools pd-broken pd-kernel pd-newdep"


def main() -> int:
    lab = Lab(prefix="pdlparse", subnet="10.98.0.0/24")
    try:
        lab.start([HostSpec("deb1", ip="10")])

        def cap(out: Path, name: str, cmd: str, *, rc: bool = True) -> str:
            cp = lab.exec("deb1", cmd, timeout=300)
            out.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(cp.stdout)
            if rc:
                (out / f"{name}.rc").write_text(f"{cp.returncode}\n")
            print(f"{name}: rc={cp.returncode} stderr={cp.stderr.strip()[:200]!r}")
            return cp.stdout

        # A new pd-tools version depending on a package not yet installed: `upgrade` keeps
        # it back, `dist-upgrade` installs the new dependency.
        lab.add_package_version("pd-newdep", "1.0-1")
        lab.add_package_version("pd-tools", "2.2-1", depends="pd-newdep")
        lab.exec("deb1", "apt-get -q update", check=True)

        cap(APT, "os-release", "cat /etc/os-release", rc=False)
        cap(APT, "apt-get-s-dist-upgrade.txt", "apt-get -s dist-upgrade")
        cap(APT, "apt-get-s-upgrade.txt", "apt-get -s upgrade")
        cap(APT, "dpkg-query-before.txt", f"dpkg-query -W -f='{DPKG_FMT}'")
        cap(APT, "apt-cache-policy.txt", f"apt-cache policy {PKGS}")
        cap(APT, "apt-get-s-remove.txt", "apt-get -s remove pd-tools")
        cap(APT, "apt-get-s-install-new.txt", "apt-get -s install pd-newdep")

        # a held package is reported in the kept-back block
        lab.exec("deb1", "apt-mark hold pd-kernel", check=True)
        cap(APT, "apt-get-s-upgrade-held.txt", "apt-get -s upgrade")
        cap(APT, "dpkg-query-held.txt", f"dpkg-query -W -f='{DPKG_FMT}' 'pd-*'")
        lab.exec("deb1", "apt-mark unhold pd-kernel", check=True)

        # real upgrades, downgrade, purge and a failing postinst, then the history log
        env = "DEBIAN_FRONTEND=noninteractive "
        cap(APT, "apt-get-install-pd-tools.txt", env + "apt-get install -y pd-tools")
        cap(APT, "apt-get-install-downgrade.txt",
            env + "apt-get install -y --allow-downgrades pd-tools=2.1-1")
        cap(APT, "apt-get-install-security-kernel.txt",
            env + "apt-get install -y pd-openssl pd-kernel")
        cap(APT, "apt-get-purge.txt", env + "apt-get purge -y pd-newdep")
        cap(APT, "apt-get-install-pd-broken.txt", env + "apt-get install -y pd-broken")
        cap(APT, "history.log", "cat /var/log/apt/history.log", rc=False)
        cap(APT, "dpkg-query-after.txt", f"dpkg-query -W -f='{DPKG_FMT}'")
        cap(APT, "apt-get-s-dist-upgrade-after.txt", "apt-get -s dist-upgrade")

        cap(REBOOT, "reboot-required", "cat /var/run/reboot-required", rc=False)
        cap(REBOOT, "reboot-required.pkgs", "cat /var/run/reboot-required.pkgs", rc=False)
        cap(REBOOT, "uname-r.txt", "uname -r", rc=False)

        cap(FACTS, "meminfo", "cat /proc/meminfo", rc=False)
        cap(FACTS, "df-P-B1.txt", "df -P -B1")
        cap(FACTS, "ip-j-addr.json", "ip -j addr")
        cap(FACTS, "cpuinfo", "cat /proc/cpuinfo", rc=False)
        cap(FACTS, "uptime", "cat /proc/uptime", rc=False)
        cap(FACTS, "boot_id", "cat /proc/sys/kernel/random/boot_id", rc=False)
        cap(FACTS, "who.txt", "who")
        cap(FACTS, "dmi.txt", "for f in sys_vendor product_name product_serial; do "
            "printf '%s=' $f; cat /sys/devices/virtual/dmi/id/$f 2>/dev/null || echo; done",
            rc=False)
    finally:
        lab.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
