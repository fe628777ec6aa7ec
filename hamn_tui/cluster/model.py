"""The cluster file (`cluster.toml`): the nodes, the database, the service IP and the keys."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RunAs = Literal["su", "sudo", "runuser"]
NodeRole = Literal["primary", "standby", "service", "other"]
Platform = Literal["linux", "aix"]
PLATFORMS: tuple[str, ...] = ("linux", "aix")
LOCAL_PLATFORM = "linux"
"""The console where hamn runs (`local`): hamn is built for Linux (x86_64, ppc64le) only."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ClusterMeta(_Strict):
    name: str
    database: Literal["db2", "pg"]
    description: str = ""


class Node(_Strict):
    address: str
    """Where SSH connects (IP or resolvable name)."""
    hostname: str
    """The node's own host name, as `hostname` prints it."""
    role: NodeRole
    """The role at setup; a run may rebind primary and standby after a failover."""
    port: int = Field(default=22, ge=1, le=65535)
    ssh_user: str = "root"
    run_as: RunAs = "su"
    """How a step switches to another user: `su - USER -c`, sudo, or runuser."""
    interface: str = ""
    """The cluster-facing interface (where the service IP and a taken-over IP go)."""
    platform: Platform = "linux"
    """The node's operating system: a step may give its command per platform (`service` or SRC, `ip` or `ifconfig`)."""


class Db2(_Strict):
    instance: str = "xcatdb"
    """Instance owner: every db2 command runs as this user."""
    database: str = "XCATDB"
    instance_home: str = "/var/lib/db2"
    backup_dir: str = "/var/lib/db2/backup"
    port: int = Field(default=60000, ge=1, le=65535)
    hadr_svc_primary: str = "DB2_HADR_1"
    hadr_port_primary: int = Field(default=55001, ge=1, le=65535)
    hadr_svc_standby: str = "DB2_HADR_2"
    hadr_port_standby: int = Field(default=55002, ge=1, le=65535)
    syncmode: Literal["SYNC", "NEARSYNC", "ASYNC", "SUPERASYNC"] = "NEARSYNC"
    hadr_timeout_s: int = Field(default=120, ge=1)
    peer_window_s: int = Field(default=300, ge=0)


class Pg(_Strict):
    os_user: str = "postgres"
    bin_dir: str = "/usr/lib/postgresql/15/bin"
    data_dir: str = "/var/lib/postgresql/15/main"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = "xcatdb"
    replication_user: str = "replicator"
    slot: str = "hamn_standby"
    dump_dir: str = "/var/lib/postgresql/dumps"
    max_lag_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    method: Literal["streaming", "dump"] = "streaming"
    """How the standby gets its copy: streaming replication (pg-streaming-setup), or the xCAT wiki's
    periodic dump and restore (pg-dump-restore-setup), where both servers run read-write."""


class ServiceIp(_Strict):
    address: str
    prefix: int = Field(default=24, ge=0, le=128)
    interface: str = "eth0"


class Alerts(_Strict):
    mail_to: list[str] = Field(min_length=1)
    mail_from: str = "hamn@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)


class Ssh(_Strict):
    known_hosts: str | None = None
    """Checked for every connection; the user's ~/.ssh/known_hosts when unset. Never disabled."""
    identity: str | None = None
    connect_timeout_s: int = Field(default=5, ge=1, le=300)
    """The whole SSH login. A node that does not answer in this time is "not known", never "down"."""


class Signing(_Strict):
    key: str | None = None
    """Private key that signs the audit log's opening and closing records (after the agent)."""
    principal: str | None = None


class Witness(_Strict):
    """Hosts that keep a copy of each run's log and cosign its checkpoints (docs/audit-log.md, Witnesses)."""

    nodes: bool = True
    """The management and service nodes of `[nodes]` are witnesses (reached as `user`): they
    outlive a dead primary; a dangerous step counts only a witness that is not a node it acts on."""
    hosts: list[str] = []
    """More witnesses: "user@host[:port]", or a node name (reached as `user` on its address and port)."""
    user: str = "hamn-witness"
    """The account whose authorized_keys forces `hamn witness serve`, for hosts given as node names."""
    identity: str | None = None
    """The key that reaches the witness's forced command (else ssh's default keys)."""
    known_hosts: str | None = None
    """The witnesses' host keys (else [ssh] known_hosts, else ~/.ssh/known_hosts). Never disabled."""
    keys: str | None = None
    """A file of the witnesses' verifier keys (vkeys, one a line): a run keeps only cosignatures by them."""
    timeout_s: int = Field(default=30, ge=1, le=600)
    """The longest one exchange with a witness may take (in the background: the run never waits on it)."""


class Approval(_Strict):
    """Four eyes (docs/audit-log.md, "Four eyes"): who may approve, and where requests wait."""

    approvers: str | None = None
    """An allowed_signers file (ssh-keygen(1)) of the second operators, namespace hamn-approval@v1."""
    spool: str | None = None
    """Where requests wait for `hamn approve` (default: <state dir>/approvals)."""
    ttl_s: int = Field(default=600, ge=30, le=600)
    """How long a request may be answered (at most ten minutes)."""


class Cluster(_Strict):
    cluster: ClusterMeta
    nodes: dict[str, Node] = Field(min_length=2)
    db2: Db2 | None = None
    pg: Pg | None = None
    service_ip: ServiceIp | None = None
    groups: dict[str, list[str]] = {}
    """Named groups of nodes, e.g. `service_nodes`, for steps that fan out (`node = "@service_nodes"`)."""
    alerts: Alerts | None = None
    ssh: Ssh = Ssh()
    signing: Signing = Signing()
    witness: Witness = Witness()
    approval: Approval = Approval()

    def witness_hosts(self) -> list[str]:
        """Where a run sends its checkpoints: with a `[witness]` section, every management and
        service node (unless `nodes = false`), plus its `hosts`; without one, nowhere."""
        if "witness" not in self.model_fields_set:
            return []
        out = [name for name, node in self.nodes.items() if node.role in ("primary", "standby", "service")] if self.witness.nodes else []
        return out + [h for h in self.witness.hosts if h not in out]

    def witness_nodes(self, spec: str) -> set[str]:
        """The nodes of the cluster a witness entry is on: by name, else every node at its address
        and port (or host name): a witness that shares a machine with a node is that node."""
        if spec in self.nodes:
            return {spec}
        _, host, port = self.witness_address(spec)
        return {name for name, node in self.nodes.items() if (node.address == host and node.port == port) or node.hostname == host}

    def witness_address(self, spec: str) -> tuple[str, str, int]:
        """(user, host, port) of a `[witness] hosts` entry: a node name or "user@host[:port]"."""
        node = self.nodes.get(spec)
        if node is not None:
            return self.witness.user, node.address, node.port
        user, _, rest = spec.partition("@")
        host, port = rest, 22
        if rest.count(":") == 1:
            host, _, p = rest.partition(":")
            port = int(p) if p.isdigit() else -1
        return user, host, port

    def node_with_role(self, role: str) -> tuple[str, Node] | None:
        for name, node in self.nodes.items():
            if node.role == role:
                return name, node
        return None
