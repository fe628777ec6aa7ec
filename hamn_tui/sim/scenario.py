"""Training scenarios (`scenarios/*.toml`): the start state, the history before the trainee arrives, and faults.

A scenario is data, validated like a runbook: every problem is `file:line:col: key: message`.

    [scenario]      title, summary, story, db2_level ("11.5" | "9.7"), start ("pair" | "standalone")
    [db2]           HADR settings of the simulated databases (default: the training cluster file's)
    [site]          service_nodes: how many (sn1…snN, all in @service_nodes; default the cluster file's two)
    [nodes.NAME]    autostart (DB2 instance at boot), clock_skew_s
    [[setup]]       actions applied in order before the trainee starts, `after_s` seconds apart
    [[faults]]      actions at `at_s` seconds after the start, or when a step `at_step` reaches
                    `on` = start | command | answer | finish (optionally only in `runbook`)
    [[rehearse]]    the runbooks to rehearse it with: runbook, roles, note
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..inputs.problems import InputError, Problems, did_you_mean
from ..inputs.schema_errors import add_validation_errors
from ..inputs.toml_file import read_toml
from .site import MAX_SERVICE_NODES, service_node_names

SCENARIO_DIR = Path(__file__).with_name("scenarios")
ActionName = Literal["crash_node", "power_on", "kill_db2", "partition", "heal", "start_service", "stop_service", "fail_service",
                     "hang_service", "advance", "run", "congest_hadr", "decongest_hadr", "takeover_fails_halfway", "cut_console",
                     "heal_console"]
NEEDS = {
    "crash_node": ("node",), "power_on": ("node",), "kill_db2": ("node",), "partition": ("nodes",), "heal": ("nodes",),
    "start_service": ("node", "service"), "stop_service": ("node", "service"), "fail_service": ("node", "service"),
    "hang_service": ("node", "service", "seconds"), "advance": ("seconds",), "run": ("node", "command"),
    "congest_hadr": ("node",), "decongest_hadr": ("node",), "takeover_fails_halfway": ("node",),
    "cut_console": ("node",), "heal_console": ("node",),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Meta(_Strict):
    title: str
    summary: str
    story: str
    db2_level: Literal["11.5", "9.7"] = "11.5"
    start: Literal["pair", "standalone"] = "pair"


class Db2Settings(_Strict):
    syncmode: Literal["SYNC", "NEARSYNC", "ASYNC", "SUPERASYNC"] | None = None
    hadr_timeout_s: int | None = Field(default=None, ge=1)
    peer_window_s: int | None = Field(default=None, ge=0)


class Site(_Strict):
    service_nodes: int | None = Field(default=None, ge=1, le=MAX_SERVICE_NODES)
    """sn1…snN in the `service_nodes` group (None: the training cluster file's own)."""


class NodeSettings(_Strict):
    autostart: bool = False
    clock_skew_s: float = 0.0


class Action(_Strict):
    action: ActionName
    node: str | None = None
    nodes: list[str] | None = None
    service: str | None = None
    command: str | None = None
    user: str | None = None
    expect_exit: list[int] = [0]
    seconds: float | None = Field(default=None, ge=0)
    boot_s: float | None = Field(default=None, ge=0)
    note: str = ""
    """Told to the trainee when it happens (and in the debrief)."""


class SetupAction(Action):
    after_s: float = Field(default=0.0, ge=0)


class Fault(Action):
    at_s: float | None = Field(default=None, ge=0)
    at_step: str | None = None
    on: Literal["start", "command", "answer", "finish"] = "start"
    runbook: str | None = None


class Rehearse(_Strict):
    runbook: str
    roles: dict[str, str] = {}
    note: str = ""


class Scenario(_Strict):
    scenario: Meta
    db2: Db2Settings = Db2Settings()
    site: Site = Site()
    nodes: dict[str, NodeSettings] = {}
    setup: list[SetupAction] = []
    faults: list[Fault] = []
    rehearse: list[Rehearse] = []
    name: str = ""
    """The file's stem (set when loaded)."""


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def scenario_path(name: str) -> Path:
    p = Path(name)
    if p.suffix == ".toml":
        return p
    return SCENARIO_DIR / f"{name}.toml"


def load_scenario(name: str, nodes: list[str]) -> Scenario:
    """Load and check a scenario against the training cluster's node names (and the service
    nodes its `[site]` adds); InputError with located problems."""
    path = scenario_path(name)
    if not path.exists():
        raise InputError([_missing(path)])
    doc = read_toml(path)
    problems = Problems(doc.path, doc.locate)
    try:
        sc = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        add_validation_errors(problems, exc, Scenario)
        raise InputError(problems.sorted()) from None
    sc.name = path.stem
    if sc.site.service_nodes is not None:
        generated = set(service_node_names(MAX_SERVICE_NODES))
        nodes = [n for n in nodes if n not in generated] + service_node_names(sc.site.service_nodes)
    _check(sc, problems, nodes)
    if problems:
        raise InputError(problems.sorted())
    return sc


def _missing(path: Path):
    from ..inputs.problems import Problem

    return Problem(str(path), 1, 1, f"no scenario {path.stem!r}; scenarios: {', '.join(scenario_names())}")


def _check(sc: Scenario, problems: Problems, nodes: list[str]) -> None:
    known = list(nodes) + ["local"]
    for name in sc.nodes:
        if name not in nodes:
            problems.add(("nodes", name), f'unknown node "{name}"{did_you_mean(name, nodes)}')
    for section, items in (("setup", sc.setup), ("faults", sc.faults)):
        for i, a in enumerate(items):
            for key in NEEDS[a.action]:
                if getattr(a, key) is None:
                    problems.add((section, i, "action"), f'action "{a.action}" needs {key}')
            if a.node is not None and a.node not in known:
                problems.add((section, i, "node"), f'unknown node "{a.node}"{did_you_mean(a.node, known)}')
            if a.nodes is not None:
                if len(a.nodes) != 2:
                    problems.add((section, i, "nodes"), "give exactly two nodes (the two sides of the partition)")
                for n in a.nodes:
                    if n not in nodes:
                        problems.add((section, i, "nodes"), f'unknown node "{n}"{did_you_mean(n, nodes)}')
            if isinstance(a, Fault):
                if (a.at_s is None) == (a.at_step is None):
                    problems.add((section, i), "a fault needs exactly one of at_s and at_step")
    from ..runbook.library import find_runbook

    for i, r in enumerate(sc.rehearse):
        if find_runbook(r.runbook) is None:
            problems.add(("rehearse", i, "runbook"), f'no runbook "{r.runbook}"')
        for role, node in r.roles.items():
            if role not in ("primary", "standby"):
                problems.add(("rehearse", i, "roles", role), f'only primary and standby can be bound, not "{role}"')
            if node not in nodes:
                problems.add(("rehearse", i, "roles", role), f'unknown node "{node}"{did_you_mean(node, nodes)}')
