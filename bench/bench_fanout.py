"""Benchmark a group step over many service nodes: hamn's engine against `xargs -P N` over
OpenSSH `ssh` with ControlMaster, the same command on the same nodes at the same concurrency.

    sudo .venv/bin/python bench/bench_fanout.py [--nodes 256] [--concurrency 32] [--rounds 3]

One real OpenSSH sshd answers for every node: the script re-runs itself in a private network
namespace (`unshare --net`: nothing in it but `lo`, which it brings up), where sshd listens on
0.0.0.0:22 — that is, only on loopback — so each node can have its own address, 127.1.x.y
(sshd takes at most 16 ListenAddress lines). Host keys are checked on both sides: known_hosts
holds the one host key for the pattern `127.*`. Logins use the test user of tests/sshd_fixture.py
(Debian's default .bashrc; root's on this machine runs pyenv, ~80 ms a session).

Per round, in alternating order:
- hamn: `hamn run FANOUT.toml --headless --yes` as its own process (Python start-up, the run
  lock on mn1/mn2, the signed audit log with an fsync before each mutating command, and a
  new SSH connection to every node: cold); wall time and the process's peak RSS (wait4);
- baseline: `xargs -P N` over `ssh … -o ControlMaster=auto -o ControlPersist=…` with a fresh
  ControlPath directory (every node's first ssh becomes its master: cold), then the same
  again with the masters up (warm);
- hamn in-process: the engine (`Runner`, the real `SshTransport`, the audit writer) running the
  same step twice on one transport: the first run pays the connections (cold), the second
  reuses them (warm) — comparable with the warm baseline.
Needs root, openssh-server, openssh-client, util-linux (unshare) and iproute2. Loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.sshd_fixture import SSHD, TEST_USER, descendants, ensure_test_user  # noqa: E402

INSIDE = "HAMN_BENCH_FANOUT_NETNS"
COMMAND = "sleep 0.05; echo restarted"
"""A stand-in for `service xcatd restart`: a short wait, one line of output."""


# --- the private network namespace ---------------------------------------------------------------

def enter_private_netns() -> None:
    """Re-run this script in a new network namespace that has only `lo` (never the host's interfaces)."""
    if os.environ.get(INSIDE) == "1":
        return
    if os.geteuid() != 0:
        sys.exit("bench_fanout: needs root (a private network namespace, and sshd switches users)")
    if shutil.which("unshare") is None:
        sys.exit("bench_fanout: unshare is missing (util-linux)")
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv], {**os.environ, INSIDE: "1"})


def loopback_only() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = [line.split(":")[1].strip() for line in links.splitlines() if line.strip()]
    if names != ["lo"]:
        sys.exit(f"bench_fanout: refusing to listen on 0.0.0.0: this namespace has {names}, not only lo")


# --- sshd and the cluster -------------------------------------------------------------------------

def node_address(i: int) -> str:
    """sn{i+1}: 127.1.0.1 … (never .0 or .255)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


class Site:
    def __init__(self, work: Path, nodes: int, concurrency: int, user: str):
        self.work, self.nodes, self.concurrency, self.user = work, nodes, concurrency, user
        self.host_key = work / "host_ed25519"
        self.client_key = work / "client_ed25519"
        self.sign_key = work / "sign_ed25519"
        self.known_hosts = work / "known_hosts"
        self.cluster = work / "cluster.toml"
        self.runbook = work / "bench-fanout.toml"
        self.locks = work / "locks"
        self.addresses = [node_address(i) for i in range(nodes)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.user != "root":
            ensure_test_user(self.user)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        for key in (self.host_key, self.client_key, self.sign_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)], check=True)
        auth = self.work / "authkeys"
        auth.mkdir()
        (auth / self.user).write_text(Path(f"{self.client_key}.pub").read_text())
        self.locks.mkdir(mode=0o777)
        self.locks.chmod(0o777)
        host_pub = " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])
        self.known_hosts.write_text(f"127.* {host_pub}\n")  # a pattern: one line for every 127.x.y.z on port 22
        config = self.work / "sshd_config"
        config.write_text(f"""\
Port 22
ListenAddress 0.0.0.0
HostKey {self.host_key}
PidFile {self.work}/sshd.pid
AuthorizedKeysFile {auth}/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
UseDNS no
MaxSessions 64
MaxStartups {4 * self.nodes}
LogLevel ERROR
""")
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=open(self.work / "sshd.log", "ab"))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", 22), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"sshd did not start: {(self.work / 'sshd.log').read_text()[-2000:]}")
                time.sleep(0.01)
        self._write_cluster()
        self._write_runbook()

    def _write_cluster(self) -> None:
        lines = ['[cluster]\nname = "fanout-bench"\ndatabase = "pg"\n']
        for name, address, role in (("mn1", "127.0.0.1", "primary"), ("mn2", "127.0.0.2", "standby")):
            lines.append(f'[nodes.{name}]\naddress = "{address}"\nhostname = "{name}"\nrole = "{role}"\nssh_user = "{self.user}"\n')
        for i, address in enumerate(self.addresses):
            lines.append(f'[nodes.sn{i + 1}]\naddress = "{address}"\nhostname = "sn{i + 1}"\nrole = "service"\nssh_user = "{self.user}"\n')
        lines.append("[pg]\n")
        lines.append("[groups]\nservice_nodes = [" + ", ".join(f'"sn{i + 1}"' for i in range(self.nodes)) + "]\n")
        lines.append(f'[ssh]\nknown_hosts = "{self.known_hosts}"\nidentity = "{self.client_key}"\nconnect_timeout_s = 60\n')
        self.cluster.write_text("\n".join(lines))

    def _write_runbook(self) -> None:
        self.runbook.write_text(f"""\
[runbook]
id = "bench-fanout"
title = "Fan-out benchmark: one command on every service node"
version = "1"
databases = ["pg"]
summary = "{COMMAND} on every service node, {self.concurrency} at a time."

[[steps]]
id = "restart-service-nodes"
title = "Restart the stand-in service on the service nodes"
node = "@service_nodes"
run = "{COMMAND}"
mutating = true
irreversible = true
concurrency = {self.concurrency}
timeout_s = 120
explain = "A stand-in for `service xcatd restart` on every service node."
""")

    def stop(self) -> None:
        if self.proc is None:
            return
        children = descendants(self.proc.pid)
        self.proc.terminate()
        self.proc.wait(10)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.proc = None


# --- the variants ------------------------------------------------------------------------------------

SAME_KEX = "curve25519-sha256"
"""What asyncssh 2.24 negotiates with OpenSSH 9.2 (it offers mlkem768x25519 first, which 9.2 lacks, and no
sntrup761). OpenSSH's own client prefers sntrup761x25519-sha512@openssh.com, several times the CPU here."""


def ssh_argv(site: Site, control_dir: Path, kex: str | None = None) -> list[str]:
    return ["ssh", "-F", "/dev/null", "-i", str(site.client_key), "-o", f"UserKnownHostsFile={site.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            *(["-o", f"KexAlgorithms={kex}"] if kex else []),
            "-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%C", "-o", "ControlPersist=300", "-l", site.user]


def baseline(site: Site, control_dir: Path, kex: str | None = None) -> float:
    """`xargs -P N ssh … HOST COMMAND` over every node's address; checks every node answered."""
    script = " ".join(map(shlex.quote, ["xargs", "-P", str(site.concurrency), "-I", "{}", *ssh_argv(site, control_dir, kex), "{}", COMMAND]))
    start = time.perf_counter()
    out = subprocess.run(["sh", "-c", script], input="\n".join(site.addresses) + "\n", capture_output=True, text=True)
    took = time.perf_counter() - start
    if out.returncode != 0 or out.stdout.count("restarted\n") != site.nodes:
        raise SystemExit(f"baseline failed ({out.returncode}): {out.stderr[-2000:]}")
    return took


def masters_rss_mb(control_dir: Path) -> tuple[int, float]:
    """(ControlMaster processes, their summed RSS in MB): what the baseline keeps to be warm."""
    count, kb = 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            if not title.startswith(f"ssh: {control_dir}/".encode()):  # a master names itself `ssh: SOCKET [mux]`
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        count += 1
        kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return count, kb / 1024


def close_masters(site: Site, control_dir: Path) -> None:
    script = " ".join(map(shlex.quote, ["xargs", "-P", "32", "-I", "{}", *ssh_argv(site, control_dir), "-O", "exit", "{}"]))
    subprocess.run(["sh", "-c", script], input="\n".join(site.addresses) + "\n", capture_output=True, text=True)
    shutil.rmtree(control_dir, ignore_errors=True)


def hamn_process(site: Site, audit: Path) -> tuple[float, float, dict[str, float]]:
    """`hamn run … --headless --yes` as its own process: (wall seconds, its peak RSS in MB, its phases).

    The peak RSS comes from GNU time (`%M`): a child spawned from this (large) process inherits
    its high-water mark across exec, so wait4's ru_maxrss would report ours. The phases come from
    the run's own audit log (each record's wall-clock `ts`)."""
    out_path, rss_path = audit.parent / "hamn.out", audit.parent / "hamn.rss"
    argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss_path), str(REPO / ".venv" / "bin" / "hamn"), "run", str(site.runbook),
            "--cluster", str(site.cluster), "--headless", "--yes", "--audit-dir", str(audit), "--lock-dir", str(site.locks),
            "--key", str(site.sign_key), "--quiet-output"]
    with open(out_path, "wb") as out:
        began = time.time()
        start = time.perf_counter()
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
        took = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"hamn run failed ({code}): {out_path.read_text(errors='replace')[-3000:]}")
    return took, int(rss_path.read_text().split()[-1]) / 1024, phases(audit, began, took)


def phases(audit: Path, began: float, took: float) -> dict[str, float]:
    """Where the process's time went, from its audit log: start-up (Python, imports, signing key,
    until the log's first record), the run lock, the group step, and the rest (release, close, exit)."""
    import json
    from datetime import datetime

    (log,) = audit.glob("*/audit-000.jsonl")
    when: dict[str, float] = {}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        t = datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        key = rec["type"] if rec["type"] != "lock_event" else f"lock_{rec['data']['action']}"
        when.setdefault(key, t)
    return {"start-up": when["log_open"] - began, "lock": when["lock_taken"] - when["log_open"],
            "step": when["step_finished"] - when["lock_taken"], "rest": began + took - when["step_finished"]}


async def hamn_in_process(site: Site, audit: Path, profile: bool = False, group_commit: bool = True) -> tuple[float, float, int]:
    """The engine in this process: the step twice on one SshTransport. (cold s, warm s, connections made)."""
    from hamn_tui.audit.keys import load_key_file
    from hamn_tui.audit.writer import AuditWriter
    from hamn_tui.cluster.loader import load_cluster
    from hamn_tui.engine.operator import AutoOperator
    from hamn_tui.engine.runner import Runner
    from hamn_tui.probes.host import host_probes
    from hamn_tui.runbook.context import RunContext, bind_roles
    from hamn_tui.runbook.loader import load_runbook
    from hamn_tui.transport.ssh import SshTransport

    cluster = load_cluster(site.cluster)
    rb = load_runbook(site.runbook, cluster)
    transport = SshTransport(cluster)
    signer = load_key_file(site.sign_key, "operator", "bench@hamn")
    times: list[float] = []
    try:
        for attempt in ("cold", "warm"):
            journal = AuditWriter(audit / attempt / "audit-000.jsonl", signer=signer, group_commit=group_commit)  # as a run's session makes it
            ctx = RunContext({}, cluster, bind_roles(cluster))
            runner = Runner(rb, ctx, transport, host_probes(transport, cluster), AutoOperator(yes=True), run_id=f"bench-{attempt}",
                            subscribers=[journal])
            prof = None
            if profile and attempt == "cold":
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            start = time.perf_counter()
            outcome = await runner.run()
            times.append(time.perf_counter() - start)
            if prof is not None:
                prof.disable()
                import pstats

                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
                pstats.Stats(prof).sort_stats("cumtime").print_stats("hamn_tui", 20)
            journal.close()
            if outcome != "done":
                raise SystemExit(f"in-process run ended {outcome}")
        return times[0], times[1], transport.connects
    finally:
        await transport.close()


# --- main ----------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=32, help="nodes at once, for hamn (the step's `concurrency`) and xargs -P")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--user", default=TEST_USER)
    ap.add_argument("--profile", action="store_true", help="after the rounds, one more in-process run, its cold run profiled (printed)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--inline-fsync", action="store_true",
                    help="also run the engine with the journal's fsync inline, one per command (as before group commit), for comparison")
    args = ap.parse_args()
    if not 1 <= args.nodes <= 250 * 250:
        sys.exit("--nodes: 1 to 62500")
    enter_private_netns()
    loopback_only()
    work = Path(tempfile.mkdtemp(prefix="hamn-fanout-"))
    work.chmod(0o755)  # sshd reads authorized_keys as the login user
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")  # nothing of ours lands in ~/.config or ~/.local/state
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    os.environ.pop("SSH_AUTH_SOCK", None)  # the bench's own keys only
    site = Site(work, args.nodes, args.concurrency, args.user)
    rows: dict[str, list[float]] = {k: [] for k in ("hamn", "hamn_rss", "base_cold", "base_warm", "base_default", "in_cold", "in_warm",
                                                    "masters", "masters_mb")}
    connects = 0
    try:
        site.start()
        for r in range(args.rounds):
            audit = work / f"round{r}"
            audit.mkdir()
            order = ["hamn", "baseline", "in-process", "default-kex"] + (["inline"] if args.inline_fsync else [])
            for variant in order if r % 2 == 0 else order[::-1]:
                control = work / f"cm{r}-{variant}"
                control.mkdir()
                if variant == "hamn":
                    took, rss, parts = hamn_process(site, audit / "runs")
                    rows["hamn"].append(took)
                    rows["hamn_rss"].append(rss)
                    for k, v in parts.items():
                        rows.setdefault(f"phase {k}", []).append(v)
                elif variant == "baseline":
                    rows["base_cold"].append(baseline(site, control, SAME_KEX))
                    rows["base_warm"].append(baseline(site, control, SAME_KEX))
                    n, mb = masters_rss_mb(control)
                    rows["masters"].append(n)
                    rows["masters_mb"].append(mb)
                    close_masters(site, control)
                elif variant == "default-kex":
                    rows["base_default"].append(baseline(site, control))
                    close_masters(site, control)
                elif variant == "inline":
                    cold, warm, _ = asyncio.run(hamn_in_process(site, audit / "inline", group_commit=False))
                    rows.setdefault("inline_cold", []).append(cold)
                    rows.setdefault("inline_warm", []).append(warm)
                else:
                    cold, warm, connects = asyncio.run(hamn_in_process(site, audit))
                    rows["in_cold"].append(cold)
                    rows["in_warm"].append(warm)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in rows.items() if v), flush=True)
        if args.profile:
            (work / "profile").mkdir()
            asyncio.run(hamn_in_process(site, work / "profile", profile=True))
    finally:
        site.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in rows.items() if v}
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    import asyncssh

    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, asyncssh {asyncssh.__version__}, "
          f"{ssh_version}")
    print(f"{args.nodes} nodes on 127.1.x.y, one sshd, `{COMMAND}`, concurrency {args.concurrency}, login {args.user}; "
          f"medians of {args.rounds} rounds\n")

    def runs(k: str) -> str:
        return " / ".join(f"{x:.2f}" for x in rows[k])

    def paired(a: str, b: str) -> str:
        """The ratio within each round (same minute, same machine load), and their median."""
        ratios = [x / y for x, y in zip(rows[a], rows[b])]
        return f"per round {' / '.join(f'{r:.2f}' for r in ratios)}, median {statistics.median(ratios):.2f}×"

    table = [
        ("hamn run --headless (process, cold: start-up, lock, audit log, connections)", f"{med['hamn']:.2f} s", runs("hamn")),
        (f"xargs -P ssh, ControlMaster, cold, kex {SAME_KEX} (as hamn)", f"{med['base_cold']:.2f} s", runs("base_cold")),
        ("cold ratio hamn process / baseline", f"{med['hamn'] / med['base_cold']:.2f}×", paired("hamn", "base_cold")),
        ("xargs -P ssh, ControlMaster, cold, OpenSSH's default kex (sntrup761x25519)", f"{med['base_default']:.2f} s", runs("base_default")),
        ("cold ratio hamn / that baseline", f"{med['hamn'] / med['base_default']:.2f}×", ""),
        ("engine in-process, cold (connections, audit log)", f"{med['in_cold']:.2f} s", runs("in_cold")),
        ("**cold ratio engine / baseline** (goal ≤ 1.0×)", f"{med['in_cold'] / med['base_cold']:.2f}×", paired("in_cold", "base_cold")),
        ("engine in-process, warm (connections reused)", f"{med['in_warm']:.2f} s", runs("in_warm")),
        ("xargs -P ssh, ControlMaster, warm (masters up)", f"{med['base_warm']:.2f} s", runs("base_warm")),
        ("**warm ratio engine / baseline** (goal ≤ 1.0×)", f"{med['in_warm'] / med['base_warm']:.2f}×", paired("in_warm", "base_warm")),
        *[(f"engine in-process, journal fsync inline (one per command), {k.removeprefix('inline_')}", f"{med[k]:.2f} s", runs(k))
          for k in ("inline_cold", "inline_warm") if k in med],
        *[(f"hamn process: {k.removeprefix('phase ')}", f"{med[k]:.2f} s", runs(k)) for k in rows if k.startswith("phase ")],
        ("hamn process peak RSS", f"{max(rows['hamn_rss']):.1f} MB", runs("hamn_rss")),
        ("baseline: ControlMaster processes kept for warm runs", f"{med['masters']:.0f}", f"{med['masters_mb']:.0f} MB RSS in all"),
        ("SSH connections the in-process engine made (two runs)", f"{connects}", ""),
    ]
    w = max(len(t[0]) for t in table)
    print(f"| {'measurement'.ljust(w)} | result | rounds |")
    print(f"|{'-' * (w + 2)}|---|---|")
    for name, value, detail in table:
        print(f"| {name.ljust(w)} | {value} | {detail} |")


if __name__ == "__main__":
    main()
