"""A Debian-family host's package state as one fingerprint, so apt's simulation is only
re-run when something it depends on changed.

``apt-get -s dist-upgrade`` is a pure function of what apt reads: dpkg's status (installed
packages, holds, half-done operations and dpkg's journal, foreign architectures), apt's
package lists (and their Release files), its configuration, sources and pins
(everything under ``Dir::Etc``, plus ``apt-config dump``) and the auto-installed marks.
:data:`STATE_FUNCTION` hashes all of them, by content, on the host. An assessment stores
the fingerprint with the simulation's output (:class:`AptState`, in the facts' details);
the next assessment of the same asset computes it again after ``apt-get update`` and,
when it is the same, parses the stored output instead of simulating again (and its
changelog lookups are answered by the site's cache). Any change to installed packages,
lists, pins, holds, sources or apt's configuration changes the fingerprint.

A simulation is only stored when the fingerprint taken before it (with the dpkg-lock
probe) equals the one taken right after it: a package operation running at the same
time never pairs one state's fingerprint with another state's simulation.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Key of the stored state in an assessment's ``facts.details``.
STATE_KEY = "apt_state"
#: The most simulation text stored (bytes, before compression); a larger one is not kept.
MAX_STORED_SIMULATION = 4_000_000
_MARK = "@@pd-state "
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")

#: Shell function ``pd_state``: prints "@@pd-state <sha256>" of the package state (run as
#: root or not: nothing is written). Paths come from apt's own configuration. Lists and
#: every file anyone may read are hashed by content (the Release files included); files
#: only their owner may read (credentials in auth.conf.d) by size and time, so root and
#: an unprivileged user get the same fingerprint; ``partial/`` (downloads in progress)
#: and lock files are left out.
STATE_FUNCTION = r"""
pd_state() {
  eval "$(apt-config shell PD_ETC Dir::Etc/d PD_LISTS Dir::State::lists/d \
    PD_STATUS Dir::State::status/f PD_EXT Dir::State::extended_states/f 2>/dev/null)"
  [ -n "${PD_STATUS:-}" ] && [ -n "${PD_LISTS:-}" ] || return 0
  pd_dpkg=${PD_STATUS%/*}
  pd_sum=$({
    apt-config dump 2>/dev/null
    for f in "$PD_STATUS" "$pd_dpkg/arch" "${PD_EXT:-/nonexistent}"; do
      printf '@@%s\n' "$f"; cat "$f" 2>/dev/null
    done
    set -- "${PD_ETC:-/etc/apt/}" "$pd_dpkg/updates" "$PD_LISTS" \
      -path "${PD_LISTS%/}/partial" -prune -o -type f ! -name lock
    find -L "$@" -perm -o=r -print 2>/dev/null | LC_ALL=C sort \
      | while IFS= read -r f; do printf '@@%s\n' "$f"; cat "$f" 2>/dev/null; done
    find -L "$@" ! -perm -o=r -printf '@@%p %s %T@\n' 2>/dev/null | LC_ALL=C sort
  } | sha256sum 2>/dev/null) || return 0
  printf '\n%s%s\n' '@@pd-state ' "${pd_sum%% *}"
}
"""

#: Shell function ``pd_cache``: prints apt options that give apt binary caches of
#: PatchDesk's own (``/var/cache/patchdesk/apt``) on a host whose apt keeps none
#: (``Dir::Cache::pkgcache ""``, as Docker-derived images set): without one, every apt
#: command parses all package lists again (about half a second of CPU each on a real
#: Debian 12). Prints nothing where apt keeps its caches (nothing changes there), or where
#: /var/cache has less than 1 GiB free and no such cache exists yet. The directory is made
#: by root only; apt validates the caches against the lists and dpkg's status, writes them
#: atomically (temporary file, rename) and, where it cannot write, builds in memory.
CACHE_FUNCTION = r"""
pd_cache() {
  eval "$(apt-config shell PD_PC Dir::Cache::pkgcache PD_SC Dir::Cache::srcpkgcache \
    2>/dev/null)"
  [ -z "${PD_PC:-}" ] && [ -z "${PD_SC:-}" ] || return 0
  pd_cd=/var/cache/patchdesk/apt
  if [ ! -f "$pd_cd/srcpkgcache.bin" ]; then
    pd_free=$(df -Pk /var/cache 2>/dev/null | awk 'NR == 2 { print $4 }')
    [ "${pd_free:-0}" -ge 1048576 ] 2>/dev/null || return 0
    if [ ! -d "$pd_cd" ]; then
      [ "$(id -u)" = 0 ] && mkdir -p "$pd_cd" 2>/dev/null && chmod 755 "$pd_cd" || return 0
    fi
  fi
  printf '%s\n' "-o Dir::Cache::pkgcache=$pd_cd/pkgcache.bin" \
    "-o Dir::Cache::srcpkgcache=$pd_cd/srcpkgcache.bin"
}
"""


def split_state(text: str) -> tuple[str, str | None]:
    """A command's output without its trailing ``@@pd-state`` line, and the fingerprint
    that line carries (None when there is none or it is not a SHA-256: the host gives
    no state, and nothing is reused or stored)."""
    stripped = text.rstrip("\n")
    head, sep, last = stripped.rpartition("\n")
    if not sep:
        head, last = "", stripped
    if not last.startswith(_MARK):
        return text, None
    value = last[len(_MARK):].strip()
    # The marker follows an empty line (the script starts it on a line of its own).
    rest = head if not head or head.endswith("\n") else head + "\n"
    return rest, value if _FINGERPRINT.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class AptState:
    """A host's package-state fingerprint, since when it holds, and apt's simulation of
    that state (its raw output: parsed again, like a fresh one, when reused)."""

    fingerprint: str
    since: datetime
    simulation: str

    def to_details(self) -> dict[str, Any] | None:
        """JSON-ready form for ``facts.details`` (None: the simulation is too large)."""
        raw = self.simulation.encode("utf-8")
        if len(raw) > MAX_STORED_SIMULATION:
            return None
        return {"fingerprint": self.fingerprint, "since": self.since.isoformat(),
                "simulation": base64.b64encode(zlib.compress(raw, 6)).decode("ascii")}

    @classmethod
    def from_details(cls, data: object) -> AptState | None:
        """Inverse of :meth:`to_details`; None for anything that is not a whole, valid
        stored state (then nothing is reused)."""
        if not isinstance(data, dict):
            return None
        fingerprint, since, blob = (data.get("fingerprint"), data.get("since"),
                                    data.get("simulation"))
        if not (isinstance(fingerprint, str) and _FINGERPRINT.fullmatch(fingerprint)
                and isinstance(since, str) and isinstance(blob, str)):
            return None
        try:
            when = datetime.fromisoformat(since)
            decompressor = zlib.decompressobj()
            raw = decompressor.decompress(base64.b64decode(blob, validate=True),
                                          MAX_STORED_SIMULATION + 1)
            if len(raw) > MAX_STORED_SIMULATION or not decompressor.eof:
                return None
            text = raw.decode("utf-8")
        except (ValueError, binascii.Error, zlib.error, UnicodeDecodeError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(fingerprint, when, text)
