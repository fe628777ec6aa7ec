"""`hamn run --training` and `hamn status --training` through the real console script."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def hamn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, text=True, timeout=120)


def test_planned_failover_rehearsed_on_the_healthy_pair_leaves_a_valid_training_log(tmp_path: Path):
    out = hamn("run", "failover-planned", "--training", "healthy", "--headless", "--yes", "--confirm", "takeover=XCATDB", "--audit-dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TRAINING" in out.stdout and "run done" in out.stdout
    [log] = list(tmp_path.glob("failover-planned-*/audit-000.jsonl"))
    verify = hamn("audit", "verify", str(log))
    assert verify.returncode == 0 and verify.stdout.strip().splitlines()[-1].startswith("VALID: TRAINING run")


def test_a_crashed_primary_stops_the_planned_failover_before_any_takeover(tmp_path: Path):
    out = hamn("run", "failover-planned", "--training", "primary-node-crash", "--headless", "--yes", "--confirm", "takeover=XCATDB", "--audit-dir", str(tmp_path))
    assert out.returncode == 1
    assert "takeover hadr" not in out.stdout.lower()
    assert "mn1 host.reachable.reachable == true — observed false" in out.stdout


def test_status_on_a_scenario(tmp_path: Path):
    out = hamn("status", "--training", "standby-fails", "--json")
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert snap["nodes"]["mn1"]["replication"]["state"] == "DISCONNECTED_PEER"
    assert snap["nodes"]["mn2"]["reachable"] is False and snap["nodes"]["mn2"]["role"] == "unknown"


def test_unknown_scenario_is_a_clear_error():
    out = hamn("run", "failover-planned", "--training", "healty", "--headless")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "healty" in out.stderr


def test_train_without_arguments_shows_the_healthy_training_pair_and_the_scenarios():
    out = hamn("train")
    assert out.returncode == 0, out.stderr
    flat = " ".join(out.stdout.split())
    assert "TRAINING" in flat and "nothing real is touched" in flat
    assert "PEER" in out.stdout and "CONNECTED" in out.stdout
    assert "primary-node-crash" in out.stdout and "hamn train --scenario" in out.stdout
