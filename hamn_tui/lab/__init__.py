"""A real lab on this machine: management nodes mn1/mn2 as network namespaces with their own
sshd, hostname, PostgreSQL 15 and a service IP, and service node sn1 with its own sshd (docs/lab.md).

`hamn lab up|down|status` drives it; tests and `hamn train --lab` use `cluster_file()`.
"""
from __future__ import annotations

from .errors import LabError, LabNotUp
from .state import default_dir


def cluster_file(state_dir: str | None = None):  # -> pathlib.Path
    """The lab's cluster file if the lab is up; else LabNotUp saying to run `hamn lab up`.

    Cheap: reads the lab's state file and checks that its namespaces and sshd processes are
    still there, so a stale file from a rebooted machine is not handed out as a live lab.
    """
    from .lab import Lab

    return Lab(state_dir).live_cluster_file()


__all__ = ["LabError", "LabNotUp", "cluster_file", "default_dir"]
