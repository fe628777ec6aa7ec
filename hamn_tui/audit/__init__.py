"""The signed, tamper-evident audit log of a run.

Layout of one run (`<audit dir>/<runbook id>-<run id>/`):

- `audit-000.jsonl`, `audit-001.jsonl`, … — segments. A segment is one log: JSON Lines in
  canonical form, hash-chained, its checkpoints signed by a per-segment session key and its
  opening and closing records by the operator's SSH key. A resume after a crash starts a new
  segment whose opening record names the old one's size and last line hash; nothing is ever
  repaired in place.
- `audit-NNN.jsonl.sig` — at close, a detached SSHSIG over the whole segment, by the operator's
  key: `ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL -n hamn-audit-v1 -s LOG.sig < LOG`.
- `outputs/<sha256>.gz` — every command's stdout and stderr (secrets redacted), named by the
  SHA-256 of the uncompressed content. The log records when each chunk came, so `hamn audit
  export --casts DIR` rebuilds an asciicast v2 recording of each command.

This package is imported only when a run starts or a log is read: `hamn validate` never loads
it (nor the crypto it uses). `docs/audit-log.md` describes the format and the threat model.
"""

NAMESPACE = "hamn-audit-v1"
"""The SSHSIG namespace of every signature hamn makes: records, checkpoints and LOG.sig."""

FORMAT_VERSION = 1
SEGMENT_GLOB = "audit-[0-9][0-9][0-9].jsonl"


def segment_name(index: int) -> str:
    return f"audit-{index:03d}.jsonl"
