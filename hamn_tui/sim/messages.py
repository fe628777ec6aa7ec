"""DB2 CLP messages as DB2 prints them — each one next to the documented source it is quoted from.

A training simulator must not teach what DB2 does not do. Every message below carries a
`# source:` comment: the IBM page, the shared facts file (shared/docs/db2-hadr-facts.md, "facts")
section or the captured fixture (shared/fixtures/db2/messages/, tests/fixtures_db2/messages/) it
comes from. Where DB2's behaviour is documented but the exact message (or a message's reason code)
is not in any of those sources, the simulator says so in its own words (`refused`, exit status 4)
instead of printing a number it made up; where the behaviour itself is not documented it answers
`not_simulated`. The CLP exit status follows the message's severity: 0 success (I), 2 warning (W),
4 error (N).
"""
from __future__ import annotations

from dataclasses import dataclass

WIDTH = 80

FACTS = "shared/docs/db2-hadr-facts.md"
START_HADR = "IBM Db2 docs, START HADR command (ibm.com/docs SSEPGG_11.5.0 r0011551)"
TAKEOVER_HADR = "IBM Db2 docs, TAKEOVER HADR command (ibm.com/docs/en/db2/12.1.x?topic=commands-takeover-hadr)"
SWITCHING_ROLES = "IBM Db2 docs, Switching database roles in HADR (ibm.com/docs/en/db2/11.5.x?topic=outage-switching-database-roles)"
HADR_WIKI_COMMANDS = "IBM Db2 HADR wiki, HADR Commands (ibm.github.io/db2-hadr-wiki/hadrCommands.html)"
HADR_WIKI_TAKEOVER = "IBM Db2 HADR wiki, HADR Takeover (ibm.github.io/db2-hadr-wiki/hadrTakeover.html)"
HADR_WIKI_CONFIG = "IBM Db2 HADR wiki, HADR Config: Primary-standby Clock Synchronization (ibm.github.io/db2-hadr-wiki/hadrConfig.html)"
HADR_WIKI_MONITORING = "IBM Db2 HADR wiki, HADR Monitoring: HADR_CONNECT_STATUS (ibm.github.io/db2-hadr-wiki/hadrMonitoring.html)"
DEACTIVATE_DB = "IBM Db2 docs, DEACTIVATE DATABASE command, usage notes (SSEPGG_9.7.0 r0002039)"
ACTIVATE_DB = "IBM Db2 docs, ACTIVATE DATABASE command, usage notes (SSEPGG_9.7.0 r0002038)"


@dataclass(frozen=True)
class Msg:
    text: str
    status: int

    @property
    def id(self) -> str:
        return self.text.split(None, 1)[0] if self.text else ""


def wrap(text: str, width: int = WIDTH) -> str:
    """The CLP wraps a message at 80 columns, each cut line keeping its trailing space (fixture m06)."""
    out: list[str] = []
    for para in text.split("\n"):
        while len(para) > width:
            cut = para.rfind(" ", 0, width)
            if cut <= 0:
                break
            out.append(para[: cut + 1])
            para = para[cut + 1:]
        out.append(para)
    return "\n".join(out)


def _sev(code: str) -> int:
    return {"I": 0, "W": 2, "N": 4, "C": 4}[code[-1]]


def msg(code: str, text: str) -> Msg:
    return Msg(f"{code}  {text}", _sev(code))


def ok(command: str) -> Msg:
    # source: facts §6 DB20000I; fixture m01 (The TAKEOVER HADR ON DATABASE command completed successfully.)
    return Msg(f"DB20000I  The {command} command completed successfully.", 0)


def not_simulated(what: str) -> Msg:
    """A situation whose DB2 behaviour the sources do not document: never answered with an invented message."""
    return Msg(f"hamn training: {what} is not simulated", 4)


def refused(rule: str, source: str, *, message: str | None = None) -> Msg:
    """DB2 refuses here — the rule is documented (`source`) — but no source gives the exact message
    (or its reason code), so none is printed: the trainee is told so rather than shown a made-up number."""
    said = (f"DB2 answers {message} with a reason code that the simulator's sources do not give" if message
            else "DB2 returns an error whose text the simulator's sources do not give")
    return Msg(f"hamn training: {rule} ({source}): {said}, so none is shown.", 4)


# --- HADR ----------------------------------------------------------------------------------------------

SQL1770N_REASONS = {
    7: "the standby still believed it was connected (PEER) but the primary did not respond",
    9: "TAKEOVER ... BY FORCE PEER WINDOW ONLY issued outside the peer window",
}
"""The only SQL1770N reason codes a source documents (facts §6): each used for its one situation."""


def sql1770n(rc: int) -> Msg:
    # source: facts §6 SQL1770N: RC 7 [V, ClusterLabs db2 RA: primary did not respond; fixture m02],
    # RC 9 [V, IBM Db2 Warehouse manage_hadr script: PEER WINDOW ONLY outside the peer window].
    if rc not in SQL1770N_REASONS:
        raise ValueError(f"SQL1770N reason {rc} is not documented in the simulator's sources (only {sorted(SQL1770N_REASONS)})")
    return msg("SQL1770N", f'Takeover HADR cannot complete. Reason code = "{rc}".')


def takeover_refused(rule: str, source: str) -> Msg:
    """A refused takeover whose SQL1770N reason code no source gives (facts §6: other RCs [R])."""
    return refused(rule, source, message="SQL1770N (Takeover HADR cannot complete)")


SQL1768N_REASONS = {
    1: "The database is not recoverable because circular logging is in use.",
    4: "Invalid entry for the hadr_local_host configuration parameter.",
    5: "Invalid service name for the hadr_local_svc configuration parameter.",
    6: "Invalid service name for the hadr_remote_svc configuration parameter.",
    7: "The primary database failed to establish a connection to its standby database within the HADR timeout interval.",
    8: "The value of one or more of the following HADR database configuration parameters is NULL.",
}
"""IBM's SQL1768N explanations (message reference, as copied verbatim at cnblogs.com/cloudLi/p/14434722.html; facts §6 list)."""


def sql1768n(rc: int) -> Msg:
    # source: facts §6 SQL1768N [V list]; IBM message reference SQL1768N reasons 1-11; RC 7 also
    # IBM Db2 HADR wiki, Diag Connect ("Primary startup will hang for hadr_timeout seconds, then return
    # SQL1768N Unable to start HADR. Reason code = 7") and IBM Support "What's the condition of SQL1768N
    # rc=7 HADR start failure? And what to do?" (ibm.com/support/pages/node/1139992).
    if rc not in SQL1768N_REASONS:
        raise ValueError(f"SQL1768N reason {rc} is not one the simulator produces")
    return msg("SQL1768N", f'Unable to start HADR. Reason code = "{rc}".')


def sql1769n(rc: int) -> Msg:
    # source: facts §6 SQL1769N RC 2 [V, xCAT wiki: STOP HADR on an active standby]; fixture m05.
    if rc != 2:
        raise ValueError(f"SQL1769N reason {rc} is not documented in the simulator's sources (only 2)")
    return msg("SQL1769N", f'Stop HADR cannot complete. Reason code = "{rc}".')


def sql1776n(rc: int) -> Msg:
    # source: facts §6 SQL1776N: RC 1 [V] the command is not supported on a standby (client connect to a
    # standby without reads on standby: go_ibm_db issue #88 shows this exact text with reason "1"; IBM
    # "Reads on standby" restrictions: connecting in local catchup gives SQL1776N Reason Code 1);
    # RC 6 [V, ClusterLabs db2 RA] an old primary cannot start: the standby took over by force.
    if rc not in (1, 6):
        raise ValueError(f"SQL1776N reason {rc} is not one the simulator produces")
    return msg("SQL1776N", f'The command cannot be issued on an HADR database. Reason code = "{rc}".')


# source: facts §6 SQL1777N (benign on a repeated START); IBM Db2 HADR wiki, HADR on pureScale
# ("It will return "SQL1777N HADR is already started."").
SQL1777N = msg("SQL1777N", "HADR is already started.")

# --- instance and database -------------------------------------------------------------------------------

# source: IBM message reference SQL1032N (what every CLP database command says with the instance stopped);
# text as DB2 prints it, not re-read for this change.
SQL1032N = msg("SQL1032N", "No start database manager command was issued.  SQLSTATE=57019")


def sql1035n(level: str) -> Msg:
    # source: facts §6 SQL1035N, both texts (9.7 "currently in use", 10.x+); fixture m10 (9.7).
    if level == "9.7":
        return msg("SQL1035N", "The database is currently in use.  SQLSTATE=57019")
    return msg("SQL1035N", "The operation failed because the specified database cannot be connected to in the mode requested.  SQLSTATE=57019")


def sql1117n(db: str) -> Msg:
    # source: facts §6 SQL1117N; fixture m06.
    return msg("SQL1117N", f'A connection to or activation of database "{db}" cannot be made because of ROLL-FORWARD PENDING.  SQLSTATE=57019')


def sql1116n(db: str) -> Msg:
    # source: IBM message reference SQL1116N (the BACKUP PENDING counterpart of SQL1117N); not re-read for this change.
    return msg("SQL1116N", f'A connection to or activation of database "{db}" cannot be made because of BACKUP PENDING.  SQLSTATE=57019')


# source: facts §6 SQL1363W ("parameters not changed dynamically"); full text from IBM message reference SQL1363W.
SQL1363W = msg("SQL1363W", "One or more of the parameters submitted for immediate modification were not changed dynamically. "
                           "For these configuration parameters, the database must be shutdown and reactivated before the "
                           "configuration parameter changes become effective.")
# source: facts §6 SQL1490W ("activate succeeded but already active").
SQL1490W = msg("SQL1490W", "Activate database is successful, however, the database has already been activated on one or more nodes.")
# source: IBM message reference SQL1495W; behaviour from DEACTIVATE_DB: the explicit activation ends, the
# database stops when its last application disconnects (see hadr.deactivate).
SQL1495W = msg("SQL1495W", "Deactivate database is successful, however, there is still a connection to the database.")
# source: IBM message reference SQL1496W (DEACTIVATE of a database that was not active); the shipped
# db2-hadr-setup runbook expects it after a restore.
SQL1496W = msg("SQL1496W", "Deactivate database is successful, however, the database was not activated.")
# source: IBM message reference SQL2540W (RESTORE ... WITHOUT PROMPTING over an existing database).
SQL2540W = msg("SQL2540W", 'Restore is successful, however a warning "2539" was encountered during Database Restore while processing in No Interrupt mode.')
# source: facts §6 SQL2539W; fixture m15 (verbatim prompt).
SQL2539W_PROMPT = ("SQL2539W  Warning! Restoring to an existing database that is the same as the backup image database. "
                   "The database files will be deleted.\nDo you want to continue? (y/n) ")
# source: IBM message reference SQL1063N / SQL1026N / SQL1064N / SQL1025N / SQL6048N (db2start, db2stop);
# not re-read for this change.
SQL1063N = "SQL1063N  DB2START processing was successful."
SQL1026N = msg("SQL1026N", "The database manager is already active.")
SQL1064N = "SQL1064N  DB2STOP processing was successful."
SQL1025N = msg("SQL1025N", "The database manager was not stopped because databases are still active.")
SQL6048N = msg("SQL6048N", "A communication error occurred during START or STOP DATABASE MANAGER processing.")
# source: facts §10 (xCAT wiki: db2 force application all); DB21024I as the CLP prints it for FORCE APPLICATION.
FORCE_OK = "DB20000I  The FORCE APPLICATION command completed successfully.\nDB21024I  This command is asynchronous and may not be effective immediately."
# source: IBM message reference SQL1611W (a snapshot or LIST APPLICATIONS with nothing to return).
SQL1611W = msg("SQL1611W", "No data was returned by Database System Monitor.")
# source: IBM message reference SQL1024N (a statement that needs a connection, issued without one);
# text as DB2 prints it, not re-read for this change (no IBM page for it was reachable).
SQL1024N = msg("SQL1024N", "A database connection does not exist.  SQLSTATE=08003")


def sql2542n(db: str, ts: str) -> Msg:
    # source: IBM message reference SQL2542N (RESTORE ... TAKEN AT a timestamp with no image); not re-read for this change.
    return msg("SQL2542N", f'No match for a database image file was found based on the source database alias "{db}" and timestamp "{ts}" provided.')


def sql2036n(path: str) -> Msg:
    # source: IBM message reference SQL2036N (BACKUP/RESTORE to a path that is not valid); not re-read for this change.
    return msg("SQL2036N", f'The path for the file or device "{path}" is not valid.')


# source: IBM message reference SQL2413N (ONLINE backup of a non-recoverable or backup-pending database); not re-read.
SQL2413N = msg("SQL2413N", "Online backup is not allowed because the database is not recoverable or a backup pending condition is in effect.")


def sql1013n(db: str) -> Msg:
    # source: IBM message reference SQL1013N (unknown database alias); not re-read for this change.
    return msg("SQL1013N", f'The database alias name or database name "{db}" could not be found.  SQLSTATE=42705')


def sql0104n(token: str) -> Msg:
    # source: IBM message reference SQL0104N (syntax error), shortened: DB2 also lists the expected tokens,
    # which the simulator does not know; not re-read for this change.
    return msg("SQL0104N", f'An unexpected token "{token}" was found following "USING".  SQLSTATE=42601')


# source: facts §5.3 (a standby whose log stream diverged shuts itself down, db2diag.log); text as
# IBM's message reference gives ADM12500E, not re-read for this change.
ADM12500E = ("ADM12500E  The HADR standby database cannot be made consistent with the primary database. The log stream "
             "of the standby database is incompatible with that of the primary database. To use this database as a "
             "standby, it must be recreated from a backup image or split mirror of the primary database.")

# --- db2diag.log records the simulator writes ------------------------------------------------------------
# source: IBM Db2 HADR wiki, db2diag.log page ("Received TAKEOVER HADR command.", "Standby has initiated a
# takeover[ by force[ peer window only]].", "Primary has started non-forced takeover request.", "Primary has
# started a forced takeover request."); facts §5.3 ("HADR database role set to STANDBY (was PRIMARY).").
DIAG_TAKEOVER_RECEIVED = "Received TAKEOVER HADR command."
DIAG_PRIMARY_NONFORCED = "Primary has started non-forced takeover request."
DIAG_PRIMARY_FORCED = "Primary has started a forced takeover request."
DIAG_START_PRIMARY = "Received START HADR PRIMARY command."
DIAG_START_STANDBY = "Received START HADR SECONDARY command."
DIAG_START_PRIMARY_FORCE = "Received START HADR PRIMARY FORCE command."
DIAG_STOP_HADR = "Received STOP HADR command."


def diag_standby_initiated(kind: str) -> str:
    """kind: "" (graceful), "by force", "by force peer window only"."""
    return f"Standby has initiated a takeover{' ' + kind if kind else ''}."


def diag_role_set(new: str, was: str) -> str:
    return f"HADR database role set to {new} (was {was})."
