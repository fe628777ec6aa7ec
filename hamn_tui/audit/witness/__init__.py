"""Witnesses: another host cosigns a run's checkpoints, so root on the console cannot delete or
rewrite a witnessed run unseen.

Formats are C2SP's, so a checkpoint and its cosignatures read without hamn: `note.py` (signed
note, c2sp.org/signed-note), `checkpoint.py` (c2sp.org/tlog-checkpoint over RFC 6962 Merkle
trees, and c2sp.org/tlog-cosignature `cosignature/v1`), `store.py` (the witness's state),
`protocol.py` (one request and one answer over an SSH forced command), `client.py` (the
console side: send over `ssh` with host-key checking on), `check.py` (what `hamn audit verify`
reads: cosignatures next to a log, a witness's copy). docs/audit-log.md, "Witnesses".
"""
