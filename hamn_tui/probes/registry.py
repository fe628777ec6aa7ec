"""Every probe a run on this cluster can use: host probes, plus DB2's or PostgreSQL's."""
from __future__ import annotations

from ..cluster.model import Cluster
from ..runbook.context import RunContext
from ..transport.base import Transport
from .base import ProbeSet
from .host import host_probes


def cluster_probes(transport: Transport, cluster: Cluster | None, ctx: RunContext | None = None) -> ProbeSet:
    probes = host_probes(transport, cluster)
    if cluster is not None and cluster.db2 is not None:
        from .db2.probe import db2_probes

        probes.probes.update(db2_probes(transport, cluster, ctx).probes)
    if cluster is not None and cluster.pg is not None:
        try:
            from .pg import pg_probes
        except ImportError:  # psycopg2 missing: PG gates read as unknown, with the reason
            return probes
        def attested(args) -> bool:
            """The operator's attestation, named by the gate: the step whose success proves the old primary is down."""
            step = args.get("fenced_step")
            return bool(ctx and step and ctx.outcomes.get(str(step)) == "done")

        probes.probes.update(pg_probes(cluster, roles=ctx.roles if ctx else None, primary_down_confirmed=attested).probes)
    return probes
