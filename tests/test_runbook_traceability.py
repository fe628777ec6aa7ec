"""docs/runbooks.md traces every step of every shipped runbook to the document it implements.

A runbook step is only as trustworthy as the procedure behind it, so each shipped runbook has a
section in docs/runbooks.md with one row per step: what it does, its source (a document id from
the page's "Source documents" table, plus the section) and where it deliberately differs. These
tests hold that page to the runbooks: a step added without a row, a row for a step that is gone,
an undefined document id, or a step `doc` field that names a document or section its row does
not, each fails with the runbook and step named.
"""
from __future__ import annotations

import functools
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hamn_tui.runbook.loader import load_runbook
from hamn_tui.runbook.model import Runbook

from .conftest import REPO

TRACE = REPO / "docs" / "runbooks.md"
RUNBOOKS = sorted((REPO / "runbooks").glob("*.toml"))

DOC_ID = re.compile(r"\[([A-Z][A-Z0-9-]*)\]")
SECTION_MARK = re.compile(r"§\s*([0-9](?:[0-9a-z.\-]*[0-9a-z])?)")
RUNBOOK_HEADING = re.compile(r"^## `([a-z0-9][a-z0-9-]*)`")
DOCUMENTS_HEADING = "## Source documents"
HAMN_ADDITION = "hamn addition"
NO_DEVIATION = {"", "-", "—"}


@dataclass
class Row:
    line: int
    step: str
    what: str
    source: str
    deviation: str


@dataclass
class Section:
    runbook: str
    line: int
    sources: str | None = None
    sources_line: int = 0
    rows: list[Row] = field(default_factory=list)


@dataclass
class Trace:
    documents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Document id -> the names runbook `doc` fields use for it."""
    sections: dict[str, Section] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text: str, name: str = "docs/runbooks.md") -> Trace:
    """The documents table and, per runbook section, its Sources line and step rows."""
    trace = Trace()
    mode: str | None = None
    section: Section | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            section = None
            mode = "documents" if line.strip() == DOCUMENTS_HEADING else None
            m = RUNBOOK_HEADING.match(line)
            if m:
                mode = "runbook"
                if m.group(1) in trace.sections:
                    trace.problems.append(f"{name}:{n}: a second section for runbook {m.group(1)}")
                section = trace.sections.setdefault(m.group(1), Section(m.group(1), n))
            continue
        if mode == "documents" and line.startswith("|"):
            cells = _cells(line)
            m = DOC_ID.fullmatch(cells[0])
            if m:
                if len(cells) != 4:
                    trace.problems.append(f"{name}:{n}: document row has {len(cells)} cells, expected 4 (id | document | where | cited in doc fields as)")
                    continue
                trace.documents[m.group(1)] = tuple(re.findall(r"`([^`]+)`", cells[3]))
        elif mode == "runbook" and section is not None:
            if line.startswith("Sources:"):
                section.sources, section.sources_line = line[len("Sources:"):].strip(), n
            elif line.startswith("|") and re.match(r"\|\s*`", line):
                cells = _cells(line)
                if len(cells) != 4:
                    trace.problems.append(f"{name}:{n}: step row has {len(cells)} cells, expected 4 (step | what it does | source | deviation)")
                    continue
                section.rows.append(Row(n, cells[0].strip("`"), *cells[1:]))
    if not trace.documents:
        trace.problems.append(f"{name}: no document rows under {DOCUMENTS_HEADING!r}")
    return trace


def doc_parts(doc: str) -> list[str]:
    """A `doc` field split at top-level semicolons (a semicolon inside parentheses stays)."""
    parts, depth, cur = [], 0, ""
    for ch in doc:
        depth += ch == "("
        depth -= ch == ")"
        if ch == ";" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _document_of(part: str, documents: dict[str, tuple[str, ...]]) -> str | None:
    names = sorted(((alias, doc_id) for doc_id, aliases in documents.items() for alias in aliases), key=lambda a: -len(a[0]))
    return next((doc_id for alias, doc_id in names if part.startswith(alias)), None)


def _agreement(doc: str, text: str, documents: dict[str, tuple[str, ...]], where: str, what: str) -> list[str]:
    """Every document a `doc` field names, and every § it cites, appear in `text` (a source cell or Sources line)."""
    problems = []
    ids, marks = set(DOC_ID.findall(text)), set(SECTION_MARK.findall(text))
    for part in doc_parts(doc):
        doc_id = _document_of(part, documents)
        if doc_id is None:
            problems.append(f"{where}: {what} `doc` cites {part!r}, which no entry of {DOCUMENTS_HEADING!r} lists in its 'cited in doc fields as' column")
        elif doc_id not in ids:
            problems.append(f"{where}: {what} `doc` cites {part!r} ([{doc_id}]), but the table does not name [{doc_id}]")
        else:
            missing = [m for m in SECTION_MARK.findall(part) if m not in marks]
            if missing:
                problems.append(f"{where}: {what} `doc` cites {part!r}, but the table does not name " + ", ".join(f"§{m}" for m in missing))
    return problems


def _row_problems(row: Row, runbook: str, documents: dict[str, tuple[str, ...]], name: str) -> list[str]:
    where = f"{name}:{row.line}: {runbook}/{row.step}"
    problems = []
    undefined = [d for d in DOC_ID.findall(row.source) if d not in documents]
    addition = HAMN_ADDITION in row.source
    if undefined:
        problems.append(f"{where}: source names " + ", ".join(f"[{d}]" for d in undefined) + f", not defined under {DOCUMENTS_HEADING!r}")
    elif not addition and not DOC_ID.search(row.source):
        problems.append(f"{where}: source names no document id and does not say {HAMN_ADDITION!r}")
    if addition and row.deviation in NO_DEVIATION:
        problems.append(f"{where}: a hamn addition must say why in the deviation column")
    if not row.what:
        problems.append(f"{where}: 'what it does' is empty")
    if not row.deviation:
        problems.append(f"{where}: the deviation column is empty (write — when there is none)")
    return problems


def problems(trace: Trace, runbooks: dict[str, Runbook], name: str = "docs/runbooks.md") -> list[str]:
    """Everything that keeps the page from tracing exactly the shipped runbooks' steps."""
    out = list(trace.problems)
    for rb_id in sorted(runbooks.keys() - trace.sections.keys()):
        out.append(f"runbook {rb_id} (runbooks/{rb_id}.toml): no section \"## `{rb_id}`\" in {name}")
    for rb_id in sorted(trace.sections.keys() - runbooks.keys()):
        out.append(f"{name}:{trace.sections[rb_id].line}: section for runbook {rb_id}, which is not shipped")
    for rb_id in sorted(runbooks.keys() & trace.sections.keys()):
        rb, section = runbooks[rb_id], trace.sections[rb_id]
        steps = {s.id: s for _, _, s in rb.all_steps()}
        seen: dict[str, int] = {}
        for row in section.rows:
            if row.step in seen:
                out.append(f"{name}:{row.line}: {rb_id}/{row.step}: a second row (the first is on line {seen[row.step]})")
                continue
            seen[row.step] = row.line
            if row.step not in steps:
                out.append(f"{name}:{row.line}: {rb_id} has no step {row.step!r} (runbooks/{rb_id}.toml)")
                continue
            out += _row_problems(row, rb_id, trace.documents, name)
            if steps[row.step].doc:
                out += _agreement(steps[row.step].doc, row.source, trace.documents, f"{name}:{row.line}: {rb_id}/{row.step}", "the step's")
        for step_id in steps:
            if step_id not in seen:
                out.append(f"runbook {rb_id}: step {step_id!r} (runbooks/{rb_id}.toml) has no row in its table in {name}")
        if rb.runbook.doc:
            if section.sources is None:
                out.append(f"{name}:{section.line}: {rb_id}: no 'Sources:' line for the runbook's `doc` ({rb.runbook.doc!r})")
            else:
                out += _agreement(rb.runbook.doc, section.sources, trace.documents, f"{name}:{section.sources_line}: {rb_id}", "the runbook's")
    return out


@functools.cache
def _load_shipped() -> tuple[tuple[str, Runbook], ...]:
    return tuple((p.stem, load_runbook(p)) for p in RUNBOOKS)


def shipped() -> dict[str, Runbook]:
    """The repository's runbooks, loaded as tests/test_shipped.py loads them (a fresh dict each call)."""
    return dict(_load_shipped())


def _report(found: list[str]) -> str:
    return f"{len(found)} problem(s) tracing runbooks in docs/runbooks.md:\n" + "\n".join(found)


def test_every_shipped_runbook_step_is_traced_to_its_source():
    found = problems(parse(TRACE.read_text(encoding="utf-8")), shipped())
    assert not found, _report(found)


def test_the_page_lists_every_shipped_runbook():
    """The parser sees what a reader sees: one section per shipped runbook, one row per step."""
    trace = parse(TRACE.read_text(encoding="utf-8"))
    runbooks = shipped()
    assert set(trace.sections) == set(runbooks)
    assert sum(len(s.rows) for s in trace.sections.values()) == sum(len(rb.all_steps()) for rb in runbooks.values())
    assert {"W1", "W2", "SG"} <= set(trace.documents)


# The checks themselves, on a temporary copy of a shipped runbook (the shipped files are never
# edited) and on the page's text with one row added or changed.

STEM = "db2-hadr-verify"
EXTRA_STEP = '''
[[steps]]
id = "extra-check"
title = "An extra check"
kind = "check"
{doc}
[[steps.verify]]
node = "standby"
probe = "host.reachable"
field = "reachable"
equals = true
'''


def _copy_with_extra_step(tmp_path: Path, doc: str | None = None) -> dict[str, Runbook]:
    """The shipped runbooks, with STEM replaced by a copy that has one more step."""
    target = tmp_path / f"{STEM}.toml"
    shutil.copyfile(REPO / "runbooks" / f"{STEM}.toml", target)
    extra = EXTRA_STEP.format(doc="" if doc is None else "doc = " + '"' + doc + '"')
    target.write_text(target.read_text(encoding="utf-8") + extra, encoding="utf-8")
    rb = load_runbook(target)
    assert rb.all_steps()[-1][2].id == "extra-check"
    return {**shipped(), STEM: rb}


def _page_with_row(row: str) -> str:
    """The page with `row` added as the first row of STEM's table."""
    text = TRACE.read_text(encoding="utf-8")
    at = text.index("\n| `", text.index(f"## `{STEM}`")) + 1
    return text[:at] + row + "\n" + text[at:]


def test_a_step_added_without_a_row_fails_naming_runbook_and_step(tmp_path):
    found = problems(parse(TRACE.read_text(encoding="utf-8")), _copy_with_extra_step(tmp_path))
    assert found == [f"runbook {STEM}: step 'extra-check' (runbooks/{STEM}.toml) has no row in its table in docs/runbooks.md"]


def test_the_added_step_passes_once_it_has_a_row(tmp_path):
    page = _page_with_row('| `extra-check` | Checks the standby answers. | [W2] "Verify HADR Status" | — |')
    assert problems(parse(page), _copy_with_extra_step(tmp_path)) == []


def test_a_row_for_a_step_that_does_not_exist_fails():
    found = problems(parse(_page_with_row('| `no-such-step` | Nothing. | [W2] "Failover" | — |')), shipped())
    assert len(found) == 1 and f"{STEM} has no step 'no-such-step'" in found[0], found


def test_an_undefined_document_id_fails(tmp_path):
    page = _page_with_row("| `extra-check` | Checks. | [IBM-NOPE] somewhere | — |")
    found = problems(parse(page), _copy_with_extra_step(tmp_path))
    assert len(found) == 1 and f"{STEM}/extra-check: source names [IBM-NOPE]" in found[0], found


def test_a_hamn_addition_must_say_why(tmp_path):
    found = problems(parse(_page_with_row("| `extra-check` | Checks. | hamn addition | — |")), _copy_with_extra_step(tmp_path))
    assert len(found) == 1 and f"{STEM}/extra-check: a hamn addition must say why" in found[0], found


def test_a_runbook_without_a_section_fails():
    text = TRACE.read_text(encoding="utf-8").replace(f"## `{STEM}`", "## the verify runbook (renamed)")
    found = problems(parse(text), shipped())
    assert found == [f"runbook {STEM} (runbooks/{STEM}.toml): no section \"## `{STEM}`\" in docs/runbooks.md"]


ROW_FOR_DOC = "| `extra-check` | Checks. | [IBM-CMD] TAKEOVER HADR; [FACTS] §5.1 | — |"


@pytest.mark.parametrize("doc, expected", [
    ("TAKEOVER HADR command; db2-hadr-facts.md §5.1", None),
    ("TAKEOVER HADR command; db2-hadr-facts.md §5.2", "does not name §5.2"),
    ("ACME failover manual, chapter 3", "which no entry of '## Source documents' lists"),
    ("crontab(5)", "does not name [MAN]"),
])
def test_a_step_doc_field_must_agree_with_its_row(tmp_path, doc, expected):
    found = problems(parse(_page_with_row(ROW_FOR_DOC)), _copy_with_extra_step(tmp_path, doc))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and f"{STEM}/extra-check" in found[0] and expected in found[0], found


def test_doc_fields_split_only_at_top_level_semicolons():
    doc = "db2-hadr-facts.md §10 (Failover: makedns; makedhcp -n/-a); xCAT hamn docs"
    assert doc_parts(doc) == ["db2-hadr-facts.md §10 (Failover: makedns; makedhcp -n/-a)", "xCAT hamn docs"]
    assert SECTION_MARK.findall("§2.2 caveat, §3.1-3.3, §1b and §9.") == ["2.2", "3.1-3.3", "1b", "9"]
