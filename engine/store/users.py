"""UI users (argon2 passwords) and the count of sign-in attempts that limits them.

Attempts are counted in ``ui_login_limit`` so the limit holds across every process that
shares the database (server threads, gunicorn workers, several machines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Select, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from engine.errors import AccountNotFound, UserExists, UserNotFound
from engine.store.database import reading, transaction
from engine.store.schema import account
from engine.store.ui_schema import ui_login_limit, ui_user

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True, slots=True)
class UiUser:
    """Someone who signs in to the UI. ``account_id`` None means an operator."""

    id: int
    username: str
    is_operator: bool
    account_id: int | None
    account_username: str | None
    disabled: bool
    session_gen: int = 0  # sessions that began with another value have ended

    @property
    def scope(self) -> int | None:
        """The only account whose calls this user may see (None: every account)."""
        return None if self.is_operator else self.account_id


def _row_to_user(r: object) -> UiUser:
    m = dict(r)  # type: ignore[call-overload]
    return UiUser(
        int(m["id"]),
        m["username"],
        bool(m["is_operator"]),
        int(m["account_id"]) if m["account_id"] is not None else None,
        m["account_username"],
        bool(m["disabled"]),
        int(m["session_gen"]),
    )


def _select_users() -> Select[Any]:
    return select(
        ui_user.c.id,
        ui_user.c.username,
        ui_user.c.is_operator,
        ui_user.c.account_id,
        ui_user.c.disabled,
        ui_user.c.session_gen,
        account.c.username.label("account_username"),
    ).select_from(ui_user.outerjoin(account, account.c.id == ui_user.c.account_id))


def create_user(
    db: Engine,
    username: str,
    password: str,
    *,
    operator: bool = False,
    account_username: str | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Create an operator or an account user; raises UserExists, AccountNotFound."""
    if not username or len(username) > 64:
        raise ValueError("username must be 1 to 64 characters")
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    if operator == (account_username is not None):
        raise ValueError("a user is either an operator or belongs to one account")
    try:
        with transaction(db) as conn:
            account_id = None
            if account_username is not None:
                account_id = conn.execute(
                    select(account.c.id).where(account.c.username == account_username)
                ).scalar()
                if account_id is None:
                    raise AccountNotFound(account_username)
            result = conn.execute(
                insert(ui_user).values(
                    username=username,
                    password_hash=_hasher.hash(password),
                    is_operator=operator,
                    account_id=account_id,
                    disabled=False,
                    created_at=clock(),
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])
    except IntegrityError as exc:
        raise UserExists(username) from exc


def list_users(db: Engine) -> list[UiUser]:
    with reading(db) as conn:
        rows = conn.execute(_select_users().order_by(ui_user.c.id)).mappings()
        return [_row_to_user(r) for r in rows]


def get_user(db: Engine, user_id: int) -> UiUser | None:
    with reading(db) as conn:
        row = conn.execute(_select_users().where(ui_user.c.id == user_id)).mappings().first()
    return _row_to_user(row) if row is not None else None


_NEXT_GEN = {"session_gen": ui_user.c.session_gen + 1}


def set_disabled(db: Engine, username: str, disabled: bool = True) -> None:
    """Disable (which ends the user's sessions) or enable a user; raises UserNotFound."""
    values: dict[str, Any] = {"disabled": disabled, **(_NEXT_GEN if disabled else {})}
    with transaction(db) as conn:
        result = conn.execute(
            update(ui_user).where(ui_user.c.username == username).values(**values)
        )
        if result.rowcount == 0:
            raise UserNotFound(username)


def set_password(db: Engine, username: str, password: str) -> None:
    """Give the user a new password and end their sessions; raises UserNotFound."""
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    hashed = _hasher.hash(password)
    with transaction(db) as conn:
        result = conn.execute(
            update(ui_user)
            .where(ui_user.c.username == username)
            .values(password_hash=hashed, **_NEXT_GEN)
        )
        if result.rowcount == 0:
            raise UserNotFound(username)


def end_sessions(db: Engine, user_id: int) -> None:
    """End every session of the user (on sign-out: a copy of the cookie dies with it)."""
    with transaction(db) as conn:
        conn.execute(update(ui_user).where(ui_user.c.id == user_id).values(**_NEXT_GEN))


def authenticate(
    db: Engine, username: str, password: str, clock: Callable[[], float] = time.time
) -> UiUser | None:
    """The enabled user with this password, or None (same argon2 cost either way)."""
    with reading(db) as conn:
        row = (
            conn.execute(
                select(ui_user.c.id, ui_user.c.password_hash, ui_user.c.disabled).where(
                    ui_user.c.username == username
                )
            )
            .mappings()
            .first()
        )
    stored = row["password_hash"] if row is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None or row["disabled"]:
        return None
    with transaction(db) as conn:
        conn.execute(update(ui_user).where(ui_user.c.id == row["id"]).values(last_login_at=clock()))
    return get_user(db, int(row["id"]))


def take_login_attempt(db: Engine, key: str, limit: int, window: float, now: float) -> bool:
    """Count one sign-in attempt for ``key`` ("username|ip") and say whether it is within
    ``limit`` attempts per ``window`` seconds (the window begins at its first attempt).

    One statement counts and checks, atomically on both backends (SQLite's write lock;
    PostgreSQL's row lock of INSERT ... ON CONFLICT), so concurrent attempts cannot all
    pass the check before any of them is counted. Refused attempts are counted too.
    Counts whose window has ended are deleted on the way (sign-ins are rare, so the table
    stays as small as the attempts of one window).
    """
    upsert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
    expired = ui_login_limit.c.window_start <= now - window
    statement = (
        upsert(ui_login_limit)
        .values(key=key[:200], window_start=now, tries=1)
        .on_conflict_do_update(
            index_elements=[ui_login_limit.c.key],
            set_={
                "tries": case((expired, 1), else_=ui_login_limit.c.tries + 1),
                "window_start": case((expired, now), else_=ui_login_limit.c.window_start),
            },
        )
        .returning(ui_login_limit.c.tries)
    )
    with transaction(db) as conn:
        conn.execute(delete(ui_login_limit).where(expired, ui_login_limit.c.key != key[:200]))
        tries = conn.execute(statement).scalar_one()
    return int(tries) <= limit


def clear_login_attempts(db: Engine, key: str) -> None:
    """Forget ``key``'s attempts (after a successful sign-in)."""
    with transaction(db) as conn:
        conn.execute(delete(ui_login_limit).where(ui_login_limit.c.key == key[:200]))
