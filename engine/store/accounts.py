"""Accounts: credentials (argon2), callback URL, signing secret, limits."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, bindparam, insert, null, select, update
from sqlalchemy.exc import IntegrityError

from engine.config import RetryPolicy
from engine.domain.policy import zone
from engine.errors import AccountExists, AccountNotFound
from engine.notifications.urls import check_callback_url
from engine.store.database import reading, transaction
from engine.store.prepared import Prepared
from engine.store.schema import account

if TYPE_CHECKING:
    from engine.store.unit_of_work import Tx

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    callback_url: str
    lang: str
    disabled: bool
    timezone: str = "UTC"
    credit_seconds: int | None = None
    max_concurrent: int | None = None
    calls_per_second: float | None = None
    queue_limit: int | None = None
    retry_policy: dict[str, Any] | None = None
    callback_method: str = "get"  # "get" | "post": how notifications are sent
    caller_ids: tuple[str, ...] = ()  # E.164 numbers the account may present to callees
    callback_failing_at: float | None = None  # when its endpoint was marked failing

    @property
    def limited(self) -> bool:
        """Whether registration must check credit or the queue (read fresh in the store)."""
        return (
            self.credit_seconds is not None
            or self.max_concurrent is not None
            or self.calls_per_second is not None
        )


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


CALLBACK_METHODS = ("get", "post")


def validate_callback_url(url: str) -> str:
    """An account's callback URL: http(s), no user:pass@, any host (operators set it).
    Raises :class:`~engine.notifications.urls.UrlRefused`, a ValueError."""
    return check_callback_url(url)


def validate_callback_method(method: str) -> str:
    """``get`` or ``post`` (any case); returns it in lower case."""
    if method.lower() not in CALLBACK_METHODS:
        raise ValueError(f"callback method must be get or post, got {method!r}")
    return method.lower()


def create_account(
    db: Engine,
    username: str,
    password: str,
    callback_url: str,
    lang: str = "en",
    clock: Callable[[], float] = time.time,
    callback_method: str = "get",
) -> tuple[int, str]:
    """Create an account; returns its id and its signing secret (shown once)."""
    if not username or len(username) > 64:
        raise ValueError("username must be 1 to 64 characters")
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    if lang not in ("en", "tr"):
        raise ValueError("lang must be en or tr")
    validate_callback_url(callback_url)
    method = validate_callback_method(callback_method)
    secret = new_signing_secret()
    try:
        with transaction(db) as conn:
            result = conn.execute(
                insert(account).values(
                    username=username,
                    password_hash=_hasher.hash(password),
                    callback_url=callback_url,
                    callback_method=method,
                    lang=lang,
                    signing_secret=secret,
                    disabled=False,
                    created_at=clock(),
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0]), secret
    except IntegrityError as exc:
        raise AccountExists(username) from exc


def list_accounts(db: Engine) -> list[Account]:
    with db.connect() as conn:
        rows = conn.execute(select(account).order_by(account.c.id)).mappings()
        return [_account(r) for r in rows]


def set_disabled(db: Engine, username: str, disabled: bool = True) -> None:
    with transaction(db) as conn:
        result = conn.execute(
            update(account).where(account.c.username == username).values(disabled=disabled)
        )
        if result.rowcount == 0:
            raise AccountNotFound(username)


def _account(row: object) -> Account:
    r = dict(row)  # type: ignore[call-overload]
    return Account(
        r["id"],
        r["username"],
        r["callback_url"],
        r["lang"],
        bool(r["disabled"]),
        timezone=r["timezone"],
        credit_seconds=r["credit_seconds"],
        max_concurrent=r["max_concurrent"],
        calls_per_second=r["calls_per_second"],
        queue_limit=r["queue_limit"],
        retry_policy=r["retry_policy"],
        callback_method=r["callback_method"],
        caller_ids=tuple(r.get("caller_ids") or ()),
        callback_failing_at=r.get("callback_failing_at"),
    )


def get_account(db: Engine, username: str) -> Account:
    with reading(db) as conn:
        row = conn.execute(select(account).where(account.c.username == username)).mappings()
        found = row.first()
    if found is None:
        raise AccountNotFound(username)
    return _account(found)


def rotate_secret(db: Engine, username: str, clock: Callable[[], float] = time.time) -> str:
    """Give the account a new signing secret and return it (shown once).

    The secret it replaces is kept as the previous one: notifications are signed with
    both until ``notifications.secret_overlap`` seconds after now, then with the new
    one only. A second rotation within that time drops the oldest secret at once.
    """
    secret = new_signing_secret()
    with transaction(db) as conn:
        row = conn.execute(
            select(account.c.id, account.c.signing_secret)
            .where(account.c.username == username)
            .with_for_update()
        ).first()
        if row is None:
            raise AccountNotFound(username)
        conn.execute(
            update(account)
            .where(account.c.id == row.id)
            .values(
                signing_secret=secret,
                previous_signing_secret=row.signing_secret,
                secret_rotated_at=clock(),
            )
        )
    return secret


def set_callback(
    db: Engine, username: str, *, url: str | None = None, method: str | None = None
) -> None:
    """Change where (``url``) and how (``method``: get or post) the account's
    notifications are sent; None leaves that one as it is. Notifications not yet
    delivered go out the new way."""
    values: dict[str, Any] = {}
    if url is not None:
        values["callback_url"] = validate_callback_url(url)
    if method is not None:
        values["callback_method"] = validate_callback_method(method)
    if not values:
        raise ValueError("nothing to change: give a callback URL or method")
    _update_account(db, username, values)


PASSWORD_RULES = "at least 8 characters"


def update_account(
    db: Engine, username: str, *, password: str | None = None, lang: str | None = None
) -> None:
    """Change an account's API password (at least 8 characters) and/or its language."""
    values: dict[str, Any] = {}
    if password is not None:
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        values["password_hash"] = _hasher.hash(password)
    if lang is not None:
        if lang not in ("en", "tr"):
            raise ValueError("lang must be en or tr")
        values["lang"] = lang
    if not values:
        raise ValueError("nothing to change: give --callback-url, --password or --lang")
    _update_account(db, username, values)


def set_policy(
    db: Engine, username: str, policy: RetryPolicy | None, timezone: str | None = None
) -> None:
    """Store the account's retry policy (None: use the config's default) and time zone."""
    values: dict[str, Any] = {"retry_policy": policy.model_dump() if policy is not None else null()}
    if timezone is not None:
        zone(timezone)  # refuse unknown zones here, not at the first re-dial
        values["timezone"] = timezone
    _update_account(db, username, values)


UNSET: Any = object()


def set_limits(
    db: Engine,
    username: str,
    *,
    credit_seconds: int | None = UNSET,
    max_concurrent: int | None = UNSET,
    calls_per_second: float | None = UNSET,
    queue_limit: int | None = UNSET,
) -> None:
    """Set (or, with None, remove) an account's limits; unnamed limits stay as they are."""
    values = {
        name: value
        for name, value in (
            ("credit_seconds", credit_seconds),
            ("max_concurrent", max_concurrent),
            ("calls_per_second", calls_per_second),
            ("queue_limit", queue_limit),
        )
        if value is not UNSET
    }
    for name, value in values.items():
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0")
    if values.get("calls_per_second") == 0 or values.get("max_concurrent") == 0:
        raise ValueError("a rate or concurrency of 0 would never dial; use account disable")
    _update_account(db, username, values)


def set_caller_ids(db: Engine, username: str, numbers: list[str]) -> None:
    """The E.164 numbers the account may present to callees (an empty list: none)."""
    _update_account(db, username, {"caller_ids": sorted(set(numbers)) if numbers else null()})


def add_credit(db: Engine, username: str, seconds: int) -> int:
    """Add (or with a negative number, remove) credit seconds; returns the new balance."""
    with transaction(db) as conn:
        row = conn.execute(
            select(account.c.id, account.c.credit_seconds)
            .where(account.c.username == username)
            .with_for_update()
        ).first()
        if row is None:
            raise AccountNotFound(username)
        balance = (row.credit_seconds or 0) + seconds
        conn.execute(update(account).where(account.c.id == row.id).values(credit_seconds=balance))
        return int(balance)


def _update_account(db: Engine, username: str, values: dict[str, Any]) -> None:
    if not values:
        return
    with transaction(db) as conn:
        result = conn.execute(update(account).where(account.c.username == username).values(values))
        if result.rowcount == 0:
            raise AccountNotFound(username)


def for_login(tx: Tx, username: str) -> tuple[Account, str] | None:
    """The account and its stored password hash (one indexed read), or None."""
    found = _FOR_LOGIN.first(tx.conn, {"p_username": username})
    if found is None:
        return None
    row = dict(zip(_ACCOUNT_COLUMNS, found, strict=True))
    for name in ("retry_policy", "caller_ids"):  # JSON: text from some drivers
        if isinstance(row[name], str):
            row[name] = json.loads(row[name])
    return _account(row), str(row["password_hash"])


# Read on every API request: compiled once, run on the transaction's cursor.
_ACCOUNT_COLUMNS = tuple(column.name for column in account.columns)
_FOR_LOGIN = Prepared(select(account).where(account.c.username == bindparam("p_username")))
