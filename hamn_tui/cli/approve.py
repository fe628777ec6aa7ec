"""`hamn approve`: the second operator, on their own terminal and login, approves or rejects a
pending four-eyes request (docs/audit-log.md, "Four eyes").

Exit codes: 0 signed (or listed); 1 nothing signed (the code did not match, the operator said
no, or the key is refused: the requester's own); 2 bad input (spool, key, request id); 3 no
pending request.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from .errors import refuse

PROG = "hamn approve"
NOT_SIGNED = 1
NOTHING_PENDING = 3


def safe_line(text: str) -> str:
    """Every character the approver cannot see (controls, escapes, newlines, zero-width ones)
    shown as an escape: what they approve is what they read, to the byte."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _facts(request) -> list[str]:  # type: ignore[no-untyped-def]
    d = request.data
    left = int((request.expires - datetime.now(timezone.utc)).total_seconds())
    req = d["requester"]
    lines = [
        f"request  {request.id}   CODE {request.code}",
        f"run      {safe_line(d['head']['run_id'])}  (log {safe_line(d['head']['segment'])} at {d['head']['line_sha256'][:16]}…)",
        f"step     {safe_line(d['step_id'])}",
        f"node     {safe_line(d['node'])}  as {safe_line(d['run_as'])}",
        f"command  {safe_line(d['command']['text'])}",
        f"         sha256 {d['command']['sha256']}",
        f"asked by {safe_line(req['principal'])} (OS user {safe_line(req['os_user'])}, key {safe_line(req['key_fingerprint'])}) on {safe_line(d['host'])}",
        f"expires  {d['expires']} ({max(left, 0)} s left)",
        "gates:",
    ]
    for g in d["gates"]:
        reading = g.get("reading", "")
        lines.append(f"  {safe_line(g['verdict']):5} {safe_line(g['gate'])}" + (f" — {safe_line(str(reading))}" if reading != "" else ""))
    return lines


@click.command()
@click.argument("request_id", required=False)
@click.option("--spool", "spool_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Where requests wait (default: <state dir>/approvals).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Your private key file (default: your own ssh-agent).")
@click.option("--principal", metavar="NAME", help="Your name in the approvers' allowed_signers (default: user@host).")
@click.option("--code", metavar="DIGITS", help="The code the first operator reads to you (else asked).")
@click.option("--reject", is_flag=True, help="Sign a rejection: the request ends.")
@click.option("--reason", default="", metavar="TEXT", help="Why (recorded with a rejection or an approval).")
@click.option("--list", "list_only", is_flag=True, help="Only list the pending requests.")
@click.option("--request", "request_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Answer a request file copied from the console (not the spool); needs --out.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="With --request: write the signed answer here, for `hamn run --approval STEP=FILE`.")
def approve(request_id: str | None, spool_dir: str | None, key_file: str | None, principal: str | None, code: str | None,
            reject: bool, reason: str, list_only: bool, request_file: str | None, out_file: str | None) -> None:
    """Approve (or --reject) a pending request for a second operator, signed with your own SSH key."""
    from pathlib import Path

    from ..audit.approval.answer import VERDICTS, AnswerError, NotYours, sign_answer
    from ..audit.approval.request import RequestError
    from ..audit.approval.spool import Spool, SpoolError
    from ..audit.keys import default_principal
    from ..settings import settings

    if request_file is not None or out_file is not None:
        _answer_file(request_file, out_file, key_file, principal, code, reject, reason)
        return
    try:
        spool = Spool(Path(spool_dir) if spool_dir else settings().state_dir / "approvals", create=spool_dir is None)
        pending, bad = spool.pending()
    except (SpoolError, OSError) as exc:
        refuse(PROG, str(exc))
    for line in bad:
        click.echo(f"{PROG}: {line}", err=True)
    if list_only or (request_id is None and len(pending) != 1):
        if not pending:
            click.echo("no pending requests")
            sys.exit(NOTHING_PENDING)
        for r in pending:
            d = r.data
            click.echo(f"{r.id}  code {r.code}  step {d['step_id']}  on {d['node']} as {d['run_as']}  by {d['requester']['principal']}  until {d['expires']}")
        if not list_only:
            click.echo("several requests wait: give one's id (hamn approve ID)", err=True)
            sys.exit(NOT_SIGNED)
        return
    if request_id is None:
        request = pending[0]
    else:
        found = next((r for r in pending if r.id == request_id), None)
        if found is None:
            try:
                spool.load(request_id)
            except (OSError, RequestError) as exc:
                refuse(PROG, f"request {request_id}: {exc}")
            refuse(PROG, f"request {request_id} is not pending (answered or expired)")
        request = found
    _check_code(request, code)
    verdict = "reject" if reject else "approve"
    try:
        answer = sign_answer(request, verdict, principal or default_principal(), reason=reason, key_file=key_file)
        spool.put_answer(request.id, VERDICTS[verdict], answer.raw, answer.signature)
    except AnswerError as exc:
        click.echo(f"{PROG}: {exc}; nothing signed", err=True)
        sys.exit(NOT_SIGNED if isinstance(exc, NotYours) else 2)
    except FileExistsError as exc:
        refuse(PROG, str(exc))
    except OSError as exc:
        refuse(PROG, f"{spool.dir}: cannot leave the answer: {exc.strerror or exc}")
    click.echo(f"{'rejected' if reject else 'approved'}: request {request.id} (code {request.code}) signed as {answer.principal}")


def _check_code(request, code: str | None) -> None:  # type: ignore[no-untyped-def]
    for line in _facts(request):
        click.echo(line)
    if code is None:
        if not sys.stdin.isatty():
            refuse(PROG, "--code: required without a terminal (the code the first operator reads to you)")
        code = click.prompt("Type the code the first operator reads to you", default="", show_default=False)
    if "".join(code.split()) != request.code.replace(" ", ""):
        click.echo(f"{PROG}: the code does not match: you are not looking at the same request; nothing signed", err=True)
        sys.exit(NOT_SIGNED)


def _answer_file(request_file: str | None, out_file: str | None, key_file: str | None, principal: str | None, code: str | None,
                 reject: bool, reason: str) -> None:
    """A request carried off the console (`--request FILE`), answered into `--out FILE` — never
    over an existing file — for the first operator's `hamn run --approval STEP=FILE`."""
    import os
    from pathlib import Path

    from ..audit.approval.answer import AnswerError, NotYours, bundle, sign_answer
    from ..audit.approval.request import MAX_REQUEST, RequestError, parse_request
    from ..audit.files import UnsafeFile, read_regular, write_synced
    from ..audit.keys import default_principal

    if request_file is None or out_file is None:
        refuse(PROG, "--request FILE and --out FILE go together (answer a request file into an answer file)")
    try:
        raw = read_regular(Path(request_file), MAX_REQUEST + 2)
        request = parse_request(raw[:-1] if raw.endswith(b"\n") else raw)
    except (OSError, UnsafeFile) as exc:
        refuse(PROG, f"--request {request_file}: {exc}")
    except RequestError as exc:
        refuse(PROG, f"--request {request_file}: {exc}")
    if request.expires <= datetime.now(timezone.utc):
        refuse(PROG, f"--request {request_file}: the request expired at {request.data['expires']}")
    _check_code(request, code)
    verdict = "reject" if reject else "approve"
    try:
        answer = sign_answer(request, verdict, principal or default_principal(), reason=reason, key_file=key_file)
    except AnswerError as exc:
        click.echo(f"{PROG}: {exc}; nothing signed", err=True)
        sys.exit(NOT_SIGNED if isinstance(exc, NotYours) else 2)
    try:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        refuse(PROG, f"--out {out_file}: {exc.strerror or exc} (an answer file is never overwritten)")
    try:
        write_synced(fd, bundle(answer.raw, answer.signature))
    finally:
        os.close(fd)
    click.echo(f"{'rejected' if reject else 'approved'}: request {request.id} (code {request.code}) signed as {answer.principal} "
               f"into {out_file}: hand it to the first operator (hamn run --approval {request.data['step_id']}={out_file})")
