# PatchDesk: a health snapshot before and after patching (read-only; no parameters).
sec() { printf '\n@@pd:%s@@\n' "$1"; }
sec uid; id -u
sec apt-tools; if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then echo yes; else echo no; fi
sec boot-id; cat /proc/sys/kernel/random/boot_id
sec pid1-start; cut -d' ' -f22 /proc/1/stat 2>/dev/null
sec uptime; cat /proc/uptime
sec loadavg; cat /proc/loadavg
sec meminfo; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
sec df; df -P -B1 / /var 2>/dev/null
sec dpkg-audit; dpkg --audit 2>&1
sec failed-units; if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then systemctl --failed --plain --no-legend 2>/dev/null; else echo '@@pd-absent@@'; fi
sec reboot-required; if [ -e /var/run/reboot-required ]; then cat /var/run/reboot-required; else echo '@@pd-absent@@'; fi
sec end
