"""`hamn audit verify | show | export`, the keys a run signs with (agent, --key, installation,
ephemeral for training), and the start-up cost: `hamn validate` never loads the audit stack."""
from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hamn_tui.audit import NAMESPACE
from hamn_tui.audit.verify import verify_path

from .test_audit_support import BOOK, HEAD, hermetic, keygen  # noqa: F401

REPO = Path(__file__).resolve().parent.parent

DECIDE = """[runbook]
id = "decide"
title = "a run with decisions"
version = "1"
databases = ["db2"]
summary = "s"

[params.target]
type = "string"
description = "where"
default = "mn2"

[[steps]]
id = "look"
title = "look"
run = "echo looked at {{ params.target }}; printf '\\\\033[31mred\\\\033[0m\\\\n'"
mutating = false

[[steps]]
id = "change"
title = "change {{ params.target }}"
run = "echo changed"
confirm = "typed"
confirm_text = "CHANGE"
irreversible = true

[[steps]]
id = "broken"
title = "a step that fails"
run = "echo oops >&2; exit 2"
mutating = false
"""


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_STATE_HOME": str(tmp / "state"), **extra}
    if "SSH_AUTH_SOCK" not in extra:
        env.pop("SSH_AUTH_SOCK", None)
    return env


def hamn(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


@pytest.fixture
def decided(tmp_path):
    book = tmp_path / "decide.toml"
    book.write_text(DECIDE)
    key = keygen(tmp_path / "keys", "op", "op@example.com")
    env = env_for(tmp_path)
    out = hamn("run", str(book), "--headless", "--confirm", "change=CHANGE", "--answer", "broken=skip:a known, harmless failure",
               "--audit-dir", str(tmp_path / "runs"), "--key", str(key), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "audit log:" in out.stderr and "head sha256" in out.stderr
    [run] = list((tmp_path / "runs").iterdir())
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'{getpass.getuser()}@{socket.gethostname()} namespaces="{NAMESPACE}" {Path(str(key) + ".pub").read_text()}')
    return run, allowed, env


def test_verify_exit_codes_and_last_lines(decided, tmp_path):
    run, allowed, env = decided
    ok = hamn("audit", "verify", str(run), "--allowed-signers", str(allowed), env=env)
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1].startswith("VALID: run ") and "signers checked against" in ok.stdout
    seg = run / "audit-000.jsonl"
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) // 2])
    cut = hamn("audit", "verify", str(seg), env=env)
    assert cut.returncode == 3 and cut.stdout.splitlines()[-1].startswith("INCOMPLETE: ")
    seg.write_bytes(data.replace(b'"action":"skip"', b'"action":"done"'))
    bad = hamn("audit", "verify", str(seg), env=env)
    assert bad.returncode == 1 and re.match(r"INVALID: record \d+: ", bad.stdout.splitlines()[-1]), bad.stdout
    seg.write_bytes(data)


def test_show_and_export_put_the_verdict_first(decided, tmp_path):
    run, allowed, env = decided
    shown = hamn("audit", "show", str(run), "--allowed-signers", str(allowed), "--output", env={**env, "COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    assert "VALID" in shown.stdout.splitlines()[0] and "a known, harmless failure" in shown.stdout and "\x1b[31m" not in shown.stdout
    for fmt in ("html", "md"):
        out = tmp_path / f"report.{fmt}"
        r = hamn("audit", "export", str(run), "--format", fmt, "-o", str(out), "--allowed-signers", str(allowed), "--casts", str(tmp_path / "casts"), env=env)
        assert r.returncode == 0, r.stderr
        text = out.read_text()
        first = text.index("Verification")
        assert first < text.index("VALID: run") < text.index("Who, what, where, when") < text.index("Decisions") < text.index("Timeline")
        for fact in ("a known, harmless failure", getpass.getuser(), "CHANGE", "looked at mn2", "oops",
                     "runbook SHA-256", "ssh-keygen -Y verify", "typed", "skip"):
            assert fact in text, (fmt, fact)
        assert "\x1b" not in text
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and not re.search(r"(src|href)=", html)  # self-contained
    casts = sorted((tmp_path / "casts").glob("*.cast"))
    assert len(casts) == 3
    for cast in casts:
        lines = cast.read_text().splitlines()
        header = json.loads(lines[0])
        assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
        times = []
        for line in lines[1:]:
            t, kind, text = json.loads(line)
            assert kind == "o" and isinstance(text, str)
            times.append(t)
        assert times == sorted(times) and times


def test_validate_does_not_load_the_audit_stack(tmp_path):
    code = ("import sys, runpy; sys.argv = ['hamn', 'validate', sys.argv[1]]\n"
            "try:\n    runpy.run_module('hamn_tui', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "runbooks")], capture_output=True, text=True, timeout=60, cwd=REPO)
    loaded = set(out.stdout.splitlines()[-1].split())
    heavy = sorted(m for m in loaded if m.startswith(("hamn_tui.audit", "cryptography", "asyncssh")))
    assert heavy == [], heavy
    assert "hamn_tui.cli.validate" in loaded  # the command itself; the others load only when they run
    assert "hamn_tui.cli.audit" not in loaded


def test_an_agent_key_signs_and_ssh_keygen_agrees(tmp_path):
    key = keygen(tmp_path / "keys", "agentkey", "agent@example.com")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not sock.exists():
            assert time.time() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        env = env_for(tmp_path, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
        key.unlink()  # only the agent has the private key now
        (tmp_path / "t.toml").write_text(HEAD + BOOK.replace("TMP", str(tmp_path)))
        out = hamn("run", str(tmp_path / "t.toml"), "--headless", "--yes", "--audit-dir", str(tmp_path / "runs"), env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        [run] = list((tmp_path / "runs").iterdir())
        seg = run / "audit-000.jsonl"
        opened = json.loads(seg.read_text().splitlines()[0])["data"]
        principal = f"{getpass.getuser()}@{socket.gethostname()}"
        assert opened["signer"]["source"] == "agent" and opened["signer"]["kind"] == "operator" and opened["signer"]["principal"] == principal
        allowed = tmp_path / "allowed"
        allowed.write_text(f'{principal} namespaces="{NAMESPACE}" {Path(str(key) + ".pub").read_text()}')
        with seg.open("rb") as f:
            ok = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", f"{seg}.sig"],
                                stdin=f, capture_output=True, text=True)
        assert ok.returncode == 0, ok.stderr
        assert verify_path(run, allowed).status == "VALID"
        # --key names the agent's key by its public half: still signed through the agent
        out = hamn("run", str(tmp_path / "t.toml"), "--headless", "--yes", "--audit-dir", str(tmp_path / "runs2"), "--key", str(key), env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        [run2] = list((tmp_path / "runs2").iterdir())
        assert json.loads((run2 / "audit-000.jsonl").read_text().splitlines()[0])["data"]["signer"]["source"] == "agent"
    finally:
        agent.kill()
        agent.wait()


def test_without_an_operator_key_the_installation_key_signs(tmp_path):
    (tmp_path / "t.toml").write_text(HEAD + BOOK.replace("TMP", str(tmp_path)))
    env = env_for(tmp_path)
    out = hamn("run", str(tmp_path / "t.toml"), "--headless", "--yes", "--audit-dir", str(tmp_path / "runs"), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    key = tmp_path / "config" / "hamn" / "installation_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    [run] = list((tmp_path / "runs").iterdir())
    signer = json.loads((run / "audit-000.jsonl").read_text().splitlines()[0])["data"]["signer"]
    assert signer["kind"] == "installation" and signer["principal"] == f"installation@{socket.gethostname()}"
    assert signer["key"] in (key.parent / "installation_ed25519.pub").read_text()


def test_a_training_run_signs_with_an_ephemeral_key_and_says_so(tmp_path):
    from hamn_tui.app.session import RunRequest, RunSession
    from hamn_tui.app.targets import ClusterTarget
    from hamn_tui.engine.operator import AutoOperator

    class LocalTraining(ClusterTarget):
        """This machine only, its runs marked training (as the simulator's are)."""
        training = True

    (tmp_path / "t.toml").write_text(HEAD + BOOK.replace("TMP", str(tmp_path)))
    session = RunSession.open(RunRequest(str(tmp_path / "t.toml"), audit_dir=tmp_path / "runs"), LocalTraining(None), AutoOperator(yes=True))
    assert asyncio.run(session.run()) == "done"
    assert session.closed and session.journal.fd is None  # the session closed its log
    [run] = list((tmp_path / "runs").iterdir())
    opened = json.loads((run / "audit-000.jsonl").read_text().splitlines()[0])["data"]
    assert opened["training"] is True and opened["signer"]["kind"] == "ephemeral"
    report = verify_path(run)
    assert report.status == "VALID" and report.line.startswith("VALID: TRAINING run")
    assert not (tmp_path / "config" / "hamn").exists()  # no key was kept
