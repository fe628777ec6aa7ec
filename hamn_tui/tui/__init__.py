"""The Textual UI — the only package that imports Textual (tests/test_layers.py enforces it).

It drives the engine only through events and the Operator protocol (`bridge.py`); the screens
get everything else from one `Workspace` (`app/workspace.py`). `make_app` is shared by the CLI, the
tests and the screenshot script.
"""
