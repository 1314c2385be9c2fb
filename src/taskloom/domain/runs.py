"""The runner's rules: how long a unit of work waits before its next worker, when to stop
starting an agent that cannot start, and what a worker's end means for its task.

Free of processes and SQL: the supervisor (runner/supervisor.py) applies them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

BACKOFF_FIRST = 5.0  # seconds before a unit's second worker
BACKOFF_MAX = 300.0  # seconds: the longest wait between workers for one unit
PAUSE_AFTER = 3  # consecutive failures of one preset with the same error before it is paused


class Outcome(StrEnum):
    """How a run ended, as the runs table records it."""

    DONE = "done"  # the worker finished its unit (its task is no longer in progress)
    HANDED_BACK = "handed_back"  # it exited holding its task: the runner gave the task back
    EXITED = "exited"  # it exited holding nothing, the unit unfinished
    STOPPED = "stopped"  # the runner stopped it (shutdown, --worker-timeout)
    NOT_STARTED = "not_started"  # the agent program could not be started
    LOST = "lost"  # its runner died and the process is gone, or cannot be checked


def backoff(failures: int, first: float = BACKOFF_FIRST) -> float:
    """Seconds a unit waits after `failures` runs that ended without finishing it."""
    if failures <= 0:
        return 0.0
    return min(first * 2 ** (failures - 1), BACKOFF_MAX)


@dataclass
class PresetHealth:
    """Whether an agent preset still starts. The likeliest real failure is expired or missing
    credentials ("Not logged in"): each worker then fails at once, and respawning them only burns
    attempts. After PAUSE_AFTER consecutive failures with one error the preset is paused."""

    recent: deque[str | None] = field(default_factory=lambda: deque(maxlen=PAUSE_AFTER))
    paused: str | None = None  # the error it was paused for

    def record(self, error: str | None, *, certain: bool = False) -> bool:
        """One run of the preset ended with `error` (None: it worked). True if this pauses it.

        `certain`: the error will recur for every worker (its program is missing), so one is
        enough to pause: trying twice more would only cost the back-off."""
        if error is None:
            self.recent.clear()
            return False
        self.recent.append(error)
        if self.paused is None and certain:
            self.paused = error
            return True
        if self.paused is None and len(self.recent) == PAUSE_AFTER and len(set(self.recent)) == 1:
            self.paused = error
            return True
        return False


def handback_note(exit_code: int | None, last_line: str, error: str | None) -> str:
    """The note a task gets when its worker exits without finishing it."""
    how = "was stopped" if exit_code is None else f"exited with code {exit_code}"
    parts = [f"The runner's worker {how} while holding this task."]
    if error:
        parts.append(f"The agent reported: {error}.")
    if last_line:
        parts.append(f"Last log line: {last_line[:300]}")
    return " ".join(parts)
