"""Shared fixtures: one suite, every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from engine.store.database import make_engine
from engine.store.migrate import upgrade
from tests.support import Receiver

PG_ENV = "CALLBRIDGE_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI") == "true"


def _pg_base() -> str | None:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if IN_CI:
        raise RuntimeError(f"{PG_ENV} must be set in CI: the suite runs on PostgreSQL too")
    return None


def _admin(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, migrated schema on the test PostgreSQL server; dropped afterwards."""
    base = _pg_base()
    if base is None:
        pytest.skip(f"{PG_ENV} not set (CI sets it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin(base)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(url)
        yield url
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        finally:
            admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database: a file for SQLite, a fresh schema on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "callbridge.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP callback receiver on 127.0.0.1."""
    rec = Receiver()
    rec.start()
    yield rec
    rec.stop()
