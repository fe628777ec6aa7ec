"""DB2 CLP messages as DB2 prints them (db2-hadr-facts.md §6, shared/fixtures/db2/messages/).

Texts marked [V] are verified in the facts or fixtures; [R] reason codes are recalled, not
verified — the runbooks only ever match the message id (`SQL1770N`), never such a code.
The CLP exit status follows the message's severity: 0 success (I), 2 warning (W), 4 error (N).
A situation DB2's documented behaviour does not cover is answered with `not_simulated`, so a
trainee is never shown an invented message as if it were DB2's.
"""
from __future__ import annotations

from dataclasses import dataclass

WIDTH = 80


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
    """DB20000I  The <COMMAND> command completed successfully. [V]"""
    return Msg(f"DB20000I  The {command} command completed successfully.", 0)


def not_simulated(what: str) -> Msg:
    return Msg(f"hamn training: {what} is not simulated", 4)


# --- the messages the runbooks meet --------------------------------------------------------

def sql1770n(rc: int) -> Msg:
    """[V] RC 7: primary did not respond; RC 9: PEER WINDOW ONLY outside the peer window.
    [R] RC 1: not an (active) HADR standby; RC 2: the HADR state does not allow this kind of takeover."""
    return msg("SQL1770N", f'Takeover HADR cannot complete. Reason code = "{rc}".')


def sql1768n(rc: int) -> Msg:
    return msg("SQL1768N", f'Unable to start HADR. Reason code = "{rc}".')


def sql1769n(rc: int) -> Msg:
    return msg("SQL1769N", f'Stop HADR cannot complete. Reason code = "{rc}".')


def sql1776n(rc: int) -> Msg:
    return msg("SQL1776N", f'The command cannot be issued on an HADR database. Reason code = "{rc}".')


def sql1767n(rc: int) -> Msg:
    """[R] START HADR AS STANDBY on a database that is neither roll-forward pending nor an HADR database."""
    return msg("SQL1767N", f'Start HADR cannot complete. Reason code = "{rc}".')


SQL1777N = msg("SQL1777N", "HADR is already started.")
SQL1032N = msg("SQL1032N", "No start database manager command was issued.  SQLSTATE=57019")


def sql1035n(level: str) -> Msg:
    """9.7 and 10.x+ texts (facts §6)."""
    if level == "9.7":
        return msg("SQL1035N", "The database is currently in use.  SQLSTATE=57019")
    return msg("SQL1035N", "The operation failed because the specified database cannot be connected to in the mode requested.  SQLSTATE=57019")


def sql1117n(db: str) -> Msg:
    return msg("SQL1117N", f'A connection to or activation of database "{db}" cannot be made because of ROLL-FORWARD PENDING.  SQLSTATE=57019')


def sql1116n(db: str) -> Msg:
    return msg("SQL1116N", f'A connection to or activation of database "{db}" cannot be made because of BACKUP PENDING.  SQLSTATE=57019')


SQL1363W = msg("SQL1363W", "One or more of the parameters submitted for immediate modification were not changed dynamically. "
                           "For these configuration parameters, the database must be shutdown and reactivated before the "
                           "configuration parameter changes become effective.")
SQL1490W = msg("SQL1490W", "Activate database is successful, however, the database has already been activated on one or more nodes.")
SQL1495W = msg("SQL1495W", "Deactivate database is successful, however, there is still a connection to the database.")
SQL1496W = msg("SQL1496W", "Deactivate database is successful, however, the database was not activated.")
SQL2540W = msg("SQL2540W", 'Restore is successful, however a warning "2539" was encountered during Database Restore while processing in No Interrupt mode.')
SQL2539W_PROMPT = ("SQL2539W  Warning! Restoring to an existing database that is the same as the backup image database. "
                   "The database files will be deleted.\nDo you want to continue? (y/n) ")
SQL1063N = "SQL1063N  DB2START processing was successful."
SQL1026N = msg("SQL1026N", "The database manager is already active.")
SQL1064N = "SQL1064N  DB2STOP processing was successful."
SQL1025N = msg("SQL1025N", "The database manager was not stopped because databases are still active.")
SQL6048N = msg("SQL6048N", "A communication error occurred during START or STOP DATABASE MANAGER processing.")
FORCE_OK = "DB20000I  The FORCE APPLICATION command completed successfully.\nDB21024I  This command is asynchronous and may not be effective immediately."
SQL1611W = msg("SQL1611W", "No data was returned by Database System Monitor.")
SQL1024N = msg("SQL1024N", "A database connection does not exist.  SQLSTATE=08003")


def sql2542n(db: str, ts: str) -> Msg:
    return msg("SQL2542N", f'No match for a database image file was found based on the source database alias "{db}" and timestamp "{ts}" provided.')


def sql2036n(path: str) -> Msg:
    return msg("SQL2036N", f'The path for the file or device "{path}" is not valid.')


SQL2413N = msg("SQL2413N", "Online backup is not allowed because the database is not recoverable or a backup pending condition is in effect.")


def sql1013n(db: str) -> Msg:
    return msg("SQL1013N", f'The database alias name or database name "{db}" could not be found.  SQLSTATE=42705')


def sql0104n(token: str) -> Msg:
    return msg("SQL0104N", f'An unexpected token "{token}" was found following "USING".  SQLSTATE=42601')


ADM12500E = ("ADM12500E  The HADR standby database cannot be made consistent with the primary database. The log stream "
             "of the standby database is incompatible with that of the primary database. To use this database as a "
             "standby, it must be recreated from a backup image or split mirror of the primary database.")
