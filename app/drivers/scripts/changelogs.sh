# PatchDesk: print the Debian changelog shipped in each given package version, so the CVE
# ids it names can be matched (apt-get -s gives none). Run as root.
# Usage: sh -c "$this" changelogs name=version ...
# Downloads each .deb from the host's own repositories into a scratch folder, extracts
# /usr/share/doc/NAME/changelog.Debian.gz, prints it (at most 200 kB) and deletes the .deb.
set -u
dir=/var/cache/patchdesk/changelogs
mkdir -p "$dir" && cd "$dir" || exit 1
for pin in "$@"; do
  name=${pin%%=*}; version=${pin#*=}
  printf '\n@@pd:%s@@\n' "$name"
  file_version=$(printf '%s' "$version" | sed 's/:/%3a/')
  LANG=C apt-get download -q "$pin" >/dev/null 2>&1 || true
  deb=$(ls "$dir"/"${name}_${file_version}"_*.deb 2>/dev/null | head -n 1)
  if [ -z "$deb" ]; then echo '@@pd-absent@@'; continue; fi
  dpkg-deb --fsys-tarfile "$deb" 2>/dev/null \
    | tar -xOf - "./usr/share/doc/$name/changelog.Debian.gz" 2>/dev/null \
    | gzip -dc 2>/dev/null | head -c 200000
  rm -f "$deb"
done
printf '\n@@pd:end@@\n'
