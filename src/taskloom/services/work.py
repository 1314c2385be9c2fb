"""The work cycle: claim, heartbeat, finish, fail, release, block, review, and checked moves.

Every write is conditional on the state it expects (status, claimer), so a stale agent gets
`lease_lost` instead of overwriting someone else's work, and several resolvers can run at once.
"""

from __future__ import annotations

from taskloom.clock import iso
from taskloom.domain.events import EventKind
from taskloom.domain.limits import check_text
from taskloom.domain.redact import Masked, redact
from taskloom.domain.statuses import (
    HELD,
    MANUAL_TARGETS,
    SCHEDULABLE,
    TERMINAL,
    TaskStatus,
    after_attempt,
    check_manual,
    check_transition,
    finish_status,
)
from taskloom.errors import InvalidInput, InvalidTransition, LeaseLost, TaskloomError
from taskloom.models import BulkResult, ClaimResult, WorkResult
from taskloom.services import artifacts, escalation, messages, reservations
from taskloom.services.common import (
    Scope,
    attempt_params,
    brief_by_id,
    claim_filters,
    detail_form,
    event,
    note,
    task_row,
)
from taskloom.services.readiness import Settle
from taskloom.store.base import Row, Tx

S = TaskStatus


def claim(
    tx: Tx,
    scope: Scope,
    *,
    code: str | None = None,
    role: str | None = None,
    stream: str | None = None,
    labels: list[str] | None = None,
) -> ClaimResult:
    agent = scope.require_agent()
    expires = scope.now + scope.lease_seconds
    params = {"project": scope.project_id, "agent": agent, "now": scope.now, "expires": expires}
    if code is not None:
        got = tx.one("claim_code", {**params, "code": code})
        if got is None:
            return _claim_named_failed(tx, scope, code, agent, expires)
    else:
        got = tx.one("claim_next", {**params, **claim_filters(tx, scope, role, stream, labels, registered=False)})
        if got is None:
            # Say why in a separate read (outlook.nothing_ready), not while holding the write lock.
            return ClaimResult(claimed=False, message="")
    Settle(tx, scope).after_claim(got["stream_id"]).run()
    if got["thread"]:  # the claim's own statement says whether the task has a thread to read
        tx.run("thread_readers_join", {"task_id": got["id"], "agent": agent})
    until = iso(expires)
    event(tx, scope, EventKind.TASK_CLAIMED, got["code"], lease_expires_at=until)
    return _claimed(
        detail_form(tx, scope, got["code"]),
        scope,
        f"You hold {got['code']} until {until}. Call task_heartbeat before then; "
        "finish with task_done, task_fail or task_release.",
    )


def _claimed(form: dict, scope: Scope, message: str) -> ClaimResult:
    """A successful claim's answer, validated once from its JSON form (models.forms)."""
    return ClaimResult.of_form(
        {
            "claimed": True,
            "detail": form,
            "lease_seconds": float(scope.lease_seconds),  # a float field dumps 600 as 600.0
            "open_tasks": None,
            "outlook": None,
            "message": message,
        }
    )


def _claim_named_failed(tx: Tx, scope: Scope, code: str, agent: str, expires: float) -> ClaimResult:
    row = task_row(tx, scope, code)
    if row["status"] == S.IN_PROGRESS and row["claimed_by"] == agent:
        # Claiming what you already hold is a safe retry: renew and hand it back.
        tx.one("lease_renew", {"id": row["id"], "agent": agent, "expires": expires})
        return _claimed(
            detail_form(tx, scope, code),
            scope,
            f"You already held {code}; the lease is renewed until {iso(expires)}.",
        )
    holder = f", claimed by {row['claimed_by']}" if row["status"] == S.IN_PROGRESS else ""
    raise InvalidTransition(
        f"Task {code} is {row['status']}{holder}; only ready tasks can be claimed.",
        hint="Call task_claim without a task to get the next ready one.",
        details={"task": code, "status": row["status"]},
    )


def _held(tx: Tx, scope: Scope, code: str, agent: str) -> Row:
    """The task, if `agent` holds it; otherwise why not (or not_found)."""
    row = task_row(tx, scope, code)
    if row["status"] == S.IN_PROGRESS and row["claimed_by"] == agent:
        return row
    raise _not_held(tx, scope, row, agent)


def _not_held(tx: Tx, scope: Scope, row: Row, agent: str) -> TaskloomError:
    """`lease_lost` only for an agent that did hold the task (it must stop working on it); one that
    never held it gets `invalid_transition`, as claiming a task that is not ready does: the move is
    not open to it in the task's state, and the message names the state and the way forward."""
    code, status, holder = row["code"], S(row["status"]), row["claimed_by"]
    details = {"task": code, "status": status, "claimed_by": holder}
    if status is S.BLOCKED and holder == agent:
        return InvalidTransition(
            f"{code} is blocked: you hold it, and its lease is paused until task_unblock.",
            hint="Wait for the answer in your inbox: task_unblock gives the task back to you with a fresh lease.",
            details=details,
        )
    state = _state(row)
    if tx.one("task_claimed_by", {"project": scope.project_id, "code": code, "agent": agent}):
        return LeaseLost(f"You no longer hold {code}: {state}.", details=details)
    if status is S.READY:
        hint = f"Call task_claim(task={code!r}) first, then work on it."
    elif status in HELD:
        hint = f"Only its holder can renew, finish, fail or release it; message {holder} to coordinate, or task_claim other work."
    else:
        hint = "There is nothing for you to do on it; task_claim gets you ready work."
    return InvalidTransition(f"You never held {code}: {state}.", hint=hint, details=details)


def _state(row: Row) -> str:
    status, holder = row["status"], row["claimed_by"]
    if status == S.IN_PROGRESS:
        return f"{row['code']} is held by {holder}"
    if status == S.READY:
        return f"{row['code']} is ready: nobody holds it"
    if status == S.BLOCKED and holder:
        return f"{row['code']} is blocked, held by {holder}"
    if status == S.WAITING:
        return f"{row['code']} is waiting for its dependencies: nobody can hold it yet"
    by = f" (by {holder})" if holder and status in (S.DONE, S.REVIEW) else ""
    return f"{row['code']} is {status}{by}"


def heartbeat(tx: Tx, scope: Scope, code: str) -> WorkResult:
    agent = scope.require_agent()
    row = _held(tx, scope, code, agent)
    expires = scope.now + scope.lease_seconds
    tx.one("lease_renew", {"id": row["id"], "agent": agent, "expires": expires})
    reservations.renew_for_task(tx, scope, row["id"])
    event(tx, scope, EventKind.LEASE_RENEWED, code, lease_expires_at=iso(expires))
    return WorkResult(task=brief_by_id(tx, row["id"]), lease_expires_at=iso(expires), message="Lease renewed.")


def done(tx: Tx, scope: Scope, code: str, summary: str, attach: list[str] | None = None) -> WorkResult:
    agent = scope.require_agent()
    if not summary.strip():
        raise InvalidInput("The summary is empty.", hint="Say in a few lines what you did and where it is.")
    check_text("summary", summary)
    clean = redact(summary)
    summary = clean.text
    row = task_row(tx, scope, code)
    if row["status"] in (S.DONE, S.REVIEW) and row["claimed_by"] == agent:
        if attach:  # a retry whose first answer was lost still gets its artifacts linked
            artifacts.attach(tx, scope, code, attach)
        return WorkResult(task=brief_by_id(tx, row["id"]), message=f"{code} was already {row['status']}.")
    row = _held(tx, scope, code, agent)
    if attach:
        # In the same transaction: an unknown artifact fails the whole call, the task stays held.
        artifacts.attach(tx, scope, code, attach)
    status = finish_status(bool(row["requires_review"]))
    tx.run("task_finish", {"id": row["id"], "agent": agent, "summary": summary, "status": status,
                           "completed_at": scope.now if status is S.DONE else None})
    event(tx, scope, EventKind.task_moved(status), code)
    reservations.after_move(tx, scope, row["id"], code, status)
    unblocked: list[str] = []
    if status == S.DONE:
        unblocked = Settle(tx, scope).after_task_closed(row["id"], row["stream_id"], row["parent_id"]).run()
    msg = "Submitted for review." if status == S.REVIEW else "Done."
    return WorkResult(task=brief_by_id(tx, row["id"]), unblocked=unblocked, redacted=clean.count, message=msg)


def fail(tx: Tx, scope: Scope, code: str, reason: str, retry: bool) -> WorkResult:
    agent = scope.require_agent()
    if not reason.strip():
        raise InvalidInput("The reason is empty.", hint="Say what went wrong so the next attempt can avoid it.")
    check_text("reason", reason)
    clean = redact(reason)
    reason = clean.text
    row = _held(tx, scope, code, agent)
    out = after_attempt(row["attempts"], row["max_attempts"], retry)
    if not tx.run("task_fail", {**attempt_params(scope, row, out), "agent": agent, "reason": reason}):
        # The row changed after _held read it (only possible where writers are not serialised):
        # nothing was written; say why as _held would, or that it moved under us.
        _held(tx, scope, code, agent)
        raise InvalidTransition(f"Task {code} changed while failing it; re-read it with task_get.")
    used = f"attempt {out.attempts} of {row['max_attempts']}"
    # Our own words around a masked reason: nothing for the guard to scan again.
    note(tx, scope, row["id"], "system", Masked(f"{used.capitalize()} failed: {reason}"))
    event(tx, scope, EventKind.TASK_RETRY if out.retried else EventKind.TASK_FAILED, code, reason=reason)
    reservations.after_move(tx, scope, row["id"], code, out.status)
    became = Settle(tx, scope).tasks([row["id"]]).streams([row["stream_id"]]).run()
    if out.retried:
        msg = f"{code} is back in the queue ({used} used)."
    else:
        escalation.after_failure(tx, scope, row, reason)
        tries = f"{out.attempts} attempt{'' if out.attempts == 1 else 's'}"
        msg = f"{code} failed for good after {tries}; it is escalated and its dependents stay waiting."
    return WorkResult(task=brief_by_id(tx, row["id"]), unblocked=became, redacted=clean.count, message=msg)


def release(tx: Tx, scope: Scope, code: str, reason: str | None) -> WorkResult:
    agent = scope.require_agent()
    check_text("reason", reason)
    reason = reason and redact(reason).text
    row = _held(tx, scope, code, agent)
    tx.run("task_release", {"id": row["id"], "agent": agent, "reason": reason, "now": scope.now})
    if reason:
        note(tx, scope, row["id"], "note", f"Released: {reason}")
    event(tx, scope, EventKind.TASK_RELEASED, code)
    reservations.after_move(tx, scope, row["id"], code, S.READY)
    Settle(tx, scope).tasks([row["id"]]).streams([row["stream_id"]]).run()
    return WorkResult(task=brief_by_id(tx, row["id"]), message=f"{code} is back in the queue; no attempt was used.")


def block(tx: Tx, scope: Scope, code: str, reason: str) -> WorkResult:
    """The claimer reports a blocker (it keeps the task); or anyone parks a not-yet-claimed task."""
    agent = scope.require_agent()
    if not reason.strip():
        raise InvalidInput("The reason is empty.", hint="Say what input you need and from whom.")
    check_text("reason", reason)
    clean = redact(reason)
    reason = clean.text
    row = task_row(tx, scope, code)
    if row["status"] == S.IN_PROGRESS:
        row = _held(tx, scope, code, agent)
    _move(tx, scope, row, S.BLOCKED, reason=reason, clear_claim=False)
    note(tx, scope, row["id"], "blocker", reason)
    escalation.escalate(tx, scope, row, "blocker", f"{agent} reports {code} blocked: {reason}")
    return WorkResult(
        task=brief_by_id(tx, row["id"]),
        redacted=clean.count,
        message=f"{code} is blocked and escalated to the {scope.escalation_role} role; its lease is paused. "
        "task_unblock returns it to " + (row["claimed_by"] or "the queue") + ".",
    )


def unblock(tx: Tx, scope: Scope, code: str, answer: str | None) -> WorkResult:
    scope.require_agent()
    check_text("answer", answer)
    clean = redact(answer)
    answer = clean.text
    row = task_row(tx, scope, code)
    if row["status"] != S.BLOCKED:
        raise InvalidTransition(
            f"Task {code} is {row['status']}, not blocked.",
            hint="Only blocked tasks can be unblocked; task_get shows a task's status.",
            details={"task": code, "status": row["status"]},
        )
    if answer:
        note(tx, scope, row["id"], "decision", answer)
        if row["claimed_by"]:  # the holder hears the answer in its inbox, not only on the task's page
            messages.post(tx, scope, f"task:{code}", f"Unblocked: {code}", answer, task_id=row["id"])
    # The blocker has been answered: its escalation needs no one else's decision.
    tx.run("blocker_escalations_settle", {"task_id": row["id"], "now": scope.now})
    if row["claimed_by"]:
        expires = scope.now + scope.lease_seconds
        _move(tx, scope, row, S.IN_PROGRESS, lease_expires_at=expires, clear_claim=False)
        msg = f"{code} is back with {row['claimed_by']}, leased until {iso(expires)}."
    else:
        _move(tx, scope, row, S.WAITING)
        msg = f"{code} is back in play."
    became = Settle(tx, scope).tasks([row["id"]]).run()
    lease = iso(expires) if row["claimed_by"] else None
    return WorkResult(
        task=brief_by_id(tx, row["id"]), lease_expires_at=lease, unblocked=became, redacted=clean.count, message=msg
    )


def review(tx: Tx, scope: Scope, code: str, approve: bool, reason: str | None) -> WorkResult:
    scope.require_agent()
    row = task_row(tx, scope, code)
    if row["status"] != S.REVIEW:
        raise InvalidTransition(
            f"Task {code} is {row['status']}, not in review.", hint="Only tasks in review can be reviewed."
        )
    if approve:
        _move(tx, scope, row, S.DONE, reason=reason)
        became = Settle(tx, scope).after_task_closed(row["id"], row["stream_id"], row["parent_id"]).run()
        return WorkResult(task=brief_by_id(tx, row["id"]), unblocked=became, message="Approved; done.")
    if not (reason or "").strip():
        raise InvalidInput("Sending a task back needs a reason.", hint="Say what must change.")
    check_text("reason", reason)
    reason = redact(reason).text
    note(tx, scope, row["id"], "decision", f"Changes requested: {reason}")
    # Via waiting: subtasks or dependencies added during review must hold it back.
    _move(tx, scope, row, S.WAITING, reason=reason, clear_claim=True)
    became = Settle(tx, scope).tasks([row["id"]]).streams([row["stream_id"]]).run()
    return WorkResult(task=brief_by_id(tx, row["id"]), unblocked=became, message=f"{code} is sent back to the queue.")


def move(tx: Tx, scope: Scope, code: str, target: TaskStatus | str, reason: str | None = None) -> WorkResult:
    """A manual status change by a person or orchestrator, checked against the transition table."""
    target = S(target)
    if target not in MANUAL_TARGETS:
        allowed = ", ".join(sorted(MANUAL_TARGETS))
        raise InvalidTransition(
            f"Status {target} is set by the work cycle, not directly. Directly settable: {allowed}.",
            hint="Use task_claim, task_done, task_fail or task_review for the others.",
        )
    check_text("reason", reason)
    reason = reason and redact(reason).text
    row = task_row(tx, scope, code)
    status = S(row["status"])
    check_manual(code, status, target)
    settle = Settle(tx, scope)
    if target is S.READY:
        if status in SCHEDULABLE:
            return WorkResult(task=brief_by_id(tx, row["id"]), message=f"{code} is already in play.")
        # Back into play: via waiting, then readiness decides. A failed task starts its attempts afresh.
        _move(tx, scope, row, S.WAITING, reason=reason, clear_claim=True, reset_attempts=status is S.FAILED)
        settle.tasks([row["id"]]).streams([row["stream_id"]])
    elif target is S.CANCELLED:
        _cancel_tree(tx, scope, row, reason, settle)
    elif target is S.DONE:
        _move(tx, scope, row, S.DONE, reason=reason, clear_claim=False)
        settle.after_task_closed(row["id"], row["stream_id"], row["parent_id"])
    elif target is S.BLOCKED:
        if not (reason or "").strip():
            raise InvalidInput("Blocking needs a reason.", hint="Say what input is needed.")
        _move(tx, scope, row, S.BLOCKED, reason=reason, clear_claim=False)
        note(tx, scope, row["id"], "blocker", reason)
        escalation.escalate(tx, scope, row, "blocker", f"{scope.agent} set {code} blocked: {reason}")
        settle.streams([row["stream_id"]])
    else:
        _move(tx, scope, row, target, reason=reason, clear_claim=True)
        settle.streams([row["stream_id"]])
    became = settle.run()
    return WorkResult(task=brief_by_id(tx, row["id"]), unblocked=became, message=f"{code} is now {target}.")


def _cancel_tree(tx: Tx, scope: Scope, row: Row, reason: str | None, settle: Settle) -> None:
    """Cancel a task and its open subtasks; cancelled work satisfies dependents and never holds a stream."""
    check_transition(row["code"], row["status"], S.CANCELLED)
    stack = [row]
    while stack:
        cur = stack.pop()
        if S(cur["status"]) in TERMINAL:
            continue
        _move(tx, scope, cur, S.CANCELLED, reason=reason, clear_claim=True)
        settle.after_task_closed(cur["id"], cur["stream_id"], cur["parent_id"])
        stack.extend(tx.one("task_by_id", {"id": k["id"]}) for k in tx.all("task_open_subtasks", {"id": cur["id"]}))


def _move(
    tx: Tx,
    scope: Scope,
    row: Row,
    target: TaskStatus,
    *,
    reason: str | None = None,
    clear_claim: bool = True,
    lease_expires_at: float | None = None,
    reset_attempts: bool = False,
) -> None:
    check_transition(row["code"], row["status"], target)
    moved = tx.run(
        "task_move",
        {
            "id": row["id"],
            "from": row["status"],
            "to": target,
            "reason": reason,
            "clear_claim": clear_claim,
            "lease_expires_at": lease_expires_at,
            "reset_attempts": reset_attempts,
            "now": scope.now,
            "summary": None,
        },
    )
    if not moved:
        raise InvalidTransition(f"Task {row['code']} changed while moving it; re-read it with task_get.")
    event(tx, scope, EventKind.task_moved(target), row["code"], reason=reason)
    reservations.after_move(tx, scope, row["id"], row["code"], target)


def bulk(tx: Tx, scope: Scope, codes: list[str], target: TaskStatus, reason: str | None) -> BulkResult:
    """Apply `move` to each task; one task's error does not stop the others."""
    changed, errors = [], []
    for code in dict.fromkeys(codes):
        try:
            changed.append(move(tx, scope, code, target, reason).task)
        except TaskloomError as exc:
            errors.append({"task": code, "code": exc.code, "message": exc.message})
    return BulkResult(changed=changed, errors=errors)
