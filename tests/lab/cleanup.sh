#!/usr/bin/env bash
# Remove test labs left behind by killed runs: every pdl* network namespace, root veth,
# mount and state directory whose owning process no longer holds the lab's lock.
# --force also removes labs that are still running. Needs root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if python3 "$here/lab.py" cleanup "$@"; then
    exit 0
fi
# Fallback without Python: the same rule in shell. A lab whose lock is held (flock) is a
# running one, left alone unless --force: several test runs may share this machine.
echo "cleanup.sh: python cleanup failed, falling back to shell" >&2
force=0
[ "${1:-}" = "--force" ] && force=1
rundir="${PATCHDESK_LAB_RUNDIR:-/run/patchdesk-lab}"
prefixes=$( { ip netns list | awk '{print $1}' | sed -n 's/^\(pdl[a-z0-9]\{1,6\}\)-.*/\1/p'
              ls /sys/class/net | sed -n 's/^\(pdl[a-z0-9]\{1,6\}\)-root$/\1/p'
              ls "$rundir" 2>/dev/null | sed -n 's/^\(pdl[a-z0-9]\{1,6\}\)\(\.lock\)\{0,1\}$/\1/p'
            } | sort -u)
for prefix in $prefixes; do
    if [ "$force" -eq 0 ] && [ -e "$rundir/$prefix.lock" ] \
            && ! flock -n "$rundir/$prefix.lock" true; then
        echo "cleanup.sh: $prefix is running (its lock is held): left alone" >&2
        continue
    fi
    for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" || true
    done
    for link in $(ls /sys/class/net | grep "^$prefix-" || true); do ip link del "$link" || true; done
    awk '{print $5}' /proc/self/mountinfo | grep "^$rundir/$prefix/" | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    rm -rf "${rundir:?}/$prefix" "${rundir:?}/$prefix.lock"
done
