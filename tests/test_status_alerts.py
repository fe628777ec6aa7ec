"""`hamn status --watch` against a real PostgreSQL pair mails a real SMTP server when the standby goes away."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .pg_fixture import PgPair, fresh_pg_pair, pg_lab  # noqa: F401
from .smtp_fixture import smtp_sink  # noqa: F401
from .sshd_fixture import free_port


def test_watch_mails_when_the_standby_disconnects(fresh_pg_pair: PgPair, smtp_sink, tmp_path: Path):  # noqa: F811
    controller, received = smtp_sink
    path = fresh_pg_pair.cluster_toml(tmp_path / "cluster.toml")
    no_ssh = free_port()  # nobody listens: SSH-level facts read as unreachable, the database still answers
    text = re.sub(r'(role = "(?:primary|standby)"\n)', rf"\1port = {no_ssh}\n", path.read_text())
    text += f'\n[alerts]\nmail_to = ["ops@example.org"]\nmail_from = "hamn@lab"\nsmtp_host = "127.0.0.1"\nsmtp_port = {controller.port}\n'
    path.write_text(text)

    proc = subprocess.Popen([sys.executable, "-m", "hamn_tui", "status", "--cluster", str(path), "--watch", "--json", "--interval", "2", "--count", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["nodes"]["mn1"]["replication"]["streaming_standbys"] == 1
        assert first["nodes"]["mn2"]["replication"]["wal_receiver"] == "streaming"
        fresh_pg_pair.stop_node(fresh_pg_pair.standby, "immediate")
        second = json.loads(proc.stdout.readline())
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        proc.kill()
    assert second["nodes"]["mn1"]["replication"]["streaming_standbys"] == 0
    deadline = time.time() + 10
    while not received and time.time() < deadline:
        time.sleep(0.05)
    subjects = sorted(m["Subject"] for m in received)
    assert "[hamn pglab] standby disconnected: mn1 (connected -> disconnected)" in subjects
    assert all(m["To"] == "ops@example.org" for m in received)
