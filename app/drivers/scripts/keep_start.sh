# PatchDesk: keep the old .deb files for rollback, check the host is as pre-flight saw it,
# and start the install job: one round trip (job_start.sh follows this text).
# Usage: sh -c "$this" keep-start KEEP_ID JOB_ID KIND keep PIN... expect PIN... args ARG...
#   (run as root). keep: name[:arch]=version of the installed versions to keep;
#   expect: name[:arch]=version ("" = not installed) as pre-flight recorded them;
#   args: the job's arguments (see job_start.sh).
# Prints "kept PIN PATH" / "missing PIN" per kept package; when an expected version is not
# the installed one, "drift NAME" lines and "not-started" (exit 4, nothing started); else
# job_start.sh's "started ID" / "already-started ID".
set -u
keep_id=$1; pd_job=$2; pd_kind=$3; shift 3
case "$keep_id" in *[!A-Za-z0-9_.-]*|'') echo "bad id" >&2; exit 2;; esac
case "$pd_job" in *[!A-Za-z0-9_.-]*|'') echo "bad job id" >&2; exit 2;; esac
[ "${1:-}" = keep ] || { echo "usage" >&2; exit 2; }
shift
dir=/var/cache/patchdesk/rollback/$keep_id
mkdir -p "$dir" || exit 1
while [ $# -gt 0 ] && [ "$1" != expect ]; do
  pin=$1; shift
  name=${pin%%=*}; version=${pin#*=}
  case "$name" in *:*) arch=${name#*:}; name=${name%%:*} ;; *) arch='*' ;; esac
  file_version=$(printf '%s' "$version" | sed 's/:/%3a/')
  found=$(ls "$dir"/"${name}_${file_version}"_$arch.deb 2>/dev/null | head -n 1)
  if [ -z "$found" ]; then
    (cd "$dir" && LANG=C apt-get download -q "$pin" >/dev/null 2>&1) || true
    found=$(ls "$dir"/"${name}_${file_version}"_$arch.deb 2>/dev/null | head -n 1)
  fi
  if [ -z "$found" ]; then
    cached=$(ls /var/cache/apt/archives/"${name}_${file_version}"_$arch.deb 2>/dev/null | head -n 1)
    if [ -n "$cached" ]; then cp "$cached" "$dir/" && found="$dir/$(basename "$cached")"; fi
  fi
  if [ -n "$found" ]; then echo "kept $pin $found"; else echo "missing $pin"; fi
done
[ "${1:-}" = expect ] || { echo "usage" >&2; exit 2; }
shift
# A job already recorded under this id is a resumed one: the host changed by its own hand.
drift=0
[ -d "/var/lib/patchdesk/jobs/$pd_job" ] && check=0 || check=1
while [ $# -gt 0 ] && [ "$1" != args ]; do
  pin=$1; shift
  [ "$check" = 1 ] || continue
  name=${pin%%=*}; want=${pin#*=}
  have=$(dpkg-query -W -f='${Version}\t${db:Status-Abbrev}\n' "$name" 2>/dev/null \
         | sed 's/[[:space:]]*$//' | grep -E '	(ii|hi)$' | cut -f1)
  if [ -z "$want" ]; then
    [ -z "$have" ] || { echo "drift $name"; drift=1; }
  elif ! printf '%s\n' "$have" | grep -qxF -- "$want"; then
    echo "drift $name"; drift=1
  fi
done
[ "${1:-}" = args ] || { echo "usage" >&2; exit 2; }
shift
if [ "$drift" = 1 ]; then echo "not-started"; exit 4; fi
set -- "$pd_job" "$pd_kind" "$@"
