"""Run-as wrapping: the command reaches the target user's shell byte for byte, in a login environment."""
from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess

import pytest
from hypothesis import given, strategies as st

from hamn_tui.transport.runas import wrap

from .sshd_fixture import test_user  # noqa: F401

# Quotes of both kinds, $( ), backticks, backslashes, a variable, globs and newlines.
PAYLOAD = """it's "quoted" and 'single' $(echo NOT-RUN) `echo NOT-RUN` $HOME \\n \\\\ * ?
second line\twith a tab; echo NOT-RUN && false || true
"""
TRICKY = (
    "cat <<'HAMN_EOF'\n" + PAYLOAD + "HAMN_EOF\n"
    'echo "sub: $(id -un)" \'lit: $(id -un)\'\n'
    "printf '%s\\n' \"home: $HOME\" \"pwd: $(pwd)\"\n"
)


def expected(user: str) -> str:
    home = pwd.getpwnam(user).pw_dir
    return PAYLOAD + f"sub: {user} lit: $(id -un)\nhome: {home}\npwd: {home}\n"


@pytest.mark.parametrize("method", ["su", "runuser"])
def test_su_and_runuser_hand_over_the_exact_text(method):
    argv = shlex.split(wrap(TRICKY, user="db2inst1", login_user="root", method=method))
    assert argv[-1] == TRICKY
    assert argv[:-1] == (["su", "-", "db2inst1", "-c"] if method == "su" else ["runuser", "-l", "db2inst1", "-c"])


def test_sudo_hands_over_the_exact_text_without_sudo_i():
    argv = shlex.split(wrap(TRICKY, user="db2inst1", login_user="admin", method="sudo"))
    assert argv[:6] == ["sudo", "-n", "-u", "db2inst1", "-H", "--"]
    assert argv[-1] == TRICKY and "-i" not in argv


@given(text=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
       method=st.sampled_from(["su", "runuser", "sudo"]))
def test_any_text_survives_quoting(text, method):
    assert shlex.split(wrap(text, user="u", login_user="root", method=method))[-1] == text


def test_no_wrap_for_the_login_user_or_none():
    assert wrap("id -un", user=None, login_user="root", method="su") == "id -un"
    assert wrap("id -un", user="root", login_user="root", method="sudo") == "id -un"


@pytest.mark.parametrize("bad", ["", "-c", "--login"])
def test_user_names_that_would_be_options_are_refused(bad):
    with pytest.raises(ValueError):
        wrap("true", user=bad, login_user="root", method="su")


@pytest.mark.parametrize("method", ["runuser", "su", "sudo"])
def test_really_runs_as_the_user_with_the_text_intact(method, test_user):  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    if shutil.which(method) is None:
        pytest.skip(f"{method} is not installed")
    out = subprocess.run(["bash", "-c", wrap(TRICKY, user=test_user, login_user="root", method=method)],
                         capture_output=True, text=True, timeout=30, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected(test_user)
