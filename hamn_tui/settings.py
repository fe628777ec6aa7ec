"""Where hamn finds things: the one place that reads the environment and holds the defaults.

Read afresh on each call (`settings()`), so a test or an operator who changes `HAMN_AUDIT_DIR`
between two runs is obeyed. Commands pass what the operator gave on the command line over
these defaults; nothing else in hamn reads these variables.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

SYSTEM_CLUSTER_FILE = Path("/etc/hamn/cluster.toml")
LOCK_DIR = "/var/lock"
"""Where the run lock lives on each node (`mkdir` there is atomic and survives no reboot)."""
SHIPPED_RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"
INSTALLED_RUNBOOKS = Path(sys.prefix) / "share" / "hamn" / "runbooks"


@dataclass(frozen=True)
class Settings:
    cluster_path: Path | None
    """$HAMN_CLUSTER, else /etc/hamn/cluster.toml — whichever exists first."""
    state_dir: Path
    """$XDG_STATE_HOME/hamn (else ~/.local/state/hamn): audit logs, crash notes, the lab."""
    config_dir: Path
    """$XDG_CONFIG_HOME/hamn (else ~/.config/hamn): the installation key."""
    audit_dir: Path
    """$HAMN_AUDIT_DIR, else <state_dir>/runs."""
    runbook_dirs: tuple[Path, ...]
    """$HAMN_RUNBOOKS (colon-separated) first, then the shipped set (source tree or installed share/)."""
    lock_dir: str = LOCK_DIR
    ssh_agent: bool = False
    """Whether SSH_AUTH_SOCK is set (the agent may sign the audit log and log in)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path.home()
        state = Path(env.get("XDG_STATE_HOME") or home / ".local" / "state") / "hamn"
        config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "hamn"
        cluster = next((Path(c) for c in (env.get("HAMN_CLUSTER"), SYSTEM_CLUSTER_FILE) if c and Path(c).exists()), None)
        extra = [Path(p) for p in env.get("HAMN_RUNBOOKS", "").split(os.pathsep) if p]
        dirs = tuple(d for d in (*extra, SHIPPED_RUNBOOKS, INSTALLED_RUNBOOKS) if d.is_dir())
        audit = Path(env["HAMN_AUDIT_DIR"]) if env.get("HAMN_AUDIT_DIR") else state / "runs"
        return cls(cluster, state, config, audit, dirs, ssh_agent=bool(env.get("SSH_AUTH_SOCK")))

    def secret(self, name: str) -> str | None:
        """A secret parameter's value from HAMN_SECRET_<NAME> (never from a file, a flag or the log)."""
        return os.environ.get(f"HAMN_SECRET_{name.upper()}")


def settings() -> Settings:
    return Settings.from_env()


def os_user() -> str:
    """Who runs hamn, as the logs and locks record it: the login name, else the uid (a container
    with no passwd entry still records something true)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())
