# PatchDesk: what installing exact versions would change. Usage: sh -c "$this" simulate
# name[:arch]=version ...   (no root needed). Prints "arch: NATIVE", then the pins that
# apply to this host ("pin: name=version": a name:arch of the native architecture loses
# its qualifier; one of another architecture applies only when that package is installed
# here for it, else "skip: PIN"), apt's simulation (Inst/Remv/Conf lines, E: errors) and
# last "exit: N".
set -u
native=$(dpkg --print-architecture)
printf 'arch: %s\n' "$native"
count=$#
for pin in "$@"; do
  name=${pin%%=*}; version=${pin#*=}
  case "$name" in
    *:*)
      arch=${name#*:}
      if [ "$arch" = "$native" ] || [ "$arch" = all ]; then
        name=${name%%:*}
      else
        case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$name" 2>/dev/null)" in
          ii*|hi*) ;;
          *) echo "skip: $pin"; continue ;;
        esac
      fi ;;
  esac
  set -- "$@" "$name=$version"
  echo "pin: $name=$version"
done
shift "$count"
LANG=C LC_ALL=C apt-get -s -q install -o APT::Get::Always-Include-Phased-Updates=true "$@" 2>&1
echo "exit: $?"
