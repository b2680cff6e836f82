"""The migrations build exactly the schema the code declares, and go down and up again."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from engine.store.migrate import alembic_config, upgrade
from engine.store.schema import metadata


def differences(db: Engine) -> list[Any]:
    with db.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_schemas": False}
        )
        return compare_metadata(context, metadata)


def test_the_migrated_schema_matches_the_code(db: Engine) -> None:
    assert differences(db) == []


def test_the_last_migration_goes_down_and_up_again(db: Engine, db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0003")
    upgrade(db_url)
    assert differences(db) == []
