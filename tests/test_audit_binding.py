"""A run's log is bound to its run: segments to their run, number and place in the chain, the
directory to its run; an unfinished run is never "valid and closed"; what is not a regular file
is refused at once (no endless read, no hang on a FIFO); allowed_signers options OpenSSH does
not know grant nothing; and the files of a run are private whatever the umask."""
from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import os
import resource
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hamn_tui.audit import NAMESPACE, segment_name
from hamn_tui.audit.allowed import AllowedSigners
from hamn_tui.audit.verify import verify_path
from hamn_tui.audit.writer import AuditWriter
from hamn_tui.engine.operator import ScriptedOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.probes.host import host_probes
from hamn_tui.record.events import RunStarted
from hamn_tui.record.questions import Answer
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.loader import runbook_from_document
from hamn_tui.transport.local import LocalTransport

from .test_audit_support import BOOK, HEAD, Lab, forge, hermetic, keygen, lines_of, put_forgery, records_of  # noqa: F401

TYPED = """[runbook]
id = "typed"
title = "a run that waits for a typed confirmation"
version = "1"
databases = ["db2"]
summary = "s"

[[steps]]
id = "look"
title = "look"
run = "echo looked"
mutating = false

[[steps]]
id = "change"
title = "change"
run = "echo changed"
confirm = "typed"
confirm_text = "CHANGE"
irreversible = true
"""


@pytest.fixture
def lab(tmp_path) -> Lab:
    return Lab(tmp_path)


def signed_run(lab: Lab, root: Path, run_id: str, body: str = BOOK) -> Path:
    """A closed run signed by Alice, in its own directory `t-<run id>` (as hamn names it)."""
    d = root / f"t-{run_id}"
    writer = AuditWriter(d / segment_name(0), signer=lab.alice())
    rb = runbook_from_document(parse_toml_text(HEAD + textwrap.dedent(body).replace("TMP", str(lab.tmp)), "t.toml"), None, "t")
    transport = LocalTransport()
    runner = Runner(rb, RunContext(resolve_params(rb, {}, None)), transport, host_probes(transport, None),
                    ScriptedOperator(lambda q: Answer("run")), run_id=run_id, runbook_sha256="ab" * 32, operator_name="alice",
                    subscribers=[writer])
    try:
        assert asyncio.run(runner.run()) == "done"
    finally:
        writer.close()
    return d


def resumed_run(tmp: Path, key: Path, audit: Path) -> Path:
    """A real run through the application layer: it stops "waiting" for a typed confirmation
    (segment 0, closed "waiting"), then is resumed with the answer and finishes (segment 1)."""
    from hamn_tui.app.session import RunRequest, RunSession
    from hamn_tui.app.targets import ClusterTarget
    from hamn_tui.engine.operator import AutoOperator

    book = tmp / "typed.toml"
    book.write_text(TYPED)
    first = RunSession.open(RunRequest(str(book), audit_dir=audit, key=str(key)), ClusterTarget(None), AutoOperator(yes=True))
    assert asyncio.run(first.run()) == "waiting"
    again = RunSession.open(RunRequest(str(book), audit_dir=audit, resume=True, key=str(key)), ClusterTarget(None),
                            AutoOperator(yes=True, resume=True, confirms={"change": "CHANGE"}))
    assert asyncio.run(again.run()) == "done"
    assert first.log_dir == again.log_dir
    return first.log_dir


@pytest.fixture
def operator(tmp_path) -> tuple[Path, Path]:
    """The operator's key and an allowed_signers file naming it as USER@HOST (no cluster file)."""
    key = keygen(tmp_path / "keys", "op", "op@example.com")
    allowed = tmp_path / "op_signers"
    allowed.write_text(f'{getpass.getuser()}@{socket.gethostname()} namespaces="{NAMESPACE}" {Path(str(key) + ".pub").read_text()}')
    return key, allowed


def env_for(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_STATE_HOME": str(tmp / "state")}
    env.pop("SSH_AUTH_SOCK", None)
    return env


def _bounded() -> None:
    """A child may not take the machine down (a read of /dev/urandom with no end grows without bound)."""
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def hamn(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=_bounded)


def move_segment(src: Path, dst: Path) -> None:
    shutil.move(src, dst)
    sig = Path(str(src) + ".sig")
    if sig.exists():
        shutil.move(sig, Path(str(dst) + ".sig"))


def copy_segment(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    shutil.copy(Path(str(src) + ".sig"), Path(str(dst) + ".sig"))


def drop(path: Path) -> None:
    path.unlink()
    Path(str(path) + ".sig").unlink(missing_ok=True)


# --- 1. segments bound to their run, number and chain; the directory to its run ----------------------
def test_a_segment_copied_from_another_run_is_not_part_of_this_run(lab, tmp_path):
    root = tmp_path / "runs"
    a, b = signed_run(lab, root, "run-A"), signed_run(lab, root, "run-B")
    assert verify_path(a, lab.allowed).status == "VALID" and verify_path(b, lab.allowed).status == "VALID"
    seg = a / segment_name(0)
    original = seg.read_bytes()
    for number in (1, 7):
        copy = a / segment_name(number)
        copy_segment(b / segment_name(0), copy)
        r = verify_path(a, lab.allowed)  # run A intact, plus a segment of run B
        assert r.status == "INVALID" and f"{copy.name}" in r.line and "segment 0" in r.line, r.line
        seg.write_bytes(original.replace(b"echo looked", b"echo LOOKED", 1))  # and run A's own log tampered
        r = verify_path(a, lab.allowed)
        assert r.status == "INVALID", r.line
        assert "run-B" not in r.line.split(":", 1)[0] and not r.line.startswith("VALID")
        out = hamn("audit", "verify", str(a), "--allowed-signers", str(lab.allowed), env=env_for(tmp_path))
        assert out.returncode == 1 and out.stdout.splitlines()[-1].startswith("INVALID: "), out.stdout + out.stderr
        seg.write_bytes(original)
        drop(copy)
    # a file that looks like a segment but is none of the chain's
    stray = a / "audit-0001.jsonl"
    shutil.copy(b / segment_name(0), stray)
    r = verify_path(a, lab.allowed)
    assert r.status == "INVALID" and "audit-0001.jsonl" in r.line and "not part of" in r.line, r.line
    stray.unlink()
    assert verify_path(a, lab.allowed).status == "VALID"


def test_a_directory_holding_another_runs_log_or_a_renumbered_segment_is_invalid(lab, tmp_path):
    root = tmp_path / "runs"
    b = signed_run(lab, root, "run-B")
    # the directory is named for run C, the log in it is run B's
    c = root / "t-run-C"
    shutil.copytree(b, c)
    r = verify_path(c, lab.allowed)
    assert r.status == "INVALID" and "t-run-C" in r.line and "t-run-B" in r.line, r.line
    # a different runbook id in the name is as wrong
    shutil.move(c, root / "u-run-B")
    assert verify_path(root / "u-run-B", lab.allowed).status == "INVALID"
    # a segment renamed to another number: as the directory, and as the file itself
    move_segment(b / segment_name(0), b / segment_name(1))
    for path in (b, b / segment_name(1)):
        r = verify_path(path, lab.allowed)
        assert r.status == "INVALID" and "segment 0" in r.line and "audit-001.jsonl" in r.line, (path, r.line)
    move_segment(b / segment_name(1), b / segment_name(0))
    assert verify_path(b, lab.allowed).status == "VALID"
    # the same file under a name that is not a segment's is still checked (an auditor's copy)
    loose = tmp_path / "evidence.jsonl"
    copy_segment(b / segment_name(0), loose)
    r = verify_path(loose, lab.allowed, outputs=False)  # its outputs stayed in the run directory
    assert r.status == "VALID", r.line


def test_each_segment_of_a_resumed_run_names_its_run_and_the_close_before_it(tmp_path, operator, lab):
    key, allowed = operator
    run = resumed_run(tmp_path, key, tmp_path / "runs")
    r = verify_path(run, allowed)
    assert r.status == "VALID" and len(r.segments) == 2, r.line
    zero, one = run / segment_name(0), run / segment_name(1)
    opened = records_of(one)[0]["data"]
    last_of_zero = lines_of(zero)[-1]
    assert json.loads(last_of_zero)["type"] == "log_close" and json.loads(last_of_zero)["data"]["outcome"] == "waiting"
    assert opened["previous"]["head"] == hashlib.sha256(last_of_zero).hexdigest()  # the close it continues
    assert opened["run_id"] == records_of(zero)[0]["data"]["run_id"] and run.name == f"typed-{opened['run_id']}"

    # the second segment of another run of the same runbook, copied in its place
    (tmp_path / "o").mkdir()
    other = resumed_run(tmp_path / "o", key, tmp_path / "runs")
    assert other != run
    saved = tmp_path / "saved"
    saved.mkdir()
    copy_segment(one, saved / one.name)
    copy_segment(other / segment_name(1), one)
    r = verify_path(run, allowed)
    assert r.status == "INVALID" and "is not what it names" in r.line, r.line
    copy_segment(saved / one.name, one)
    assert verify_path(run, allowed).status == "VALID"
    # segment 0 grown after segment 1 named it: refused unread
    grown = zero.read_bytes()
    zero.write_bytes(grown + b"\0" * 4096)
    r = verify_path(run, allowed)
    assert r.status == "INVALID" and "is not what it names (size differs" in r.line, r.line
    zero.write_bytes(grown)

    # a forger (own key, so no --allowed-signers) rewrites segment 1 to continue a copy of segment 0
    copy_segment(zero, run / "copy.jsonl")
    lines, sig = forge(records_of(one), lab.mallory(), edit=lambda rec: rec["type"] == "log_open" and rec["data"]["previous"].update(file="copy.jsonl"))
    put_forgery(one, lines, sig)
    r = verify_path(run)
    assert r.status == "INVALID" and "copy.jsonl" in r.line, r.line
    # ... or names its segment number but not the run its first record says
    lines, sig = forge(records_of(saved / one.name), lab.mallory(),
                       edit=lambda rec: rec["type"] == "run_started" and rec["data"].update(run_id="someone-else"))
    put_forgery(one, lines, sig)
    (run / "copy.jsonl").unlink()
    r = verify_path(run)
    assert r.status == "INVALID" and "someone-else" in r.line, r.line


# --- 2. a run that did not finish is not "valid and closed" ----------------------------------------
def test_a_run_whose_last_segment_was_removed_is_unfinished(tmp_path, operator):
    key, allowed = operator
    run = resumed_run(tmp_path, key, tmp_path / "runs")
    env = env_for(tmp_path)
    ok = hamn("audit", "verify", str(run), "--allowed-signers", str(allowed), env=env)
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1].startswith("VALID: "), ok.stdout
    drop(run / segment_name(1))  # the resumed, finishing segment is gone: the run now ends "waiting"
    r = verify_path(run, allowed)
    assert r.status == "INCOMPLETE" and r.exit_code == 3 and "waiting" in r.line and "unfinished" in r.line, r.line
    out = hamn("audit", "verify", str(run), "--allowed-signers", str(allowed), env=env)
    last = out.stdout.splitlines()[-1]
    assert out.returncode == 3 and last.startswith("INCOMPLETE: ") and "waiting" in last, out.stdout + out.stderr
    shown = hamn("audit", "show", str(run), "--allowed-signers", str(allowed), env={**env, "COLUMNS": "200"})
    assert shown.returncode == 3 and "unfinished" in shown.stdout.splitlines()[0], shown.stdout
    for fmt in ("md", "html"):
        report = tmp_path / f"report.{fmt}"
        exported = hamn("audit", "export", str(run), "--format", fmt, "-o", str(report), env=env)
        assert exported.returncode == 3, exported.stderr
        assert "unfinished" in exported.stderr.splitlines()[0], exported.stderr
        text = report.read_text()
        heading = text.splitlines()[0] if fmt == "md" else text[text.index("<h1>"):text.index("</h1>")]
        assert "UNFINISHED" in heading, heading


def test_a_segment_closed_interrupted_or_without_run_finished_is_unfinished(lab, tmp_path):
    path = tmp_path / "runs" / "t-run-1" / segment_name(0)
    writer = AuditWriter(path, signer=lab.alice())
    writer(RunStarted("run-1", "t", "1", "ab" * 32, "t.toml", {}, None, {}, "alice", False, False))
    writer.close()  # the process stopped before the run finished
    assert records_of(path)[-1]["data"]["outcome"] == "interrupted"
    whole = path.read_bytes()
    for cut in (whole[: whole.rfind(b"\n", 0, len(whole) - 1) + 1], b""):  # never closed (a kill, a cut): unfinished too
        r = verify_path(path, lab.allowed, data=cut)
        assert r.status == "INCOMPLETE" and "unfinished" in r.line and r.unfinished, r.line
    for target in (path.parent, path):
        r = verify_path(target, lab.allowed)
        assert r.status == "INCOMPLETE" and r.exit_code == 3 and "interrupted" in r.line and "unfinished" in r.line, r.line
    # closed "done" by its signers, but no run_finished record says the run ended (a forger's own keys)
    recs = records_of(path)
    recs[-1]["data"]["outcome"] = "done"
    lines, sig = forge(recs, lab.mallory())
    put_forgery(path, lines, sig)
    r = verify_path(path)
    assert r.status == "INCOMPLETE" and "no run_finished" in r.line, r.line


def run_files(run: Path) -> tuple[Path, Path, Path]:
    """A run's segment, its detached signature and one stored output: what a hostile swap targets."""
    seg = run / segment_name(0)
    return seg, Path(str(seg) + ".sig"), sorted((run / "outputs").glob("*.gz"))[0]


# --- 3. only regular files, read within what the log says ------------------------------------------
def test_a_symlink_to_dev_urandom_is_refused_at_once(lab, tmp_path):
    env = env_for(tmp_path)
    run = signed_run(lab, tmp_path / "runs", "run-U")
    seg = run_files(run)[0]
    for victim in run_files(run):
        saved = victim.read_bytes()
        victim.unlink()
        victim.symlink_to("/dev/urandom")
        try:
            for target in (run, seg):
                start = time.monotonic()
                out = hamn("audit", "verify", str(target), env=env)
                last = out.stdout.splitlines()[-1] if out.stdout else ""
                assert out.returncode == 1 and last.startswith("INVALID: ") and "not a regular file" in last, (victim.name, out.stdout + out.stderr)
                assert victim.name in last and "Traceback" not in out.stderr
                assert time.monotonic() - start < 20
        finally:
            victim.unlink()
            victim.write_bytes(saved)
    assert verify_path(run).status == "VALID"


def test_a_fifo_in_place_of_a_segment_output_or_sig_does_not_hang(lab, tmp_path):
    env = env_for(tmp_path)
    run = signed_run(lab, tmp_path / "runs", "run-F")
    for victim in run_files(run):
        saved = victim.read_bytes()
        victim.unlink()
        os.mkfifo(victim)
        try:
            commands = {
                "verify": ["audit", "verify", str(run)],
                "show": ["audit", "show", str(run), "--output"],
                "export": ["audit", "export", str(run), "--format", "md", "-o", str(tmp_path / "r.md"), "--casts", str(tmp_path / "casts")],
            }
            for name, args in commands.items():
                out = hamn(*args, env={**env, "COLUMNS": "250"}, timeout=30)  # a hang is a TimeoutExpired
                text = out.stdout + out.stderr
                assert out.returncode == 1, (victim.name, name, text)
                assert "Traceback" not in text and f"{victim.name} is not a regular file" in text, (victim.name, name, text)
        finally:
            victim.unlink()
            victim.write_bytes(saved)
    assert verify_path(run).status == "VALID"


def test_an_output_is_read_no_further_than_its_recorded_size(lab, tmp_path):
    """A gzip bomb in place of an output: the reader stops one byte past the size the log records."""
    import gzip

    run = signed_run(lab, tmp_path / "runs", "run-B")
    recs = [r["data"] for r in records_of(run / segment_name(0)) if r["type"] == "command_finished" and r["data"]["stdout_size"]]
    sha, size = recs[0]["stdout_sha256"], recs[0]["stdout_size"]
    blob = run / "outputs" / f"{sha}.gz"
    blob.write_bytes(gzip.compress(b"\0" * (64 << 20), compresslevel=9))  # 64 MiB in ~64 KiB: more than `size` bytes could compress to
    r = verify_path(run)
    assert r.status == "INVALID" and blob.name in r.line and "more than" in r.line, r.line
    from hamn_tui.audit.store import OutputStore

    for bomb in (64 << 20, 200_000):  # and 200 kB in a few hundred bytes: inflated only to one byte past `size`
        blob.write_bytes(gzip.compress(b"\0" * bomb, compresslevel=9))
        with pytest.raises(OSError, match="more than"):
            OutputStore(run / "outputs").read(sha, size)
        assert verify_path(run).status == "INVALID"


# --- 4. allowed_signers: options OpenSSH does not know grant nothing --------------------------------
def _keygen_verify(allowed: Path, principal: str, seg: Path) -> int:
    with seg.open("rb") as f:
        return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", f"{seg}.sig"],
                              stdin=f, capture_output=True).returncode


def test_allowed_signers_options_openssh_refuses_are_refused(lab, tmp_path):
    seg = lab.log()
    pub = " ".join(Path(str(lab.alice_key) + ".pub").read_text().split()[:2])
    f = tmp_path / "signers"
    bad = {
        f'alice@example.com namespace="{NAMESPACE}" {pub}': "namespace",
        f"alice@example.com bogus {pub}": "bogus",
        f'alice@example.com namespaces="{NAMESPACE}",bogus {pub}': "bogus",
        f"alice@example.com valid-after=20200101 {pub}": "quote",
        f'alice@example.com namespaces="git",namespaces="{NAMESPACE}" {pub}': "more than once",
        f'alice@example.com valid-after="20300101",valid-before="20200101" {pub}': "before",
        f'alice@example.com valid-after="2020" {pub}': "valid-after",
        f'alice@example.com namespaces="{NAMESPACE}", {pub}': "comma",
    }
    for line, why in bad.items():
        f.write_text(line + "\n")
        assert _keygen_verify(f, "alice@example.com", seg) != 0, line  # OpenSSH refuses the line ...
        r = verify_path(seg, f)  # ... and so does hamn, naming the file and line
        assert r.status == "INVALID" and f"{f}:1:" in r.line and why in r.line, (line, r.line)
    out = hamn("audit", "verify", str(seg), "--allowed-signers", str(f), env=env_for(tmp_path))
    assert out.returncode == 1 and f"{f}:1:" in out.stdout.splitlines()[-1] and "Traceback" not in out.stderr, out.stdout + out.stderr
    # as in OpenSSH: a refused line grants nothing but does not spoil the others, and option names are not case-sensitive
    good = {
        f"bob@example.com bogus {pub}\nalice@example.com {pub}": 0,
        f"alice@example.com bogus {pub}\nalice@example.com {pub}": 0,
        f'alice@example.com NAMESPACES="{NAMESPACE}",Valid-After="20200101Z" {pub}': 0,
        f"alice@example.com cert-authority {pub}": 255,
    }
    for text, code in good.items():
        f.write_text(text + "\n")
        assert (_keygen_verify(f, "alice@example.com", seg) == 0) == (code == 0), text
        assert (verify_path(seg, f).status == "VALID") == (code == 0), text
    f.write_text(f"alice@example.com bogus {pub}\n")
    assert AllowedSigners.read(f).problems == [f"{f}:1: refused: unknown option \"bogus\" (OpenSSH knows cert-authority, namespaces=\"…\", valid-after=\"…\", valid-before=\"…\")"]


# --- 5. private files whatever the umask -------------------------------------------------------------
def test_a_run_under_umask_000_keeps_its_files_private(tmp_path):
    audit = tmp_path / "audit" / "runs"
    env = env_for(tmp_path)
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", "failover-planned", "--training", "healthy", "--headless", "--yes",
                          "--confirm", "takeover=XCATDB", "--audit-dir", str(audit)],
                         capture_output=True, text=True, timeout=120, env=env, preexec_fn=lambda: os.umask(0))
    assert out.returncode == 0, out.stdout + out.stderr
    [run] = [d for d in audit.iterdir() if d.is_dir()]  # the audit directory itself is the caller's (or app/'s) to make
    dirs = [run, run / "outputs"]
    files = [p for p in run.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sig") for p in files) and any(p.suffix == ".gz" for p in files)
    assert not [p for p in files if ".tmp" in p.name]
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in dirs + files}
    assert all(modes[str(d.relative_to(tmp_path))] == oct(0o700) for d in dirs), modes
    assert all(modes[str(p.relative_to(tmp_path))] == oct(0o600) for p in files), modes
