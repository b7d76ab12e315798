# PatchDesk: report a package job's state. Usage: sh -c "$this" job-status JOB_ID
# Prints "state: absent|running|done", "exit: N" when done, the failure lines of the log
# ("notes:"), then the log's last lines ("log:").
set -u
job=$1
case "$job" in *[!A-Za-z0-9_.-]*|'') echo "bad job id" >&2; exit 2;; esac
d=/var/lib/patchdesk/jobs/$job
if [ ! -d "$d" ]; then echo "state: absent"; exit 0; fi
if [ -f "$d/exit" ]; then echo "state: done"; echo "exit: $(cat "$d/exit")"; else echo "state: running"; fi
# Lines of the whole log that tell of a failure, wherever they are in a long log.
echo "notes:"
grep -E '^E: |^dpkg: error|scriptlet failed|^Error in [A-Z]+ scriptlet|^Error: ' "$d/log" 2>/dev/null | tail -n 10
echo "log:"
tail -n 40 "$d/log" 2>/dev/null
