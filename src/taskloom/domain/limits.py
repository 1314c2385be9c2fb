"""Size limits. Going over one is a `too_large` error, never a silent truncation."""

from __future__ import annotations

from taskloom.errors import InvalidInput, TooLarge

MAX_TITLE = 200  # characters
MAX_TEXT = 64 * 1024  # bytes (UTF-8) for descriptions, context and notes
MAX_PAGE = 200  # items per page or per batch
MAX_SUBTASK_DEPTH = 5  # a top-level task is depth 1
MAX_LABELS = 20
MAX_NAME = 100  # codes, roles, labels, agent names
MAX_PLAN_TASKS = 100_000
LATEST_NOTES = 10  # notes returned with a claim or a task_get
TASK_ARTIFACTS = 20  # artifacts returned with a claim or a task_get


def check_text(field: str, value: str | None, limit: int = MAX_TEXT) -> None:
    if value is None:
        return
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        # A lone surrogate is not text: no table column can store it, and a JSON payload that
        # escapes it would break every reader of the page it lands on.
        raise InvalidInput(
            f"{field} holds an unpaired UTF-16 surrogate.", hint=f"Send {field} as valid Unicode text."
        ) from None
    if size > limit:
        raise TooLarge(
            f"{field} is {size} bytes; the limit is {limit} bytes.",
            hint=f"Shorten {field}, or split it across notes. Nothing was stored.",
            details={"field": field, "size": size, "limit": limit},
        )


def check_title(field: str, value: str) -> None:
    if not value.strip():
        raise InvalidInput(f"{field} is empty.", hint=f"Give a short, non-empty {field}.")
    if len(value) > MAX_TITLE:
        raise TooLarge(
            f"{field} is {len(value)} characters; the limit is {MAX_TITLE}.",
            hint=f"Shorten {field}; put detail in the description.",
            details={"field": field, "size": len(value), "limit": MAX_TITLE},
        )


def check_batch(field: str, count: int, limit: int = MAX_PAGE) -> None:
    if count > limit:
        raise TooLarge(
            f"{field} has {count} items; the limit is {limit} per call.",
            hint=f"Send at most {limit} per call, or use plan_import for large plans.",
            details={"field": field, "size": count, "limit": limit},
        )
