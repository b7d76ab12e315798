# PatchDesk: keep the currently installed versions' .rpm files for rollback.
# Usage: sh -c "$this" keep-rpms TOOL DIR_ID name/arch/evr ...   (run as root; TOOL dnf|zypper)
# Looks in the directory kept already, then downloads the exact version from the host's
# own repositories (dnf download / zypper download), then searches the package manager's
# cache. Prints "kept NAME/ARCH/EVR PATH" or "missing NAME/ARCH/EVR" per package.
set -u
tool=$1; id=$2; shift 2
case "$id" in *[!A-Za-z0-9_.-]*|'') echo "bad id" >&2; exit 2;; esac
case "$tool" in dnf|zypper) ;; *) echo "bad tool" >&2; exit 2;; esac
dir=/var/cache/patchdesk/rollback/$id
mkdir -p "$dir" && cd "$dir" || exit 1
export LANG=C LC_ALL=C
for item in "$@"; do
  name=${item%%/*}; rest=${item#*/}; arch=${rest%%/*}; evr=${rest#*/}
  vr=${evr#*:}  # rpm file names carry no epoch
  file="$name-$vr.$arch.rpm"
  if [ ! -f "$dir/$file" ]; then
    if [ "$tool" = dnf ]; then
      dnf -q download --destdir "$dir" "$name-$evr.$arch" >/dev/null 2>&1 || true
    else
      zypper -n --no-refresh download "$name.$arch=$evr" >/dev/null 2>&1 || true
    fi
  fi
  if [ ! -f "$dir/$file" ]; then
    cached=$(find /var/cache/dnf /var/cache/yum /var/cache/zypp/packages -name "$file" -type f 2>/dev/null | head -n 1)
    if [ -n "$cached" ]; then cp "$cached" "$dir/$file"; fi
  fi
  if [ -f "$dir/$file" ]; then echo "kept $item $dir/$file"; else echo "missing $item"; fi
done
