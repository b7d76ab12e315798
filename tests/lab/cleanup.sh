#!/usr/bin/env bash
# Remove test labs left behind by killed runs: every pdl* network namespace, root veth,
# mount and state directory whose owning process no longer holds the lab's lock.
# --force also removes labs that are still running. Needs root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if python3 "$here/lab.py" cleanup "$@"; then
    exit 0
fi
# Fallback without Python: brute-force removal of pdl* namespaces and links.
echo "cleanup.sh: python cleanup failed, falling back to shell" >&2
for ns in $(ip netns list | awk '{print $1}' | grep '^pdl' || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" || true
done
for link in $(ls /sys/class/net | grep '^pdl' || true); do ip link del "$link" || true; done
rundir="${PATCHDESK_LAB_RUNDIR:-/run/patchdesk-lab}"
awk '{print $5}' /proc/self/mountinfo | grep "^$rundir/" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || true
done
rm -rf "${rundir:?}"/pdl*
