# PatchDesk: gather a Linux host's facts in one round trip (run with sh -c, as root when
# possible so DMI serials are readable). Each section starts with a line "@@pd:NAME@@";
# a file that does not exist prints "@@pd-absent@@" so absence differs from emptiness.
# Takes no parameters: nothing from the host or the user is interpolated here.
sec() { printf '\n@@pd:%s@@\n' "$1"; }
show() { if [ -e "$1" ]; then cat "$1" 2>/dev/null; else echo '@@pd-absent@@'; fi; }
sec os-release; if [ -e /etc/os-release ]; then cat /etc/os-release; else show /usr/lib/os-release; fi
sec uname-s; uname -s
sec kernel; uname -r
sec arch; uname -m
sec hostname; hostname 2>/dev/null || cat /etc/hostname 2>/dev/null
sec uptime; cat /proc/uptime
sec boot-id; cat /proc/sys/kernel/random/boot_id
sec meminfo; cat /proc/meminfo
sec cpuinfo; cat /proc/cpuinfo
# df stats every mount: a hung network mount would hang it, so it gets 20 s (coreutils'
# timeout, where there is one). The unfiltered fallback (a host whose filesystems are all
# overlay/tmpfs) may follow a partial first table; the parser reads both.
lim() { if command -v timeout >/dev/null 2>&1; then timeout 20 "$@"; else "$@"; fi; }
sec df; lim df -P -B1 -x tmpfs -x devtmpfs -x squashfs -x overlay 2>/dev/null || lim df -P -B1
sec ip-addr; ip -j addr 2>/dev/null
sec who; who 2>/dev/null
sec dmi-sys_vendor; show /sys/class/dmi/id/sys_vendor
sec dmi-product_name; show /sys/class/dmi/id/product_name
sec dmi-product_serial; show /sys/class/dmi/id/product_serial
sec reboot-required; show /var/run/reboot-required
sec reboot-required-pkgs; show /var/run/reboot-required.pkgs
sec needrestart; if command -v needrestart >/dev/null 2>&1; then needrestart -b 2>/dev/null; else echo '@@pd-absent@@'; fi
sec end
