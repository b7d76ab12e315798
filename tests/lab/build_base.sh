#!/usr/bin/env bash
# Build (or reuse) the cached Debian 12 base of the test lab.
# Cache: $PATCHDESK_LAB_CACHE (default /var/cache/patchdesk-lab), keyed by a hash of the
# package list and recipe; the Debian mirror comes from this machine's apt configuration
# (or $PATCHDESK_LAB_MIRROR). Needs root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$here/lab.py" build-base "$@"
