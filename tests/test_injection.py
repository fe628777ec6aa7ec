"""Ways a value or a file could get past the quoting: here-documents, hosts that are options,
passwords written into a runbook, templates in texts only the screen renders, nesting that
exhausts the parser. Each is refused with one located line, never run and never a traceback."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hamn_tui.runbook.loader import load_runbook
from hamn_tui.runbook.model import Runbook

from .conftest import MINIMAL, REPO

EXAMPLE_CLUSTER = (REPO / "examples" / "cluster.toml").read_text()
ACT_RUN = 'run = "db2 takeover hadr on database {{ cluster.db2.database }}"\nmutating'


def line_of(text: str, needle: str, nth: int = 0) -> int:
    return [n for n, line in enumerate(text.splitlines(), 1) if needle in line][nth]


def errors(v) -> list[tuple[int, str]]:
    """Every output line located (`file:line:col: message`), exit 1."""
    assert v.exit_code == 1, v.output
    found = v.located()
    assert len(found) == len(v.lines), f"unlocated output:\n{v.output}"
    return [(int(m["line"]), m["msg"]) for m in found]


def with_act_run(run: str) -> str:
    """MINIMAL with the act step's command replaced by `run` (TOML text after `run = `)."""
    return MINIMAL.replace(ACT_RUN, f"run = {run}\nmutating")


# --- 1. here-documents -----------------------------------------------------------------------------
@pytest.mark.parametrize("opener", ["<<EOF", "<< EOF", "<<-EOF"])
def test_placeholder_in_an_unquoted_here_document_is_refused(validate_text, opener):
    text = with_act_run(f'"""\ncat {opener}\ntarget is {{{{ params.target }}}}\nEOF"""')
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, 'run = """')  # the key's line; the message says where in the command
    assert msg.startswith("steps[2].run: {{ params.target }} (line 2 of the command) is in a here-document whose delimiter EOF is not quoted")


def test_tab_indented_here_document_ends_at_its_indented_delimiter(validate_text):
    """`<<-` strips leading tabs from the delimiter line: the placeholder after it is an argument."""
    text = with_act_run('"""\ncat <<-EOF\n\\tplain text\n\\tEOF\necho {{ params.target }}"""')
    assert validate_text(text).exit_code == 0, validate_text(text).output


@pytest.mark.parametrize("opener", ["<<'EOF'", '<<\\"EOF\\"', "<<\\\\EOF"])
def test_placeholder_in_a_quoted_here_document_is_plain_text(validate_text, opener):
    text = with_act_run(f'"""\ncat {opener}\nit\'s {{{{ params.target }}}}\nEOF\necho {{{{ params.target }}}}"""')
    v = validate_text(text)
    assert v.exit_code == 0, v.output


def test_here_document_in_a_rollback_and_a_check_command(validate_text):
    text = MINIMAL.replace(
        '[steps.rollback]\nrun = "db2 takeover hadr on database {{ cluster.db2.database }}"',
        '[steps.rollback]\nrun = """\nsh <<END\necho {{ params.target }}\nEND"""',
    ).replace('node = "standby"\nprobe = "db2.hadr"\nfield = "state"\nequals = "PEER"',
              'node = "standby"\nprobe = "command"\nargs = { run = "cat <<X\\n{{ params.target }}\\nX" }\nfield = "exit_status"\nequals = 0')
    found = errors(validate_text(text))
    assert [(n, m.split(":")[0]) for n, m in found] == [(line_of(text, "args = { run"), "steps[0].verify[0].args.run"),
                                                          (line_of(text, 'run = """'), "steps[2].rollback.run")]
    assert all("here-document whose delimiter" in m for _, m in found)


def test_unquoted_here_document_would_run_the_value(tmp_path: Path):
    """Why the rule exists: the quoting that makes a value one word is plain text in such a body."""
    from hamn_tui.runbook.template import render

    marker = tmp_path / "pwned"
    value = f"$(touch {marker})"
    for opener, runs in (("<<EOF", True), ("<<'EOF'", False)):
        script = render(f"cat {opener}\n{{{{ v }}}}\nEOF\n", lambda _: value)
        subprocess.run(["sh", "-c", script], capture_output=True, check=True)
        assert marker.exists() is runs, opener
        marker.unlink(missing_ok=True)


# --- 2. hosts that are options -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "old, new, key",
    [
        ('address = "192.0.2.11"', 'address = "-oProxyCommand=touch /tmp/pwned"', "nodes.mn1.address"),
        ('address = "192.0.2.12"', 'address = ""', "nodes.mn2.address"),
        ('hostname = "mn1"', 'hostname = "-x"', "nodes.mn1.hostname"),
        ('hostname = "mn2"', 'hostname = "mn2 ; reboot"', "nodes.mn2.hostname"),
        ('address = "192.0.2.10"', 'address = "-oProxyCommand=x"', "service_ip.address"),
        ('address = "192.0.2.10"', 'address = ""', "service_ip.address"),
        ('interface = "eth0"          #', 'interface = "-a"          #', "nodes.mn1.interface"),
        ('smtp_host = "localhost"', 'smtp_host = "-X"', "alerts.smtp_host"),
    ],
)
def test_cluster_addresses_must_be_hosts(validate_text, old, new, key):
    assert old in EXAMPLE_CLUSTER
    text = EXAMPLE_CLUSTER.replace(old, new, 1)
    [(line, msg)] = errors(validate_text(text, "cluster.toml"))
    assert line == line_of(text, new)
    assert msg.startswith(f"{key}: ")
    assert "empty" in msg if '""' in new else "is not" in msg


@pytest.mark.parametrize("address", ["mn1.example.com", "2001:db8::11", "fe80::1%eth0", "10.0.0.1"])
def test_host_names_and_ip_addresses_are_accepted(validate_text, address):
    text = EXAMPLE_CLUSTER.replace('address = "192.0.2.11"', f'address = "{address}"')
    assert validate_text(text, "cluster.toml").exit_code == 0


def test_a_run_refuses_such_a_cluster_file(tmp_path: Path):
    """`hamn run --cluster`: bad input, exit 2, the same located line; nothing runs."""
    bad = tmp_path / "cluster.toml"
    bad.write_text(EXAMPLE_CLUSTER.replace('address = "192.0.2.12"', 'address = "-oProxyCommand=touch pwned"'))
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", "db2-hadr-verify", "--headless", "--cluster", str(bad), "--audit-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip() == f"{bad}:{line_of(bad.read_text(), 'ProxyCommand')}:1: nodes.mn2.address: " \
                                 "'-oProxyCommand=touch pwned' is not a host name (letters, digits, inner hyphens, dots) or an IP address"
    assert not (tmp_path / "pwned").exists()


REMOTE = ("ssh", "scp", "rsync")
_SEPARATOR = re.compile(r"^[;&|()]+$")


def _host_like(name: str, rb: Runbook) -> bool:
    """Can this placeholder hold a host name? Node addresses and names, the service IP, host, ip
    and free-text parameters, and whatever a command printed."""
    head, _, rest = name.partition(".")
    if head in ("nodes", "node"):
        return rest.rsplit(".", 1)[-1] in ("address", "hostname", "name")
    if head == "params":
        return rest in rb.params and rb.params[rest].type in ("host", "ip", "string")
    return head == "captured" or name in ("cluster.service_ip.address", "cluster.alerts.smtp_host")


def hosts_before_double_dash(cmd: str, rb: Runbook) -> list[str]:
    """For each ssh/scp/rsync invocation in the command (one quoted word with a separator in it, as
    in a crontab line written with echo, separates too), the host-like placeholders that start a
    word before its `--`: there an `-oProxyCommand=…` value would be an option."""
    names: list[str] = []

    def mark(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return f"\x00{len(names) - 1}\x00"

    text = re.sub(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}", mark, cmd.replace("\\\n", " ")).replace("\n", " ; ")
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lex.whitespace_split = True
    words = list(lex)
    found: list[str] = []
    for i, word in enumerate(words):
        if word.rsplit("/", 1)[-1] not in REMOTE:
            continue
        for arg in words[i + 1:]:
            if arg == "--" or _SEPARATOR.match(arg):
                break
            lead = re.match(r"\x00(\d+)\x00", arg)  # a value that starts a word can be an option
            if lead and _host_like(names[int(lead[1])], rb):
                found.append(names[int(lead[1])])
    return found


def shell_texts(rb: Runbook) -> list[tuple[str, str]]:
    """(where, command) for every command of the runbook: steps, rollbacks, command probes."""
    out: list[tuple[str, str]] = []
    for section, i, step in rb.all_steps():
        out += [(f"{section}[{i}].run", c) for c in step.commands()]
        if step.rollback is not None:
            runs = step.rollback.run
            out += [(f"{section}[{i}].rollback.run", c) for c in ([runs] if isinstance(runs, str) else runs)]
        for key in ("require", "verify", "until"):
            out += [(f"{section}[{i}].{key}[{n}].args.run", str(c.args["run"])) for n, c in enumerate(getattr(step, key)) if "run" in c.args]
    return out


def test_the_scan_finds_a_host_before_double_dash():
    rb = load_runbook(REPO / "runbooks" / "db2-hadr-verify.toml")
    assert hosts_before_double_dash("ssh -o BatchMode=yes {{ nodes.standby.address }} true", rb) == ["nodes.standby.address"]
    assert hosts_before_double_dash("rsync -a /x {{ node.hostname }}:/y && ssh -- {{ nodes.primary.name }} true", rb) == ["node.hostname"]
    assert hosts_before_double_dash("echo 1 '&&' /usr/bin/scp -q f {{ cluster.service_ip.address }}:/f", rb) == ["cluster.service_ip.address"]
    assert hosts_before_double_dash("ssh -o BatchMode=yes -- {{ nodes.standby.address }} true", rb) == []
    assert hosts_before_double_dash("rsync -a -- {{ cluster.db2.backup_dir }}/ {{ nodes.standby.address }}:/b/", rb) == []
    assert hosts_before_double_dash("rsync -a /b/*.{{ captured.ts }}.* -- {{ nodes.standby.address }}:/b/", rb) == []
    assert hosts_before_double_dash("ping -c1 {{ nodes.standby.address }}; scp -p {{ cluster.db2.port }} -- a b", rb) == []


RUNBOOKS = sorted((REPO / "runbooks").glob("*.toml"))


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.stem)
def test_shipped_commands_end_options_before_a_host(path: Path):
    rb = load_runbook(path)
    bad = [(where, name) for where, cmd in shell_texts(rb) for name in hosts_before_double_dash(cmd, rb)]
    assert not bad, f"{path.name}: a host before `--` in ssh/scp/rsync: {bad}"


# --- 3. passwords written into a runbook ----------------------------------------------------------
def test_literal_password_after_using_next_to_a_placeholder(validate_text):
    text = with_act_run('"db2 connect to {{ cluster.db2.database }} user {{ cluster.db2.instance }} using s3cret"')
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, "using s3cret")
    assert msg.startswith("steps[2].run: a literal password after USER … USING: secrets are never written in a runbook")


def test_a_string_parameter_after_using_is_refused(validate_text):
    text = with_act_run('"db2 connect to X user xcatdb using {{ params.pw }}"') + '\n[params.pw]\ntype = "string"\ndescription = "the password"\n'
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, "using {{ params.pw }}")
    assert msg == ('steps[2].run: the password after USER … USING is parameter "pw" of type "string": '
                   'a password is a parameter of type "secret" (prompted for, never stored, shown as ******)')


@pytest.mark.parametrize("name", ["db2_password", "pg_passwd", "pwd", "secret", "pw"])
def test_a_password_parameter_with_a_default_is_refused(validate_text, name):
    text = MINIMAL + f'\n[params.{name}]\ntype = "string"\ndescription = "x"\ndefault = "hunter2"\n'
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, 'default = "hunter2"')
    assert msg.startswith(f'params.{name}.default: "{name}" names a password and its default writes one in the runbook')


def test_parameters_named_like_but_not_for_passwords_keep_their_defaults(validate_text):
    text = MINIMAL + '\n[params.bypass_check]\ntype = "string"\ndescription = "x"\ndefault = "no"\n'
    assert validate_text(text).exit_code == 0


def test_a_secret_in_confirm_text_is_refused(validate_text):
    text = MINIMAL.replace("mutating = true", 'mutating = true\nconfirm = "typed"\nconfirm_text = "{{ params.pw }}"') \
        + '\n[params.pw]\ntype = "secret"\ndescription = "the password"\n'
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, "confirm_text")
    assert msg.startswith("steps[2].confirm_text: {{ params.pw }} is a secret: confirm_text is shown on the screen")


# --- 4. templates in texts that only the screen renders ------------------------------------------------
@pytest.mark.parametrize("key", ["label", "explain"])
def test_template_errors_in_choice_options(validate_text, key):
    option = '{ id = "stay", label = "Stay {{ params.mood }}" }' if key == "label" else '{ id = "stay", label = "Stay", explain = "to {{ params.mood }}" }'
    text = MINIMAL.replace('{ id = "stay", label = "Stay" }', option)
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, "params.mood")
    assert msg == f"steps[1].options[1].{key}: undefined parameter 'mood' (did you mean \"mode\"?)"
    bad = text.replace("{{ params.mood }}", "{{ params.mode | upper }}")
    [(_, msg)] = errors(validate_text(bad))
    assert msg.startswith(f"steps[1].options[1].{key}: malformed placeholder")


# --- 6. nesting that exhausts the parser ---------------------------------------------------------------
DEEP = {"array": "[" * 500 + "]" * 500, "inline table": "{ a = " * 500 + "1" + " }" * 500}


def _hamn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, text=True, cwd=cwd, timeout=60,
                          env={**os.environ, "XDG_STATE_HOME": str(cwd / "state")})


def _one_located_line(out: subprocess.CompletedProcess[str], path: Path, stream: str) -> None:
    text = getattr(out, stream).strip()
    assert "Traceback" not in out.stdout + out.stderr and "internal error" not in out.stdout + out.stderr
    m = re.fullmatch(rf"{re.escape(str(path))}:(\d+):\d+: arrays or inline tables nested more than 32 deep\b.*", text)
    assert m, out.stdout + out.stderr
    assert int(m[1]) == line_of(path.read_text(), "deep =")


@pytest.mark.parametrize("shape", DEEP)
def test_deep_nesting_in_a_runbook_is_a_located_error(tmp_path: Path, shape: str):
    book = tmp_path / "demo.toml"
    book.write_text(MINIMAL.replace('summary = "', f'deep = {DEEP[shape]}\nsummary = "'))
    v = _hamn("validate", str(book), cwd=tmp_path)
    assert v.returncode == 1
    _one_located_line(v, book, "stdout")
    r = _hamn("run", str(book), "--headless", "--yes", "--audit-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert r.returncode == 2
    _one_located_line(r, book, "stderr")


@pytest.mark.parametrize("shape", DEEP)
def test_deep_nesting_in_a_cluster_file_is_a_located_error(tmp_path: Path, shape: str):
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(EXAMPLE_CLUSTER.replace('[db2]\n', f'[db2]\ndeep = {DEEP[shape]}\n', 1))
    assert "deep =" in cluster.read_text()
    v = _hamn("validate", str(cluster), cwd=tmp_path)
    assert v.returncode == 1
    _one_located_line(v, cluster, "stdout")
    s = _hamn("status", "--cluster", str(cluster), cwd=tmp_path)
    assert s.returncode == 2
    _one_located_line(s, cluster, "stderr")


def test_brackets_in_strings_and_comments_are_not_nesting(validate_text):
    brackets = "[{" * 40
    text = MINIMAL.replace('summary = "', f"doc = '{brackets}'\nsummary = \"").replace(
        "options = [ {", f'options = [\n  # {brackets}\n  {{').replace('title = "Demo"', f'title = """{brackets}"""')
    v = validate_text(text)
    assert v.exit_code == 0, v.output
