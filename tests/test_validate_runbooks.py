"""Each runbook mistake named in the foundation issue: one located line, the key path, exit 1."""
from __future__ import annotations

import pytest

from .conftest import MINIMAL


def line_of(text: str, needle: str, nth: int = 0) -> int:
    hits = [n for n, l in enumerate(text.splitlines(), 1) if needle in l]
    return hits[nth]


def errors(v) -> list[tuple[int, str]]:
    assert v.exit_code == 1, v.output
    ms = v.located()
    assert len(ms) == len(v.lines), f"unlocated output:\n{v.output}"
    return [(int(m["line"]), m["msg"]) for m in ms]


def test_wrong_type(validate_text):
    text = MINIMAL.replace('mutating = true', 'mutating = "yes"')
    assert errors(validate_text(text)) == [(line_of(text, 'mutating = "yes"'), 'steps[2].mutating: expected true or false, got \'yes\'')]


def test_wrong_type_in_array(validate_text):
    text = MINIMAL.replace('databases = ["db2"]', 'databases = ["db2", 7]')
    [(line, msg)] = errors(validate_text(text))
    assert line == 5 and msg.startswith("runbook.databases[1]: ")


def test_unknown_key_with_did_you_mean(validate_text):
    text = MINIMAL.replace('mutating = true', 'mutating = true\ntiemout_s = 30')
    assert errors(validate_text(text)) == [(line_of(text, "tiemout_s"), 'steps[2].tiemout_s: unknown key "tiemout_s" (did you mean "timeout_s"?)')]


def test_unknown_key_in_inline_table(validate_text):
    text = MINIMAL.replace('{ id = "go", label = "Go" }', '{ id = "go", lable = "Go" }')
    [(line, msg)] = [e for e in errors(validate_text(text)) if "lable" in e[1]]
    assert line == line_of(text, "lable")
    assert msg == 'steps[1].options[0].lable: unknown key "lable" (did you mean "label"?)'


def test_unknown_top_level_key(validate_text):
    text = MINIMAL + '\n[paramz.x]\ntype = "int"\n'
    assert errors(validate_text(text)) == [(line_of(text, "[paramz.x]"), 'paramz: unknown key "paramz" (did you mean "params"?)')]


def test_duplicate_step_ids(validate_text):
    text = MINIMAL.replace('id = "act"', 'id = "look"')
    assert errors(validate_text(text)) == [(line_of(text, 'id = "look"', 1), 'steps[2].id: duplicate step id "look" (first at steps[0])')]


def test_unknown_step_reference(validate_text):
    text = MINIMAL.replace('when = { choice = "pick", equals = "go" }', 'when = { step = "lok", equals = "done" }')
    assert errors(validate_text(text)) == [(line_of(text, 'step = "lok"'), 'steps[2].when.step: unknown step "lok": no earlier step has that id (did you mean "look"?)')]


def test_reference_to_a_later_step_is_unknown(validate_text):
    text = MINIMAL.replace('when = { choice = "pick", equals = "go" }', 'when = { step = "act", equals = "done" }')
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith('steps[2].when.step: unknown step "act"')


def test_unknown_node(validate_text):
    text = MINIMAL.replace('node = "standby"\nuser', 'node = "standbye"\nuser')
    assert errors(validate_text(text)) == [(line_of(text, 'node = "standbye"'), 'steps[2].node: unknown node "standbye" (did you mean "standby"?): use local, primary, standby, @group')]


def test_unknown_node_in_a_check(validate_text):
    text = MINIMAL.replace('node = "standby"\nprobe', 'node = "primery"\nprobe')
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, 'node = "primery"')
    assert msg.startswith('steps[0].verify[0].node: unknown node "primery" (did you mean "primary"?)')


def test_unknown_group_checked_against_the_cluster(validate_text, tmp_path):
    from .conftest import REPO

    text = MINIMAL.replace('node = "standby"\nuser', 'node = "@service_node"\nuser')
    v = validate_text(text, "demo.toml", "--cluster", str(REPO / "examples" / "cluster.toml"))
    assert errors(v) == [(line_of(text, "@service_node"), 'steps[2].node: unknown group "@service_node" in the cluster file (did you mean "service_nodes"?)')]


def test_unknown_parameter_in_a_command(validate_text):
    text = MINIMAL.replace("on database {{ cluster.db2.database }}\"\nmutating", "on database {{ params.targt }}\"\nmutating")
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, "params.targt")
    assert msg == "steps[2].run: undefined parameter 'targt' (did you mean \"target\"?)"


def test_unknown_cluster_value(validate_text):
    text = MINIMAL.replace('user = "{{ cluster.db2.instance }}"', 'user = "{{ cluster.db2.instanse }}"')
    [(_, msg)] = errors(validate_text(text))
    assert msg == "steps[2].user: unknown cluster value 'cluster.db2.instanse' (did you mean \"cluster.db2.instance\"?)"


def test_unknown_probe(validate_text):
    text = MINIMAL.replace('probe = "db2.hadr"', 'probe = "db2.hard"')
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, 'probe = "db2.hard"')
    assert msg.startswith('steps[0].verify[0].probe: unknown probe "db2.hard" (did you mean "db2.hadr"?)')


def test_unknown_probe_field(validate_text):
    text = MINIMAL.replace('field = "state"', 'field = "sate"')
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith('steps[0].verify[0].field: probe "db2.hadr" has no field "sate" (did you mean "state"?)')


def test_check_needs_exactly_one_operator(validate_text):
    text = MINIMAL.replace('equals = "PEER"', 'equals = "PEER"\nnot_equals = "X"')
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith("steps[0].verify[0]: a check needs exactly one operator")


def test_mutating_step_without_rollback_or_irreversible(validate_text):
    start = MINIMAL.index("[steps.rollback]")
    text = MINIMAL[:start]
    assert errors(validate_text(text)) == [(line_of(text, "[[steps]]", 2), 'steps[2]: step "act" changes something (mutating) but has neither a rollback nor irreversible = true')]


def test_command_step_is_mutating_unless_it_says_otherwise(validate_text):
    text = MINIMAL[: MINIMAL.index("[steps.rollback]")].replace("mutating = true\n", "")
    [(_, msg)] = errors(validate_text(text))
    assert "neither a rollback nor irreversible" in msg
    assert validate_text(text.replace('node = "standby"\nuser', 'mutating = false\nnode = "standby"\nuser')).exit_code == 0


def test_irreversible_step_needs_no_rollback(validate_text):
    text = MINIMAL[: MINIMAL.index("[steps.rollback]")] + "irreversible = true\n"
    assert validate_text(text).exit_code == 0


@pytest.mark.parametrize(
    "command, what",
    [
        ("db2 takeover hadr on database XCATDB user xcatdb using cluster", "a literal password after USER … USING"),
        ("db2 connect to XCATDB USER db2inst1 USING s3cret", "a literal password after USER … USING"),
        ("PGPASSWORD=hunter2 psql -h mn1", "a literal password in PGPASSWORD="),
        ("sshpass -p hunter2 ssh mn1", "a literal password for sshpass -p"),
        ("psql 'host=mn1 password=hunter2'", "a literal password= value"),
    ],
)
def test_literal_password_in_a_command(validate_text, command, what):
    text = MINIMAL.replace('run = "db2 takeover hadr on database {{ cluster.db2.database }}"\nmutating', f'run = "{command}"\nmutating')
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, command)
    assert msg.startswith(f"steps[2].run: {what}: secrets are never written in a runbook")


def test_db2_using_for_a_cfg_value_is_not_a_password(validate_text):
    text = MINIMAL.replace("db2 takeover hadr on database {{ cluster.db2.database }}\"\nmutating", "db2 update db cfg for {{ cluster.db2.database }} using TRACKMOD ON\"\nmutating")
    assert validate_text(text).exit_code == 0


def test_a_secret_parameter_passes_a_password(validate_text):
    text = MINIMAL.replace(
        "db2 takeover hadr on database {{ cluster.db2.database }}\"\nmutating",
        "db2 connect to {{ cluster.db2.database }} user xcatdb using {{ params.pw }}\"\nmutating",
    ) + '\n[params.pw]\ntype = "secret"\ndescription = "instance password"\n'
    assert validate_text(text).exit_code == 0, validate_text(text).output


def test_secret_with_a_default_is_refused(validate_text):
    text = MINIMAL + '\n[params.pw]\ntype = "secret"\ndescription = "x"\ndefault = "hunter2"\n'
    [(line, msg)] = errors(validate_text(text))
    assert line == line_of(text, 'default = "hunter2"')
    assert msg == "params.pw.default: a secret is prompted for, never stored: remove its default"


def test_when_on_an_unknown_choice(validate_text):
    text = MINIMAL.replace('choice = "pick"', 'choice = "pik"')
    assert errors(validate_text(text)) == [(line_of(text, 'choice = "pik"'), 'steps[2].when.choice: unknown choice "pik": no earlier choice step has that id (did you mean "pick"?)')]


def test_when_on_an_unknown_option(validate_text):
    text = MINIMAL.replace('equals = "go" }', 'equals = "goo" }')
    [(_, msg)] = errors(validate_text(text))
    assert msg == 'steps[2].when: choice "pick" has no option "goo" (did you mean "go"?); options: go, stay'


def test_when_on_a_step_that_is_not_a_choice(validate_text):
    text = MINIMAL.replace('choice = "pick"', 'choice = "look"')
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith('steps[2].when.choice: unknown choice "look"')


def test_when_on_a_param_value_of_the_wrong_kind(validate_text):
    text = MINIMAL.replace('when = { choice = "pick", equals = "go" }', 'when = { param = "mode", equals = "medium" }')
    [(_, msg)] = errors(validate_text(text))
    assert msg == "steps[2].when: 'medium' is not one of fast, slow (parameter \"mode\")"


def test_placeholder_inside_quotes_is_refused(validate_text):
    text = MINIMAL.replace('run = "db2 takeover hadr on database {{ cluster.db2.database }}"\nmutating', "run = \"db2 'takeover hadr on database {{ cluster.db2.database }}'\"\nmutating")
    [(_, msg)] = errors(validate_text(text))
    assert msg == "steps[2].run: {{ cluster.db2.database }} is inside quotes: values are quoted for you, so write the placeholder outside quotes"


def test_malformed_placeholder(validate_text):
    text = MINIMAL.replace("{{ cluster.db2.database }}\"\nmutating", "{{ cluster.db2.database | upper }}\"\nmutating")
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith("steps[2].run: malformed placeholder '{{ cluster.db2.database | upp")


def test_typed_confirmation_needs_its_text(validate_text):
    text = MINIMAL.replace("mutating = true", 'mutating = true\nconfirm = "typed"')
    [(_, msg)] = errors(validate_text(text))
    assert msg == 'steps[2].confirm: confirm = "typed" needs confirm_text (what the operator must type)'


def test_kind_specific_keys(validate_text):
    text = MINIMAL.replace('kind = "check"', 'kind = "check"\nrun = "true"')
    [(_, msg)] = errors(validate_text(text))
    assert msg == 'steps[0].run: run does not apply to a step of kind "check"'


def test_id_must_match_the_file_name(validate_text):
    [(line, msg)] = errors(validate_text(MINIMAL, "other.toml"))
    assert line == 2
    assert msg.startswith('runbook.id: id "demo" differs from the file name "other.toml"')


def test_several_problems_are_all_reported_in_line_order(validate_text):
    text = MINIMAL.replace('probe = "db2.hadr"', 'probe = "nope"').replace('choice = "pick"', 'choice = "nope"')
    found = errors(validate_text(text))
    assert len(found) == 2
    assert [l for l, _ in found] == sorted(l for l, _ in found)


def test_control_characters_in_values_stay_on_one_line(validate_text):
    text = MINIMAL.replace('node = "standby"\nuser', 'node = "st\\u001b[2Jx\\nb"\nuser')
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith('steps[2].node: unknown node "st\\x1b[2Jx\\nb"')


def test_check_values_may_name_cluster_values(validate_text):
    text = MINIMAL.replace('equals = "PEER"', 'equals = "{{ cluster.db2.syncmode }}"').replace('field = "state"', 'field = "syncmode"')
    assert validate_text(text).exit_code == 0
    bad = text.replace("cluster.db2.syncmode", "cluster.db2.syncmod")
    [(_, msg)] = errors(validate_text(bad))
    assert msg.startswith("steps[0].verify[0].equals: unknown cluster value 'cluster.db2.syncmod'")


def test_check_user_only_for_command_probe(validate_text):
    text = MINIMAL.replace('equals = "PEER"', 'equals = "PEER"\nuser = "root"')
    [(_, msg)] = errors(validate_text(text))
    assert msg.startswith('steps[0].verify[0].user: user applies only to the "command" probe')


def test_when_may_list_conditions_that_all_hold(validate_text):
    text = MINIMAL.replace('when = { choice = "pick", equals = "go" }', 'when = [ { choice = "pick", equals = "go" }, { param = "mode", equals = "fast" } ]')
    assert validate_text(text).exit_code == 0
    bad = text.replace('{ param = "mode", equals = "fast" }', '{ param = "mood", equals = "fast" }')
    [(line, msg)] = errors(validate_text(bad))
    assert msg == 'steps[2].when[1].param: unknown parameter "mood" (did you mean "mode"?)'
    assert line == line_of(bad, '"mood"')


def test_rollback_may_use_its_own_steps_capture(validate_text):
    text = MINIMAL.replace('mutating = true', 'mutating = true\ncapture = [ { name = "ts", regex = "(\\\\d+)" } ]').replace(
        '[steps.rollback]\nrun = "db2 takeover hadr on database {{ cluster.db2.database }}"', '[steps.rollback]\nrun = "rm -f /backup/{{ captured.ts }}"'
    )
    assert validate_text(text).exit_code == 0, validate_text(text).output
    # but the step's own command cannot use it: it does not exist before the step ran
    bad = text.replace('run = "db2 takeover hadr on database {{ cluster.db2.database }}"\nmutating', 'run = "echo {{ captured.ts }}"\nmutating')
    [(_, msg)] = errors(validate_text(bad))
    assert msg == "steps[2].run: 'ts' is not captured by an earlier step"


def test_numeric_bound_from_the_cluster_file(validate_text):
    text = MINIMAL.replace('field = "state"\nequals = "PEER"', 'field = "log_gap_bytes"\nle = "{{ cluster.pg.max_lag_bytes }}"')
    assert validate_text(text).exit_code == 0, validate_text(text).output
    bad = text.replace('le = "{{ cluster.pg.max_lag_bytes }}"', 'le = "lots"')
    [(_, msg)] = errors(validate_text(bad))
    assert msg == "steps[0].verify[0].le: le takes a number or one placeholder naming a number, not 'lots'"
