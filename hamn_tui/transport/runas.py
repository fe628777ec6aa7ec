"""Wrap shell text so it runs as another user, the way the node's `run_as` says.

Every method gives the target a *login* environment (its HOME, profile, PATH), because DB2
and PostgreSQL commands depend on the instance owner's profile. The command text reaches
the target's shell byte for byte: it is quoted once, with shlex.quote, and never pasted.
"""
from __future__ import annotations

import shlex
from typing import Literal

RunAs = Literal["su", "sudo", "runuser"]

# `sudo -i CMD` backslash-escapes every byte of CMD before handing it to the login shell,
# and a backslash-newline is a line continuation: multi-line commands lose their newlines
# (measured with sudo 1.9.13). So sudo starts the target's login shell itself instead:
# cd to HOME as -i does, then `$SHELL -l -c "$1"` (sudo's env_reset sets SHELL and HOME
# to the target's).
_SUDO_LOGIN = 'cd "$HOME" 2>/dev/null; exec "${SHELL:-/bin/sh}" -l -c "$1"'


def wrap(command: str, *, user: str | None, login_user: str, method: RunAs) -> str:
    """Shell text that runs `command` as `user`, for a shell logged in as `login_user`.

    No wrap when `user` is None or already the login user: the command runs as it is.
    """
    if user is None or user == login_user:
        return command
    if not user or user.startswith("-"):
        raise ValueError(f"not a user name: {user!r}")
    u, c = shlex.quote(user), shlex.quote(command)
    if method == "su":
        return f"su - {u} -c {c}"
    if method == "runuser":
        return f"runuser -l {u} -c {c}"
    if method == "sudo":
        return f"sudo -n -u {u} -H -- sh -c {shlex.quote(_SUDO_LOGIN)} hamn-sudo {c}"
    raise ValueError(f"unknown run_as method: {method!r}")
