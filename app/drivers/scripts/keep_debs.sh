# PatchDesk: keep the currently installed versions' .deb files for rollback.
# Usage: sh -c "$this" keep-debs DIR_ID name[:arch]=version ...   (run as root)
# Tries the repository first (apt-get download of the exact version), then apt's own
# cache. Prints "kept NAME=VERSION PATH" or "missing NAME=VERSION" per package.
set -u
id=$1; shift
case "$id" in *[!A-Za-z0-9_.-]*|'') echo "bad id" >&2; exit 2;; esac
dir=/var/cache/patchdesk/rollback/$id
mkdir -p "$dir" && cd "$dir" || exit 1
for pin in "$@"; do
  name=${pin%%=*}; version=${pin#*=}
  case "$name" in *:*) arch=${name#*:}; name=${name%%:*} ;; *) arch='*' ;; esac
  file_version=$(printf '%s' "$version" | sed 's/:/%3a/')
  found=$(ls "$dir"/"${name}_${file_version}"_$arch.deb 2>/dev/null | head -n 1)
  if [ -z "$found" ]; then
    LANG=C apt-get download -q "$pin" >/dev/null 2>&1 || true
    found=$(ls "$dir"/"${name}_${file_version}"_$arch.deb 2>/dev/null | head -n 1)
  fi
  if [ -z "$found" ]; then
    cached=$(ls /var/cache/apt/archives/"${name}_${file_version}"_$arch.deb 2>/dev/null | head -n 1)
    if [ -n "$cached" ]; then cp "$cached" "$dir/" && found="$dir/$(basename "$cached")"; fi
  fi
  if [ -n "$found" ]; then echo "kept $pin $found"; else echo "missing $pin"; fi
done
