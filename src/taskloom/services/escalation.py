"""Escalation: when work needs a decision, tell the orchestrator role and the task's creator.

Four triggers: a task fails for good (max_attempts), a lease expires, an agent reports a
blocker, and a dependency fails. Each writes an escalation row on the affected task (its page
shows why) and one acknowledgeable message to the escalation role, which the task's creator
also reads in its inbox, in the same transaction as the change. One message means one
acknowledgement settles it, whoever handles it.
"""

from __future__ import annotations

from typing import Literal

from taskloom.domain.events import EventKind
from taskloom.domain.redact import redact
from taskloom.services import messages
from taskloom.services.common import Scope, event
from taskloom.store.base import Row, Tx

Trigger = Literal["max_attempts", "lease_expired", "blocker", "dependency_failed"]

_NEXT = {
    "max_attempts": "Decide: fix the cause and task_update it back to ready, split it, or cancel it.",
    "lease_expired": "The holder went quiet; the task is back in the queue. Check on that agent (agent_list).",
    "blocker": "Answer with task_unblock (the answer is noted on the task) or a message to the holder.",
    "dependency_failed": "These tasks cannot start. Repair or cancel the failed dependency, or change their dependencies.",
}


def escalate(tx: Tx, scope: Scope, task: Row, trigger: Trigger, reason: str) -> None:
    """Escalate one task: an escalation row on it, and a message its role and creator read."""
    reason = redact(reason).text
    subject = f"[{trigger}] {task['code']}: {task['title']}"[:200]
    body = f"{reason}\n\n{_NEXT[trigger]}"
    # One message, one acknowledgement: the inbox query also shows it to the task's creator.
    message_id = messages.post(
        tx, scope, f"role:{scope.escalation_role}", subject, body,
        task_id=task["id"], kind="escalation", ack_required=True,
    )
    tx.run(
        "escalation_insert",
        {"task_id": task["id"], "trigger": trigger, "reason": reason, "message_id": message_id, "now": scope.now},
    )
    event(tx, scope, EventKind.TASK_ESCALATED, task["code"], trigger=trigger)


def after_failure(tx: Tx, scope: Scope, task: Row, reason: str) -> None:
    """A task failed for good: escalate it, and each open task that now cannot start or finish."""
    code = task["code"]
    escalate(tx, scope, task, "max_attempts", f"{code} failed after its last attempt: {reason}")
    stream = tx.one("stream_by_id", {"id": task["stream_id"]}) if task["stream_id"] else None
    for waiting in tx.all("tasks_waiting_on_failed", {"id": task["id"]}):
        why = {
            "dependency": f"depends on {code}, which failed",
            "subtask": f"waits for its subtask {code}, which failed",
            "stream": f"is in a stream that depends on stream {stream and stream['code']}, where {code} failed",
        }[waiting["via"]]
        escalate(tx, scope, waiting, "dependency_failed", f"{waiting['code']} {why}: {reason}")
