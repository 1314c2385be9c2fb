"""One error hierarchy with stable codes.

Every failure an agent can cause or recover from is a `TaskloomError`. The server turns it
into an MCP tool error whose text starts with the code and ends with what to do next, so an
LLM can act on it without reading a traceback. Codes are part of the public contract: add new
ones, never rename.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


class TaskloomError(Exception):
    """Base class. `code` is stable; `hint` tells the caller what to do next."""

    code: ClassVar[str] = "internal"
    default_hint: ClassVar[str] = "Retry once; if it fails again, report it to the orchestrator."
    recoverable: ClassVar[bool] = True

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "recoverable": self.recoverable,
        }
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message} Next: {self.hint}"


class NotFound(TaskloomError):
    code = "not_found"
    default_hint = "Check the code; task_list, stream_list and sprint_list show what exists."


class Conflict(TaskloomError):
    code = "conflict"
    default_hint = "Re-read the item (task_get) to see its current version and state, then retry."


class InvalidTransition(TaskloomError):
    code = "invalid_transition"
    default_hint = "Use one of the allowed transitions named in the message."


class CycleDetected(TaskloomError):
    code = "cycle"
    default_hint = "Remove one dependency on the printed path; dependencies must form a DAG."


class LeaseLost(TaskloomError):
    code = "lease_lost"
    default_hint = (
        "You no longer hold this task (your lease expired or another agent has it). "
        "Stop working on it; call task_claim to get new work."
    )


class InvalidInput(TaskloomError):
    code = "invalid_input"
    default_hint = "Fix the arguments named in the message and call again."


class TooLarge(TaskloomError):
    code = "too_large"
    default_hint = "Send less: split the content or narrow the request. Nothing was stored."


class ReadOnly(TaskloomError):
    """The caller's credentials may only read, and the call would change something."""

    code = "read_only"
    default_hint = (
        "This token may only read: use the read tools, or ask for a write token (`taskloom token new`). "
        "Nothing was changed."
    )


class Busy(TaskloomError):
    code = "busy"
    default_hint = "The database is busy with other agents' writes; retry in a second."


class Storage(TaskloomError):
    """The database file is damaged, is not a taskloom database, or cannot be read or written."""

    code = "storage"
    default_hint = (
        "The database file is damaged or unreadable, not your input; nothing was changed. "
        "Stop and report it to the orchestrator (`taskloom check` says what is wrong)."
    )
    recoverable = False


class Forbidden(TaskloomError):
    """A browser request that failed the dashboard's sign-in or cross-site checks. Web only: no tool
    call can cause it, so it is not in ALL_ERRORS, whose codes each have a tool call that does."""

    code = "forbidden"
    default_hint = "Nothing was changed. Reload the dashboard's page and use its own forms."


class Unsupported(TaskloomError):
    """A command the chosen backend does not do (`taskloom backup` on PostgreSQL). CLI only: no tool
    call can cause it, so it is not in ALL_ERRORS."""

    code = "unsupported"
    default_hint = "Nothing was changed. The message names the tool that does this on your backend."


class Internal(TaskloomError):
    code = "internal"
    default_hint = "This is a taskloom bug, not your input; nothing was changed. Report it to the orchestrator."
    recoverable = False


ALL_ERRORS: tuple[type[TaskloomError], ...] = (
    NotFound,
    Conflict,
    InvalidTransition,
    CycleDetected,
    LeaseLost,
    InvalidInput,
    TooLarge,
    ReadOnly,
    Busy,
    Storage,
    Internal,
)


_TOO_LARGE_TYPES = {"string_too_long", "too_long", "bytes_too_long"}


def from_validation(exc: ValidationError) -> TaskloomError:
    """Name the fields and what is wrong with them, never echo the (possibly huge) values."""
    problems = []
    too_large = False
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
        too_large |= err["type"] in _TOO_LARGE_TYPES
    text = "Invalid arguments: " + "; ".join(problems) + "."
    if too_large:
        return TooLarge(text, hint="Shorten the fields named; nothing was stored.")
    return InvalidInput(text, hint="Fix the fields named, following the tool's input schema, and call again.")
