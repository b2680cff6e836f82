"""Notifications sent again on request, and callback endpoints that keep failing.

An account's callback endpoint is marked *failing* once it has answered no 2xx for
``notifications.failing_after`` seconds (``account.callback_failing_since`` holds when
the first attempt without a 2xx since the last 2xx was made). While it is marked
(``account.callback_failing_at``), the account's notifications are *held*: stored, not
sent. A replay releases them, with the notifications given up since a given time, and
clears the mark; a 2xx clears it too. Only notifications sent to the account's own URL
count: a call registered with its own ``callback_url`` is not held.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, or_, select, update

from engine.store.schema import account, call, notification
from engine.store.states import NotificationState

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx

_UNSETTLED = (NotificationState.PENDING.value, NotificationState.QUEUED.value)


def endpoint_answered(conn: Connection, account_id: int) -> None:
    """A 2xx from the account's endpoint: it is not failing (any more)."""
    conn.execute(
        update(account)
        .where(
            account.c.id == account_id,
            or_(account.c.callback_failing_since.is_not(None),
                account.c.callback_failing_at.is_not(None)),
        )
        .values(callback_failing_since=None, callback_failing_at=None)
    )  # fmt: skip


def endpoint_failed(conn: Connection, account_id: int, at: float, failing_after: float) -> bool:
    """An attempt at ``at`` without a 2xx. Marks the endpoint failing once none has come
    for ``failing_after`` seconds, and holds the account's unsettled notifications;
    returns whether it was marked now."""
    conn.execute(
        update(account)
        .where(account.c.id == account_id, account.c.callback_failing_since.is_(None))
        .values(callback_failing_since=at)
    )
    since, marked = conn.execute(
        select(account.c.callback_failing_since, account.c.callback_failing_at).where(
            account.c.id == account_id
        )
    ).one()
    if marked is not None or since is None or at - float(since) < failing_after:
        return False
    conn.execute(update(account).where(account.c.id == account_id).values(callback_failing_at=at))
    own_url = select(call.c.id).where(
        call.c.account_id == account_id, call.c.callback_url.is_(None)
    )
    conn.execute(
        update(notification)
        .where(notification.c.call_id.in_(own_url), notification.c.state.in_(_UNSETTLED))
        .values(state=NotificationState.HELD.value, lease_until=None)
    )
    return True


def replay(tx: Tx, account_id: int, since: float, now: float) -> int:
    """Queue again, in order per call, the account's notifications given up whose event
    happened at or after ``since``, and every one held; clear the failing mark. Returns
    how many were queued. Each call's first unsettled one is due now."""
    conn = tx.conn
    tx.flush()
    wanted = or_(
        and_(
            notification.c.state == NotificationState.FAILED.value,
            notification.c.event_time >= since,
        ),
        notification.c.state == NotificationState.HELD.value,
    )
    rows = conn.execute(
        select(notification.c.id, notification.c.call_id)
        .join(call, call.c.id == notification.c.call_id)
        .where(call.c.account_id == account_id, wanted)
        .order_by(notification.c.call_id, notification.c.seq)
    ).all()
    by_call: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_call[int(row.call_id)].append(int(row.id))
    if by_call:
        # The calls first, in id order (the store's lock order): a new notification of
        # the call and the sender's promotion wait, so none is left behind a held one.
        query = select(call.c.id).where(call.c.id.in_(sorted(by_call))).order_by(call.c.id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=call, key_share=True)
        conn.execute(query).all()
        ids = [i for ids in by_call.values() for i in ids]
        for chunk in range(0, len(ids), 500):
            conn.execute(
                update(notification)
                .where(notification.c.id.in_(ids[chunk : chunk + 500]), wanted)
                .values(
                    state=NotificationState.QUEUED.value,
                    tries=0,
                    next_attempt_at=now,
                    lease_until=None,
                    claim=None,
                )
            )
    # Calls whose line now has no head: any queued one left behind a held one counts.
    heads = select(notification.c.call_id).where(
        notification.c.state == NotificationState.PENDING.value
    )
    lines = conn.execute(
        select(notification.c.call_id, notification.c.id, notification.c.seq)
        .join(call, call.c.id == notification.c.call_id)
        .where(
            call.c.account_id == account_id,
            notification.c.state == NotificationState.QUEUED.value,
            notification.c.call_id.not_in(heads),
        )
        .order_by(notification.c.call_id, notification.c.seq)
    ).all()
    first: dict[int, int] = {}
    for line in lines:
        first.setdefault(int(line.call_id), int(line.id))
    if first:
        conn.execute(
            update(notification)
            .where(notification.c.id.in_(list(first.values())))
            .values(state=NotificationState.PENDING.value, next_attempt_at=now)
        )
    conn.execute(
        update(account)
        .where(account.c.id == account_id)
        .values(callback_failing_since=None, callback_failing_at=None)
    )
    return len(rows)
