"""The `hamn` command line: one module per command group, loaded when its command runs
(`main.Commands`); `errors` turns bad input into exit 2, `terminal` asks for a tty without Textual."""
from .main import entry, main

__all__ = ["entry", "main"]
