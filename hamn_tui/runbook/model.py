"""The runbook model: what a runbook file may say, typed.

Shape only: cross-references (steps, params, nodes, probes, choices), secrets and the
rollback rule are checked in `rules.py`, so each problem can name its exact key path.
"""
from __future__ import annotations

from typing import ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Scalar = Union[bool, int, float, str]
Commands = Union[str, list[str]]
RunSpec = Union[str, list[str], dict[str, Union[str, list[str]]]]
"""A command, a list of commands run in order, or either one per platform of the node the step
runs on: `run = { linux = "service xcatd stop", aix = "stopsrc -s xcatd" }`."""


def run_variants(run: RunSpec | None) -> dict[str | None, list[str]]:
    """Each platform's commands (`None`: one set for every platform)."""
    if run is None:
        return {}
    if isinstance(run, dict):
        return {p: [c] if isinstance(c, str) else list(c) for p, c in run.items()}
    return {None: [run] if isinstance(run, str) else list(run)}


def run_for(run: RunSpec | None, platform: str) -> list[str] | None:
    """The commands a node of `platform` runs; None when a per-platform table has none for it."""
    variants = run_variants(run)
    if None in variants:
        return variants[None]
    return variants.get(platform)


def all_commands(run: RunSpec | None) -> list[str]:
    """Every command of every platform, in order (for reading a runbook, never for running it)."""
    return [c for cmds in run_variants(run).values() for c in cmds]
ParamType = Literal["string", "int", "bool", "choice", "host", "ip", "secret"]
StepKind = Literal["command", "check", "manual", "choice", "wait"]
Confirm = Literal["none", "yes-no", "typed"]
Approval = Literal["none", "second-operator"]
"""Four eyes: `second-operator` — someone else, with their own SSH key, approves the exact
command (or the option chosen) before it runs (docs/audit-log.md, "Four eyes")."""
DatabaseKind = Literal["db2", "pg"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class Meta(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    version: str
    databases: list[DatabaseKind] = Field(min_length=1)
    summary: str
    description: str = ""
    doc: str = ""


class Param(_Strict):
    type: ParamType
    description: str
    default: Scalar | None = None
    default_from: str | None = None
    """A cluster-file value, e.g. `cluster.db2.database`."""
    choices: list[str] | None = None
    required: bool = True


class Check(_Strict):
    """One structured test over one probe on one node: `field` compared with exactly one operator."""

    node: str
    probe: str
    field: str
    args: dict[str, Union[Scalar, dict[str, str]]] = {}
    """The probe's arguments; a string argument may be given per platform (`run = { linux = …, aix = … }`)."""
    user: str | None = None
    """Run-as user for probes that run a command on the node (`command`)."""
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    lt: int | float | str | None = None
    le: int | float | str | None = None
    gt: int | float | str | None = None
    ge: int | float | str | None = None
    """A number, or one placeholder naming a number (`le = "{{ cluster.pg.max_lag_bytes }}"`)."""
    matches: str | None = None
    not_matches: str | None = None
    why: str = ""
    """Shown with the result: what the check protects against."""
    confirm_after_s: int | None = Field(default=None, ge=1, le=600)
    """Read again after this many seconds; both readings must pass (a crashed primary can
    still look PEER until HADR_TIMEOUT)."""

    OPERATORS: ClassVar[tuple[str, ...]] = ("equals", "not_equals", "in_", "not_in", "lt", "le", "gt", "ge", "matches", "not_matches")

    def operators(self) -> list[str]:
        return [op for op in self.OPERATORS if getattr(self, op) is not None]


class Expect(_Strict):
    exit: list[int] = [0]
    output: str | None = None
    """A regular expression the combined output must match."""
    not_output: str | None = None
    """A regular expression that, when found, fails the step (e.g. `SQL\\d{4}N`)."""


class Capture(_Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    regex: str
    """First group (or whole match) of the step's stdout becomes `{{ captured.NAME }}`."""




class Option(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-_]*$")
    label: str
    explain: str = ""
    approval: Approval = "none"
    """Choosing this option needs a second operator's approval (a decision that can lose data)."""
    rollback: bool = False
    """Choosing this option undoes what the run did (its done steps, newest first, down to the
    last irreversible one) and ends the run: "keep it, or undo it" at the end of a setup."""


class When(_Strict):
    """Run the step only if: a parameter, an earlier choice, an earlier step's outcome, a value
    captured earlier, the platform of a node (a role, a node name, local), or a value of the
    cluster file (`cluster = "database"`: one runbook for DB2 and PostgreSQL pairs) matches."""

    param: str | None = None
    choice: str | None = None
    step: str | None = None
    captured: str | None = None
    platform: str | None = None
    cluster: str | None = None
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None

    SOURCES: ClassVar[tuple[str, ...]] = ("param", "choice", "step", "captured", "platform", "cluster")


class Rollback(_Strict):
    run: RunSpec
    node: str | None = None
    user: str | None = None
    timeout_s: int = Field(default=300, ge=1, le=86400)
    explain: str = ""
    when: When | list[When] | None = None
    """Undo only if this holds, typically on the state captured before the step
    (`{ captured = "was_running", equals = "no" }`): a step that changed nothing has nothing to undo."""

    def conditions(self) -> list[When]:
        if self.when is None:
            return []
        return [self.when] if isinstance(self.when, When) else list(self.when)


class Step(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-_]*$")
    title: str
    kind: StepKind = "command"
    explain: str = ""
    """Why this step exists and what it does, in the operator's words."""
    doc: str = ""
    node: str = "local"
    user: str | None = None
    run: RunSpec | None = None
    mutating: bool | None = None
    timeout_s: int = Field(default=300, ge=1, le=86400)
    expect: Expect = Expect()
    capture: list[Capture] = []
    require: list[Check] = []
    verify: list[Check] = []
    rollback: Rollback | None = None
    irreversible: bool = False
    confirm: Confirm | None = None
    confirm_text: str | None = None
    approval: Approval = "none"
    """`second-operator`: the command runs only after someone else approved it (one node, one command)."""
    when: When | list[When] | None = None
    """One condition, or an array of conditions that must all hold."""
    allow_failure: bool = False
    """A failure is recorded and the run goes on, so a later `when = { step = … }` can branch on it."""
    concurrency: int = Field(default=4, ge=1, le=64)
    attest: str | None = None
    options: list[Option] = []
    until: list[Check] = []
    interval_s: int = Field(default=5, ge=1, le=3600)
    limit_s: int = Field(default=300, ge=1, le=86400)

    @property
    def is_mutating(self) -> bool:
        """Unless a step says otherwise, a command step is assumed to change something."""
        if self.kind != "command":
            return False
        return True if self.mutating is None else self.mutating

    @property
    def confirmation(self) -> Confirm:
        if self.confirm is not None:
            return self.confirm
        return "yes-no" if self.is_mutating else "none"

    @property
    def dangerous(self) -> bool:
        """Needs a typed confirmation or cannot be undone: waits for a witness's cosignature
        of its confirmation before it runs (when the run is witnessed)."""
        return self.kind == "command" and (self.confirmation == "typed" or self.irreversible)

    def conditions(self) -> list[When]:
        if self.when is None:
            return []
        return [self.when] if isinstance(self.when, When) else list(self.when)

    def commands(self, platform: str | None = None) -> list[str]:
        """The commands for a node of `platform` ([] if the step has none for it); without a
        platform, every command of every platform (for reading, never for running)."""
        if platform is None:
            return all_commands(self.run)
        return run_for(self.run, platform) or []


class Runbook(_Strict):
    runbook: Meta
    params: dict[str, Param] = {}
    steps: list[Step] = Field(min_length=1)
    always: list[Step] = []
    """Run after the steps whether the run finished, failed or was aborted."""

    def all_steps(self) -> list[tuple[str, int, Step]]:
        return [("steps", i, s) for i, s in enumerate(self.steps)] + [
            ("always", i, s) for i, s in enumerate(self.always)
        ]
