# PatchDesk: start an install job on a Mac exactly once, detached from the SSH session.
# Usage: sh -c "$this" job-start JOB_ID OWNER BREW BREW_OWNER KIND NAME VERSION ...
#   (run as root). OWNER: the volume owner for softwareupdate --user/--stdinpass (Apple
#   silicon; their password is the first line of stdin), "" on Intel. BREW, BREW_OWNER:
#   Homebrew's path and the user it runs as (never root), "" without Homebrew.
#   KIND apple: NAME is a softwareupdate label; formula/cask: a Homebrew name.
# Same job directory rules as job_start.sh (atomic mkdir; other arguments: JOB_ID.N).
# After softwareupdate the list is read again: a label still offered is a failure (it can
# exit 0 and install nothing). Installed labels are recorded in
# /var/lib/patchdesk/apple-installed ("label<TAB>version"); a restart it asks for is
# recorded with the boot time in /var/lib/patchdesk/restart-required.
set -eu
umask 022
job=$1; owner=$2; brew=$3; bowner=$4; shift 4
case "$job" in *[!A-Za-z0-9_.-]*|'') echo "bad job id" >&2; exit 2;; esac
case "$bowner" in root) echo "brew never runs as root" >&2; exit 2;; esac
pw=""
if [ -n "$owner" ]; then IFS= read -r pw || true; fi
base=/var/lib/patchdesk/jobs
mkdir -p "$base" && chmod 755 /var/lib/patchdesk "$base"
want=$(printf '%s\n' mac "$owner" "$brew" "$bowner" "$@")
n=1; id=$job
while ! mkdir "$base/$id" 2>/dev/null; do
  tries=0
  while [ ! -f "$base/$id/args" ] && [ "$tries" -lt 20 ]; do sleep 0.1; tries=$((tries + 1)); done
  if [ "$(cat "$base/$id/args" 2>/dev/null)" = "$want" ]; then echo "already-started $id"; exit 0; fi
  n=$((n + 1)); id=$job.$n
  if [ "$n" -gt 50 ]; then echo "too many jobs named $job" >&2; exit 3; fi
done
printf '%s\n' "$want" > "$base/$id/args.tmp" && mv "$base/$id/args.tmp" "$base/$id/args"
date -u +%Y-%m-%dT%H:%M:%SZ > "$base/$id/started"
# The password goes to the job through a pipe: never an argument, a file or the log.
printf '%s\n' "$pw" | nohup sh -c '
  d=$1; owner=$2; brew=$3; bowner=$4; shift 4
  IFS= read -r pw || pw=""
  export LANG=C LC_ALL=C
  rc=0; labels=""
  : > "$d/labels"
  while [ "$#" -ge 3 ]; do
    kind=$1; name=$2; version=$3; shift 3
    case "$kind" in
      formula|cask)
        echo "== brew upgrade --$kind $name (as $bowner)"
        sudo -u "$bowner" -H env HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_INSTALL_CLEANUP=1 \
          HOMEBREW_NO_ANALYTICS=1 "$brew" upgrade "--$kind" "$name" || rc=1 ;;
      apple) printf "%s\t%s\n" "$name" "$version" >> "$d/labels" ;;
    esac
  done
  if [ -s "$d/labels" ]; then
    set --
    while IFS="	" read -r label version; do set -- "$@" "$label"; done < "$d/labels"
    echo "== softwareupdate -i $*"
    if [ -n "$owner" ]; then
      printf "%s\n" "$pw" | softwareupdate -i "$@" --user "$owner" --stdinpass || rc=1
    else
      softwareupdate -i "$@" < /dev/null || rc=1
    fi
    pw=""
    softwareupdate --list > "$d/after" 2>&1 || true
    sed "s/^[[:space:]]*//" "$d/after" > "$d/after.items"
    while IFS="	" read -r label version; do
      if grep -Fxq -e "* Label: $label" -e "* $label" -e "- Label: $label" -e "- $label" "$d/after.items"; then
        echo "Error: $label is still offered after the install"; rc=1
      else
        printf "%s\t%s\n" "$label" "$version" >> /var/lib/patchdesk/apple-installed
      fi
    done < "$d/labels"
  fi
  if grep -qi "restart" "$d/log" 2>/dev/null; then
    sysctl -n kern.boottime > /var/lib/patchdesk/restart-required 2>/dev/null || true
  fi
  echo $rc > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"
' job "$base/$id" "$owner" "$brew" "$bowner" "$@" > "$base/$id/log" 2>&1 &
pw=""
echo "started $id"
