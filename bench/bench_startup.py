"""From typing `hamn` to the situation on screen, with the primary node dead, on the real lab.

    sudo .venv/bin/python bench/bench_startup.py [--rounds 5]

The lab (docs/lab.md) is brought up in a temporary directory as a streaming pair, then mn1 is
crashed (postgres killed, cable pulled: every new connection to it waits for ARP to give up,
about 3 s). Each round starts the real `hamn --cluster LAB` in a private tmux server at 80x24
and reads the screen every 10 ms:

- **home**: the home screen is drawn (its runbook list is on screen);
- **partial**: the live node's reading is on screen and the dead one is named as still being
  asked ("no answer yet from mn1") — the first reading shows each node as it answers;
- **situation**: the situation line names the situation (`PRIMARY NODE DOWN`).

Baselines in the same run, on the same lab and at the same moment: `python -c pass` (the
interpreter alone), and a plain `ssh` to the dead node (`ssh -o ConnectTimeout=10 root@mn1
true`: how long the kernel takes to say "no route to host") — nothing can name the node down
before that without guessing. Not part of the test suite; needs root and tmux.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hamn_tui.lab.lab import Lab  # noqa: E402
from hamn_tui.lab.topology import NODES  # noqa: E402


class Screen:
    """A private tmux server with one 80x24 session."""

    def __init__(self, command: str, env: dict[str, str]):
        self.dir = Path(tempfile.mkdtemp(prefix="hamn-bench-tmux-"))
        self.sock = str(self.dir / "sock")
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.tmux("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", f"env {exports} {command}")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10).stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def one_round(lab: Lab, audit: Path) -> tuple[float, float | None, float, str]:
    env = {"TERM": "xterm-256color", "HAMN_AUDIT_DIR": str(audit), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/root")}
    t0 = time.perf_counter()
    screen = Screen(f"{shlex.quote(sys.executable)} -m hamn_tui --cluster {shlex.quote(str(lab.cluster_path))}", env)
    home = partial = situation = None
    text = ""
    try:
        while time.perf_counter() - t0 < 30:
            text = screen.text()
            now = time.perf_counter() - t0
            if home is None and "pg-failover" in text:
                home = now
            if partial is None and "no answer yet from mn1" in text:
                partial = now
            if "primary node down" in text.lower():
                situation = now
                break
            time.sleep(0.01)
    finally:
        screen.close()
    if home is None or situation is None:
        raise SystemExit(f"the situation never showed within 30 s; the screen was:\n{text}")
    return home, partial, situation, text


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=60)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_startup needs root (the lab: network namespaces)")
    if shutil.which("tmux") is None:
        raise SystemExit("bench_startup needs tmux")
    lab = Lab(tempfile.mkdtemp(prefix="hamn-bench-lab-"))
    audit = Path(tempfile.mkdtemp(prefix="hamn-bench-audit-"))
    ssh = ["ssh", "-F", "/dev/null", "-i", str(lab.dir / "client_ed25519"), "-o", f"UserKnownHostsFile={lab.dir / 'known_hosts'}",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"root@{NODES['mn1']}", "true"]
    rows: dict[str, list[float]] = {"home": [], "partial": [], "situation": [], "python": [], "ssh-dead": []}
    last = ""
    try:
        lab.up()
        lab.reset("pair")
        lab.crash("mn1")
        for r in range(args.rounds):
            rows["python"].append(timed([sys.executable, "-c", "pass"]))
            rows["ssh-dead"].append(timed(ssh))
            home, partial, situation, last = one_round(lab, audit)
            rows["home"].append(home)
            rows["situation"].append(situation)
            if partial is not None:  # the poll may miss a short-lived partial view
                rows["partial"].append(partial)
            print(f"round {r + 1}: home drawn {home:5.2f} s, partial {partial if partial is None else round(partial, 2)} s, "
                  f"situation on screen {situation:5.2f} s "
                  f"(python {rows['python'][-1]:.2f} s, ssh to the dead node {rows['ssh-dead'][-1]:.2f} s)", flush=True)
    finally:
        lab.down()
        shutil.rmtree(audit, ignore_errors=True)
    print(f"\n{platform.node()} {platform.platform()} python {platform.python_version()}")
    for k, v in rows.items():
        if v:
            print(f"median {k:<10} {statistics.median(v):5.2f} s  ({' / '.join(f'{x:.2f}' for x in v)})")
    print("\nthe last screen:\n" + last)


if __name__ == "__main__":
    main()
