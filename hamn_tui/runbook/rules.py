"""The rules a well-typed runbook must still obey, each reported at its key path.

References (steps, params, nodes, probes, choices, captures), the rollback rule for mutating
steps, secrets never written into commands, and templates that resolve and stay quoted.
"""
from __future__ import annotations

import re
from ..cluster.model import LOCAL_PLATFORM, PLATFORMS, Cluster
from .probe_specs import PROBES
from ..inputs.problems import Problems, did_you_mean
from .model import Check, Runbook, RunSpec, Step, When, run_variants
from .names import known_name_problem
from .params import check_value
from .template import TemplateError, placeholders, scan_shell

FIXED_NODES = ("local", "primary", "standby")
OUTCOMES = ("done", "failed", "skipped", "unknown")
_ONE_PLACEHOLDER = re.compile(r"^\{\{\s*[A-Za-z_][A-Za-z0-9_.-]*\s*\}\}$")
_LEADING_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
_GROUP = re.compile(r"^@[a-z0-9_][a-z0-9_-]*$")

_WORD = r"(?:\{\{[^}]*\}\}|\S)+"
"""One shell word, a placeholder (which holds blanks) counting as part of it."""

# Where a password goes in a command: `(?P<pw>…)` is the password's word; then how to say
# that a literal one is there, and where it is.
_PASSWORD_AT = [
    (re.compile(rf"\bUSER\s+{_WORD}\s+USING\s+(?P<pw>{_WORD})", re.I), "a literal password after USER … USING", "after USER … USING"),
    (re.compile(rf"\bIDENTIFIED\s+BY\s+(?P<pw>{_WORD})", re.I), "a literal password after IDENTIFIED BY", "after IDENTIFIED BY"),
    (re.compile(rf"\bPGPASSWORD=(?P<pw>{_WORD})"), "a literal password in PGPASSWORD=", "in PGPASSWORD="),
    (re.compile(r"\bpassword\s*=\s*(?P<pw>(?:\{\{[^}]*\}\}|[^\s'\"])+)", re.I), "a literal password= value", "in password="),
    (re.compile(rf"\bsshpass\s+-p\s*(?P<pw>{_WORD})"), "a literal password for sshpass -p", "for sshpass -p"),
    (re.compile(rf"--password[= ](?P<pw>{_WORD})"), "a literal --password value", "in --password"),
]
_PASSWORD_NAME = re.compile(r"password|passwd|passphrase|pwd|secret|(?:^|_)(?:pass|pw)(?:_|$)", re.I)
"""A parameter named for a password: `db2_password`, `pg_pwd`, `pw`, `secret_key`."""
_SECRET_ADVICE = 'secrets are never written in a runbook; declare a parameter of type "secret" and use {{ params.NAME }}'


def _password_words(text: str) -> list[tuple[str, str, str]]:
    """(literal message, where, word) for every word of the text that stands where a password goes."""
    return [(literal, where, m.group("pw")) for rx, literal, where in _PASSWORD_AT for m in rx.finditer(text)]


class RuleChecker:
    def __init__(self, rb: Runbook, problems: Problems, stem: str | None, cluster: Cluster | None):
        self.rb = rb
        self.p = problems
        self.stem = stem
        self.cluster = cluster
        self.params = set(rb.params)
        self.captured: set[str] = set()
        self.seen_steps: dict[str, Step] = {}

    # --- entry ------------------------------------------------------------------------------
    def run(self) -> None:
        meta = self.rb.runbook
        if self.stem is not None and meta.id != self.stem:
            self.p.add(("runbook", "id"), f'id "{meta.id}" differs from the file name "{self.stem}.toml": they must match so `hamn run {self.stem}` finds it')
        self._params()
        first_at: dict[str, str] = {}
        for section, i, step in self.rb.all_steps():
            where = (section, i)
            if step.id in first_at:
                self.p.add(where + ("id",), f'duplicate step id "{step.id}" (first at {first_at[step.id]})')
            else:
                first_at[step.id] = f"{section}[{i}]"
            self._step(where, step, section)
            self.seen_steps[step.id] = step
            self.captured.update(c.name for c in step.capture)

    # --- parameters -----------------------------------------------------------------------------
    def _params(self) -> None:
        for name, param in self.rb.params.items():
            at = ("params", name)
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                self.p.add(at, f'parameter name "{name}" must be lower case letters, digits and _')
            if param.type == "secret" and (param.default is not None or param.default_from):
                self.p.add(at + ("default",), "a secret is prompted for, never stored: remove its default")
            elif param.default is not None and isinstance(param.default, str) and _PASSWORD_NAME.search(name):
                self.p.add(at + ("default",), f'"{name}" names a password and its default writes one in the runbook: declare it type = "secret" (prompted for, never stored) and remove the default')
            if param.type == "choice" and not param.choices:
                self.p.add(at, 'a parameter of type "choice" needs choices = [...]')
            if param.type != "choice" and param.choices is not None:
                self.p.add(at + ("choices",), f'choices only apply to type "choice", not "{param.type}"')
            if param.default is not None and param.default_from:
                self.p.add(at + ("default_from",), "give either default or default_from, not both")
            if param.default is not None:
                try:
                    check_value(param, param.default)
                except ValueError as exc:
                    self.p.add(at + ("default",), f"bad default: {exc}")
            if param.default_from:
                problem = known_name_problem(param.default_from, set(), set())
                if problem or not param.default_from.startswith(("cluster.", "nodes.")):
                    self.p.add(at + ("default_from",), problem or "default_from names a cluster value (cluster.… or nodes.…)")

    # --- steps ----------------------------------------------------------------------------------
    def _step(self, at: tuple, step: Step, section: str) -> None:
        kind = step.kind
        need = {"command": "run", "check": "verify", "manual": "attest", "choice": "options", "wait": "until"}[kind]
        if not getattr(step, need):
            self.p.add(at, f'a step of kind "{kind}" needs {need}')
        for key, kinds in (("run", ("command",)), ("attest", ("manual",)), ("options", ("choice",)), ("until", ("wait",)), ("rollback", ("command",)), ("capture", ("command",))):
            if getattr(step, key) and kind not in kinds:
                self.p.add(at + (key,), f'{key} does not apply to a step of kind "{kind}"')
        if step.mutating and kind != "command":
            self.p.add(at + ("mutating",), f'a step of kind "{kind}" never changes anything; only command steps are mutating')
        if kind == "choice" and section == "always":
            self.p.add(at, "the always section runs after an abort: it cannot ask a choice")
        self._node(at + ("node",), step.node, group_ok=kind in ("command", "check", "wait"))
        if step.is_mutating and step.rollback is None and not step.irreversible:
            self.p.add(at, f'step "{step.id}" changes something (mutating) but has neither a rollback nor irreversible = true')
        if step.rollback is not None and step.irreversible:
            self.p.add(at + ("irreversible",), "a step with a rollback is not irreversible: keep one of them")
        if step.confirmation == "typed" and not step.confirm_text:
            self.p.add(at + ("confirm",), 'confirm = "typed" needs confirm_text (what the operator must type)')
        if step.confirm_text is not None and step.confirmation != "typed":
            self.p.add(at + ("confirm_text",), 'confirm_text applies only with confirm = "typed"')
        if step.approval != "none":
            if kind != "command":
                self.p.add(at + ("approval",), f'approval applies to command steps; on a choice, set it on the option that needs it')
            elif step.node.startswith("@") or any(len(cmds) != 1 for cmds in run_variants(step.run).values()):
                self.p.add(at + ("approval",), "a second operator approves one exact command on one node: give the step one node and one command")
        if kind == "choice":
            ids = [o.id for o in step.options]
            if len(ids) < 2:
                self.p.add(at + ("options",), "a choice needs at least two options")
            for n, oid in enumerate(ids):
                if oid in ids[:n]:
                    self.p.add(at + ("options", n, "id"), f'duplicate option id "{oid}"')
        for n, cond in enumerate(step.conditions()):
            self._when(at + ("when",) + ((n,) if isinstance(step.when, list) else ()), cond)
        self._run(at + ("run",), step.run, step.node)
        if step.rollback is not None:
            # a rollback runs after its step completed, so it may use what the step captured
            earlier = set(self.captured)
            self.captured.update(c.name for c in step.capture)
            rb = step.rollback
            self._run(at + ("rollback", "run"), rb.run, rb.node or step.node)
            if rb.node is not None:
                self._node(at + ("rollback", "node"), rb.node, group_ok=True)
            if rb.user is not None:
                self._text(at + ("rollback", "user"), rb.user)
            for n, cond in enumerate(rb.conditions()):
                self._when(at + ("rollback", "when") + ((n,) if isinstance(rb.when, list) else ()), cond)
            self.captured = earlier
        for key in ("title", "explain", "attest", "user", "confirm_text"):
            value = getattr(step, key)
            if value:
                self._text(at + (key,), value)
        for n, option in enumerate(step.options):
            for key in ("label", "explain"):
                if getattr(option, key):
                    self._text(at + ("options", n, key), getattr(option, key))
        if step.confirm_text:
            self._confirm_text(at + ("confirm_text",), step.confirm_text)
        for key in ("output", "not_output"):
            self._regex(at + ("expect", key), getattr(step.expect, key))
        for n, cap in enumerate(step.capture):
            self._regex(at + ("capture", n, "regex"), cap.regex)
            if cap.name in self.captured:
                self.p.add(at + ("capture", n, "name"), f'"{cap.name}" is already captured by an earlier step')
        for key in ("require", "verify", "until"):
            for n, check in enumerate(getattr(step, key)):
                self._check(at + (key, n), check)

    def _run(self, at: tuple, run: RunSpec | None, node: str) -> None:
        """Every command of every platform is checked; a per-platform table covers the platforms
        of the nodes the step can run on."""
        if isinstance(run, dict):
            self._platform_table(at, run, node)
        for platform, cmds in run_variants(run).items():
            base = at + ((platform,) if platform is not None else ())
            listed = isinstance(run.get(platform) if isinstance(run, dict) else run, list)
            for n, cmd in enumerate(cmds):
                self._shell(base + ((n,) if listed else ()), cmd)

    def _platforms(self, node: str) -> dict[str, str]:
        """Platform -> a node of the cluster file a step on `node` can run on (empty without a cluster)."""
        if node == "local":
            return {LOCAL_PLATFORM: "local (the console where hamn runs)"}
        if self.cluster is None:
            return {}
        if node in ("primary", "standby"):
            names = [n for n, nd in self.cluster.nodes.items() if nd.role in ("primary", "standby")]
        elif node.startswith("@"):
            names = list(self.cluster.groups.get(node[1:], []))
        else:
            names = [node] if node in self.cluster.nodes else []
        found: dict[str, str] = {}
        for name in names:
            found.setdefault(self.cluster.nodes[name].platform, name)
        return found

    def _platform_table(self, at: tuple, table: dict, node: str) -> None:
        if not table:
            self.p.add(at, f"an empty table: give one entry per platform ({', '.join(PLATFORMS)}), or one plain value")
        for key in table:
            if key not in PLATFORMS:
                self.p.add(at + (key,), f'unknown platform "{key}"{did_you_mean(key, PLATFORMS)}; platforms: {", ".join(PLATFORMS)}')
        for platform, example in self._platforms(node).items():
            if platform not in table:
                self.p.add(at, f'nothing for platform "{platform}": {node} can be {example}, which the cluster file says is {platform}; '
                               f'add {platform} = "…" or give one plain value for every platform')

    def _node(self, at: tuple, node: str, group_ok: bool) -> None:
        if node in FIXED_NODES:
            return
        if node.startswith("@"):
            if not group_ok:
                self.p.add(at, "a group runs on several nodes; this kind of step runs on one")
            elif not _GROUP.match(node):
                self.p.add(at, f'bad group name "{node}": @ then lower case letters, digits, _ and -')
            elif self.cluster is not None and node[1:] not in self.cluster.groups:
                self.p.add(at, f'unknown group "{node}" in the cluster file{did_you_mean(node[1:], self.cluster.groups)}')
            return
        names = list(FIXED_NODES) + (list(self.cluster.nodes) if self.cluster else [])
        if self.cluster is not None and node in self.cluster.nodes:
            return
        self.p.add(at, f'unknown node "{node}"{did_you_mean(node, names)}: use local, primary, standby, @group' + (", or a node of the cluster file" if self.cluster else ""))

    def _when(self, at: tuple, when: When) -> None:
        sources = [k for k in When.SOURCES if getattr(when, k) is not None]
        ops = [k for k in ("equals", "in_", "not_in") if getattr(when, k) is not None]
        if len(sources) != 1:
            self.p.add(at, "when needs exactly one of param, choice, step, captured, platform or cluster")
            return
        if len(ops) != 1:
            self.p.add(at, "when needs exactly one of equals, in or not_in")
            return
        values = [getattr(when, ops[0])] if ops[0] == "equals" else list(getattr(when, ops[0]))
        src = sources[0]
        name = getattr(when, src)
        if src == "param":
            if name not in self.params:
                self.p.add(at + ("param",), f'unknown parameter "{name}"{did_you_mean(name, self.params)}')
                return
            param = self.rb.params[name]
            for v in values:
                try:
                    check_value(param, v)
                except ValueError as exc:
                    self.p.add(at, f'{exc} (parameter "{name}")')
        elif src == "captured":
            if name not in self.captured:
                self.p.add(at + ("captured",), f'"{name}" is not captured by an earlier step{did_you_mean(name, self.captured)}')
        elif src == "cluster":
            problem = known_name_problem(f"cluster.{name}", set(), set())
            if problem:
                self.p.add(at + ("cluster",), problem)
            elif name == "database":
                for v in values:
                    if v not in self.rb.runbook.databases:
                        self.p.add(at, f'"{v}" is not one of this runbook\'s databases ({", ".join(self.rb.runbook.databases)})')
        elif src == "platform":
            self._node(at + ("platform",), name, group_ok=False)
            for v in values:
                if v not in PLATFORMS:
                    self.p.add(at, f'"{v}" is not a platform{did_you_mean(str(v), PLATFORMS)}; platforms: {", ".join(PLATFORMS)}')
        elif src == "choice":
            step = self.seen_steps.get(name)
            if step is None or step.kind != "choice":
                choices = [s.id for s in self.seen_steps.values() if s.kind == "choice"]
                self.p.add(at + ("choice",), f'unknown choice "{name}": no earlier choice step has that id{did_you_mean(name, choices)}')
                return
            ids = [o.id for o in step.options]
            for v in values:
                if v not in ids:
                    self.p.add(at, f'choice "{name}" has no option "{v}"{did_you_mean(str(v), ids)}; options: {", ".join(ids)}')
        else:
            if name not in self.seen_steps:
                self.p.add(at + ("step",), f'unknown step "{name}": no earlier step has that id{did_you_mean(name, self.seen_steps)}')
                return
            for v in values:
                if v not in OUTCOMES:
                    self.p.add(at, f'"{v}" is not a step outcome; outcomes: {", ".join(OUTCOMES)}')

    def _check(self, at: tuple, check: Check) -> None:
        self._node(at + ("node",), check.node, group_ok=True)
        spec = PROBES.get(check.probe)
        if spec is None:
            self.p.add(at + ("probe",), f'unknown probe "{check.probe}"{did_you_mean(check.probe, PROBES)}; probes: {", ".join(PROBES)}')
        else:
            if check.field not in spec.fields:
                self.p.add(at + ("field",), f'probe "{check.probe}" has no field "{check.field}"{did_you_mean(check.field, spec.fields)}; fields: {", ".join(spec.fields)}')
            for arg in spec.args:
                if arg not in check.args:
                    self.p.add(at + ("args",), f'probe "{check.probe}" needs args.{arg} ({spec.args[arg]})')
            takes = {**spec.args, **spec.optional_args}
            for arg in check.args:
                if arg not in takes:
                    self.p.add(at + ("args", arg), f'probe "{check.probe}" takes no argument "{arg}"' + (f"; it takes: {', '.join(takes)}" if takes else ""))
            step_ref = check.args.get("fenced_step")
            if isinstance(step_ref, str) and step_ref not in self.seen_steps:
                self.p.add(at + ("args", "fenced_step"), f'unknown step "{step_ref}": no earlier step has that id{did_you_mean(step_ref, self.seen_steps)}')
        ops = check.operators()
        if len(ops) != 1:
            self.p.add(at, f"a check needs exactly one operator (equals, not_equals, in, not_in, lt, le, gt, ge, matches, not_matches); found {len(ops) or 'none'}")
        for key in ("matches", "not_matches"):
            self._regex(at + (key,), getattr(check, key))
        if check.in_ is not None and not check.in_:
            self.p.add(at + ("in",), "in = [] can never pass")
        if check.user is not None:
            if check.probe != "command":
                self.p.add(at + ("user",), f'user applies only to the "command" probe; "{check.probe}" reads as the node\'s own probe user')
            self._text(at + ("user",), check.user)
        for op in ("lt", "le", "gt", "ge"):
            value = getattr(check, op)
            if isinstance(value, str) and not _ONE_PLACEHOLDER.match(value):
                self.p.add(at + (op,), f"{op} takes a number or one placeholder naming a number, not {value!r}")
        for op in ops:
            values = getattr(check, op)
            for n, value in enumerate(values if isinstance(values, list) else [values]):
                if isinstance(value, str) and op not in ("matches", "not_matches"):
                    self._text(at + ((op if op != "in_" else "in"),) + ((n,) if isinstance(values, list) else ()), value)
        for arg, value in check.args.items():
            if isinstance(value, dict):
                self._platform_table(at + ("args", arg), value, check.node)
            for platform, text in (value.items() if isinstance(value, dict) else [(None, value)]):
                where = at + ("args", arg) + ((platform,) if platform is not None else ())
                if not isinstance(text, str):
                    continue
                if check.probe == "command" and arg == "run":
                    self._shell(where, text)
                else:
                    self._text(where, text)

    # --- text and templates ----------------------------------------------------------------------------
    def _regex(self, at: tuple, rx: str | None) -> None:
        if rx is None:
            return
        try:
            re.compile(rx)
        except re.error as exc:
            self.p.add(at, f"bad regular expression: {exc}")

    def _text(self, at: tuple, text: str) -> bool:
        try:
            for ph in placeholders(text):
                problem = known_name_problem(ph.name, self.params, self.captured)
                if problem:
                    self.p.add(at, problem)
        except TemplateError as exc:
            self.p.add(at, str(exc))
            return False
        return True

    def _secret_param(self, name: str) -> bool:
        head, _, rest = name.partition(".")
        return head == "params" and rest in self.rb.params and self.rb.params[rest].type == "secret"

    def _confirm_text(self, at: tuple, text: str) -> None:
        """What the operator types is shown on the screen as the text to type: never a secret."""
        try:
            names = [ph.name for ph in placeholders(text)]
        except TemplateError:
            return  # reported by _text
        for name in names:
            if self._secret_param(name):
                self.p.add(at, f"{{{{ {name} }}}} is a secret: confirm_text is shown on the screen as the text to type; name something the operator can see, such as {{{{ nodes.standby.hostname }}}}")
        if _password_words(text):
            self.p.add(at, f"confirm_text holds a password: it is shown on the screen; {_SECRET_ADVICE}")

    def _passwords(self, at: tuple, cmd: str) -> None:
        """A password's word is one placeholder naming a secret parameter, nothing else."""
        said: set[str] = set()
        for literal, where, word in _password_words(cmd):
            lead = _LEADING_PLACEHOLDER.match(word)
            if lead is None:
                message = f"{literal}: {_SECRET_ADVICE}"
            else:
                name = lead.group("name")
                head, _, rest = name.partition(".")
                if head != "params" or rest not in self.rb.params or self._secret_param(name):
                    continue
                message = (f'the password {where} is parameter "{rest}" of type "{self.rb.params[rest].type}": '
                           'a password is a parameter of type "secret" (prompted for, never stored, shown as ******)')
            if message not in said:
                said.add(message)
                self.p.add(at, message)

    def _shell(self, at: tuple, cmd: str) -> None:
        if not cmd.strip():
            self.p.add(at, "empty command")
            return
        if not self._text(at, cmd):
            return
        scan = scan_shell(cmd)
        for ph in scan.quoted:
            self.p.add(at, f"{{{{ {ph.name} }}}} is inside quotes: values are quoted for you, so write the placeholder outside quotes")
        for ph, delimiter in scan.in_heredoc:
            line = cmd.count("\n", 0, ph.start) + 1
            self.p.add(at, f"{{{{ {ph.name} }}}} (line {line} of the command) is in a here-document whose delimiter {delimiter} is not quoted: "
                           f"the shell would run $(…) and `…` in the value; quote the delimiter (<<'{delimiter}') or pass the value as an argument")
        self._passwords(at, cmd)


def check_rules(rb: Runbook, problems: Problems, stem: str | None = None, cluster: Cluster | None = None) -> None:
    RuleChecker(rb, problems, stem, cluster).run()

