"""Stop a command and everything it started, on any node, with one POSIX shell script.

Why not a signal to the process group: `su -c` and `runuser -c` put the target user's shell
in a NEW session, so a group kill misses the real command; and OpenSSH's "signal" channel
request is refused for root logins ("session signalling requires privilege separation",
measured with sshd 9.2), the usual login for xCAT management nodes. Closing the channel
signals nothing either (no pty).

So the transports learn the pid of the session leader that runs the command (sshd and
LocalTransport both start it with setsid) and run this script beside it: it collects that
pid, its descendants, and every process in their process groups or sessions (so children
orphaned by a dead parent, and su's new session, are included), sends SIGTERM (and SIGCONT,
so a stopped process can act on it), waits up to the grace period, then SIGKILLs what is
left. It needs only sh, ps (procps) and awk. A process that double-forked *and* called
setsid before the snapshot (a daemon) is out of reach, on purpose.
"""
from __future__ import annotations

import shlex

# Zombies are skipped: they are dead, and an orphan's zombie may never be reaped here.
_SCRIPT = r"""
root=$1; tries=$2
members() {
  ps -e -o pid= -o ppid= -o pgid= -o sid= -o stat= 2>/dev/null | awk -v roots="$1" -v self="$$" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) if (r[i] > 1) want[r[i]] = 1 }
    $5 !~ /^Z/ { k++; pid[k] = $1; ppid[k] = $2; pgid[k] = $3; sid[k] = $4 }
    END {
      do {
        changed = 0
        for (i = 1; i <= k; i++)
          if (!(pid[i] in want) && (ppid[i] in want || pgid[i] in want || sid[i] in want)) {
            want[pid[i]] = 1; changed = 1
          }
      } while (changed)
      for (i = 1; i <= k; i++) if ((pid[i] in want) && pid[i] != self) printf "%s ", pid[i]
    }'
}
pids=$(members "$root")
if [ -z "$pids" ]; then echo "hamn-kill: nothing left"; exit 0; fi
kill -TERM $pids 2>/dev/null; kill -CONT $pids 2>/dev/null
i=0
while [ "$i" -lt "$tries" ]; do
  sleep 0.1
  pids=$(members "$root $pids")
  if [ -z "$pids" ]; then echo "hamn-kill: terminated"; exit 0; fi
  i=$((i + 1))
done
kill -KILL $pids 2>/dev/null
i=0
while [ "$i" -lt 30 ]; do
  sleep 0.1
  pids=$(members "$root $pids")
  if [ -z "$pids" ]; then echo "hamn-kill: killed"; exit 0; fi
  i=$((i + 1))
done
echo "hamn-kill: still running: $pids"; exit 1
"""


def kill_tree_command(root_pid: int, grace_s: float = 2.0) -> str:
    """Shell text that stops `root_pid`'s whole tree: SIGTERM, up to `grace_s`, then SIGKILL."""
    if root_pid <= 1:
        raise ValueError(f"refusing to kill pid {root_pid}")
    tries = max(1, round(grace_s * 10))
    return f"sh -c {shlex.quote(_SCRIPT)} hamn-kill {int(root_pid)} {tries}"
