"""The lab's errors: each message is one line that names what is missing or wrong."""
from __future__ import annotations


class LabError(Exception):
    """The lab cannot be brought up, used or taken down; the message says why."""


class LabNotUp(LabError):
    """The lab is not running (or only partly): `hamn lab up` starts it."""
