"""Running the lab's commands: one helper, so every failure becomes a one-line LabError."""
from __future__ import annotations

import subprocess
from typing import Sequence

from .errors import LabError


def run(argv: Sequence[str], *, check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run argv, capture its output; on failure raise LabError with the command and its last error line."""
    try:
        r = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)} did not finish within {timeout:g} s") from None
    if check and r.returncode != 0:
        lines = [l for l in (r.stderr or r.stdout).splitlines() if l.strip()]
        raise LabError(f"{' '.join(argv)} failed (exit {r.returncode}): {lines[-1] if lines else 'no message'}")
    return r


def in_node(pid: int, argv: Sequence[str], *, user: str | None = None) -> list[str]:
    """argv run inside a node: the network, mount and UTS namespaces of its sshd (`pid`), as `user`."""
    cmd = ["nsenter", "-t", str(pid), "-n", "-m", "-u", "--"]
    if user:
        cmd += ["runuser", "-u", user, "--"]
    return cmd + list(argv)
