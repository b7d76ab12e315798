"""Hostile lab hosts, assessed AND deployed to beside normal hosts in one run ([12], issue
15, "Done when"): real Debian hosts whose own commands lie — injection strings in package
names, versions and the host name, garbage numbers, duplicate packages, an output flood.
The normal hosts' results are exactly right; each hostile host ends in a clear error of
its own; nothing a host said is ever run (no /tmp/pwned anywhere).

The lies come from wrapper commands the test puts first on the hosts' PATH
(/usr/local/bin for a login, /usr/local/sbin for sudo); the wrapped tools are real apt,
dpkg and coreutils.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.deployment import Gates, HostState, Phase
from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"
PWNED = "/tmp/pwned"

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# apt's simulation with an injected package name and version (assessment and pre-flight).
INJECT_APT = r"""#!/bin/sh
PWNED=/tmp/pwned
case " $* " in
  *" -s "*) /usr/bin/apt-get "$@" | sed -e "s#pd-tools#pd-tools;touch\${IFS}$PWNED#g" \
    -e "s#2\.1-1#2.1-1\$(touch\${IFS}$PWNED)#g" ;;
  *) exec /usr/bin/apt-get "$@" ;;
esac
"""
INJECT_HOSTNAME = "#!/bin/sh\necho '=cmd|'\"'\"' /C calc'\"'\"'!A0;$(touch /tmp/pwned)'\n"
# Garbage numbers: the uptime every script reads, and a job's exit code.
GARBAGE_CAT = r"""#!/bin/sh
case "$1" in
  /proc/uptime) echo "notanumber 12.0" ;;
  */jobs/*/exit) echo "notanint" ;;
  *) exec /bin/cat "$@" ;;
esac
"""
# Every package twice: dpkg's list and apt's simulation.
DUP_DPKG_QUERY = "#!/bin/sh\n/usr/bin/dpkg-query \"$@\" | awk '{ print; print }'\n"
DUP_APT = r"""#!/bin/sh
case " $* " in
  *" -s "*) /usr/bin/apt-get "$@" | awk '/^Inst / { print } { print }' ;;
  *) exec /usr/bin/apt-get "$@" ;;
esac
"""
# 80 MB of output where apt's simulation was asked for.
FLOOD_APT = r"""#!/bin/sh
case " $* " in
  *" -s "*) yes 'Inst flood [1] (2 x [all])' | head -c 80000000 ;;
  *) exec /usr/bin/apt-get "$@" ;;
esac
"""

HOSTILE = {
    "hinject": {"/usr/local/bin/apt-get": INJECT_APT, "/usr/local/bin/hostname":
                INJECT_HOSTNAME},
    "hnumbers": {"/usr/local/bin/cat": GARBAGE_CAT},
    "hdup": {"/usr/local/bin/dpkg-query": DUP_DPKG_QUERY, "/usr/local/bin/apt-get": DUP_APT},
    "hflood": {"/usr/local/bin/apt-get": FLOOD_APT},
}
NORMAL = ["hok1", "hok2"]
UPDATES = {"pd-openssl": "1.0-2", "pd-tools": "2.1-1", "pd-broken": "1.1-1",
           "pd-kernel": "5.1-1"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "hostile.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.credentials.access.accept_new_host_keys = True
    yield service
    service.close()


def test_hostile_hosts_fail_alone_in_one_assessment_and_one_deployment(
        lab: Lab, lab_host, site: SiteService, tmp_path: Path) -> None:
    for name in [*NORMAL, *HOSTILE]:
        info = lab_host(name=name)
        site.add_asset(Asset(hostname=name, ips=(info.ip,)))
        for path, text in HOSTILE.get(name, {}).items():
            lab.exec(name, f"cat > {path} && chmod 755 {path} && "
                           f"cp {path} {path.replace('/bin/', '/sbin/')}", input=text, check=True)

    # -- one assessment of all of them ---------------------------------------------------
    outcomes = {o.label: o for o in site.assess_assets(concurrency=6)}
    summary = {n: o.summary for n, o in outcomes.items()}
    for name in NORMAL:
        assert outcomes[name].ok, summary
        asset = site.find_assets(name)[0]
        assert {p.package: p.candidate_version for p in site.patches(asset.id)} == UPDATES
    assert (outcomes["hinject"].ok, outcomes["hinject"].kind) == (False, "parse_failed"), \
        summary
    assert "unsafe package name" in outcomes["hinject"].message, summary
    assert outcomes["hnumbers"].ok, summary  # the garbage value is dropped, named
    assert any("uptime" in w for w in outcomes["hnumbers"].warnings), summary
    assert not outcomes["hdup"].ok or {
        p.package: p.candidate_version
        for p in site.patches(site.find_assets("hdup")[0].id)} == UPDATES, summary
    assert (outcomes["hflood"].ok, outcomes["hflood"].kind) == (False, "output_too_large"), \
        summary
    for name in HOSTILE:
        message = outcomes[name].message
        assert "Traceback" not in message and len(message) < 2000, (name, message)
    # The injected host name was never taken.
    assert site.find_assets("hinject")[0].hostname == "hinject"

    # -- one deployment to all of them ---------------------------------------------------
    names = [*NORMAL, *HOSTILE]
    dep = site.plan_deployment(["pd-tools=2.1-1"], names,
                               gates=Gates(concurrency=6, wave_size=6, max_failure_rate=1.0),
                               override_reason="lab test: hostile hosts must all run")
    dep = site.deployer.run(dep.id)
    assert dep.phase is Phase.DONE, dep.halt_reason
    by = {t.label: t for t in dep.targets}
    states = {n: (str(t.state), t.verified, t.detail, t.preflight) for n, t in by.items()}
    for name in NORMAL:
        assert (by[name].state, by[name].verified) == (HostState.SUCCEEDED, "installed"), states
        out = lab.exec(name, ["dpkg-query", "-W", "-f=${Version}", "pd-tools"]).stdout
        assert out.endswith("2.1-1")
    for name in HOSTILE:
        target = by[name]
        if name == "hdup" and target.state is HostState.SUCCEEDED:
            # Duplicates read once: right only if the host really got it, exactly once.
            history = lab.read_file(name, "/var/log/apt/history.log")
            assert history.count(" pd-tools=2.1-1") == 1, history
            assert target.verified == "installed"
            continue
        failed = target.excluded or target.state is HostState.FAILED
        assert failed, (name, states[name])
        why = " ".join(target.preflight) + " " + target.detail
        assert why.strip() and "Traceback" not in why, (name, why)
    assert any("unsafe" in p or "not understood" in p or "install_impossible" in p
               or "apt cannot install" in p for p in by["hinject"].preflight), states
    assert any("output too large" in p for p in by["hflood"].preflight), states
    assert any("'notanumber'" in p and "not a number" in p and "internal error" not in p
               for p in by["hnumbers"].preflight), states
    # Nothing a host said was run: not on any host, not here.
    for name in names:
        assert lab.exec(name, f"test -e {PWNED}").returncode == 1, name
    assert not Path(PWNED).exists()
    # Everything stayed readable: the audit chain verifies, the log is plain text.
    assert site.audit_verify() == []
    json.dumps(site.deployment_log(dep.id))
