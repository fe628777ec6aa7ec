"""Every operator action, once: it makes the key bindings, the footer, the command palette and
the help screen, so the four never disagree (Harlequin's HARLEQUIN_ACTIONS, Posting's ids).

Keys are letters, F-keys and ctrl combinations that survive SSH, tmux and serial consoles;
Esc never confirms anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class Command:
    id: str
    keys: str
    action: str
    label: str
    help: str
    screens: tuple[str, ...]
    footer: bool = True


COMMANDS: tuple[Command, ...] = (
    # home
    Command("home.open", "enter", "open_runbook", "Open runbook", "Open the selected runbook: its steps, gates and commands, before anything runs.", ("home",)),
    Command("home.review", "v", "review_run", "Review run", "Replay the selected recent run from its audit log, verification first.", ("home",)),
    Command("home.refresh", "ctrl+r", "refresh", "Refresh", "Read both nodes' status now.", ("home", "run")),
    Command("home.focus_next", "tab", "app.focus_next", "Next pane", "Move between the runbook list and recent runs.", ("home",), footer=False),
    # run
    Command("run.run", "r", "run", "Run", "Start the run; at a confirmation, open it again (it shows the command, node, user and gates); while waiting for a witness or a second operator, show that dialog again (the code to compare).", ("run",)),
    Command("run.skip", "s", "skip", "Skip", "Skip the step the run is waiting on (also while it waits for a witness or a second operator); a reason is required and recorded.", ("run",)),
    Command("run.retry", "t", "retry", "Retry", "Try the failed step again (its gates are read again first); after a refused approval, make a new request.", ("run",)),
    Command("run.rollback", "b", "rollback", "Roll back", "Undo the done steps in reverse order, down to the last irreversible one.", ("run",)),
    Command("run.done", "d", "decide_done", "Mark done", "An unknown outcome: you checked and it happened (reason required).", ("run",)),
    Command("run.fail", "x", "decide_fail", "Mark failed", "Stop here as failed (an unknown outcome needs a reason).", ("run",)),
    Command("run.abort", "a", "abort", "Abort", "Stop the run (a running command is interrupted first; its outcome is then unknown).", ("run",)),
    Command("run.note", "n", "note", "Note", "Write a note into the audit log, on the selected step.", ("run",)),
    Command("run.doc", "o", "doc", "Step docs", "The selected step's explanation and documentation.", ("run",)),
    Command("run.follow", "end", "follow", "Follow output", "Jump to the newest output and keep following it.", ("run", "review"), footer=False),
    Command("run.next_node", "right_square_bracket", "next_node", "Next node", "A group step: show the next node's output.", ("run", "review"), footer=False),
    Command("run.prev_node", "left_square_bracket", "prev_node", "Previous node", "A group step: show the previous node's output.", ("run", "review"), footer=False),
    Command("run.back", "escape", "back", "Back", "Back to the home screen (not while a run is going on).", ("run", "review")),
    # review
    Command("review.output", "enter", "show_output", "Output", "Show the selected step's recorded output.", ("review",), footer=False),
    # everywhere
    Command("app.help", "f1,question_mark", "app.help", "Help", "Every key, on every screen.", ("home", "run", "review")),
    Command("app.palette", "ctrl+p", "app.command_palette", "Commands", "Search the actions by name.", ("home", "run", "review"), footer=False),
    Command("app.quit", "ctrl+q", "app.quit_safely", "Quit", "Quit (asks first while a run is going on).", ("home", "run", "review")),
)


def bindings(screen: str) -> list[Binding]:
    out = []
    for c in COMMANDS:
        if screen in c.screens and not c.action.startswith("app."):
            out.append(Binding(c.keys, c.action, c.label, show=c.footer, id=c.id, tooltip=c.help))
    return out


def app_bindings() -> list[Binding]:
    return [Binding(c.keys, c.action.removeprefix("app."), c.label, show=c.footer, id=c.id, tooltip=c.help, priority=c.id == "app.quit")
            for c in COMMANDS if c.action.startswith("app.") and c.id.startswith("app.")]


def for_screen(screen: str) -> list[Command]:
    return [c for c in COMMANDS if screen in c.screens]


def key_label(keys: str) -> str:
    """How a key is written for people: `ctrl+r` -> Ctrl+R, `f1,question_mark` -> F1 / ?."""
    names = {"question_mark": "?", "escape": "Esc", "enter": "Enter", "end": "End", "tab": "Tab",
             "left_square_bracket": "[", "right_square_bracket": "]"}

    def one(k: str) -> str:
        if k in names:
            return names[k]
        if k.startswith("ctrl+"):
            return "Ctrl+" + k[5:].upper()
        return k.upper() if k[:1] == "f" and k[1:].isdigit() else k

    return " / ".join(one(k) for k in keys.split(","))


class ActionsProvider(Provider):
    """The command palette: the current screen's actions, searchable by name."""

    def _commands(self) -> list[Command]:
        name = getattr(self.screen, "SCREEN_NAME", "home")
        return [c for c in for_screen(name) if c.action not in ("app.command_palette", "app.focus_next")]

    async def _run(self, command: Command) -> None:
        action = command.action
        target = self.app if action.startswith("app.") else self.screen
        await target.run_action(action.removeprefix("app."))

    async def discover(self) -> Hits:
        for c in self._commands():
            yield DiscoveryHit(f"{c.label}  ({key_label(c.keys)})", partial(self._run, c), help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in self._commands():
            score = matcher.match(c.label + " " + c.help)
            if score > 0:
                yield Hit(score, matcher.highlight(c.label), partial(self._run, c), help=c.help)
