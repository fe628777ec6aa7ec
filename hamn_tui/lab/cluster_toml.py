"""The cluster file `hamn lab up` writes for its nodes (docs/cluster-file.md)."""
from __future__ import annotations

import json
from pathlib import Path

from . import postgres
from .topology import NODE_IFACE, NODES, PREFIX, SERVICE_IP, SERVICE_NODES


def text(lab: Path) -> str:
    q = json.dumps  # a JSON string is a valid TOML basic string for the paths used here
    roles = {"mn1": "primary", "mn2": "standby", **{n: "service" for n in SERVICE_NODES}}
    parts = ['# Written by `hamn lab up`: the lab\'s two management nodes and its service node (docs/lab.md). Rewritten at every `up`.\n',
             '[cluster]\nname = "hamn-lab"\ndatabase = "pg"\n'
             'description = "hamn lab: network namespaces mn1/mn2 (PostgreSQL 15 streaming) and sn1 on this machine"\n']
    for node, address in NODES.items():
        parts.append(f'[nodes.{node}]\naddress = "{address}"\nhostname = "{node}"\nrole = "{roles[node]}"\nport = 22\n'
                     f'ssh_user = "root"\nrun_as = "runuser"\ninterface = "{NODE_IFACE}"\n')
    parts.append(f'[pg]\nos_user = "{postgres.USER}"\nbin_dir = "{postgres.BIN}"\ndata_dir = "{postgres.DATA}"\nport = 5432\n'
                 f'database = "{postgres.DATABASE}"\nreplication_user = "{postgres.REPLICATION_USER}"\nslot = "{postgres.SLOT}"\n')
    parts.append(f'[service_ip]\naddress = "{SERVICE_IP}"\nprefix = {PREFIX}\ninterface = "{NODE_IFACE}"\n')
    parts.append(f'[groups]\nservice_nodes = {q(list(SERVICE_NODES))}\n')
    parts.append(f'[ssh]\nknown_hosts = {q(str(lab / "known_hosts"))}\nidentity = {q(str(lab / "client_ed25519"))}\n'
                 'connect_timeout_s = 5\n')
    return "\n".join(parts)


def write(lab: Path) -> Path:
    path = lab / "cluster.toml"
    path.write_text(text(lab))
    return path
