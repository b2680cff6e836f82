"""The tables (SQLAlchemy Core). Alembic owns the real schema; this mirrors it.

Times are Unix seconds as double precision: precise, index-friendly and the same on
SQLite and PostgreSQL. Status codes are integers (``StatusCode`` values).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)


def _partial_index(name: str, column: str, where: str) -> Index:
    """An index of the rows matching ``where`` only (both stores support them)."""
    return Index(name, column, postgresql_where=text(where), sqlite_where=text(where))


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT ids on PostgreSQL, INTEGER (rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

account = Table(
    "account",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("callback_url", Text, nullable=False),
    # How notifications are sent: "get" (the query string) or "post" (a JSON body).
    Column("callback_method", String(4), nullable=False, server_default="get"),
    Column("lang", String(2), nullable=False, server_default="en"),
    Column("signing_secret", String(128), nullable=False),
    # The secret before the last rotation, still signed with for a while after it.
    Column("previous_signing_secret", String(128)),
    Column("secret_rotated_at", Double),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", Double, nullable=False),
    # Limits and policy (all optional: null means none / the config's default).
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("credit_seconds", Integer),  # balance; null = no credit limit
    Column("credit_reserved", Integer, nullable=False, server_default="0"),  # held by calls
    Column("max_concurrent", Integer),
    Column("calls_per_second", Double),
    Column("queue_limit", Integer),
    Column("retry_policy", JSON),
    # The numbers this account may present to callees (a list of E.164; null: none).
    Column("caller_ids", JSON),
    # When the first delivery without a 2xx since the last 2xx was made (null: healthy).
    Column("callback_failing_since", Double),
    # When the endpoint was marked failing: new notifications are held until replayed.
    Column("callback_failing_at", Double),
)

call = Table(
    "call",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("account.id"), nullable=False),
    Column("caller", String(32), nullable=False),  # E.164
    Column("callee", String(32), nullable=False),
    Column("caller_national", String(32), nullable=False),  # as the customer sent it
    Column("callee_national", String(32), nullable=False),
    Column("duration", Integer, nullable=False),
    Column("lang", String(2), nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("cause", Integer, nullable=False, server_default="0"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("notify_seq", Integer, nullable=False, server_default="0"),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("caller_answered_at", Double),
    Column("callee_answered_at", Double),
    Column("ended_at", Double),
    Column("request", JSON, nullable=False),  # the request as received, password removed
    Column("started_at", Double),  # when the current attempt began dialling (code 0)
    Column("talk_limit", Integer),  # seconds reserved from the credit for this attempt
    Column("charged_seconds", Integer, nullable=False, server_default="0"),
    Column("custom", String(128)),  # the customer's own data, echoed on notifications
    Column("callback_url", Text),  # this call's notifications go here, not the account's
    Column("caller_id", String(32)),  # E.164 presented to the callee (null: the caller's)
    Column("ring_timeout", Double),  # seconds a leg may ring (null: the configured one)
    Index("ix_call_account_id_id", "account_id", "id"),
    Index("ix_call_account_id_state", "account_id", "state"),
    Index("ix_call_account_id_started_at", "account_id", "started_at"),
    Index("ix_call_state", "state"),
)

# Append-only audit trail: every event offered to a call, accepted or not.
call_event = Table(
    "call_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("call_id", Id, ForeignKey("call.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Double, nullable=False),  # when it happened (event time)
    Column("recorded_at", Double, nullable=False),
    Column("source", String(16), nullable=False),  # carrier | timer | api | operator
    Column("trigger", String(32), nullable=False),
    Column("cause", Integer, nullable=False, server_default="0"),
    Column("from_state", SmallInteger, nullable=False),
    Column("to_state", SmallInteger),  # null when rejected
    Column("accepted", Boolean, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Index("ix_call_event_call_id_id", "call_id", "id"),
)

# Durable timers; carrier commands are timers due now.
timer = Table(
    "timer",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("call_id", Id, ForeignKey("call.id"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("due_at", Double, nullable=False),
    Column("state", String(12), nullable=False),  # pending | running | done | cancelled
    Column("dedupe_key", String(96), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("lease_until", Double),
    Column("claim", String(32)),
    Column("created_at", Double, nullable=False),
    Column("fired_at", Double),
    Column("result", Text, nullable=False, server_default=""),
    UniqueConstraint("dedupe_key", name="uq_timer_dedupe_key"),
    Index("ix_timer_call_id_state", "call_id", "state"),
    # Partial: only timers still to run are indexed, not the ever-growing done ones.
    _partial_index("ix_timer_due", "due_at", "state = 'pending'"),
    _partial_index("ix_timer_leased", "lease_until", "state = 'running'"),
)

# The outbox: one row per customer-visible state change, delivered in order per call.
notification = Table(
    "notification",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("call_id", Id, ForeignKey("call.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),  # the call attempt it belongs to
    Column("code", SmallInteger, nullable=False),
    Column("cause", Integer, nullable=False),
    Column("event_time", Double, nullable=False),
    # queued (an earlier one of the call is unsettled) | pending (first in the call's
    # line: claimable once due) | delivered | failed | held (the account's endpoint is
    # marked failing: kept until replayed)
    Column("state", String(12), nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Double, nullable=False),
    Column("lease_until", Double),
    Column("claim", String(32)),
    Column("created_at", Double, nullable=False),
    Column("delivered_at", Double),
    UniqueConstraint("call_id", "seq", name="uq_notification_call_id_seq"),
    # Unsettled rows only (the backlog); delivered ones, the bulk, are not indexed.
    _partial_index("ix_notification_unsettled", "call_id", "state IN ('pending', 'queued')"),
    # The heads of the calls' lines by due time (a leased row is due when its lease
    # ends): what the sender claims. Small, and read the same way whether or not the
    # table has statistics yet.
    _partial_index("ix_notification_due", "next_attempt_at", "state = 'pending'"),
)

notification_attempt = Table(
    "notification_attempt",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("notification_id", Id, ForeignKey("notification.id"), nullable=False),
    Column("started_at", Double, nullable=False),
    Column("url", Text, nullable=False),
    Column("status", Integer),  # HTTP status, null when no response
    Column("latency_ms", Double, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=False, server_default=""),
    Column("response_excerpt", Text, nullable=False, server_default=""),
    Column("operator", String(64)),  # set when an operator asked for a re-send
    # The header fields sent and answered, "Name: value" lines (credentials masked).
    Column("request_headers", Text, nullable=False, server_default=""),
    Column("response_headers", Text, nullable=False, server_default=""),
    Index("ix_notification_attempt_notification_id", "notification_id"),
)

# Credit debits: one row per attempt that talked; the unique key makes it exactly once.
credit_ledger = Table(
    "credit_ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("account.id"), nullable=False),
    Column("call_id", Id, ForeignKey("call.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("at", Double, nullable=False),
    UniqueConstraint("call_id", "attempt", name="uq_credit_ledger_call_id_attempt"),
)

# Idempotency-Key: a retried POST gets the first answer and places no second call.
idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("account.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("call_id", Id, ForeignKey("call.id"), nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("account_id", "key", name="uq_idempotency_key_account_id_key"),
)

# One row per engine process running timers or notifications, refreshed every few
# seconds: GET /readyz of a process without workers of its own reads them.
worker_heartbeat = Table(
    "worker_heartbeat",
    metadata,
    Column("name", String(128), primary_key=True),  # host:pid:role
    Column("role", String(16), nullable=False),  # timers | notifications
    Column("beat_at", Double, nullable=False),
)

# Failed Voice API logins per key ("user:<username>" or "addr:<client address>"): when
# the current window began and how many failed in it. Counting and checking is one
# statement (INSERT ... ON CONFLICT DO UPDATE ... RETURNING), shared by every process.
api_login_guard = Table(
    "api_login_guard",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window_start", Double, nullable=False),
    Column("failures", Integer, nullable=False),
)

# The SIP carrier's legs, one row per leg while it is up or its INVITE is pending: the
# dialog and what a CANCEL needs (engine/carriers/sip/record.py), so another process
# can answer, BYE or CANCEL it after a crash. ``owner`` is the process that holds it.
sip_leg = Table(
    "sip_leg",
    metadata,
    Column("call_id", Id, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("leg", String(8), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("record", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
)
