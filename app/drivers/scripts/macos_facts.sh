# PatchDesk: gather a Mac's facts in one round trip (run with sh -c as the SSH user; no
# sudo needed). Each section starts with a line "@@pd:NAME@@"; something that does not
# exist prints "@@pd-absent@@". Takes no parameters: nothing is interpolated here.
sec() { printf '\n@@pd:%s@@\n' "$1"; }
sec sw_vers; sw_vers 2>&1
sec kernel; uname -r
sec arch; uname -m
sec hostname; hostname 2>/dev/null
# -json exists from 10.15; before it the text form is the only one.
sec hardware; system_profiler -json SPHardwareDataType 2>/dev/null || system_profiler SPHardwareDataType 2>/dev/null
sec boottime; sysctl -n kern.boottime 2>/dev/null
sec who; who 2>/dev/null
sec df; df -P -k / 2>/dev/null
# InstallHistory.plist is XML on current releases; plutil turns a binary one into XML.
sec history
f=/Library/Receipts/InstallHistory.plist
if [ ! -f "$f" ]; then echo '@@pd-absent@@'
elif command -v plutil >/dev/null 2>&1; then plutil -convert xml1 -o - "$f"
else cat "$f"; fi
# Homebrew: where brew is and who owns its repository (brew runs as that user, never root).
sec brew
for b in /opt/homebrew/bin/brew /usr/local/bin/brew; do
  if [ -x "$b" ]; then
    case "$b" in /opt/homebrew/*) repo=/opt/homebrew ;; *) repo=/usr/local/Homebrew ;; esac
    [ -d "$repo" ] || repo=$(dirname "$(dirname "$b")")
    printf '%s %s\n' "$b" "$(ls -ld "$repo" | awk '{print $3}')"
  fi
done
sec end
