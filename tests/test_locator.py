"""Key paths are found on their own lines, through tables, arrays of tables and inline tables."""
from __future__ import annotations

from hamn_tui.inputs.locator import TomlLocator

DOC = '''\
# comment with [brackets] and = signs
[runbook]
id = "x"
description = """
[[steps]]
not = "a key"
"""

[[steps]]
id = "a"
run = ["one",
  "two"]
[[steps.verify]]
field = "state"
[[steps.verify]]
field = "role"
args = { run = "x", "quoted key" = 1 }

[[steps]]
id = "b"
options = [ { id = "o1" },
            { id = "o2", label = "L" } ]
[steps.rollback]
run = 'a'
"dotted"."key" = 1
'''


def test_positions():
    loc = TomlLocator(DOC)
    assert loc(("runbook", "id")) == (3, 1)
    assert loc(("steps", 0)) == (9, 1)
    assert loc(("steps", 0, "id")) == (10, 1)
    assert loc(("steps", 0, "run", 1)) == (12, 3)
    assert loc(("steps", 0, "verify", 1, "field")) == (16, 1)
    assert loc(("steps", 0, "verify", 1, "args", "run")) == (17, 10)
    assert loc(("steps", 0, "verify", 1, "args", "quoted key")) == (17, 21)
    assert loc(("steps", 1, "options", 1, "label")) == (22, 26)
    assert loc(("steps", 1, "rollback", "run")) == (24, 1)
    assert loc(("steps", 1, "rollback", "dotted", "key")) == (25, 1)


def test_multiline_string_is_not_structure():
    loc = TomlLocator(DOC)
    assert ("not",) not in loc.positions
    assert loc(("steps", 2)) == loc(("steps",))  # only two steps exist


def test_unknown_path_falls_back_to_its_parent():
    loc = TomlLocator(DOC)
    assert loc(("steps", 1, "options", 1, "nope")) == (22, 13)
    assert loc(("nothing",)) == (1, 1)
