"""Tagging a run and writing its note from the app (t and N on Runs): a one-line dialog,
then the same results-layer call as ``memscope runs tag`` / ``memscope runs note``."""

from __future__ import annotations

import shlex
from typing import Callable

from textual.screen import Screen

from memscope.errors import ConfigError
from memscope.results.runs import RunRow, note_run, tag_run
from memscope.tui.screens.dialogs import PromptScreen


def tag_words(text: str) -> list[str]:
    """``arch=wide "why=lr too high"`` -> the KEY=VALUE words (quotes keep spaces in a value)."""
    try:
        return shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise ConfigError(f"tags {text!r}: {exc}; write KEY=VALUE pairs separated by spaces") from None


def describe_tags(run: RunRow) -> str:
    return " ".join(shlex.quote(f"{k}={v}") for k, v in run.tags.items())


def annotation_line(run: RunRow | None) -> str:
    """``tags arch=wide · note lr too high`` (the note on one line); empty when neither is set."""
    if run is None:
        return ""
    tags = " ".join(f"{k}={v}" for k, v in run.tags.items())
    note = " ".join(run.notes.split())
    return " · ".join(part for part in (f"tags {tags}" if tags else "", f"note {note}" if note else "") if part)


def ask_tag(screen: Screen, run: RunRow, done: Callable[[], None]) -> None:
    """Ask for tags to set on ``run``; ``done`` runs (on the app's thread) once they are stored."""
    message = ("KEY=VALUE pairs separated by spaces; KEY= removes a tag (as 'memscope runs tag').\n"
               f"Now: {describe_tags(run) or '(no tags)'}")

    def answered(text: str | None) -> None:
        if text:
            _store(screen, f"Tagged {run.run_id}", lambda: tag_run(screen.app.home, run.run_id, tag_words(text)), done)

    screen.app.push_screen(PromptScreen(f"Tag {run.run_id}", message, placeholder="arch=wide"), answered)


def ask_note(screen: Screen, run: RunRow, done: Callable[[], None]) -> None:
    """Ask for ``run``'s note (the current one to edit; empty clears it), as 'memscope runs note'."""

    def answered(text: str | None) -> None:
        if text is not None:
            verb = "Noted" if text else "Cleared the note of"
            _store(screen, f"{verb} {run.run_id}", lambda: note_run(screen.app.home, run.run_id, text), done)

    screen.app.push_screen(
        PromptScreen(f"Note on {run.run_id}", "One line; empty clears the note (as 'memscope runs note').",
                     value=run.notes.replace("\n", " "), placeholder="lr too high: diverged after warmup",
                     allow_empty=True),
        answered,
    )


def _store(screen: Screen, said: str, write: Callable[[], RunRow], done: Callable[[], None]) -> None:
    """Write in a worker (run.json is locked and rewritten), then say so and refresh."""
    app = screen.app

    def worker() -> None:
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - a running run refuses edits: say why, stay open
            app.report_error(exc, "annotate")
            return
        app.call_from_thread(app.notify, said, title="annotate", markup=False)
        app.call_from_thread(done)

    app.run_worker(worker, thread=True, group="annotate", exit_on_error=False)
