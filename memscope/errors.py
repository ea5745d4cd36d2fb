"""Errors that reach the user as one line, and the exit codes that are part of the API."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Scripts depend on these: never renumber."""

    OK = 0
    SQL_ERROR = 1
    USAGE = 2  # bad arguments, bad config, unknown names, bad input files
    STORE_UNAVAILABLE = 3  # home missing/unwritable, catalog or part unreadable
    RUN_FAILED = 4  # the run (or an analysis it required) failed
    INTERRUPTED = 130  # Ctrl-C / SIGTERM


class MemscopeError(Exception):
    """An error with a message meant for the user and the exit code it maps to.

    The message names what is wrong and, where possible, the way out. The CLI prints it
    on one line (``memscope: error: ...``) with no traceback.
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, exit_code: ExitCode | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(MemscopeError):
    """A config file or override is invalid (unknown key, wrong type, out of range)."""


class UnknownNameError(MemscopeError):
    """A dataset, model, noise model or analysis name that no plugin registered."""


class DataError(MemscopeError):
    """A dataset is missing or malformed."""


class StoreError(MemscopeError):
    """The results home or one of its files cannot be used."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class QueryError(MemscopeError):
    """A SQL statement failed or was refused."""

    exit_code = ExitCode.SQL_ERROR


class RunFailed(MemscopeError):
    """Training or an analysis failed; the run directory says why."""

    exit_code = ExitCode.RUN_FAILED


class RunCancelled(MemscopeError):
    """The run was interrupted by SIGTERM or Ctrl-C and marked cancelled."""

    exit_code = ExitCode.INTERRUPTED
