# PatchDesk: print the Debian changelog shipped in given package versions, so the CVE ids,
# urgency and security wording of their entries can be read (apt-get -s gives none).
# Run as root. Usage: sh -c "$this" changelogs MAXBYTES N1 PINS1 N2 PINS2 ...
# Each PINS is a comma-separated list of name[:arch]=version binaries of one source; the
# first that carries /usr/share/doc/*/changelog.Debian.gz (changelog.gz for a native
# package) answers for its group N.
# One `apt-get download --print-uris` gives every pin's URI, size and hash from the host's
# own repositories (a pin apt does not know is left out). Per round, one binary of every
# open group (the smallest first) is fetched in one batch (apt's helper checks each hash;
# `apt-get download` where the helper is missing), the .debs are unpacked in parallel and
# deleted. Output per group: "@@pd:N@@" then the changelog (at most MAXBYTES),
# "@@pd-nochangelog@@" or "@@pd-absent@@" (nothing could be downloaded); "@@pd:end@@" last.
set -u
max=$1; shift
dir=/var/cache/patchdesk/changelogs
mkdir -p "$dir" && cd "$dir" || exit 1
find "$dir" -maxdepth 1 -name 'work.*' -mmin +120 -exec rm -rf {} + 2>/dev/null
work=$(mktemp -d "$dir/work.XXXXXX") && cd "$work" || exit 1
trap 'cd "$dir"; rm -rf "$work"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 4 ] && jobs=4
helper=/usr/lib/apt/apt-helper
[ -x "$helper" ] || helper=""

: > "$work/groups"
pins=""
groups=""
while [ $# -ge 2 ]; do
  groups="$groups $1"
  printf '%s %s\n' "$1" "$2" >> "$work/groups"
  pins="$pins $(printf '%s' "$2" | tr ',' ' ')"
  shift 2
done
# uris: "name uri file size hash" per known pin.
# shellcheck disable=SC2086
LANG=C apt-get $(pd_cache) download --print-uris -q $pins 2>/dev/null | awk '
  NF >= 4 { uri = $1; gsub("\047", "", uri); file = $2; name = file; sub("_.*", "", name)
            if (file !~ /\//) print name, uri, file, $3, $4 }' > "$work/uris"
if [ ! -s "$work/uris" ]; then
  # One pin apt does not know (lists changed since the simulation) fails the whole batch:
  # keep the pins apt-cache knows and ask again.
  # shellcheck disable=SC2086
  known=$(LANG=C apt-cache $(pd_cache) show $pins 2>/dev/null | awk '
    /^Package: /{p=$2} /^Version: /{v=$2} /^Architecture: /{a=$2}
    /^$/{ if (p != "") { print p "=" v; print p ":" a "=" v }; p="" }
    END{ if (p != "") { print p "=" v; print p ":" a "=" v } }' | sort -u)
  pins=$(for pin in $pins; do printf '%s\n' "$known" | grep -qxF "$pin" && echo "$pin"; done)
  # shellcheck disable=SC2086
  [ -n "$pins" ] && LANG=C apt-get $(pd_cache) download --print-uris -q $pins 2>/dev/null | awk '
    NF >= 4 { uri = $1; gsub("\047", "", uri); file = $2; name = file; sub("_.*", "", name)
              if (file !~ /\//) print name, uri, file, $3, $4 }' > "$work/uris"
fi
# Binaries whose installed doc directory is a link to another package's ship no changelog
# of their own (openjdk-17-jre -> openjdk-17-jre-headless): tried last.
for name in $(awk '{ print $1 }' "$work/uris"); do
  [ -h "/usr/share/doc/$name" ] && echo "$name"
done > "$work/linked"
echo "@@pd" >> "$work/linked"  # never empty: awk reads it as the first file
# order: "N rank name pin" — each group's known binaries, smallest download first.
awk 'FILENAME == ARGV[1] { linked[$1] = 1; next }
     FILENAME == ARGV[2] { size[$1] = $4 + (($1 in linked) ? 1e12 : 0); next }
     { n = split($2, p, ","); for (i = 1; i <= n; i++) { name = p[i]; sub("[:=].*", "", name)
         if (name in size) printf "%s %.0f %s %s\n", $1, size[name], name, p[i] } }' \
  "$work/linked" "$work/uris" "$work/groups" \
  | sort -k1,1n -k2,2n | awk '{ rank[$1]++; print $1, rank[$1], $3, $4 }' > "$work/order"

# data_member DEB: "offset size name" of the package's data.tar.* member (ar format: an
# 8-byte magic, then per member a 60-byte header whose bytes 49-58 give its size).
data_member() {
  off=8
  total=$(wc -c < "$1")
  while [ "$off" -lt "$total" ]; do
    hdr=$(tail -c +$((off + 1)) "$1" | head -c 60 | tr -d '\000')
    mname=$(printf '%s' "$hdr" | cut -c1-16 | tr -d ' ')
    msize=$(printf '%s' "$hdr" | cut -c49-58 | tr -d ' ')
    case "$msize" in ''|*[!0-9]*) return 1 ;; esac
    case "$mname" in data.tar.*) echo "$((off + 60)) $msize ${mname%/}"; return 0 ;; esac
    off=$((off + 60 + msize + msize % 2))
  done
  return 1
}

# last_block DEB DIR NAME: a big package's own changelog usually sits in the last block of
# its multi-block data.tar.xz (after its libraries): decode that block alone (the stream
# header, then the block; tar -i finds the next header in it) instead of the whole
# package. Fails (the caller decodes everything) when it is not there.
last_block() {
  command -v xz >/dev/null 2>&1 || return 1
  member=$(data_member "$1") || return 1
  # shellcheck disable=SC2086
  set -- "$1" "$2" "$3" $member
  [ "$6" = data.tar.xz ] || return 1
  tail -c +$(($4 + 1)) "$1" | head -c "$5" > "$2.xz" || return 1
  block=$(xz --robot -lvv "$2.xz" 2>/dev/null | awk '
    $1 == "block" { n++; if ($2 != 1) multi = 1; o = $5; s = $7 }
    END { if (n > 1 && !multi) print o, s }')
  if [ -z "$block" ]; then rm -f "$2.xz"; return 1; fi
  # shellcheck disable=SC2086
  set -- "$1" "$2" "$3" $block
  { head -c 12 "$2.xz"; tail -c +$(($4 + 1)) "$2.xz" | head -c "$5"; } \
    | xz -dc --single-stream 2>/dev/null \
    | tar -xif - -C "$2" "./usr/share/doc/$3/changelog.Debian.gz" 2>/dev/null
  rm -f "$2.xz"
  [ -f "$2/usr/share/doc/$3/changelog.Debian.gz" ] && \
    [ ! -h "$2/usr/share/doc/$3/changelog.Debian.gz" ]
}

extract() { # $1 group, $2 name, $3 deb
  x="$work/x.$1"
  mkdir -p "$x"
  if [ "$(wc -c < "$3")" -lt 8000000 ] || ! last_block "$3" "$x" "$2"; then
    dpkg-deb --fsys-tarfile "$3" 2>/dev/null | tar -xf - -C "$x" --wildcards \
      './usr/share/doc/*/changelog.Debian.gz' './usr/share/doc/*/changelog.gz' 2>/dev/null
  fi
  for f in "$x/usr/share/doc/$2/changelog.Debian.gz" \
           "$(find "$x/usr/share/doc" -mindepth 2 -maxdepth 2 -type f \
              -name changelog.Debian.gz 2>/dev/null | head -n 1)" \
           "$x/usr/share/doc/$2/changelog.gz"; do
    if [ -n "$f" ] && [ -f "$f" ] && [ ! -h "$f" ]; then
      gzip -dc "$f" 2>/dev/null | head -c "$max" > "$work/out.$1"
      break
    fi
  done
  rm -rf "$x" "$3"
}

open=$groups
round=1
while [ -n "$open" ] && [ "$round" -le 3 ]; do
  # this round's binary of every open group: "N name pin uri file hash"
  printf '%s\n' $open | awk -v r="$round" 'FILENAME == ARGV[1] { u[$1] = $2 " " $3 " " $5; next }
    FILENAME == ARGV[2] { if ($2 == r) { pick[$1] = $3; pin[$1] = $4 }; next }
    ($1 in pick) && (pick[$1] in u) { print $1, pick[$1], pin[$1], u[pick[$1]] }' \
    "$work/uris" "$work/order" - > "$work/round"
  [ -s "$work/round" ] || break
  if [ -n "$helper" ]; then
    # shellcheck disable=SC2046
    LANG=C "$helper" download-file $(awk '{ print $4, $5, $6 }' "$work/round") \
      >/dev/null 2>&1
  else
    # shellcheck disable=SC2046
    LANG=C apt-get $(pd_cache) download -q $(awk '{ print $3 }' "$work/round") >/dev/null 2>&1
  fi
  # Unpack in $jobs workers, the biggest .debs dealt first so they do not end up last.
  for n in $(awk '{ print $1 }' "$work/round"); do
    [ -f "$work/state.$n" ] || echo absent > "$work/state.$n"
  done
  while read -r n name pin uri file hash; do
    [ -f "$work/$file" ] && printf '%s %s %s %s\n' "$(wc -c < "$work/$file")" "$n" "$name" "$file"
  done < "$work/round" | sort -k1,1nr | awk -v j="$jobs" -v w="$work/worker" \
    '{ print $2, $3, $4 > (w "." (NR - 1) % j) }'
  k=0
  while [ "$k" -lt "$jobs" ]; do
    if [ -f "$work/worker.$k" ]; then
      while read -r n name file; do
        echo tried > "$work/state.$n"
        extract "$n" "$name" "$work/$file"
      done < "$work/worker.$k" &
    fi
    k=$((k + 1))
  done
  wait
  rm -f "$work"/worker.*
  next=""
  for n in $open; do
    [ -s "$work/out.$n" ] || next="$next $n"
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
