"""Recovery time of an unplanned PostgreSQL failover on the real lab: hamn's headless engine
running the shipped pg-failover runbook vs a plain bash script issuing the same commands.

    sudo .venv/bin/python bench/bench_recovery.py [--rounds 3]

Each round, for each variant (the order alternates between rounds): the lab's PostgreSQL is
reset to a streaming pair (mn1 primary with the service IP, mn2 standby), a client writes
through the service IP, then mn1 crashes (postgres killed with SIGKILL, cable pulled; see
Lab.crash). The clock starts when the variant's process is started; recovery ends when a
client on the console first commits a row through the service IP and the row lands on mn2.
A poller measures that from outside, the same way for both variants.

The script does, in the runbook's order, what the engine does on the wire: the run lock on
each node, the fencing checks (SSH and PostgreSQL of the old primary must not answer; the
standby is in recovery and not streaming), the same checks again 10 s later (the runbook's
confirm_after_s), then the runbook's commands (promote, checkpoint, timeline check, arping -D,
ip addr add + arping -U, the write through the service IP, ...). Checks run one after the
other, as a plain script would. Needs root (the lab). Not part of the test suite.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hamn_tui.lab import netns  # noqa: E402
from hamn_tui.lab.lab import Lab  # noqa: E402
from hamn_tui.lab.postgres import BIN, DATA  # noqa: E402
from hamn_tui.lab.topology import NODES, SERVICE_IP  # noqa: E402

HOST = "trim(E'\\n' FROM pg_read_file('/proc/sys/kernel/hostname'))"


def script(lab: Lab) -> str:
    """The plain-shell version of pg-failover's unplanned branch (primary mn1, standby mn2)."""
    ssh = (f"ssh -F /dev/null -i {shlex.quote(str(lab.dir / 'client_ed25519'))} -o UserKnownHostsFile={shlex.quote(str(lab.dir / 'known_hosts'))}"
           " -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5")
    return f"""#!/bin/bash
set -u
P={NODES['mn1']}; S={NODES['mn2']}; VIP={SERVICE_IP}; BIN={BIN}
on() {{ {ssh} root@"$1" "$2"; }}
pg() {{ {ssh} root@"$1" "runuser -l postgres -c $(printf %q "$2")"; }}
q() {{ $BIN/psql -X -w -At -h "$1" -U postgres -d postgres -c "$2"; }}
pg_dead() {{ ! timeout 5 bash -c "exec 3<>/dev/tcp/$1/5432" 2>/dev/null; }}
fenced() {{
  on $P true 2>/dev/null && {{ echo "the old primary answers SSH"; exit 1; }}
  pg_dead $P || {{ echo "the old primary's PostgreSQL answers"; exit 1; }}
}}
on $S 'mkdir /var/lock/hamn-script-mn2.lock'
on $P 'mkdir /var/lock/hamn-script-mn1.lock' 2>/dev/null      # the engine tries the lock on both nodes
on $S true || exit 1                                           # reach-standby
fenced                                                          # gate-unplanned ...
[ "$(q $S 'SELECT pg_is_in_recovery()')" = t ] || exit 1
[ -z "$(q $S "SELECT status FROM pg_stat_wal_receiver WHERE status = 'streaming'")" ] || exit 1
sleep 10
fenced                                                          # ... read again 10 s later
pg $S "$BIN/psql -X -w -h $S -p 5432 -U postgres -d postgres -c 'SELECT pg_last_wal_receive_lsn() AS received, pg_last_wal_replay_lsn() AS replayed, pg_last_xact_replay_timestamp() AS last_transaction_at, now() AS now'"
tl=$(pg $S "$BIN/psql -X -w -At -h $S -p 5432 -U postgres -d postgres -c 'SELECT timeline_id FROM pg_control_checkpoint()'")
[ "$(q $S 'SELECT pg_is_in_recovery()')" = t ] || exit 1
pg $S "$BIN/pg_ctl -D {DATA} -w -t 120 promote" || exit 1
pg $S "$BIN/psql -X -w -At -h $S -p 5432 -U postgres -d postgres -c CHECKPOINT" || exit 1
[ "$(q $S 'SELECT pg_is_in_recovery()')" = f ] || exit 1
[ "$(pg $S "$BIN/psql -X -w -At -h $S -p 5432 -U postgres -d postgres -c 'SELECT timeline_id > $tl FROM pg_control_checkpoint()'")" = t ] || exit 1
on $S "arping -D -c 2 -w 3 -I eth0 $VIP" || exit 1
on $S "ip addr add $VIP/24 dev eth0" || exit 1
on $S "arping -U -c 3 -I eth0 $VIP"
pg $S "$BIN/psql -X -w -At -v ON_ERROR_STOP=1 -h $VIP -p 5432 -U postgres -d postgres -c 'CREATE TABLE IF NOT EXISTS hamn_probe (id int PRIMARY KEY, written_at timestamptz NOT NULL, server inet)' -c 'INSERT INTO hamn_probe VALUES (1, now(), inet_server_addr()) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at' -c 'SELECT pg_is_in_recovery()'" || exit 1
pg $S "$BIN/psql -X -w -At -h $VIP -p 5432 -U postgres -d xcatdb -c 'SELECT current_database(), pg_is_in_recovery()'" || exit 1
on $S 'test -x /opt/xcat/sbin/xcatd'
on $S 'rmdir /var/lock/hamn-script-mn2.lock'
exit 0
"""


def floor_script(lab: Lab) -> str:
    """The floor: only what must happen for xCAT to write again, typed by hand with no checks at
    all — promote the standby, bring the service IP up, announce it."""
    ssh = (f"ssh -F /dev/null -i {shlex.quote(str(lab.dir / 'client_ed25519'))} -o UserKnownHostsFile={shlex.quote(str(lab.dir / 'known_hosts'))}"
           " -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5")
    return f"""#!/bin/bash
set -u
S={NODES['mn2']}; VIP={SERVICE_IP}; BIN={BIN}
{ssh} root@$S "runuser -l postgres -c '$BIN/pg_ctl -D {DATA} -w -t 120 promote'" || exit 1
{ssh} root@$S "ip addr add $VIP/24 dev eth0 && arping -U -c 3 -I eth0 $VIP"
"""


def steps_of(audit_dir: Path) -> list[tuple[str, float]]:
    """Where the engine's seconds went: each step's time from its audit records (monotonic clock),
    and the time before the first step (start-up, the run lock)."""
    from hamn_tui.audit.verify import verify_path

    runs = sorted((p for p in audit_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    records = verify_path(runs[-1]).records
    out: list[tuple[str, float]] = []
    first = records[0]["mono"]  # microseconds
    current: tuple[str, float] | None = None
    for rec in records:
        if rec["type"] == "step_started":
            if not out:
                out.append(("(log opened to first step: the run lock)", (rec["mono"] - first) / 1e6))
            current = (rec["data"]["step_id"], rec["mono"])
        elif rec["type"] == "step_finished" and current is not None:
            out.append((current[0], (rec["mono"] - current[1]) / 1e6))
            current = None
    return out


class Poller(threading.Thread):
    """Tries, every 20 ms, to commit a row through the service IP; records when it first lands on mn2."""

    def __init__(self, t0: float):
        super().__init__(daemon=True)
        self.t0, self.at, self.stop = t0, None, False

    def run(self) -> None:
        import psycopg2

        while not self.stop and self.at is None:
            try:
                socket.create_connection((SERVICE_IP, 5432), timeout=0.2).close()
                conn = psycopg2.connect(host=SERVICE_IP, user="postgres", dbname="postgres", connect_timeout=2)
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute(f"INSERT INTO bench_writes SELECT {HOST} RETURNING host")
                        if cur.fetchone()[0] == "mn2":
                            self.at = time.perf_counter() - self.t0
                finally:
                    conn.close()
            except Exception:
                time.sleep(0.02)


def one(lab: Lab, variant: str, audit_dir: Path) -> tuple[float, float]:
    lab.reset("pair")
    import psycopg2

    with psycopg2.connect(host=SERVICE_IP, user="postgres", dbname="postgres") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE bench_writes (host text DEFAULT {HOST})")
    conn.close()
    time.sleep(0.5)  # the standby replays the table
    lab.crash("mn1")
    if variant == "engine":
        argv = [sys.executable, "-m", "hamn_tui", "run", "pg-failover", "--headless", "--cluster", str(lab.cluster_path),
                "--audit-dir", str(audit_dir), "--choose", "mode=unplanned", "--attest", "attest-primary-fenced", "--yes",
                "--confirm", "promote=mn2", "--quiet-output"]
    else:
        path = lab.dir / f"{variant}.sh"
        path.write_text(script(lab) if variant == "shell" else floor_script(lab))
        argv = ["bash", str(path)]
    t0 = time.perf_counter()
    poller = Poller(t0)
    poller.start()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    total = time.perf_counter() - t0
    poller.join(10)
    poller.stop = True
    if proc.returncode != 0 or poller.at is None:
        raise SystemExit(f"{variant} failed (exit {proc.returncode}, write through the service IP at {poller.at}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    assert netns.holds_service_ip("mn2")
    return poller.at, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_recovery needs root (the lab: network namespaces)")
    lab = Lab(tempfile.mkdtemp(prefix="hamn-bench-lab-"))
    audit = Path(tempfile.mkdtemp(prefix="hamn-bench-audit-"))
    results: dict[str, list[tuple[float, float]]] = {"engine": [], "shell": [], "floor": []}
    try:
        lab.up()
        for r in range(args.rounds):
            order = ["engine", "shell", "floor"]
            for variant in (order if r % 2 == 0 else order[::-1]):
                vip, total = one(lab, variant, audit)
                results[variant].append((vip, total))
                print(f"round {r + 1} {variant:<6}: service IP takes writes after {vip:6.2f} s; process done after {total:6.2f} s", flush=True)
                if variant == "engine":
                    for step, secs in steps_of(audit):
                        if secs >= 0.2:
                            print(f"    {secs:6.2f} s  {step}")
    finally:
        lab.down()
        import shutil

        shutil.rmtree(audit, ignore_errors=True)
    med = {v: (statistics.median(x[0] for x in rs), statistics.median(x[1] for x in rs)) for v, rs in results.items()}
    print(f"\n{platform.node()} {platform.platform()} python {platform.python_version()}")
    print(f"median recovery (start -> writes through the service IP): engine {med['engine'][0]:.2f} s, shell {med['shell'][0]:.2f} s, "
          f"ratio {med['engine'][0] / med['shell'][0]:.2f}")
    print(f"median until the process ended:                           engine {med['engine'][1]:.2f} s, shell {med['shell'][1]:.2f} s, "
          f"ratio {med['engine'][1] / med['shell'][1]:.2f}")
    print(f"median floor (promote + service IP + arping by hand, no checks): {med['floor'][0]:.2f} s")


if __name__ == "__main__":
    main()
