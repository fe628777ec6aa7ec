"""`hamn audit verify … --witness HOST`: a witness's copy fetched over a real OpenSSH sshd on
loopback (the `witness_host` fixture: a key forced to `hamn witness serve`), compared with the
console's logs — a witnessed run deleted, rewritten or cut on the console is INVALID naming it;
a witness answering garbage, too much or a cut answer, or with the wrong host key, is one line
and exit 2. Also the export request's framing, and a crashed segment witnessed through its
successor's opening record."""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hamn_tui.audit import writer as writer_module
from hamn_tui.audit.keys import session_key
from hamn_tui.audit.witness import protocol
from hamn_tui.audit.witness.check import append_cosignature, witnessed
from hamn_tui.audit.witness.client import send
from hamn_tui.audit.witness.protocol import ExportError, handle, parse_export
from hamn_tui.audit.writer import AuditWriter
from hamn_tui.cli.main import main

from .test_audit_support import BOOK, Lab, hermetic, lines_of, run_book, write_lines  # noqa: F401
from .test_witness_ssh import HAMN, witness_host  # noqa: F401
from .witness_support import Log, store, write_log


def verify(*args: object) -> tuple[int, list[str], str]:
    r = CliRunner().invoke(main, ["audit", "verify", *map(str, args)])
    return r.exit_code, r.stdout.strip().splitlines(), r.stderr


def witnessed_over_ssh(root: Path, monkeypatch, target, cluster: str, run_dir: str = "t-run-1") -> Log:
    """A run under `root`, sent to the witness over ssh in two checkpoints, its cosignatures kept."""
    log = write_log(root, monkeypatch, run_dir=run_dir, cluster=cluster)
    n = len(log.lines)
    for first, size in ((0, 6), (6, n)):
        signed = log.checkpoint(size)
        answer = send(signed, first, log.lines[first:size], target)
        assert answer.ok and answer.cosignature is not None, answer.text
        append_cosignature(log.path, signed, answer.cosignature)
    return log


def reach(target) -> list[str]:
    return ["--witness", f"{target.user}@{target.host}:{target.port}", "--witness-identity", target.identity,
            "--known-hosts", target.known_hosts]


def test_an_intact_run_is_valid_and_a_rewritten_or_cut_one_is_invalid(tmp_path, monkeypatch, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    runs = tmp_path / "runs"
    log = witnessed_over_ssh(runs, monkeypatch, target, "fetch-rw")
    n = len(log.lines)
    code, out, err = verify(log.path.parent, *reach(target))
    assert code == 0 and out[-1].startswith("VALID"), out + [err]
    assert f"note: t-run-1/audit-000.jsonl: the console holds the {n} records hamn-witness/mn2 holds" in out
    assert any("fetched 1 log(s) under hamn/fetch-rw/t-run-1/" in x for x in out), out
    original = log.path.read_bytes()
    cosig = Path(f"{log.path}.cosig").read_bytes()

    shutil.rmtree(log.path.parent)  # rewritten: the same run regenerated, a valid log on its own
    again = write_log(runs, monkeypatch, cluster="fetch-rw")
    Path(f"{again.path}.cosig").write_bytes(cosig)  # (kept so verify can name the cluster)
    code, out, err = verify(again.path.parent, *reach(target))
    assert code == 1, out + [err]
    assert out[-1] == (f"INVALID: witness {target.user}@127.0.0.1:{target.port}: t-run-1/audit-000.jsonl: "
                       "rewritten on the console: record 0 differs from hamn-witness/mn2's copy")

    shutil.rmtree(again.path.parent)  # cut: the original log without its last records
    log.path.parent.mkdir()
    write_lines(log.path, original.split(b"\n")[:-4])
    Path(f"{log.path}.cosig").write_bytes(cosig)
    code, out, err = verify(log.path.parent, *reach(target))
    assert code == 1 and f"t-run-1/audit-000.jsonl: cut on the console: it has {n - 3} records, hamn-witness/mn2 holds {n}" in out[-1]


def test_a_deleted_run_is_found_through_the_cluster_file(tmp_path, monkeypatch, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    runs = tmp_path / "runs"
    gone = witnessed_over_ssh(runs, monkeypatch, target, "fetch-del")
    cluster = lab.cluster_toml(tmp_path / "cluster.toml", name="fetch-del")
    with open(cluster, "a") as fh:
        fh.write(f'\n[witness]\nnodes = false\nhosts = ["mn2"]\nuser = "root"\nidentity = "{target.identity}"\nknown_hosts = "{lab.known_hosts}"\n')
    keys = tmp_path / "witness_keys"
    keys.write_text(vkey.vkey + "\n")
    # two --witness: a node name of the cluster file, and user@host:port (the cluster's identity and known_hosts)
    code, out, err = verify(runs, "--witness", "mn2", "--witness", f"root@127.0.0.1:{lab.port}", "--cluster", cluster, "--witness-keys", keys)
    assert code == 0 and out[-1] == "VALID: the console holds every record the witnesses hold", out + [err]
    assert sum(x.startswith(f"note: witness root@127.0.0.1:{lab.port}: fetched 1 log(s) under hamn/fetch-del/") for x in out) == 2, out
    assert f"note: t-run-1/audit-000.jsonl: the console holds the {len(gone.lines)} records hamn-witness/mn2 holds" in out
    shutil.rmtree(gone.path.parent)  # root on the console deletes the run
    code, out, err = verify(runs, "--witness", "mn2", "--cluster", cluster, "--witness-keys", keys)
    assert code == 1, out + [err]
    assert out[-1] == (f"INVALID: witness root@127.0.0.1:{lab.port}: t-run-1/audit-000.jsonl: deleted on the console: "
                       f"hamn-witness/mn2 holds {len(gone.lines)} records of it")
    # without the cluster file, and nothing beside the runs naming it, verify says what it needs
    code, out, err = verify(runs, *reach(target))
    assert code == 2 and "--witness needs the logs' cluster name: give --cluster FILE" in err and "Traceback" not in err


def test_with_witness_keys_the_fetched_copy_must_be_genuine(tmp_path, monkeypatch, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    log = witnessed_over_ssh(tmp_path / "runs", monkeypatch, target, "fetch-genuine")
    keys = tmp_path / "witness_keys"
    keys.write_text(vkey.vkey + "\n")
    code, out, err = verify(log.path.parent, "--witness-keys", keys, *reach(target))
    assert code == 0 and out[-1].endswith("— fully witnessed"), out + [err]
    # root on the witness host (or anyone) edits its copy: the cosignature no longer covers it
    held = next(d for d in (wdir / "logs").iterdir() if b"fetch-genuine" in (d / "state.json").read_bytes())
    records = held / "records.jsonl"
    records.write_bytes(records.read_bytes().replace(b"looked", b"lookeD"))
    code, out, err = verify(log.path.parent, "--witness-keys", keys, *reach(target))
    assert code == 1 and out[-1] == (f"INVALID: witness {target.user}@127.0.0.1:{target.port}: t-run-1/audit-000.jsonl: "
                                     "the witness copy is not genuine: the records it holds are not those of its cosigned checkpoint")
    code, out, err = verify(log.path.parent, *reach(target))  # without the keys, only the comparison: it differs
    assert code == 1 and "rewritten on the console: record" in out[-1]


@pytest.fixture(scope="module")
def impostors(witness_host):  # noqa: F811
    """Keys whose forced commands answer like a broken or hostile witness."""
    lab, wdir, target, vkey = witness_host
    serve = f"{shlex.quote(str(HAMN))} witness serve --dir {shlex.quote(str(wdir))}"
    commands = {
        "garbage": "printf 'hello, I am not a witness\\n'",
        "huge": "printf 'export 1 99999999999\\n'; head -c 70000000 /dev/zero",
        "truncated": f"{serve} | head -c 300",
        "padded": f"{serve}; printf 'x'",
        "refusing": "printf 'refused: the disk is on fire\\n'; exit 1",
    }
    keys = {}
    for name, command in commands.items():
        key = lab.dir / f"impostor_{name}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"impostor-{name}", "-f", str(key)], check=True)
        with open(lab.dir / "authkeys" / "root", "a") as fh:
            fh.write(f'command="{command}",restrict {Path(f"{key}.pub").read_text().strip()}\n')
        keys[name] = key
    return keys


@pytest.mark.parametrize("who, says", [
    ("garbage", "not an export answer: b'hello, I am not a witness"),
    ("huge", "answered more than 67108864 bytes"),
    ("truncated", "truncated export answer: "),
    ("padded", "truncated or padded export answer"),
    ("refusing", "refused: the disk is on fire"),
])
def test_a_witness_answering_nonsense_is_one_line_and_exit_2(tmp_path, monkeypatch, witness_host, impostors, who, says):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    log = witnessed_over_ssh(tmp_path / "runs", monkeypatch, target, f"fetch-{who}")
    code, out, err = verify(log.path.parent, "--witness", f"root@127.0.0.1:{lab.port}", "--witness-identity", impostors[who],
                            "--known-hosts", lab.known_hosts)
    assert code == 2, out + [err]
    assert err.startswith(f"hamn audit verify: witness root@127.0.0.1:{lab.port}: ") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_wrong_host_key_is_refused(tmp_path, monkeypatch, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    log = witnessed_over_ssh(tmp_path / "runs", monkeypatch, target, "fetch-hostkey")
    code, out, err = verify(log.path.parent, "--witness", f"root@127.0.0.1:{lab.port}", "--witness-identity", target.identity,
                            "--known-hosts", lab.wrong_known_hosts)
    assert code == 2 and "Host key verification failed" in err and len(err.strip().splitlines()) == 1, err


def test_bad_witness_options_are_one_line(tmp_path, monkeypatch):
    log = write_log(tmp_path / "runs", monkeypatch, cluster="opts")
    code, out, err = verify(log.path.parent, "--witness", "root@bad host")
    assert code == 2 and "--witness 'root@bad host': want user@host[:port]" in err
    code, out, err = verify(log.path.parent, "--witness", "root@127.0.0.1:70000", "--known-hosts", log.path)
    assert code == 2 and "port 70000 is not 1–65535" in err
    code, out, err = verify(log.path.parent, "--known-hosts", log.path)
    assert code == 2 and "go with --witness HOST" in err


# --- the export request, in process ------------------------------------------------------------
@pytest.fixture
def held(tmp_path, monkeypatch):
    """A witness store holding the runs of clusters c1, c2, c3 and d1 (one run each: the test
    runbook's run directory is always t-run-1)."""
    w = store(tmp_path / "w")
    logs = []
    for cluster in ("c1", "c2", "c3", "d1"):
        log = write_log(tmp_path / cluster, monkeypatch, cluster=cluster)
        w.add(log.checkpoint(len(log.lines)), 0, log.lines)
        logs.append(log)
    return w, logs


def test_an_export_answers_only_the_prefix_in_origin_order(held):
    w, logs = held
    answer, ok = handle(w, b"hamn-witness/1 export hamn/c\n")
    got = parse_export(answer, "hamn/c")
    assert ok and not got.more
    assert [h.origin for h, _ in got.logs] == [f"hamn/c{i}/t-run-1/audit-000" for i in (1, 2, 3)]
    assert [lines for _, lines in got.logs] == [log.lines for log in logs[:3]]
    one = parse_export(handle(w, b"hamn-witness/1 export hamn/c2/t-run-1/\n")[0], "hamn/c2/t-run-1/")
    assert [h.origin for h, _ in one.logs] == ["hamn/c2/t-run-1/audit-000"]
    for bad in (b"hamn-witness/1 export c/\n", b"hamn-witness/1 export hamn/c/ after nonsense\n", b"hamn-witness/1 export hamn/c/\nmore\n"):
        answer, ok = handle(w, bad)
        assert not ok and answer.startswith(b"refused: ") and answer.count(b"\n") == 1, answer


def test_a_big_holding_comes_in_pages(held, monkeypatch):
    w, logs = held
    one = len(logs[0].path.read_bytes())
    monkeypatch.setattr(protocol, "MAX_EXPORT", protocol.MAX_HEADER + one + 2000)  # room for one log a page
    after, pages, origins = "", 0, []
    while True:
        page = parse_export(handle(w, protocol.encode_export("hamn/c", after))[0], "hamn/c", after)
        pages += 1
        origins += [h.origin for h, _ in page.logs]
        if not page.more:
            break
        after = page.more
    assert pages == 3 and origins == [f"hamn/c{i}/t-run-1/audit-000" for i in (1, 2, 3)]
    monkeypatch.setattr(protocol, "MAX_EXPORT", protocol.MAX_HEADER + 100)  # a log that fits in no page is refused
    answer, ok = handle(w, b"hamn-witness/1 export hamn/c\n")
    assert not ok and b"more than one export answer may carry" in answer


def test_a_cut_padded_or_altered_export_is_refused(held):
    w, logs = held
    answer = handle(w, b"hamn-witness/1 export hamn/c\n")[0]
    assert len(parse_export(answer, "hamn/c").logs) == 3
    for cut in range(0, len(answer), max(1, len(answer) // 300)):
        with pytest.raises(ExportError):
            parse_export(answer[:cut], "hamn/c")
    with pytest.raises(ExportError, match="padded"):
        parse_export(answer + b"x", "hamn/c")
    with pytest.raises(ExportError, match="not after"):  # a log outside the prefix asked for
        parse_export(answer, "hamn/d")
    with pytest.raises(ExportError, match="header says 2"):
        parse_export(answer.replace(b"export 3 ", b"export 2 ", 1), "hamn/c")
    at = answer.index(b"\n", answer.index(b'"time"')) + 1  # the first log's records begin after its state line
    joined = answer[:at] + answer[at:].replace(b"\n", b" ", 1)  # two records made one line: as many bytes
    with pytest.raises(ExportError, match="damaged"):
        parse_export(joined, "hamn/c")


# --- a crashed segment, witnessed through its successor --------------------------------------------
def crashed_and_resumed(tmp_path, monkeypatch) -> tuple[Log, Path, list]:
    """audit-000 and audit-001 that continues it (as `hamn run --resume` makes it); the session
    keys are kept so the test can sign checkpoints as the running hamn would."""
    log = write_log(tmp_path / "runs", monkeypatch)
    kept: list = []
    monkeypatch.setattr(writer_module, "session_key", lambda: kept.append(session_key()) or kept[-1])
    raw = log.path.read_bytes()
    previous = {"file": log.path.name, "log": json.loads(log.lines[0])["log"], "size": len(raw),
                "head": hashlib.sha256(log.lines[-1]).hexdigest(), "seq": len(log.lines) - 1, "torn_bytes": 0, "torn_sha256": None,
                "segment": 0}
    nxt = log.path.with_name("audit-001.jsonl")
    lab = Lab(tmp_path / "lab2")
    run_book(BOOK, tmp_path, AuditWriter(nxt, signer=lab.alice(), previous=previous))
    return log, nxt, kept


def test_a_crashed_segment_counts_as_witnessed_through_its_successors_opening_record(tmp_path, monkeypatch):
    log, nxt, kept = crashed_and_resumed(tmp_path, monkeypatch)
    w = store(tmp_path / "w", "hamn-witness/mn2")
    n = len(log.lines)
    signed = log.checkpoint(5)  # the crash: only records 0–4 of audit-000 reached the witness
    append_cosignature(log.path, signed, w.add(signed, 0, log.lines[:5]))
    keys = [w.key.verifier]
    alone = witnessed([log.path, nxt], keys)
    assert not alone.failure and not alone.fully and f"audit-000.jsonl: unwitnessed: records 5–{n - 1}" in alone.notes

    nxt_log = Log(nxt, kept[0], lines_of(nxt))
    signed = nxt_log.checkpoint(3)
    append_cosignature(nxt, signed, w.add(signed, 0, nxt_log.lines[:3]))
    out = witnessed([log.path, nxt], keys)
    assert not out.failure, out.failure
    assert f"audit-000.jsonl: records 5–{n - 1} witnessed through audit-001's opening record" in out.notes
    assert not any(x.startswith("audit-000.jsonl: unwitnessed") for x in out.notes)
    assert not out.fully  # audit-001 itself is witnessed to record 2 only
    signed = nxt_log.checkpoint(len(nxt_log.lines))
    append_cosignature(nxt, signed, w.add(signed, 3, nxt_log.lines[3:]))
    assert witnessed([log.path, nxt], keys).fully

    # audit-000 is not what the witnessed opening record names: INVALID, naming audit-001
    write_lines(log.path, log.lines[:-1], drop_sig=False)
    bad = witnessed([log.path, nxt], keys)
    assert bad.failure.startswith("INVALID: record 0: in audit-001.jsonl: its witnessed opening record names audit-000.jsonl of "), bad.failure


def test_a_run_never_holds_a_huge_answer_in_memory(witness_host, impostors):  # noqa: F811
    """The sender's exchange reads at most MAX_ANSWER bytes of what a witness says, then gives up on it."""
    from hamn_tui.audit.witness.client import MAX_ANSWER, SshTarget, exchange

    lab, wdir, target, vkey = witness_host
    huge = SshTarget("127.0.0.1", user="root", port=lab.port, identity=impostors["huge"], known_hosts=lab.known_hosts)
    answer = exchange(huge, b"hamn-witness/1 holds hamn/x/t-run-1/audit-000\n", timeout_s=30)
    assert not answer.ok and answer.text == f"127.0.0.1 answered more than {MAX_ANSWER} bytes"
