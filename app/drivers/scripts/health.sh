# PatchDesk: a health snapshot before and after patching (read-only; no parameters).
sec() { printf '\n@@pd:%s@@\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
sec uid; id -u
sec apt-tools; if have apt-get && have dpkg-query; then echo yes; else echo no; fi
# Every package tool the host has (the deployer was chosen from os-release; this says
# whether its tool is really there).
sec package-tools; for t in apt-get dnf yum zypper rpm dpkg; do if have "$t"; then echo "$t"; fi; done
sec boot-id; cat /proc/sys/kernel/random/boot_id
sec pid1-start; cut -d' ' -f22 /proc/1/stat 2>/dev/null
sec uptime; cat /proc/uptime
sec loadavg; cat /proc/loadavg
sec meminfo; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
sec df; df -P -B1 / /var 2>/dev/null
# Broken packages: dpkg's audit on Debian-family hosts; on RPM hosts rpm's check of every
# installed package's dependencies (no file digests: fast).
sec dpkg-audit; if have dpkg; then dpkg --audit 2>&1; else echo '@@pd-absent@@'; fi
sec rpm-verify; if have rpm && ! have dpkg; then LANG=C rpm -Va --nofiles --nodigest --nosignature --noscripts 2>&1 | grep -v -e 'should not be used directly' -e 'assuming you know what you are doing'; else echo '@@pd-absent@@'; fi
sec failed-units; if have systemctl && [ -d /run/systemd/system ]; then systemctl --failed --plain --no-legend 2>/dev/null; else echo '@@pd-absent@@'; fi
sec reboot-required; if [ -e /var/run/reboot-required ]; then cat /var/run/reboot-required; else echo '@@pd-absent@@'; fi
# RPM hosts: dnf needs-restarting -r exits 1 when a reboot is needed; zypper
# needs-rebooting exits 102. Another exit (no plugin: 1 + "No such command") is no verdict.
sec reboot-check
if have dnf && ! have dpkg; then
  out=$(LANG=C dnf -q -C needs-restarting -r 2>&1); echo "dnf $?"; printf '%s\n' "$out" | tail -n 3
elif have zypper && ! have dpkg; then
  LANG=C zypper -n needs-rebooting >/dev/null 2>&1; echo "zypper $?"
else
  echo '@@pd-absent@@'
fi
sec end
