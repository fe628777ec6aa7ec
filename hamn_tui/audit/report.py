"""Reading a log for people: `hamn audit show` (a Rich timeline) and `hamn audit export`
(a self-contained HTML or Markdown report, plus asciicast v2 recordings of the outputs).

Everything shown comes from the log and its output store, so it holds no secret the log does
not (the writer redacted them before anything was written). Text from commands is shown with
terminal control sequences removed, and escaped for the format it goes into.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..textsafe import neutralise
from .canon import parse_ts
from .store import OutputStore, cast
from .verify import Report, verify_path

OUTPUT_LIMIT = 64 * 1024
"""Bytes of each stream a report shows; the whole output stays in the store, named by its hash."""


@dataclass
class Command:
    sent: dict[str, Any]
    sent_ts: str
    finished: dict[str, Any] | None = None
    finished_ts: str = ""
    segment: Path | None = None


@dataclass
class View:
    report: Report
    started: dict[str, Any] = field(default_factory=dict)
    opens: list[tuple[Path, dict[str, Any], str]] = field(default_factory=list)
    closes: list[tuple[Path, dict[str, Any], str]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    decisions: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = field(default_factory=list)
    finished: dict[str, Any] | None = None
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Four-eyes requests by id: the request as recorded (requester, command, node, code)."""
    four_eyes: list[str] = field(default_factory=list)
    """One line per decided request: the step, who asked, who approved or rejected (or why refused)."""


def build(path: Path, allowed_signers: Path | None = None) -> View:
    report = verify_path(path, allowed_signers)
    view = View(report)
    pending_q: dict[str, dict[str, Any]] = {}
    running: dict[tuple[str, str], Command] = {}
    for seg in report.segments:
        for rec in seg.records:
            kind, data, ts = rec["type"], rec["data"], rec["ts"]
            if kind == "log_open":
                view.opens.append((seg.path, data, ts))
            elif kind == "log_close":
                view.closes.append((seg.path, data, ts))
            elif kind == "run_started" and not view.started:
                view.started = data
            elif kind == "run_finished":
                view.finished = data
            elif kind == "question_asked":
                pending_q[data["step_id"]] = data
            elif kind == "answered":
                view.decisions.append((pending_q.pop(data["step_id"], {"kind": data["kind"], "prompt": ""}), data, ts))
            elif kind == "command_sent":
                cmd = Command(data, ts, segment=seg.path)
                running[(data["step_id"], data["node"])] = cmd
                view.commands.append(cmd)
            elif kind == "command_finished":
                cmd = running.pop((data["step_id"], data["node"]), None)  # type: ignore[assignment]
                if cmd is not None:
                    cmd.finished, cmd.finished_ts = data, ts
            elif kind == "approval_requested":
                view.requests[data["request_id"]] = _request_facts(data["request"])
            elif kind == "approval_decided":
                view.four_eyes.append(four_eyes_line(view.requests.get(data["request_id"], {}), data))
            if kind != "checkpoint":
                view.timeline.append(rec)
    for q in pending_q.values():
        view.decisions.append((q, None, ""))
    return view


def _request_facts(text: str) -> dict[str, Any]:
    """The parts of a recorded request a reader needs (a request that cannot be read: none)."""
    import json

    try:
        data = json.loads(text)
        req = data["requester"]
        return {"requester": f"{req['principal']} (OS user {req['os_user']}, key {req['key_fingerprint']})",
                "command": data["command"]["text"], "node": data["node"], "run_as": data["run_as"], "expires": data["expires"]}
    except (ValueError, KeyError, TypeError):
        return {}


def four_eyes_line(request: dict[str, Any], d: dict[str, Any]) -> str:
    """Both people of a four-eyes decision in one line: who asked, who answered, what."""
    asked = request.get("requester", "?")
    if d["verdict"] in ("approved", "rejected"):
        return (f"{d['step_id']}: requested by {asked}; {d['verdict']} by {d['approver']} (key {d['approver_key']})"
                + (f" — {d['reason']}" if d["reason"] else "") + (f"; command on {request['node']}: {request['command']}" if request else ""))
    return f"{d['step_id']}: requested by {asked}; {d['verdict']}" + (f" — {d['reason']}" if d["reason"] else "")


def describe(rec: dict[str, Any]) -> str:
    """One line of plain text for a record (not yet escaped for any format)."""
    k, d = rec["type"], rec["data"]
    if k == "log_open":
        s = d["signer"]
        prev = f"; continues {d['previous']['file']}" if d["previous"] else ""
        return f"log opened by {s['principal']} ({s['kind']} key {s['fingerprint']} via {s['source']}) as {d['os_user']}@{d['host']}, {d['tool']}{prev}"
    if k == "log_close":
        return f"log closed: {d['outcome']}" + (f" — {d['reason']}" if d["reason"] else "")
    if k == "run_started":
        mode = "TRAINING" if d["training"] else "DRY RUN" if d["dry_run"] else "live"
        return f"run {d['run_id']} of {d['runbook_id']} v{d['runbook_version']} ({mode}{', resumed' if d['resumed'] else ''}) on {d['cluster'] or 'this machine'} by {d['operator']}"
    if k == "step_started":
        return f"step {d['index'] + 1}/{d['total']} {d['step_id']}: {d['title']} ({d['kind']} on {d['node']})"
    if k == "step_skipped":
        return f"skipped {d['step_id']}: {d['reason']}"
    if k == "checks_evaluated":
        return f"{d['phase']} checks of {d['step_id']}: " + "; ".join(
            f"{o['verdict']} {o['node']} {o['probe']}.{o['field']} {o['expected']} (observed {o['observed']!r})" for o in d["outcomes"])
    if k == "question_asked":
        return f"asked ({d['kind']}) at {d['step_id'] or 'the run'}: {d['prompt']}"
    if k == "answered":
        extra = (f" — reason: {d['reason']}" if d["reason"] else "") + (f" — typed {d['text']!r}" if d["text"] else "")
        return f"answered {d['action']} by OS user {d['os_user']}{extra}"
    if k == "command_sent":
        who = f" as {d['user']}" if d["user"] else ""
        return f"{'rollback ' if d['rollback'] else ''}command on {d['node']}{who} via {d['transport']}{' (mutating)' if d['mutating'] else ''}: {d['command']}"
    if k == "command_finished":
        how = f"exit {d['exit_status']}" if d["ending"] == "exited" else d["ending"] + (f" {d['signal']}" if d["signal"] else "")
        err = f" — {d['error']}" if d["error"] else ""
        return f"{how} on {d['node']} after {d['duration_us'] / 1e6:.3f} s; stdout {d['stdout_size']} B, stderr {d['stderr_size']} B{err}"
    if k == "captured":
        return f"captured {d['name']} = {d['value']!r}"
    if k == "step_finished":
        return f"{d['step_id']}: {d['outcome']}" + (f" — {d['reason']}" if d["reason"] else "") + (f" (choice {d['choice']})" if d["choice"] else "")
    if k == "rollback_started":
        return f"rolling back {d['step_id']}"
    if k == "rollback_finished":
        return f"rollback of {d['step_id']}: {'done' if d['ok'] else 'FAILED: ' + d['reason']}"
    if k == "lock_event":
        return f"lock {d['action']}: {d['holder']}"
    if k == "note":
        return f"note{' on ' + d['step_id'] if d['step_id'] else ''}: {d['text']}"
    if k == "run_finished":
        return f"run {d['outcome']}" + (f": {d['reason']}" if d["reason"] else "")
    if k == "question_withdrawn":
        return f"question ({d['kind']}) at {d['step_id']} withdrawn: {d['reason']}"
    if k == "witness_gate":
        if d["outcome"] == "cosigned":
            return f"{d['step_id']}: records 0–{d['records'] - 1} cosigned by witness {d['witness']} before the command ran"
        return f"DEGRADED: {d['step_id']} ran without a witness's cosignature (typed by {d['os_user']}: {d['reason']})"
    if k == "approval_requested":
        f = _request_facts(d["request"])
        return f"approval requested for {d['step_id']} (request {d['request_id']}, code {d['code']}) by {f.get('requester', '?')}"
    if k == "approval_decided":
        who = f" by {d['approver']} (key {d['approver_key']})" if d["approver"] else ""
        return f"approval of {d['step_id']} (request {d['request_id']}): {d['verdict']}{who}" + (f" — {d['reason']}" if d["reason"] else "")
    return k


def stored_output(store: OutputStore, sha: str, size: int) -> tuple[str, str]:
    """The stored text (control sequences removed) and a note when it was cut for the report or
    cannot be read (read no further than the size the log records; never a FIFO or a symlink)."""
    if not size:
        return "", ""
    try:
        data = store.read(sha, size)
    except FileNotFoundError:
        return "", f"output {sha} is missing from the store"
    except OSError as exc:
        return "", f"output {exc}"
    note = f"first {OUTPUT_LIMIT // 1024} KiB of {size} bytes shown; the whole output is outputs/{sha}.gz" if len(data) > OUTPUT_LIMIT else ""
    return neutralise(data[:OUTPUT_LIMIT].decode("utf-8", "replace")), note


def _when(ts: str) -> str:
    return ts.replace("T", " ").replace("Z", " UTC") if ts else ""


def _duration(a: str, b: str) -> str:
    if not a or not b:
        return ""
    s = (parse_ts(b) - parse_ts(a)).total_seconds()
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min {s % 60:.1f} s" if s >= 3600 else f"{int(s // 60)} min {s % 60:.1f} s"


def headline(view: View) -> str:
    """The report's title: the run, and UNFINISHED when it did not finish (what an auditor must see first)."""
    title = f"Audit report: run {view.started.get('run_id', '?')}"
    degraded = len(view.report.degraded)
    title += f" — DEGRADED: {degraded} dangerous step{'s' if degraded > 1 else ''} ran unwitnessed" if degraded else ""
    return title + (f" — UNFINISHED: {view.report.unfinished}" if view.report.unfinished else "")


def facts(view: View) -> list[tuple[str, str]]:
    """Who, what, where, when — as label/value pairs."""
    st, rep = view.started, view.report  # the verification result is shown before these
    first_ts = view.timeline[0]["ts"] if view.timeline else ""
    last_ts = view.timeline[-1]["ts"] if view.timeline else ""
    signers = "; ".join(sorted({f"{d['signer']['principal']} — {d['signer']['kind']} key {d['signer']['fingerprint']} via {d['signer']['source']}" for _, d, _ in view.opens}))
    consoles = "; ".join(sorted({f"{d['os_user']}@{d['host']} ({d['tool']})" for _, d, _ in view.opens}))
    answered_by = ", ".join(sorted({a["os_user"] for _, a, _ in view.decisions if a})) or "—"
    mode = "TRAINING (ephemeral key: not an identity)" if st.get("training") else "dry run" if st.get("dry_run") else "live"
    out = [
        ("Run", f"{st.get('run_id', '?')} ({mode})"),
        ("Outcome", (view.finished or {}).get("outcome", "never finished") + (f" — {view.finished['reason']}" if view.finished and view.finished.get("reason") else "")
         + (f" (UNFINISHED: {rep.unfinished})" if rep.unfinished else "")),
        ("Who: operator (OS user)", st.get("operator", "?")),
        ("Who: answered questions", answered_by),
        ("Who: signed the log", signers or "—"),
        ("Where: console", consoles or "—"),
        ("Where: cluster", st.get("cluster") or "this machine (no cluster file)"),
        ("Where: roles", ", ".join(f"{r}={n}" for r, n in st.get("roles", {}).items()) or "—"),
        ("What: runbook", f"{st.get('runbook_id', '?')} v{st.get('runbook_version', '?')} — {st.get('runbook_path', '')}"),
        ("What: runbook SHA-256", st.get("runbook_sha256", "")),
        ("What: parameters", ", ".join(f"{k}={v}" for k, v in st.get("params", {}).items()) or "—"),
        ("When", f"{_when(first_ts)} → {_when(last_ts)} ({_duration(first_ts, last_ts)})"),
        ("Segments", f"{len(rep.segments)} (a new one after each resume)"),
    ]
    if view.four_eyes:
        out.append(("Four eyes", "; ".join(view.four_eyes)))
    if rep.degraded:
        out.append(("DEGRADED", "; ".join(rep.degraded)))
    return out


# --- the exported report -------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f4f4f4}.VALID{background:#e6f4ea;border:2px solid #188038}.INVALID{background:#fce8e6;border:2px solid #c5221f}
.INCOMPLETE{background:#fef7e0;border:2px solid #e37400}.status{padding:.8rem;font-weight:bold;font-family:monospace;white-space:pre-wrap}
pre{background:#f8f8f8;border:1px solid #e0e0e0;padding:.5rem;overflow-x:auto;white-space:pre-wrap;font-size:.85rem}
code{font-size:.85rem}.dim{color:#666}.bad{color:#c5221f;font-weight:bold}
"""


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    f = "`" * max(3, longest + 1)
    return f"{f}text\n{text}\n{f}"


def _md_cell(text: str) -> str:
    return neutralise(str(text)).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>").replace("<", "&lt;").replace(">", "&gt;")


def _verify_howto(view: View) -> list[str]:
    lines = []
    for seg_path, d, _ in view.opens:
        name = seg_path.name
        lines.append(f"echo '{d['signer']['principal']} namespaces=\"{d['namespace']}\" {d['signer']['key']}' >> allowed_signers   # after checking this key is theirs")
        lines.append(f"ssh-keygen -Y verify -f allowed_signers -I {d['signer']['principal']} -n {d['namespace']} -s {name}.sig < {name}")
        lines.append(f"hamn audit verify {name} --allowed-signers allowed_signers")
    return lines


def export_report(path: Path, out: Path, fmt: str, allowed_signers: Path | None = None, casts: Path | None = None) -> tuple[Report, int]:
    """Write the report; (the verification's report, how many recordings were written)."""
    view = build(path, allowed_signers)
    base = Path(path) if Path(path).is_dir() else Path(path).parent
    store = OutputStore(base / "outputs")
    text = _html(view, store) if fmt == "html" else _markdown(view, store)
    out.write_text(text, encoding="utf-8")
    written = 0
    if casts is not None:
        casts.mkdir(parents=True, exist_ok=True)
        for n, cmd in enumerate(view.commands, 1):
            f = cmd.finished
            if not f or not f["timing"]:
                continue
            try:
                streams = [store.read(f[f"{s}_sha256"], f[f"{s}_size"]) if f[f"{s}_size"] else b"" for s in ("stdout", "stderr")]
            except OSError:
                continue
            title = f"{cmd.sent['step_id']} on {cmd.sent['node']}: {cmd.sent['command']}"
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{n:03d}-{cmd.sent['step_id']}-{cmd.sent['node']}") + ".cast"
            (casts / name).write_bytes(cast(title, int(parse_ts(cmd.sent_ts).timestamp()), f["timing"], *streams))
            written += 1
    return view.report, written


def _markdown(view: View, store: OutputStore) -> str:
    rep = view.report
    o: list[str] = [f"# {_md_cell(headline(view))}", ""]
    o += ["## Verification", "", f"**{rep.status}**", "", _fence(rep.line)]
    if rep.notes:
        o += [""] + [f"- {_md_cell(n)}" for n in rep.notes]
    o += ["", "To check it yourself (stock OpenSSH, no hamn needed for the first command):", "", _fence("\n".join(_verify_howto(view))), ""]
    o += ["## Who, what, where, when", "", "| | |", "|---|---|"] + [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in facts(view)]
    o += ["", "## Decisions", ""]
    if view.decisions:
        o += ["| time (UTC) | step | question | prompt | answer | reason | typed | OS user |", "|---|---|---|---|---|---|---|---|"]
        for q, a, ts in view.decisions:
            o.append("| " + " | ".join(_md_cell(x) for x in (_when(ts), (a or q).get("step_id", ""), q.get("kind", ""), q.get("prompt", ""),
                                                               a["action"] if a else "(no answer)", a["reason"] if a else "", a["text"] if a else "",
                                                               a["os_user"] if a else "")) + " |")
    else:
        o.append("No question was asked.")
    o += ["", "## Timeline", "", "| seg/rec | time (UTC) | record | detail |", "|---|---|---|---|"]
    for n, seg in enumerate(rep.segments):
        for rec in seg.records:
            if rec["type"] != "checkpoint":
                o.append(f"| {n}/{rec['seq']} | {_when(rec['ts'])} | {rec['type']} | {_md_cell(describe(rec))} |")
    o += ["", "## Commands and their outputs", ""]
    for n, cmd in enumerate(view.commands, 1):
        s, f = cmd.sent, cmd.finished
        o.append(f"### {n}. {_md_cell(s['step_id'])} on {_md_cell(s['node'])}" + (f" as {_md_cell(s['user'])}" if s["user"] else ""))
        o += ["", f"Sent {_when(cmd.sent_ts)} via {s['transport']}{' (mutating)' if s['mutating'] else ''}{' (rollback)' if s['rollback'] else ''}:", "",
              _fence(neutralise(s["command"])), ""]
        if f is None:
            o += ["**No result was recorded: the outcome is in doubt.**", ""]
            continue
        o.append(_md_cell(describe({"type": "command_finished", "data": f})))
        for stream in ("stdout", "stderr"):
            body, note = stored_output(store, f[f"{stream}_sha256"], f[f"{stream}_size"])
            o += ["", f"{stream}: {f[f'{stream}_size']} bytes, SHA-256 `{f[f'{stream}_sha256']}`" + (f" ({f['redactions']} secret values redacted)" if f["redactions"] and stream == "stdout" else "")]
            if body:
                o += ["", _fence(body.rstrip("\n"))]
            if note:
                o += ["", f"_{_md_cell(note)}_"]
        o.append("")
    o += ["## Integrity", "", "| segment | log id | records | last line SHA-256 | LOG.sig |", "|---|---|---|---|---|"]
    for seg in rep.segments:
        o.append(f"| {seg.path.name} | {seg.log_id} | {len(seg.records)} | `{seg.head}` | {seg.detached} |")
    return "\n".join(o) + "\n"


def _html(view: View, store: OutputStore) -> str:
    e = lambda s: html.escape(neutralise(str(s)), quote=True)  # noqa: E731
    rep = view.report
    h: list[str] = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(headline(view))}</title>",
                    f"<style>{CSS}</style></head><body>", f"<h1>{e(headline(view))}</h1>"]
    h += ["<h2>Verification</h2>", f'<div class="status {rep.status}">{e(rep.line)}</div>']
    if rep.notes:
        h += ["<ul>"] + [f"<li>{e(n)}</li>" for n in rep.notes] + ["</ul>"]
    h += ["<p>To check it yourself with stock OpenSSH (no hamn needed for the <code>ssh-keygen</code> line):</p>", f"<pre>{e(chr(10).join(_verify_howto(view)))}</pre>"]
    h += ["<h2>Who, what, where, when</h2>", "<table>"] + [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts(view)] + ["</table>"]
    h += ["<h2>Decisions</h2>"]
    if view.decisions:
        h += ["<table><tr><th>time (UTC)</th><th>step</th><th>question</th><th>prompt</th><th>answer</th><th>reason</th><th>typed</th><th>OS user</th></tr>"]
        for q, a, ts in view.decisions:
            cells = (_when(ts), (a or q).get("step_id", ""), q.get("kind", ""), q.get("prompt", ""), a["action"] if a else "(no answer)",
                     a["reason"] if a else "", a["text"] if a else "", a["os_user"] if a else "")
            h.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
        h.append("</table>")
    else:
        h.append("<p>No question was asked.</p>")
    h += ["<h2>Timeline</h2>", "<table><tr><th>seg/rec</th><th>time (UTC)</th><th>record</th><th>detail</th></tr>"]
    for n, seg in enumerate(rep.segments):
        for rec in seg.records:
            if rec["type"] == "checkpoint":
                continue
            bad = rec["type"] == "step_finished" and rec["data"]["outcome"] != "done" or rec["type"] == "rollback_started"
            h.append(f"<tr><td class=dim>{n}/{rec['seq']}</td><td>{e(_when(rec['ts']))}</td><td>{e(rec['type'])}</td><td{' class=bad' if bad else ''}>{e(describe(rec))}</td></tr>")
    h.append("</table>")
    h.append("<h2>Commands and their outputs</h2>")
    for n, cmd in enumerate(view.commands, 1):
        s, f = cmd.sent, cmd.finished
        h.append(f"<h3>{n}. {e(s['step_id'])} on {e(s['node'])}{' as ' + e(s['user']) if s['user'] else ''}</h3>")
        h.append(f"<p>Sent {e(_when(cmd.sent_ts))} via {e(s['transport'])}{' (mutating)' if s['mutating'] else ''}{' (rollback)' if s['rollback'] else ''}:</p><pre>{e(s['command'])}</pre>")
        if f is None:
            h.append("<p class=bad>No result was recorded: the outcome is in doubt.</p>")
            continue
        h.append(f"<p>{e(describe({'type': 'command_finished', 'data': f}))}</p>")
        for stream in ("stdout", "stderr"):
            body, note = stored_output(store, f[f"{stream}_sha256"], f[f"{stream}_size"])
            red = f" ({f['redactions']} secret values redacted)" if f["redactions"] and stream == "stdout" else ""
            h.append(f"<p class=dim>{stream}: {f[f'{stream}_size']} bytes, SHA-256 <code>{e(f[f'{stream}_sha256'])}</code>{red}</p>")
            if body:
                h.append(f"<pre>{e(body.rstrip(chr(10)))}</pre>")
            if note:
                h.append(f"<p class=dim>{e(note)}</p>")
    h += ["<h2>Integrity</h2>", "<table><tr><th>segment</th><th>log id</th><th>records</th><th>last line SHA-256</th><th>LOG.sig</th></tr>"]
    for seg in rep.segments:
        h.append(f"<tr><td>{e(seg.path.name)}</td><td><code>{e(seg.log_id)}</code></td><td>{len(seg.records)}</td><td><code>{e(seg.head)}</code></td><td>{e(seg.detached)}</td></tr>")
    h += ["</table>", f"<p class=dim>Generated {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by hamn audit export from the log and its outputs.</p>", "</body></html>"]
    return "\n".join(h) + "\n"
