#!/bin/bash
# The whole test suite (README's test command, .ci/run) on a fresh Debian 12 machine: a
# debootstrap minbase + python3 root filesystem (the fresh-machine test's cached template),
# with apt sources, /etc/hosts and a hostname as Debian's installer writes them, the tracked
# tree copied in, run in a chroot. Run by hand as root (slow: ~25 min on 2 cores):
#     bash tests/lab/fresh-suite.sh [WORKDIR]      # output in WORKDIR/out.log
# The chroot shares this machine's network stack, so it shares the lab registry
# (/run/patchdesk-lab, /run/netns) with any other run here; its binds are slaves, so
# unmounting them never reaches the host's (/run/netns is a shared mount).
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
W=${1:-/var/tmp/patchdesk-fresh}
R=$W/rootfs
T=${PATCHDESK_LAB_CACHE:-/var/cache/patchdesk-lab}/fresh-bookworm-python3
[ -f "$T/etc/patchdesk-fresh" ] || { echo "no template $T: run tests/integration/test_fresh_machine.py once" >&2; exit 2; }
mkdir -p "$W"; rm -rf "$R"; cp -a "$T" "$R"
cp /etc/resolv.conf "$R/etc/resolv.conf"
[ -d /usr/local/share/ca-certificates ] && cp -a /usr/local/share/ca-certificates/. "$R/usr/local/share/ca-certificates/"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tfreshdeb\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
echo freshdeb > "$R/etc/hostname"
printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' > "$R/etc/apt/sources.list"
mkdir -p "$R/root/.cache/pip" "$R/opt/patchdesk" /root/.cache/pip /run/netns /run/patchdesk-lab
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; mount -t sysfs sysfs "$R/sys"
mount -t tmpfs tmpfs "$R/run"; mount -t tmpfs tmpfs "$R/tmp"
mkdir -p "$R/run/netns" "$R/run/patchdesk-lab"
mount --rbind /run/netns "$R/run/netns"; mount --bind /run/patchdesk-lab "$R/run/patchdesk-lab"
mount --make-rslave "$R/run/netns"; mount --make-rslave "$R/run/patchdesk-lab"; mount --make-rslave "$R"
mount --bind /root/.cache/pip "$R/root/.cache/pip"
(cd "$here" && git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$R/opt/patchdesk")
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  $(env | grep -E '^(PIP_CERT|SSL_CERT_FILE|REQUESTS_CA_BUNDLE|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)=' | tr '\n' ' ') \
  chroot "$R" sh -c 'cd /opt/patchdesk && sh .ci/run' > "$W/out.log" 2>&1
rc=$?
for m in root/.cache/pip tmp run sys dev proc; do umount -R -l "$R/$m"; done; umount -l "$R"
echo "fresh-suite: exit $rc (log: $W/out.log)"
exit $rc
