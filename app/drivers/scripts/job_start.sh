# PatchDesk: start a package job on this host exactly once, detached from the SSH session.
# Usage: sh -c "$this" job-start JOB_ID KIND ARG...   (run as root)
#   KIND install: ARG = name=version ...        (apt-get install of exact versions)
#   KIND rollback: ARG = /path/to/file.deb ... name- ...  (one apt-get install of the kept
#                  old packages, removing the packages the install added)
#   KIND dnf-install: ARG = name-version.arch ...   (dnf -y install of exact versions)
#   KIND dnf-rollback: ARG = /path/to/file.rpm ... -name ...  (one dnf transaction: the kept
#                  old packages, downgrades allowed, and removal of the "-name" packages)
#   KIND zypper-install: ARG = name.arch=version ...  (zypper install --oldpackage)
#   KIND zypper-rollback: ARG = /path/to/file.rpm ... -name ...  (one zypper transaction)
# The job directory is created with mkdir, which is atomic: a second start of the same job
# (a retry after a lost connection, a resumed deployment) does nothing and says so. A job
# directory whose recorded arguments (kind and ARGs) differ is another job: the next free
# JOB_ID.N is used instead. Prints "started ID" or "already-started ID". The job runs in
# its own session (setsid), so it finishes even if PatchDesk or the link dies.
set -eu
# World-readable state (no secrets in it): the status poll then needs no sudo.
umask 022
job=$1; kind=$2; shift 2
case "$job" in *[!A-Za-z0-9_.-]*|'') echo "bad job id" >&2; exit 2;; esac
case "$kind" in
  install) extra="" ;;
  rollback) extra="--allow-downgrades" ;;
  dnf-install|dnf-rollback|zypper-install|zypper-rollback) extra="" ;;
  *) echo "bad job kind" >&2; exit 2 ;;
esac
base=/var/lib/patchdesk/jobs
mkdir -p "$base" && chmod 755 /var/lib/patchdesk "$base"
want=$(printf '%s\n' "$kind" "$@")
n=1; id=$job
while ! mkdir "$base/$id" 2>/dev/null; do
  # Written right after the mkdir: wait a moment for a start that is under way.
  tries=0
  while [ ! -f "$base/$id/args" ] && [ "$tries" -lt 20 ]; do sleep 0.1; tries=$((tries + 1)); done
  if [ "$(cat "$base/$id/args" 2>/dev/null)" = "$want" ]; then echo "already-started $id"; exit 0; fi
  n=$((n + 1)); id=$job.$n
  if [ "$n" -gt 50 ]; then echo "too many jobs named $job" >&2; exit 3; fi
done
printf '%s\n' "$want" > "$base/$id/args.tmp" && mv "$base/$id/args.tmp" "$base/$id/args"
date -u +%Y-%m-%dT%H:%M:%SZ > "$base/$id/started"
setsid nohup sh -c '
  d=$1; kind=$2; extra=$3; shift 3
  export LANG=C LC_ALL=C
  case "$kind" in
    install|rollback)
      DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none \
        apt-get install -y -q $extra \
          -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
          -o DPkg::Lock::Timeout=300 -o APT::Get::Always-Include-Phased-Updates=true \
          "$@" > "$d/log" 2>&1 ;;
    dnf-install) dnf -y install "$@" > "$d/log" 2>&1 ;;
    dnf-rollback|zypper-rollback)
      # the kept files and the removals ("-name") as one transaction
      files=""; removals=""
      for a in "$@"; do
        case "$a" in -*) removals="$removals ${a#-}" ;; *) files="$files $a" ;; esac
      done
      if [ "$kind" = dnf-rollback ]; then
        if [ -z "$removals" ]; then
          dnf -y install $files > "$d/log" 2>&1
        else
          { [ -z "$files" ] || echo "install$files"; echo "remove$removals"; echo run; } > "$d/shell"
          dnf -y shell "$d/shell" > "$d/log" 2>&1
        fi
      else
        bang=""; for n in $removals; do bang="$bang !$n"; done
        # zypper checks the signature of a plain .rpm on the command line even where its
        # repository has gpgcheck off; dnf does not (localpkg_gpgcheck=False). The kept
        # files are the host'"'"'s own repository packages, checked when they were kept.
        zypper --non-interactive --no-gpg-checks install --oldpackage $files $bang \
          > "$d/log" 2>&1
      fi ;;
    zypper-install) zypper --non-interactive install --oldpackage "$@" > "$d/log" 2>&1 ;;
  esac
  echo $? > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"
' job "$base/$id" "$kind" "$extra" "$@" < /dev/null > /dev/null 2>&1 &
echo "started $id"
