# PatchDesk: report a package job's state. Usage: sh -c "$this" job-status JOB_ID
# Prints "state: absent|running|done", "exit: N" when done, then the log's last lines.
set -u
job=$1
case "$job" in *[!A-Za-z0-9_.-]*|'') echo "bad job id" >&2; exit 2;; esac
d=/var/lib/patchdesk/jobs/$job
if [ ! -d "$d" ]; then echo "state: absent"; exit 0; fi
if [ -f "$d/exit" ]; then echo "state: done"; echo "exit: $(cat "$d/exit")"; else echo "state: running"; fi
echo "log:"
tail -n 40 "$d/log" 2>/dev/null
