"""What `hamn lab up` made, kept on disk so `down` removes exactly that and `up` twice is a no-op."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..settings import settings

STATE_FILE = "state.json"


def default_dir() -> Path:
    """$XDG_STATE_HOME/hamn/lab (else ~/.local/state/hamn/lab): beside hamn's audit logs."""
    return settings().state_dir / "lab"


@dataclass
class LabState:
    """Everything made, in the order made; `down` undoes it in reverse."""

    namespaces: list[str] = field(default_factory=list)
    host_links: list[str] = field(default_factory=list)
    """Interfaces made in the root namespace (the console's veth into the lab)."""
    routes: list[str] = field(default_factory=list)
    """Routes added in the root namespace, as `ip route` arguments."""
    sshd_pids: dict[str, int] = field(default_factory=dict)
    """node -> pid of its sshd; that process also anchors the node's mount and UTS namespaces."""
    complete: bool = False
    """Set when `up` finished: a state file without it is a half-made lab that `up` redoes."""

    @classmethod
    def load(cls, directory: Path) -> "LabState | None":
        path = directory / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except PermissionError:
            from .errors import LabError

            raise LabError(f"cannot read the lab state {path}: permission denied (the lab belongs to root)") from None
        except (OSError, ValueError) as exc:
            from .errors import LabError

            raise LabError(f"unreadable lab state {path}: {exc}") from None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, directory: Path) -> None:
        """Written after every change (atomically), so a crash mid-`up` still leaves a record for `down`."""
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, directory / STATE_FILE)
