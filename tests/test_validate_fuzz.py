"""Random and mutated input: only clean, located validation errors come out, never a traceback."""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from hamn_tui.cluster.model import Cluster
from hamn_tui.runbook.loader import runbook_from_data
from hamn_tui.inputs.problems import Problems
from hamn_tui.runbook.validate import validate_paths

from .conftest import LOCATED, MINIMAL, REPO

SEEDS = [MINIMAL, (REPO / "runbooks" / "failover-planned.toml").read_text(), (REPO / "examples" / "cluster.toml").read_text()]
NOISE = st.sampled_from(['"', "'", "[", "]", "[[", "{", "}", "=", "\n", "\\", "#", ",", '"""', "{{", "}}", "\x00", "\xff", "é", "1e999", "-", ".", "true", "@"])


@st.composite
def mutated(draw) -> bytes:
    text = draw(st.sampled_from(SEEDS))
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "truncate"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines.insert(i, draw(st.one_of(NOISE, st.text(max_size=20))))
        elif op == "replace" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(NOISE) + lines[i][k + 1 :]
        elif op == "truncate":
            lines = lines[: i + 1]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and data:
        k = draw(st.integers(0, len(data) - 1))
        data = data[:k] + bytes([draw(st.integers(0, 255))]) + data[k + 1 :]
    return data


def _check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    results = validate_paths([str(path)])
    assert len(results) == 1
    r = results[0]
    assert (r.summary is None) == bool(r.problems)
    n_lines = data.count(b"\n") + 1
    for p in r.problems:
        assert LOCATED.match(str(p)), str(p)
        assert 1 <= p.line <= n_lines and p.col >= 1, str(p)
        assert "Traceback" not in p.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_give_located_errors(tmp_path: Path, data: bytes):
    _check(tmp_path / "demo.toml", data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_give_located_errors(tmp_path: Path, data: bytes):
    _check(tmp_path / "demo.toml", data)


KEYS = ["runbook", "params", "steps", "always", "id", "title", "kind", "node", "run", "user", "mutating", "rollback", "irreversible", "require", "verify", "until", "probe", "field", "equals", "in", "when", "choice", "param", "step", "options", "label", "confirm", "confirm_text", "capture", "name", "regex", "args", "type", "default", "default_from", "choices", "expect", "exit", "output", "attest", "databases", "version", "summary", "x"]
SCALARS = st.one_of(st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False), st.text(max_size=12), st.sampled_from(["db2", "command", "choice", "wait", "check", "manual", "standby", "@g", "db2.hadr", "state", "PEER", "{{ params.x }}", "{{ bad", "typed", "secret", "int"]))
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), TREES, max_size=5))
def test_random_structures_never_raise(data: dict):
    problems = Problems("demo.toml")
    rb = runbook_from_data(data, problems, "demo", None)
    assert rb is not None or problems
    for p in problems.items:
        assert LOCATED.match(str(p))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["cluster", "nodes", "db2", "pg", "groups", "service_ip", "name", "database", "address", "role", "hostname"]), TREES, max_size=5))
def test_random_cluster_structures_never_raise(data: dict):
    from pydantic import ValidationError

    from hamn_tui.cluster.loader import check_cluster
    from hamn_tui.inputs.schema_errors import add_validation_errors

    problems = Problems("c.toml")
    try:
        check_cluster(Cluster.model_validate(data), problems)
    except ValidationError as exc:
        add_validation_errors(problems, exc, Cluster)
        assert problems


VALID_TREES = [tomllib.loads(MINIMAL), tomllib.loads(SEEDS[1])]


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, prefix + (i,))


@st.composite
def edited_runbook(draw) -> dict:
    tree = copy.deepcopy(draw(st.sampled_from(VALID_TREES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        path = draw(st.sampled_from(paths))
        parent = tree
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["set"] * 6 + ["delete", "add"]))
        if op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(TREES)
        elif draw(st.integers(0, 9)) == 0:
            parent[path[-1]] = draw(TREES)
        else:
            parent[path[-1]] = draw(_like(parent[path[-1]], tree))
    return tree


WORDS = ["primary", "standby", "local", "@g", "@service_nodes", "db2.hadr", "db2.takeover", "command", "host.service", "state", "role", "PEER",
         "look", "pick", "act", "go", "stay", "done", "failed", "{{ params.target }}", "{{ params.nope }}", "{{ captured.x }}", "{{ cluster.db2.database }}",
         "'{{ params.mode }}'", "{{ bad", "typed", "yes-no", "none", "secret", "choice", "int", "ip", "host", "x USER a USING b", "[", "(", ""]


def _like(old, tree):
    """A value of the same type as `old`, mostly from the runbook's own vocabulary."""
    if isinstance(old, bool):
        return st.booleans()
    if isinstance(old, int):
        return st.integers(-1, 100000)
    if isinstance(old, str):
        return st.sampled_from(WORDS) | st.text(max_size=10)
    if isinstance(old, list):
        return st.permutations(old).flatmap(lambda xs: st.integers(0, len(xs)).map(lambda n: list(xs[:n])))
    return st.just(old)


@settings(max_examples=600, deadline=None)
@given(edited_runbook())
def test_edited_runbooks_never_raise(data: dict):
    problems = Problems("demo.toml")
    runbook_from_data(data, problems, "demo", None)
    for p in problems.items:
        assert LOCATED.match(str(p))
