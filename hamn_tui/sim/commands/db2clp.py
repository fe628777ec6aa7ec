"""`db2 …` (the command line processor), `db2pd`, `db2start`, `db2stop` and `db2gcf` as the instance owner.

The CLP statements the runbooks and the xCAT procedure use are parsed case-insensitively;
their effects and messages come from hadr.py and messages.py. A statement outside that set is
answered as not simulated (CLP exit status 4), never with an invented DB2 message.
"""
from __future__ import annotations

import posixpath
from datetime import datetime, timezone

from .. import hadr
from .. import messages as m
from ..cluster import SimNode
from ..db2 import BackupImage, log_file
from ..render import db2pd as render_db2pd
from ..render import dbcfg, snapshot
from ..shell import Inv, NotSimulated

DB_WORDS = ("database", "db")
CFG_WORDS = ("configuration", "config", "cfg")
NOT_DYNAMIC = {"HADR_LOCAL_HOST", "HADR_LOCAL_SVC", "HADR_REMOTE_HOST", "HADR_REMOTE_SVC", "HADR_REMOTE_INST", "HADR_SYNCMODE",
               "HADR_TIMEOUT", "HADR_PEER_WINDOW", "LOGARCHMETH1", "LOGRETAIN", "TRACKMOD"}


def _emit(inv: Inv, result: m.Msg | tuple[str, int]) -> int:
    if isinstance(result, m.Msg):
        inv.out(m.wrap(result.text) + "\n")
        return result.status
    text, status = result
    inv.out(text)
    return status


def db2(inv: Inv) -> int:
    args = inv.argv[1:]
    echo = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] != "-v":
            raise NotSimulated(f"db2 option {args[0]}")
        echo, args = True, args[1:]
    if len(args) == 1 and " " in args[0]:
        args = args[0].split()
    if not args:
        raise NotSimulated("the interactive db2 command line (give the statement as arguments)")
    if echo:
        inv.out(" ".join(args) + "\n")
    return _emit(inv, _statement(inv, args, [a.lower() for a in args]))


def _db(inv: Inv, name: str) -> m.Msg | None:
    if name.upper() != inv.sim.dbname.upper() or inv.node.db is None:
        return m.sql1013n(name.upper())
    return None


def _statement(inv: Inv, a: list[str], w: list[str]) -> m.Msg | tuple[str, int]:
    sim, node = inv.sim, inv.node
    n = len(w)

    def at(i: int) -> str:
        return w[i] if i < n else ""

    if at(0) == "force" and at(1) in ("application", "applications") and at(2) == "all":
        return m.SQL1032N if not node.instance_up else (m.FORCE_OK + "\n", 0)
    if at(0) in ("activate", "deactivate") and at(1) in DB_WORDS and n == 3:
        return _db(inv, a[2]) or (hadr.activate(sim, node) if at(0) == "activate" else hadr.deactivate(sim, node))
    if at(0) == "get" and at(1) in DB_WORDS and at(2) in CFG_WORDS and at(3) == "for" and n >= 5:
        return _db(inv, a[4]) or (dbcfg(sim, node), 0)
    if at(0) == "get" and at(1) == "snapshot" and at(2) == "for" and at(3) in DB_WORDS and at(4) == "on" and n == 6:
        bad = _db(inv, a[5])
        if bad:
            return bad
        if not node.instance_up:
            return m.SQL1032N
        return (snapshot(sim, node), 0) if node.db.active else m.SQL1611W  # type: ignore[union-attr]
    if at(0) == "update" and at(1) in DB_WORDS and at(2) in CFG_WORDS and at(3) == "for" and at(5) == "using":
        return _db(inv, a[4]) or _update_cfg(inv, a[6:])
    if w[:4] == ["update", "alternate", "server", "for"] and at(4) in DB_WORDS and at(6) == "using" and at(7) == "hostname" and at(9) == "port" and n == 11:
        bad = _db(inv, a[5])
        if bad:
            return bad
        node.db.alt_server = None if a[8].upper() == "NULL" else (a[8], a[10])  # type: ignore[union-attr]
        return m.ok("UPDATE ALTERNATE SERVER FOR DATABASE")
    if at(0) == "list" and at(1) in DB_WORDS and at(2) == "directory":
        if n != 3:
            raise NotSimulated(f"LIST DATABASE DIRECTORY {' '.join(a[3:])} (only the system database directory)")
        return _directory(inv)
    if at(0) == "backup" and at(1) in DB_WORDS and n >= 3:
        return _db(inv, a[2]) or _backup(inv, a[3:], w[3:])
    if at(0) == "restore" and at(1) in DB_WORDS and n >= 3:
        return _db(inv, a[2]) or _restore(inv, a[3:], w[3:])
    if w[:3] == ["start", "hadr", "on"] and at(3) in DB_WORDS and at(5) == "as" and at(6) in ("primary", "standby"):
        tail = w[7:]
        if tail not in ([], ["by", "force"]):
            raise NotSimulated(f"START HADR … {' '.join(a[7:])}")
        return _db(inv, a[4]) or hadr.start_hadr(sim, node, at(6).upper(), by_force=bool(tail))
    if w[:3] == ["stop", "hadr", "on"] and at(3) in DB_WORDS and n == 5:
        return _db(inv, a[4]) or hadr.stop_hadr(sim, node)
    if w[:3] == ["takeover", "hadr", "on"] and at(3) in DB_WORDS and n >= 5:
        tail = w[5:]
        if tail[:1] == ["user"]:
            tail = tail[4:] if len(tail) >= 4 and tail[2] == "using" else ["?"]
        if tail not in ([], ["by", "force"], ["by", "force", "peer", "window", "only"]):
            raise NotSimulated(f"TAKEOVER HADR … {' '.join(a[5:])}")
        return _db(inv, a[4]) or hadr.takeover(sim, node, force=bool(tail), peer_window_only=len(tail) == 5)
    if at(0) == "rollforward" and at(1) in DB_WORDS and n >= 4:
        return _db(inv, a[2]) or _rollforward(inv, w[3:])
    if w[:2] == ["connect", "to"] and n in (3, 7):
        return _db(inv, a[2]) or _connect(inv)
    if w in (["connect", "reset"], ["disconnect", "all"]):
        inv.sh.session.pop("db2_connection", None)
        return m.ok("SQL")
    if w == ["terminate"]:
        inv.sh.session.pop("db2_connection", None)
        return m.ok("TERMINATE")
    if w[:2] == ["list", "tables"]:
        if not inv.sh.session.get("db2_connection"):
            return m.SQL1024N
        tables = ["BOOTPARAMS", "CHAIN", "HOSTS", "MAC", "NETWORKS", "NODELIST", "NODETYPE", "NOHASH", "OSIMAGE", "PASSWD", "POLICY", "SITE"]
        rows = "".join(f"{t:<32} XCATDB          T     2024-04-02-10.11.12.000000\n" for t in tables)
        return ("\nTable/View                      Schema          Type  Creation time\n"
                "------------------------------- --------------- ----- --------------------------\n"
                f"{rows}\n  {len(tables)} record(s) selected.\n\n", 0)
    if w[:2] == ["list", "applications"]:
        if not node.instance_up:
            return m.SQL1032N
        apps = sim.applications(node)
        if not apps:
            return m.SQL1611W
        rows = "".join(f"{sim.instance.upper():<8} xcatd          {10 + i:<10} {sim.nodes[a].address}.{50000 + i:<15} {sim.dbname:<8} 1\n"
                       for i, a in enumerate(apps))
        return ("\nAuth Id  Application    Appl.      Application Id                 DB       # of\n"
                "         Name           Handle                                    Name    Agents\n"
                "-------- -------------- ---------- ------------------------------ -------- -----\n" + rows + "\n", 0)
    return m.not_simulated(f"the CLP statement {' '.join(a)!r}")


def _directory(inv: Inv) -> tuple[str, int]:
    """The system database directory: the node's one database, cataloged locally (Indirect).

    source: IBM Db2 docs, LIST DATABASE DIRECTORY command, example output (SSEPGG_9.7.0 r0001961):
    the entry's fields and "Alternate server hostname / port number", which UPDATE ALTERNATE SERVER
    FOR DATABASE sets and `... using hostname NULL port NULL` clears (r0011565); an entry without
    one prints the two labels with nothing after "=".
    """
    db = inv.node.db
    if db is None:
        # source: IBM message reference SQL1057W (the system database directory is empty); not re-read
        return m.wrap(m.msg("SQL1057W", "The system database directory is empty.").text) + "\n", 2
    host, port = db.alt_server or ("", "")
    release = "d.00" if inv.sim.level == "9.7" else "15.00"
    field = lambda label, value: f" {label:<37}= {value}".rstrip() + "\n"  # noqa: E731
    return ("\n System Database Directory\n\n Number of entries in the directory = 1\n\nDatabase 1 entry:\n\n"
            + field("Database alias", db.name) + field("Database name", db.name)
            + field("Local database directory", inv.sim.instance_home) + field("Database release level", release)
            + field("Comment", "") + field("Directory entry type", "Indirect")
            + field("Catalog database partition number", "0") + field("Alternate server hostname", host)
            + field("Alternate server port number", port) + "\n", 0)


def _update_cfg(inv: Inv, pairs: list[str]) -> m.Msg:
    db = inv.node.db
    assert db is not None
    if not pairs or len(pairs) % 2:
        return m.sql0104n(pairs[-1] if pairs else "USING")
    changes: list[tuple[str, str]] = [(pairs[i].upper(), pairs[i + 1]) for i in range(0, len(pairs), 2)]
    cfg = db.cfg
    for key, value in changes:
        v = value.upper()
        if key in ("HADR_LOCAL_HOST", "HADR_LOCAL_SVC", "HADR_REMOTE_HOST", "HADR_REMOTE_SVC", "HADR_REMOTE_INST"):
            continue
        if key == "HADR_SYNCMODE" and v not in ("SYNC", "NEARSYNC", "ASYNC", "SUPERASYNC"):
            return m.refused(f"HADR_SYNCMODE {value} is not one of SYNC, NEARSYNC, ASYNC, SUPERASYNC", m.FACTS + " §2.3")
        if key in ("HADR_TIMEOUT", "HADR_PEER_WINDOW") and not value.isdigit():
            return m.refused(f"{key} takes a number of seconds, not {value!r}", m.FACTS + " §4")
        if key == "LOGRETAIN" and inv.sim.level != "9.7":
            return m.sql0104n("LOGRETAIN")
        if key not in ("HADR_SYNCMODE", "HADR_TIMEOUT", "HADR_PEER_WINDOW", "LOGARCHMETH1", "LOGRETAIN", "TRACKMOD", "LOGINDEXBUILD", "INDEXREC"):
            return m.sql0104n(key)
    was_archiving = cfg.archiving
    for key, value in changes:
        v = value.upper()
        if key.startswith("HADR_") and key not in ("HADR_SYNCMODE", "HADR_TIMEOUT", "HADR_PEER_WINDOW"):
            setattr(cfg, key[5:].lower(), None if v == "NULL" else value)
        elif key == "HADR_SYNCMODE":
            cfg.syncmode = v
        elif key == "HADR_TIMEOUT":
            cfg.timeout_s = int(value)
        elif key == "HADR_PEER_WINDOW":
            cfg.peer_window_s = int(value)
        elif key == "LOGARCHMETH1":
            cfg.logarchmeth1 = value if ":" in value else v
        elif key == "LOGRETAIN":
            cfg.logretain = v
        elif key == "TRACKMOD":
            cfg.trackmod = v in ("ON", "YES")
        elif key == "LOGINDEXBUILD":
            cfg.logindexbuild = v in ("ON", "YES")
        elif key == "INDEXREC":
            cfg.indexrec = v
    if cfg.archiving and not was_archiving:
        cfg.backup_pending = True  # circular -> archive logging: a full backup is needed first
    elif was_archiving and not cfg.archiving:
        cfg.backup_pending = False
    inv.sim.note(f"{inv.node.name}: UPDATE DB CFG " + " ".join(f"{k} {v}" for k, v in changes))
    if db.active and any(k in NOT_DYNAMIC for k, _ in changes):
        return m.SQL1363W
    return m.ok("UPDATE DATABASE CONFIGURATION")


def _backup(inv: Inv, a: list[str], w: list[str]) -> m.Msg | tuple[str, int]:
    sim, node = inv.sim, inv.node
    db = node.db
    assert db is not None
    online = "online" in w
    if "to" not in w or w.index("to") + 1 >= len(w):
        raise NotSimulated("BACKUP DATABASE without TO <directory>")
    target = a[w.index("to") + 1].rstrip("/") or "/"
    if not node.instance_up:
        return m.SQL1032N
    if db.cfg.role == "STANDBY":
        return m.sql1776n(1)  # not supported on a standby (messages.sql1776n: facts §6 RC 1)
    if online:
        if not db.cfg.archiving or db.cfg.backup_pending:
            return m.SQL2413N
    elif db.active or sim.applications(node):
        sim.note(f"{node.name}: BACKUP refused: the database is in use ({', '.join(sim.applications(node)) or 'activated'})")
        return m.sql1035n(sim.level)
    if db.cfg.rollforward_pending:
        return m.sql1117n(db.name)
    entry = node.fs.get(target) if target.startswith("/") else None
    if entry is None or entry.kind != "dir":
        return m.sql2036n(target)
    if entry.owner != sim.instance:
        # source: IBM message reference SQL2061N (backup media not accessible to the instance owner); not re-read
        return m.msg("SQL2061N", f'An attempt to access the media "{target}" is denied.')
    ts = datetime.fromtimestamp(sim.clock.now(), timezone.utc).strftime("%Y%m%d%H%M%S")
    stem = f"{db.name}.0.{sim.instance}.NODE0000.CATN0000" if sim.level == "9.7" else f"{db.name}.0.{sim.instance}.DBPART000"
    path = posixpath.join(target, f"{stem}.{ts}.001")
    node.fs.write(path, db.image(ts, online), owner=sim.instance, group=sim.instance, mode=0o600, mtime=sim.clock.now())
    db.cfg.backup_pending = False
    sim.note(f"{node.name}: {'online ' if online else ''}backup {ts} written to {target}")
    return (f"\nBackup successful. The timestamp for this backup image is : {ts}\n\n", 0)


def _restore(inv: Inv, a: list[str], w: list[str]) -> m.Msg | tuple[str, int]:
    sim, node = inv.sim, inv.node
    db = node.db
    assert db is not None
    if "from" not in w or "taken" not in w or w[w.index("taken") + 1: w.index("taken") + 2] != ["at"]:
        raise NotSimulated("RESTORE DATABASE without FROM <directory> TAKEN AT <timestamp>")
    source = a[w.index("from") + 1].strip('"').rstrip("/") or "/"
    ts = a[w.index("taken") + 2]
    if not node.instance_up:
        return m.SQL1032N
    if db.active or sim.applications(node):
        return m.sql1035n(sim.level)
    hits = [p for p in node.fs.glob(posixpath.join(source, f"{db.name}.0.*.{ts}.001"))
            if isinstance(node.fs.read(p), BackupImage)]
    if not hits:
        return m.sql2542n(db.name, ts)
    image: BackupImage = node.fs.read(hits[0])
    prompt = ""
    if "without" not in w or "prompting" not in w:
        prompt = m.wrap(m.SQL2539W_PROMPT)
        if not inv.stdin.strip().lower().startswith("y"):
            # source: IBM message reference SQL2001N (a utility answered "n" at its prompt); not re-read
            return (prompt + "\n" + m.wrap(m.msg("SQL2001N", "The utility was interrupted.  The output data may be incomplete.").text) + "\n", 4)
    if image.seed != db.seed:
        import copy

        db.cfg = copy.deepcopy(image.cfg)  # a different database: its configuration comes from the image
        db.seed = image.seed
    db.base_pos, db.log = image.base_pos, list(image.log)
    db.replay_pos = db.end
    db.cfg.role = "STANDARD"
    db.cfg.rollforward_pending = True
    db.cfg.backup_pending = False
    db.forced_takeover_at = None
    sim.note(f"{node.name}: RESTORE of image {ts}: roll-forward pending")
    if prompt:
        return (prompt + "y\n" + m.ok("RESTORE DATABASE").text + "\n", 0)
    return m.SQL2540W


def _rollforward(inv: Inv, w: list[str]) -> m.Msg | tuple[str, int]:
    sim, node = inv.sim, inv.node
    db = node.db
    assert db is not None
    forms = {("to", "end", "of", "logs"): False, ("to", "end", "of", "log"): False, ("to", "end", "of", "logs", "and", "complete"): True,
             ("to", "end", "of", "logs", "and", "stop"): True, ("to", "end", "of", "log", "and", "complete"): True,
             ("to", "end", "of", "log", "and", "stop"): True, ("complete",): True, ("stop",): True}
    if tuple(w) not in forms:
        raise NotSimulated(f"ROLLFORWARD … {' '.join(w)}")
    complete = forms[tuple(w)]
    if not node.instance_up:
        return m.SQL1032N
    if db.cfg.role == "STANDBY":
        return m.sql1776n(1)  # not supported on a standby (messages.sql1776n: facts §6 RC 1)
    if db.active:
        return m.sql1035n(sim.level)
    if not db.cfg.rollforward_pending:
        return m.not_simulated("ROLLFORWARD of a database that is not in roll-forward pending state")
    db.replay_pos = db.end
    if complete:
        db.cfg.rollforward_pending = False
    last = datetime.fromtimestamp(db.time_at(db.end), timezone.utc).strftime("%Y-%m-%d-%H.%M.%S.000000")
    first = log_file(db.log[0].end) if db.log else log_file(db.base_pos)
    sim.note(f"{node.name}: ROLLFORWARD {'and complete' if complete else '(still pending)'}")
    return ("\n                                 Rollforward Status\n\n"
            f" Input database alias                   = {db.name}\n Number of members have returned status = 1\n\n"
            f" Member ID                              = 0\n Rollforward status                     = {'not pending' if complete else 'DB  working'}\n"
            f" Next log file to be read               =\n Log files processed                    = {first} - {log_file(db.end)}\n"
            f" Last committed transaction             = {last} UTC\n\n" + m.ok("ROLLFORWARD").text + "\n", 0)


def _connect(inv: Inv) -> m.Msg | tuple[str, int]:
    sim, node = inv.sim, inv.node
    db = node.db
    assert db is not None
    if not node.instance_up:
        return m.SQL1032N
    if db.cfg.role == "STANDBY":
        return m.sql1776n(1)  # a client connection to a standby without reads on standby (messages.sql1776n)
    if not db.active:
        result = hadr.activate(sim, node, explicit=False)  # the first connection activates the database
        if result.status == 4:
            return result  # an HADR primary: SQL1768N reason 7 when no standby connected within HADR_TIMEOUT
    elif db.starting:
        waited = hadr.wait_for_activation(sim, node)  # another activation is waiting for the standby: this one waits too
        if waited is not None:
            return waited
    inv.sh.session["db2_connection"] = db.name
    level = "9.7.0.9" if sim.level == "9.7" else "11.5.8.0"
    return ("\n   Database Connection Information\n\n"
            f" Database server        = DB2/LINUXX8664 {level}\n SQL authorization ID   = {inv.user.upper()}\n"
            f" Local database alias   = {db.name}\n\n", 0)


# --- db2pd, db2start, db2stop, db2gcf ----------------------------------------------------------------

def db2pd(inv: Inv) -> int:
    args = inv.argv[1:]
    name = None
    hadr_wanted = False
    i = 0
    while i < len(args):
        if args[i] in ("-db", "-d", "-database") and i + 1 < len(args):
            name, i = args[i + 1], i + 2
        elif args[i] == "-hadr":
            hadr_wanted, i = True, i + 1
        else:
            raise NotSimulated(f"db2pd {' '.join(args)} (only -db DB -hadr)")
    if not hadr_wanted or name is None:
        raise NotSimulated(f"db2pd {' '.join(args)} (only -db DB -hadr)")
    node: SimNode = inv.node
    if name.upper() != inv.sim.dbname.upper():
        # source: facts §1 (verbatim on 11.5: also for a name not in the database directory); fixture 08
        inv.out(f"\nDatabase {name.upper()} not activated on database member 0 or this database name cannot be found in the local "
                f"database directory.\n\nOption -hadr requires -db <database> or -alldbs option and active database.\n\n")
        return 0
    inv.out(render_db2pd(inv.sim, node))
    return 0


def _nodes_cfg(inv: Inv) -> str:
    return f"{inv.sim.instance_home}/sqllib/db2nodes.cfg"


def _start_instance(inv: Inv) -> m.Msg | None:
    node = inv.node
    path = _nodes_cfg(inv)
    fields = node.fs.text(path).split() if node.fs.exists(path) else []
    if len(fields) >= 2 and fields[1] != node.hostname:
        inv.sim.note(f"{node.name}: db2start failed: db2nodes.cfg names {fields[1]}, the host is {node.hostname}")
        return m.SQL6048N
    node.instance_up = True
    inv.sim.note(f"{node.name}: DB2 instance started")
    return None


def db2start(inv: Inv) -> int:
    if len(inv.argv) != 1:
        raise NotSimulated(f"db2start {' '.join(inv.argv[1:])}")
    if inv.node.instance_up:
        inv.out(m.wrap(m.SQL1026N.text) + "\n")
        return 1
    problem = _start_instance(inv)
    stamp = datetime.fromtimestamp(inv.sim.clock.now(), timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
    if problem:
        inv.out(f"{stamp}     0   0   {m.wrap(problem.text)}\n")
        return 1
    inv.out(f"{stamp}     0   0   {m.SQL1063N}\n{m.SQL1063N}\n")
    return 0


def _stop_instance(inv: Inv, force: bool) -> m.Msg | None:
    node = inv.node
    if node.db is not None and node.db.active:
        if not force:
            return m.SQL1025N
        hadr.shutdown(inv.sim, node, clean=True)
    node.instance_up = False
    inv.sim.note(f"{node.name}: DB2 instance stopped")
    return None


def db2stop(inv: Inv) -> int:
    args = inv.argv[1:]
    if args not in ([], ["force"]):
        raise NotSimulated(f"db2stop {' '.join(args)}")
    if not inv.node.instance_up:
        inv.out(m.wrap(m.SQL1032N.text) + "\n")
        return 1
    problem = _stop_instance(inv, bool(args))
    if problem:
        inv.out(m.wrap(problem.text) + "\n")
        return 1
    inv.out(f"{m.SQL1064N}\n")
    return 0


def db2gcf(inv: Inv) -> int:
    args = inv.argv[1:]
    action = next((a for a in args if a in ("-u", "-d", "-s")), None)
    if action is None or "-i" not in args or args[args.index("-i") + 1: args.index("-i") + 2] != [inv.sim.instance]:
        raise NotSimulated(f"db2gcf {' '.join(args)} (only -u|-d|-s -p 0 -i INSTANCE)")
    node = inv.node
    head = f"Instance  : {inv.sim.instance}\n"
    if action == "-s":
        state = "Available" if node.instance_up else "Not Operable"
        inv.out(f"{head}DB2 State\n   Partition 0 : {state}\n")
        return 0 if node.instance_up else 1
    if action == "-u":
        node.fs.write(_nodes_cfg(inv), f"0 {node.hostname} 0\n", owner=inv.sim.instance)  # db2gcf -u fixes the host name
        problem = None if node.instance_up else _start_instance(inv)
        inv.out(f"{head}DB2 Start : {'Failed' if problem else 'Success'}\n   Partition 0 : {'Failed' if problem else 'Success'}\n")
        return 1 if problem else 0
    if node.instance_up:
        _stop_instance(inv, force=True)
    inv.out(f"{head}DB2 Stop  : Success\n   Partition 0 : Success\n")
    return 0
