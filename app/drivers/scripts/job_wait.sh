# PatchDesk: wait (up to WAIT seconds, on the host) for a package job to finish, then
# report it, the installed versions of NAMES and a health snapshot: one round trip instead
# of polling. Usage: sh -c "$this" job-wait JOB_ID WAIT NAME...   (no root needed; the
# health snapshot, health.sh, follows this text and runs only once the job is done).
# Prints the "job" section (job_status.sh's lines), and when done the "versions" section
# (dpkg-query Package<TAB>Architecture<TAB>Version<TAB>Status-Abbrev) and health.sh's.
set -u
job=$1; wait=$2; shift 2
case "$job" in *[!A-Za-z0-9_.-]*|'') echo "bad job id" >&2; exit 2;; esac
case "$wait" in *[!0-9]*|'') echo "bad wait" >&2; exit 2;; esac
d=/var/lib/patchdesk/jobs/$job
# Checked every 0.1 s (a sleep process each time: finer costs the host more than it saves).
ticks=$((wait * 10))
while [ -d "$d" ] && [ ! -f "$d/exit" ] && [ "$ticks" -gt 0 ]; do
  sleep 0.1 2>/dev/null || { sleep 1; ticks=$((ticks - 9)); }
  ticks=$((ticks - 1))
done
printf '\n@@pd:job@@\n'
pd_done=0
if [ ! -d "$d" ]; then echo "state: absent"
elif [ -f "$d/exit" ]; then echo "state: done"; echo "exit: $(cat "$d/exit")"; pd_done=1
else echo "state: running"; fi
echo "notes:"
grep -E '^E: |^dpkg: error|scriptlet failed|^Error in [A-Z]+ scriptlet|^Error: ' "$d/log" 2>/dev/null | tail -n 10
echo "log:"
tail -n 40 "$d/log" 2>/dev/null
if [ "$pd_done" = 1 ]; then
  printf '\n@@pd:versions@@\n'
  if [ $# -gt 0 ]; then
    dpkg-query -W -f='${Package}\t${Architecture}\t${Version}\t${db:Status-Abbrev}\n' "$@" 2>/dev/null
    rc=$?  # 1: a name not installed; more (killed, crashed): no answer to trust
    [ "$rc" -le 1 ] || echo "@@pd-query-failed $rc"
  fi
fi
