"""The lab as a whole (the two management nodes and a service node): `up` makes it (or finds it up), `down` removes exactly what `up` made,
`status` says what runs; tests also reset PostgreSQL and fence a node through here."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from . import cluster_toml, netns, node, postgres, preflight
from .errors import LabError, LabNotUp
from .state import LabState, default_dir
from .topology import MANAGEMENT_NODES, NAMESPACES, NODES, SERVICE_IP
from ..transport.reach import MEMO


class Lab:
    def __init__(self, directory: str | Path | None = None):
        self.dir = Path(directory) if directory else default_dir()
        self._state: LabState | None = None

    @property
    def state(self) -> LabState:
        """Read on first use, so a refusal (not root) comes before any attempt to read root's files."""
        if self._state is None:
            self._state = LabState.load(self.dir) or LabState()
        return self._state

    @state.setter
    def state(self, value: LabState) -> None:
        self._state = value

    # --- reading ------------------------------------------------------------------------------

    @property
    def cluster_path(self) -> Path:
        return self.dir / "cluster.toml"

    def is_up(self) -> bool:
        """Complete, and every namespace and node sshd it made still there."""
        s = self.state
        return (s.complete and set(NAMESPACES) <= netns.existing_namespaces() and set(s.sshd_pids) == set(NODES)
                and all(node.anchored(pid, name) for name, pid in s.sshd_pids.items()) and self.cluster_path.exists())

    def made_anything(self) -> bool:
        s = self.state
        return bool(s.namespaces or s.host_links or s.routes or s.sshd_pids)

    def live_cluster_file(self) -> Path:
        if not self.is_up():
            raise LabNotUp(f"the lab is not up (state in {self.dir}): run `hamn lab up` as root first")
        return self.cluster_path

    def pg(self, name: str) -> postgres.NodePg:
        return postgres.NodePg(self.dir, name, self.state.sshd_pids[name])

    def status(self) -> dict[str, Any]:
        up = self.is_up()
        out: dict[str, Any] = {"up": up, "dir": str(self.dir), "cluster_file": str(self.cluster_path) if up else None,
                               "partial": not up and self.made_anything(), "nodes": {}}
        if not up:
            return out
        for name, address in NODES.items():
            out["nodes"][name] = {
                "address": address, "sshd_pid": self.state.sshd_pids[name], "cable": "up" if netns.cable_up(name) else "pulled",
                "postgres": postgres.role(self.pg(name)) if name in MANAGEMENT_NODES else "none",
                "service_ip": netns.holds_service_ip(name),
            }
        return out

    # --- making and removing ------------------------------------------------------------------

    def _save(self) -> None:
        self.state.save(self.dir)

    def up(self, mode: str = "pair") -> bool:
        """Bring the lab up with PostgreSQL in `mode` (postgres.MODES); False if it already was up."""
        preflight.check()
        if self.is_up():
            return False
        if self.made_anything():  # a half-made or dead lab (crash, reboot): clear it first
            self.down()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.state = LabState()
        self._save()
        try:
            node.keygen(self.dir / "client_ed25519", "hamn-lab-console")
            node.keygen(self.dir / "postgres_ed25519", "hamn-lab-postgres")
            client_pub = node.public_key(self.dir / "client_ed25519")
            for name in NODES:
                node.prepare_files(self.dir, name, client_pub, self.dir / "postgres_ed25519")
            (self.dir / "known_hosts").write_text(node.known_hosts_text(self.dir))
            for name in MANAGEMENT_NODES:
                node.write_pg_known_hosts(self.dir, name)
            netns.build(self.state, self._save)
            for name, address in NODES.items():
                self.state.sshd_pids[name] = node.start_sshd(self.dir, name, address)
                self._save()
            postgres.reset(self.dir, self.state.sshd_pids, mode)
            cluster_toml.write(self.dir)
        except BaseException:
            self.down()
            raise
        self.state.complete = True
        self._save()
        return True

    def down(self) -> list[str]:
        """Stop every process in the lab's namespaces, remove its links, route and namespaces and
        its directory. Returns problems left (empty: clean)."""
        problems: list[str] = []
        for name in MANAGEMENT_NODES:
            if self.state.sshd_pids.get(name) and node.anchored(self.state.sshd_pids[name], name):
                try:
                    self.pg(name).stop("immediate")
                except LabError:
                    pass
        for ns in reversed(NAMESPACES):
            if ns in self.state.namespaces and ns in netns.existing_namespaces():
                left = node.kill_namespace(ns)
                if left:
                    problems.append(f"processes {left} in namespace {ns} did not stop")
        self.state.sshd_pids.clear()
        self.state.complete = False
        self._save()
        problems += netns.teardown(self.state, self._save)
        node.reap()
        if not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems

    # --- shaping the lab for a test or a rehearsal --------------------------------------------

    def reset(self, mode: str = "pair") -> None:
        """PostgreSQL from scratch in `mode`, cables in, the service IP on mn1 only, no run locks."""
        self.live_cluster_file()
        for name in NODES:
            netns.set_cable(name, True)
            netns.drop_service_ip(name)
            node_run_locks_clear(self.state.sshd_pids[name])
        netns.add_service_ip("mn1")
        for address in (*NODES.values(), SERVICE_IP):
            netns.forget_neighbour(address)
        MEMO.clear()  # this process's memory of a dead node, like the kernel's, is over
        postgres.reset(self.dir, self.state.sshd_pids, mode)

    def crash(self, name: str) -> list[int]:
        """A hard failure of `name`: its PostgreSQL killed with SIGKILL, then its cable pulled.

        The console's ARP entry for the node is dropped too (see netns.forget_neighbour): it
        stands for the minutes an operator takes before starting the runbook.
        """
        killed = self.pg(name).kill9()
        netns.set_cable(name, False)
        netns.forget_neighbour(NODES[name])
        return killed

    def reboot_fenced(self, name: str) -> None:
        """The fenced node comes back after a restart: no service IP (addresses are not
        persistent), PostgreSQL not running, cable plugged in again."""
        self.pg(name).kill9()
        netns.drop_service_ip(name)
        netns.set_cable(name, True)
        MEMO.clear()


def node_run_locks_clear(anchor: int) -> None:
    from .proc import in_node, run

    run(in_node(anchor, ["sh", "-c", "rm -rf /run/lock/hamn-*"]), check=False)
