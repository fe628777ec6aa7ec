"""A headless `hamn run` with a witness in the cluster file, over a real sshd on loopback where the
witness is a key whose authorized_keys entry forces `hamn witness serve` (as in
tests/test_witness_ssh.py): the run ends fully witnessed; a witness that stops answering for part
of the run neither stops it nor loses anything; a log deleted on the console is found."""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

from .test_audit_support import hermetic  # noqa: F401
from .test_witness_ssh import HAMN, witness_host  # noqa: F401

HEAD = """
[runbook]
id = "{id}"
title = "t"
version = "1"
databases = ["pg"]
summary = "s"
"""

SMALL = """
[[steps]]
id = "look"
title = "look around"
run = "echo looked"
mutating = false

[[steps]]
id = "note"
title = "write something down"
run = "echo noted > TMP/noted"
mutating = false
"""

OUTAGE = """
[[steps]]
id = "look"
title = "look around"
run = "echo looked"
mutating = false

[[steps]]
id = "cut"
title = "the witness stops answering"
run = "grep -v hamn-witness-sender AK > TMP/ak.tmp; cat TMP/ak.tmp > AK"
mutating = false

[[steps]]
id = "while-down"
title = "work while the witness is away"
run = "sleep 3; echo worked"
mutating = false

[[steps]]
id = "restore"
title = "the witness is back"
run = "cat TMP/witness-line >> AK"
mutating = false

[[steps]]
id = "after"
title = "work after it came back"
run = "sleep 3; echo done"
mutating = false
"""


def setup(tmp: Path, witness_host, rid: str, body: str, vkey_line: str | None = None):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    keys = tmp / "witness_keys"
    keys.write_text((vkey_line or vkey.vkey) + "\n")
    cluster = lab.cluster_toml(tmp / "cluster.toml")
    with open(cluster, "a") as fh:
        fh.write(f'\n[witness]\nnodes = false\nhosts = ["root@127.0.0.1:{lab.port}"]\nidentity = "{target.identity}"\nknown_hosts = "{lab.known_hosts}"\n'
                 f'keys = "{keys}"\n')
    book = tmp / f"{rid}.toml"
    ak = lab.dir / "authkeys" / "root"
    book.write_text(HEAD.format(id=rid) + textwrap.dedent(body).replace("TMP", str(tmp)).replace("AK", str(ak)))
    (tmp / "locks").mkdir()
    return cluster, book, keys, ak


def run(tmp: Path, cluster: Path, book: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HAMN), "run", str(book), "--headless", "--cluster", str(cluster), "--audit-dir", str(tmp / "runs"),
                           "--lock-dir", str(tmp / "locks")], capture_output=True, text=True, timeout=180)


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HAMN), "audit", "verify", *args], capture_output=True, text=True, timeout=60)


def test_a_headless_run_ends_fully_witnessed_and_a_deleted_log_is_found(tmp_path, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    cluster, book, keys, _ = setup(tmp_path, witness_host, "small", SMALL)
    r = run(tmp_path, cluster, book)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "witnesses: fully witnessed" in r.stderr
    [seg] = (tmp_path / "runs").glob("*/audit-000.jsonl")
    assert Path(f"{seg}.cosig").exists()
    v = verify(str(seg.parent), "--witness-keys", str(keys))
    assert v.returncode == 0, v.stdout + v.stderr
    n = len(seg.read_bytes().splitlines())
    assert f"witnessed {n} of {n} records" in v.stdout and v.stdout.strip().endswith("fully witnessed"), v.stdout

    shutil.rmtree(seg.parent)  # root on the console deletes the run
    v = verify(str(tmp_path / "runs"), "--witness-copy", str(wdir))
    assert v.returncode == 1, v.stdout + v.stderr
    assert f"{seg.parent.name}/audit-000.jsonl: deleted on the console" in v.stdout + v.stderr


def test_a_witness_down_for_part_of_the_run_catches_up(tmp_path, witness_host):  # noqa: F811
    cluster, book, keys, ak = setup(tmp_path, witness_host, "outage", OUTAGE)
    line = next(x for x in ak.read_text().splitlines() if "hamn-witness-sender" in x)
    (tmp_path / "witness-line").write_text(line + "\n")
    try:
        r = run(tmp_path, cluster, book)
    finally:
        if "hamn-witness-sender" not in ak.read_text():  # the run failed half way: the next test needs the witness
            with open(ak, "a") as fh:
                fh.write(line + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    [seg] = (tmp_path / "runs").glob("*/audit-000.jsonl")
    records = [json.loads(x) for x in seg.read_bytes().splitlines()]
    notes = [rec["data"]["text"] for rec in records if rec["type"] == "note"]
    assert any("unreachable" in t and "the run goes on" in t for t in notes), notes
    assert any("answers again: backlog drained" in t for t in notes), notes
    v = verify(str(seg.parent), "--witness-keys", str(keys))
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.strip().endswith("fully witnessed") and "not fully" not in v.stdout, v.stdout
    assert "witnesses: fully witnessed" in r.stderr


def test_a_cosignature_by_a_key_not_in_the_witness_keys_file_is_not_kept(tmp_path, witness_host):  # noqa: F811
    other = subprocess.run([str(HAMN), "witness", "key", "--dir", str(tmp_path / "other"), "--name", "hamn-witness/other"],
                           capture_output=True, text=True, check=True).stdout.strip()
    cluster, book, keys, _ = setup(tmp_path, witness_host, "strange", SMALL, vkey_line=other)
    r = run(tmp_path, cluster, book)
    assert r.returncode == 0, r.stdout + r.stderr  # the run goes on
    [seg] = (tmp_path / "runs").glob("*/audit-000.jsonl")
    assert not Path(f"{seg}.cosig").exists()
    assert "witnesses: unwitnessed: " in r.stderr and "(no cosignature from root@127.0.0.1:" in r.stderr


def test_a_bad_witness_keys_file_is_one_line_naming_it(tmp_path, witness_host):  # noqa: F811
    cluster, book, keys, _ = setup(tmp_path, witness_host, "badkeys", SMALL, vkey_line="not a key")
    r = run(tmp_path, cluster, book)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"[witness] keys: {keys}:1:" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not list((tmp_path / "runs").glob("*/audit-000.jsonl"))
