class AuditError(Exception):
    """The audit log cannot be written or read; nothing further may run unrecorded."""
