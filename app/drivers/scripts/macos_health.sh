# PatchDesk: a Mac's health snapshot (run as root through sudo). Sections as in health.sh.
sec() { printf '\n@@pd:%s@@\n' "$1"; }
sec uid; id -u
sec boottime; sysctl -n kern.boottime 2>/dev/null
sec loadavg; sysctl -n vm.loadavg 2>/dev/null
sec df; df -P -k / 2>/dev/null
sec package-tools; command -v softwareupdate; for b in /opt/homebrew/bin/brew /usr/local/bin/brew; do [ -x "$b" ] && echo "$b"; done
sec restart-required; cat /var/lib/patchdesk/restart-required 2>/dev/null || echo '@@pd-absent@@'
sec end
