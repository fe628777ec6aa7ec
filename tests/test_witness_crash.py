"""kill -9 of a witnessed headless `hamn run` while a checkpoint exchange is in flight, then
`hamn run --resume` to the end: nothing lost, the witness holds no more than the console, its
store takes the resumed segment's checkpoints, and the crashed segment's unsent tail counts as
witnessed through the resumed segment's witnessed opening record (docs/audit-log.md, Witnesses).

The witness is the real `hamn witness serve` behind a forced command on the loopback sshd
(`witness_host`), wrapped so that each `add` request lingers 2 s before it is served and says
so with a file: the test kills the run at that moment."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from hamn_tui.audit.witness.checkpoint import origin_for
from hamn_tui.audit.witness.client import SshTarget, holds

from .test_audit_support import hermetic  # noqa: F401
from .test_witness_ssh import HAMN, witness_host  # noqa: F401

STEPS = 6
BOOK = """
[runbook]
id = "crash"
title = "t"
version = "1"
databases = ["pg"]
summary = "s"
""" + "".join(f"""
[[steps]]
id = "s{i}"
title = "step {i}"
run = "sleep 0.5; echo s{i} >> TMP/ran"
mutating = false
""" for i in range(1, STEPS + 1))

WRAPPER = """#!/bin/sh
# a slow witness: an add request waits 2 s (its arrival marked by add-PID) before it is served
req=$(mktemp)
cat > "$req"
if head -c 18 "$req" | grep -q '^hamn-witness/1 add'; then touch {flags}/add-$$; sleep 2; fi
{serve} < "$req"
rc=$?
rm -f "$req"
[ -e {flags}/add-$$ ] && touch {flags}/done-$$
exit $rc
"""


def slow_witness(lab, wdir: Path, flags: Path) -> Path:
    """A key whose forced command is the slow wrapper around the real witness (same state directory)."""
    key = flags.parent / "slow_witness_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slow-witness", "-f", str(key)], check=True)
    wrapper = lab.dir / f"slow-witness-{os.getpid()}-{time.monotonic_ns()}"
    serve = f"{shlex.quote(str(HAMN))} witness serve --dir {shlex.quote(str(wdir))}"
    wrapper.write_text(WRAPPER.format(flags=shlex.quote(str(flags)), serve=serve))
    wrapper.chmod(0o755)
    with open(lab.dir / "authkeys" / "root", "a") as fh:
        fh.write(f'command="{wrapper}",restrict {Path(f"{key}.pub").read_text().strip()}\n')
    return key


def hamn(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HAMN), *args], capture_output=True, text=True, timeout=180, env=env)


def settled(flags: Path, timeout_s: float = 30) -> None:
    """Every add the witness received has been served (the wrapper marks its end)."""
    deadline = time.monotonic() + timeout_s
    while {p.name[4:] for p in flags.glob("add-*")} - {p.name[5:] for p in flags.glob("done-*")}:
        assert time.monotonic() < deadline, "the witness never finished an exchange"
        time.sleep(0.05)


def test_kill_9_with_a_checkpoint_in_flight_then_resume_ends_fully_witnessed(tmp_path, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    flags = tmp_path / "flags"
    flags.mkdir()
    key = slow_witness(lab, wdir, flags)
    keys = tmp_path / "witness_keys"
    keys.write_text(vkey.vkey + "\n")
    cluster = lab.cluster_toml(tmp_path / "cluster.toml", name="crash")
    with open(cluster, "a") as fh:
        fh.write(f'\n[witness]\nnodes = false\nhosts = ["root@127.0.0.1:{lab.port}"]\nidentity = "{key}"\nknown_hosts = "{lab.known_hosts}"\n'
                 f'keys = "{keys}"\ntimeout_s = 20\n')
    book = tmp_path / "crash.toml"
    book.write_text(textwrap.dedent(BOOK).replace("TMP", str(tmp_path)))
    (tmp_path / "locks").mkdir()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("SSH_AUTH_SOCK", None)
    common = ["run", str(book), "--headless", "--cluster", str(cluster), "--audit-dir", str(tmp_path / "runs"),
              "--lock-dir", str(tmp_path / "locks")]

    proc = subprocess.Popen([str(HAMN), *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60
        while not list(flags.glob("add-*")):  # a checkpoint is on its way to the witness
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint was ever sent"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    settled(flags)  # the exchange the run left behind is answered to nobody
    [run] = list((tmp_path / "runs").iterdir())
    first = run / "audit-000.jsonl"
    console = first.read_bytes().count(b"\n")
    t = SshTarget("127.0.0.1", user="root", port=lab.port, identity=target.identity, known_hosts=lab.known_hosts)
    held = holds(origin_for("crash", run.name, first.name), t)
    assert held.ok and held.holds is not None and 0 < held.holds <= console, (held, console)  # nothing the console lacks

    # The killed run still holds the cluster lock: its own resume takes it back (recorded), no one breaks it by hand
    assert list((tmp_path / "locks").iterdir())
    for _ in range(3):  # a kill mid-command leaves an unknown outcome: the run waits (4) for an answer
        r = hamn(*common, "--resume", env=env)
        if r.returncode != 4:
            break
        waiting = next(json.loads(x)["data"] for x in reversed(sorted(run.glob("audit-*.jsonl"))[-1].read_bytes().splitlines())
                       if json.loads(x)["type"] == "question_asked")
        r = hamn(*common, "--resume", "--answer", f"{waiting['step_id']}=done:checked by hand after the crash", env=env)
        if r.returncode != 4:
            break
    assert r.returncode == 0, r.stdout + r.stderr
    assert "witnesses: fully witnessed" in r.stderr, r.stderr
    settled(flags)

    segments = sorted(run.glob("audit-*.jsonl"))
    assert [s.name for s in segments][:2] == ["audit-000.jsonl", "audit-001.jsonl"]
    records = [json.loads(x) for s in segments for x in s.read_bytes().splitlines()]
    taken_back = [r["data"]["holder"] for r in records if r["type"] == "lock_event" and r["data"]["action"] == "broken"]
    assert taken_back and "taken back on resume" in taken_back[0]["why"] and taken_back[0]["was"]["run_id"] in run.name
    finished = [r["data"]["step_id"] for r in records if r["type"] == "step_finished"]
    assert sorted(finished) == [f"s{i}" for i in range(1, STEPS + 1)], finished  # every step once, none lost
    ends = [r["data"]["outcome"] for r in records if r["type"] == "run_finished"]
    assert ends[-1] == "done" and ends.count("done") == 1 and set(ends[:-1]) <= {"waiting"}, ends

    last = segments[-1]
    later = holds(origin_for("crash", run.name, last.name), t)
    assert later.holds == last.read_bytes().count(b"\n")  # the witness took the resumed segment's checkpoints

    v = hamn("audit", "verify", str(run), env=env)
    assert v.returncode == 0 and v.stdout.splitlines()[-1].startswith("VALID"), v.stdout + v.stderr
    v = hamn("audit", "verify", str(run), "--witness-keys", str(keys), env=env)
    assert v.returncode == 0 and v.stdout.strip().endswith("— fully witnessed"), v.stdout + v.stderr
    # the in-flight cosignature never reached the console's .cosig (the run was dead): audit-000's
    # tail past its last kept cosignature counts as witnessed through audit-001's opening record
    through = re.search(rf"note: audit-000.jsonl: records ([0-9]+)–{console - 1} witnessed through audit-001's opening record", v.stdout)
    assert through and int(through[1]) <= held.holds, v.stdout
    v = hamn("audit", "verify", str(run), "--witness", f"root@127.0.0.1:{lab.port}", "--witness-identity", str(target.identity),
             "--known-hosts", str(lab.known_hosts), "--witness-keys", str(keys), env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert f"note: {run.name}/audit-000.jsonl: the console holds the {held.holds} records hamn-witness/mn2 holds" in v.stdout, v.stdout
