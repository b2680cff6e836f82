"""Outbox rows: claim the next notification of each call, record every attempt."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, null, select, update

from engine.store import replay
from engine.store.prepared import Prepared, PreparedIn, insert_columns
from engine.store.schema import account, call, notification, notification_attempt


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification claimed for sending, with what is needed to send it."""

    id: int
    call_id: int
    seq: int
    code: int
    cause: int
    event_time: float
    tries: int  # attempts before this one
    url: str
    secret: str
    claim: str
    attempt: int = 1  # the call attempt (re-dials) it belongs to
    # How to send it, from the account: "get" | "post". None when the row was read
    # without the account's delivery settings: the sender reads them (account_delivery).
    method: str | None = None
    previous_secret: str | None = None  # the secret before the last rotation, if any
    rotated_at: float | None = None  # when the account's secret was last rotated
    # The URL came from a customer, not an operator: checked again when sent, and only
    # sent to a public address (unless notifications.allow_private_targets).
    customer_url: bool = False
    custom: str | None = None  # the call's custom data, echoed on the notification
    account_id: int | None = None  # the call's account (None: not read)
    # When the account's endpoint first failed since its last 2xx, as claimed (None: it
    # had not, or not read): a 2xx then clears it.
    failing_since: float | None = None


@dataclass(frozen=True, slots=True)
class AttemptResult:
    started_at: float
    url: str
    status: int | None
    latency_ms: float
    ok: bool
    error: str = ""
    excerpt: str = ""
    # The header fields sent and received, as ``Name: value`` lines (bounded, credential
    # values masked: engine/notifications/headers.py); "" when nothing was sent or received.
    request_headers: str = ""
    response_headers: str = ""


def claim_ready(conn: Connection, now: float, limit: int, lease: float) -> list[Outgoing]:
    """Claim notifications that are due; only the first unsettled one of each call is
    ``pending`` (later ones are ``queued`` behind it), so per-call order holds."""
    rows = _CLAIMABLE.all(conn, {"p_now": now, "p_limit": limit})
    if not rows:
        return []
    token = secrets.token_hex(8)
    _LEASE.write(conn, [r[0] for r in rows], {"p_until": now + lease, "p_claim": token})
    return [
        Outgoing(
            row_id,
            call_id,
            seq,
            code,
            cause,
            event_time,
            tries,
            call_url or callback_url,  # the call's own URL, else the account's
            signing_secret,
            token,
            attempt,
            method=callback_method,
            previous_secret=previous_signing_secret,
            rotated_at=secret_rotated_at,
            customer_url=call_url is not None,
            custom=custom,
            account_id=account_id,
            failing_since=callback_failing_since,
        )
        for (
            row_id, call_id, seq, code, cause, event_time, tries, attempt, callback_url,
            signing_secret, callback_method, previous_signing_secret, secret_rotated_at,
            account_id, callback_failing_since, call_url, custom,
        ) in rows
    ]  # fmt: skip


# The sender's claim, once per batch: compiled once per dialect (and batch size).
_CLAIMABLE = Prepared(
    select(
        notification.c.id,
        notification.c.call_id,
        notification.c.seq,
        notification.c.code,
        notification.c.cause,
        notification.c.event_time,
        notification.c.tries,
        notification.c.attempt,
        account.c.callback_url,
        account.c.signing_secret,
        account.c.callback_method,
        account.c.previous_signing_secret,
        account.c.secret_rotated_at,
        account.c.id.label("account_id"),
        account.c.callback_failing_since,
        call.c.callback_url.label("call_url"),
        call.c.custom,
    )
    .join(call, call.c.id == notification.c.call_id)
    .join(account, account.c.id == call.c.account_id)
    .where(
        notification.c.state == "pending",
        notification.c.next_attempt_at <= bindparam("p_now"),
    )
    .order_by(notification.c.next_attempt_at)
    .limit(bindparam("p_limit"))
    .with_for_update(of=notification, skip_locked=True)  # PostgreSQL only
)
_LEASE = PreparedIn(
    lambda ids: (
        update(notification)
        .where(notification.c.id.in_(ids))
        # While leased, the next attempt is when the lease runs out: if this sender dies,
        # the row is claimable again then (one index for due and expired).
        .values(
            lease_until=bindparam("p_until"),
            next_attempt_at=bindparam("p_until"),
            claim=bindparam("p_claim"),
        )
    )
)


def account_delivery(conn: Connection, item: Outgoing) -> Outgoing:
    """``item`` with its account's current callback URL (unless its URL is a customer's),
    secrets and method."""
    row = conn.execute(
        select(
            account.c.callback_url,
            account.c.signing_secret,
            account.c.callback_method,
            account.c.previous_signing_secret,
            account.c.secret_rotated_at,
        )
        .join(call, call.c.account_id == account.c.id)
        .where(call.c.id == item.call_id)
    ).one()
    return dataclasses.replace(
        item,
        url=item.url if item.customer_url else row.callback_url,
        secret=row.signing_secret,
        method=row.callback_method,
        previous_secret=row.previous_signing_secret,
        rotated_at=row.secret_rotated_at,
    )


def record_attempt(
    conn: Connection,
    item: Outgoing,
    result: AttemptResult,
    *,
    next_attempt_at: float | None,
    operator: str | None = None,
    failing_after: float | None = None,
) -> None:
    """Store the attempt; mark the row delivered, re-scheduled, or failed for good.

    ``next_attempt_at`` None after a failure means the schedule is exhausted. With
    ``failing_after``, an attempt at the account's own URL also keeps the account's
    endpoint state (engine/store/replay.py): a 2xx clears it, and no 2xx for that long
    marks it failing.
    """
    insert_attempt(conn, item.id, result, operator)
    settled = result.ok or next_attempt_at is None
    if settled and conn.dialect.name == "postgresql":
        # The lifecycle holds this lock while it decides whether a new notification
        # of the call is queued; taking it here means it cannot miss the promotion.
        _LOCK_CALL.first(conn, {"p_call": item.call_id})
    mine = {"p_id": item.id, "p_claim": item.claim}
    if result.ok:
        changed = _DELIVERED.execute(conn, {**mine, "p_at": result.started_at})
    elif next_attempt_at is None:
        changed = _FAILED.execute(conn, mine)
    else:
        changed = _RETRY.execute(conn, {**mine, "p_at": next_attempt_at})
    if settled and changed:
        promote_next(conn, item.call_id)
    if failing_after is not None and item.account_id is not None and not item.customer_url:
        if result.ok:
            if item.failing_since is not None:
                replay.endpoint_answered(conn, item.account_id)
        else:
            replay.endpoint_failed(conn, item.account_id, result.started_at, failing_after)


def promote_next(conn: Connection, call_id: int) -> None:
    """Make the call's first queued notification the pending head of its line."""
    head = _HEAD.first(conn, {"p_call": call_id})
    if head is not None:
        _PROMOTE.write(conn, {"p_id": head[0]})


# Every delivery attempt runs these: compiled once (engine/store/prepared.py).
_LOCK_CALL = Prepared(
    select(call.c.id).where(call.c.id == bindparam("p_call")).with_for_update(key_share=True)
)
_MINE = (
    notification.c.id == bindparam("p_id"),
    notification.c.claim == bindparam("p_claim"),
    notification.c.state == "pending",
)
_TRIED = {"tries": notification.c.tries + 1, "lease_until": null()}
_DELIVERED = Prepared(
    update(notification)
    .where(*_MINE)
    .values(**_TRIED, state="delivered", delivered_at=bindparam("p_at"))
)
_FAILED = Prepared(update(notification).where(*_MINE).values(**_TRIED, state="failed"))
_RETRY = Prepared(
    update(notification).where(*_MINE).values(**_TRIED, next_attempt_at=bindparam("p_at"))
)
_HEAD = Prepared(
    select(notification.c.id)
    .where(notification.c.call_id == bindparam("p_call"), notification.c.state == "queued")
    .order_by(notification.c.seq)
    .limit(1)
)
_PROMOTE = Prepared(
    update(notification).where(notification.c.id == bindparam("p_id")).values(state="pending")
)


def next_ready(conn: Connection) -> float | None:
    """Earliest time a pending notification (the head of its call's line) may be
    claimed: its next attempt, or the end of the lease of one being sent. One read
    of the partial index on pending rows, however long the backlog."""
    found = _NEXT_READY.first(conn, {})
    return float(found[0]) if found is not None and found[0] is not None else None


_NEXT_READY = Prepared(
    select(func.min(notification.c.next_attempt_at)).where(notification.c.state == "pending")
)


def insert_attempt(
    conn: Connection, notification_id: int, result: AttemptResult, operator: str | None
) -> None:
    """Keep one delivery attempt (``operator`` names who asked for it, if anyone did)."""
    _INSERT_ATTEMPT.write(
        conn,
        {
            "notification_id": notification_id,
            "started_at": result.started_at,
            "url": result.url,
            "status": result.status,
            "latency_ms": result.latency_ms,
            "ok": result.ok,
            "error": result.error[:1000],
            "response_excerpt": result.excerpt[:500],
            "request_headers": result.request_headers[:2000],
            "response_headers": result.response_headers[:2000],
            "operator": operator,
        },
    )


_INSERT_ATTEMPT = Prepared(
    insert_columns(
        notification_attempt,
        (
            "notification_id", "started_at", "url", "status", "latency_ms", "ok", "error",
            "response_excerpt", "request_headers", "response_headers", "operator",
        ),
    )
)  # fmt: skip
