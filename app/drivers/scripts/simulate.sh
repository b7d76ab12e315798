# PatchDesk: what installing exact versions would change. Usage: sh -c "$this" simulate
# name[:arch]=version ...   (no root needed). Prints "arch: NATIVE", apt's simulation
# (Inst/Remv/Conf lines, E: errors) and last "exit: N".
set -u
printf 'arch: %s\n' "$(dpkg --print-architecture)"
LANG=C LC_ALL=C apt-get -s -q install -o APT::Get::Always-Include-Phased-Updates=true "$@" 2>&1
echo "exit: $?"
