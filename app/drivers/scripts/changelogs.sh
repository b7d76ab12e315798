# PatchDesk: print the Debian changelog shipped in given package versions, so the CVE ids,
# urgency and security wording of their entries can be read (apt-get -s gives none).
# Run as root. Usage: sh -c "$this" changelogs MAXBYTES N1 PINS1 N2 PINS2 ...
# Each PINS is a comma-separated list of name=version binaries built from one source; the
# first that carries /usr/share/doc/*/changelog.Debian.gz answers for its group N. Per
# round, one `apt-get download` fetches one binary of every open group (the smallest by
# apt's Size first; a pin apt does not know is skipped, as it would fail the whole batch), the .debs are unpacked in parallel and deleted. Output per group:
# "@@pd:N@@" then the changelog (at most MAXBYTES), "@@pd-nochangelog@@" or "@@pd-absent@@"
# (download failed); "@@pd:end@@" last.
set -u
max=$1; shift
dir=/var/cache/patchdesk/changelogs
mkdir -p "$dir" && cd "$dir" || exit 1
find "$dir" -maxdepth 1 -name 'work.*' -mmin +120 -exec rm -rf {} + 2>/dev/null
work=$(mktemp -d "$dir/work.XXXXXX") && cd "$work" || exit 1
trap 'cd "$dir"; rm -rf "$work"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 4 ] && jobs=4
# sizes: "name=version size" of every pin, from the local package lists (one apt-cache).
pins=""
groups=""
while [ $# -ge 2 ]; do
  groups="$groups $1"
  echo "$2" > "$work/pins.$1"
  pins="$pins $(echo "$2" | tr ',' ' ')"
  shift 2
done
# shellcheck disable=SC2086
LANG=C apt-cache show $pins 2>/dev/null | awk '
  /^Package: /{p=$2} /^Version: /{v=$2} /^Size: /{s=$2}
  /^$/{ if (p != "" && v != "") print p "=" v, (s == "" ? 0 : s); p=""; v=""; s="" }
  END{ if (p != "" && v != "") print p "=" v, (s == "" ? 0 : s) }' | sort -u > "$work/sizes"
echo "@@pd 0" >> "$work/sizes"  # never empty: awk reads it as the first file
for n in $groups; do
  tr ',' '\n' < "$work/pins.$n" | awk -v n="$n" 'NR==FNR{size[$1]=$2; next}
    ($1 in size) {print size[$1], $1}' "$work/sizes" - \
    | sort -n -k1,1 -s | awk '{print $2}' > "$work/order.$n"
done

extract() { # $1 group, $2 name, $3 deb
  x="$work/x.$1"
  mkdir -p "$x"
  dpkg-deb --fsys-tarfile "$3" 2>/dev/null \
    | tar -xf - -C "$x" --wildcards './usr/share/doc/*/changelog.Debian.gz' 2>/dev/null
  f="$x/usr/share/doc/$2/changelog.Debian.gz"
  if [ ! -f "$f" ] || [ -h "$f" ]; then
    f=$(find "$x/usr/share/doc" -mindepth 2 -maxdepth 2 -type f -name changelog.Debian.gz \
        2>/dev/null | head -n 1)
  fi
  if [ -n "$f" ] && [ -f "$f" ] && [ ! -h "$f" ]; then
    gzip -dc "$f" 2>/dev/null | head -c "$max" > "$work/out.$1"
  fi
  rm -rf "$x" "$3"
}

open=$groups
round=1
while [ -n "$open" ] && [ "$round" -le 3 ]; do
  want=""
  for n in $open; do
    pin=$(sed -n "${round}p" "$work/order.$n")
    [ -n "$pin" ] && want="$want $pin" && echo "$pin" > "$work/try.$n"
  done
  [ -z "$want" ] && break
  # shellcheck disable=SC2086
  LANG=C apt-get download -q $want >/dev/null 2>&1
  running=0
  for n in $open; do
    [ -f "$work/try.$n" ] || continue
    pin=$(cat "$work/try.$n"); rm -f "$work/try.$n"
    name=${pin%%=*}; version=${pin#*=}
    file_version=$(printf '%s' "$version" | sed 's/:/%3a/')
    deb=$(ls "$work"/"${name}_${file_version}"_*.deb 2>/dev/null | head -n 1)
    if [ -z "$deb" ]; then
      echo absent > "$work/state.$n"; continue
    fi
    echo tried > "$work/state.$n"
    extract "$n" "$name" "$deb" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait; running=0; fi
  done
  wait
  next=""
  for n in $open; do
    if [ ! -s "$work/out.$n" ]; then next="$next $n"; fi
  done
  open=$next
  round=$((round + 1))
done
for n in $groups; do
  printf '\n@@pd:%s@@\n' "$n"
  if [ -s "$work/out.$n" ]; then
    cat "$work/out.$n"
  elif [ "$(cat "$work/state.$n" 2>/dev/null)" = tried ]; then
    echo '@@pd-nochangelog@@'
  else
    echo '@@pd-absent@@'
  fi
done
printf '\n@@pd:end@@\n'
