"""Alembic glue: run a service's migrations into its own schema, and the reusable async body of
its `migrations/env.py`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from libs.events.tables import NAMING_CONVENTION
from libs.servicekit.settings import async_database_url

MIGRATION_LOCK_TIMEOUT = "120s"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def service_metadata(schema: str) -> MetaData:
    """A MetaData for a service's tables: its schema and the naming convention."""
    return MetaData(schema=_checked_schema(schema), naming_convention=NAMING_CONVENTION)


def _checked_schema(schema: str) -> str:
    # The name goes into DDL unquoted-safe only if it is a plain identifier.
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name must be a lower-case identifier, got {schema!r}")
    return schema


def alembic_config(database_url: str, script_location: Path, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", async_database_url(database_url).replace("%", "%%"))
    config.attributes["schema"] = _checked_schema(schema)
    return config


def run_migrations(database_url: str, script_location: Path, schema: str) -> None:
    """`alembic upgrade head` for one service, creating its schema first.

    Synchronous, and env.py runs its own event loop: from async code call it through
    `asyncio.to_thread`.
    """
    command.upgrade(alembic_config(database_url, script_location, schema), "head")


def run_alembic_env(target_metadata: MetaData | None, schema: str) -> None:
    """The whole body of a service's `migrations/env.py`: online mode on an async engine from the
    config's `sqlalchemy.url`, version table and tables in `schema` (which is created if missing),
    autogenerate limited to that schema."""
    schema = _checked_schema(schema)
    config = context.config

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        # Other services share the database: autogenerate must never see (and drop) their tables.
        if type_ == "schema":
            return name == schema
        return True

    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "include_schemas": True,
        "include_name": include_name,
        "version_table_schema": schema,
        "compare_type": True,
    }
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic config has no sqlalchemy.url")

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = create_async_engine(async_database_url(url), poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                # Replicas starting together migrate one at a time; the others then find the
                # schema at head. The timeout bounds the wait, and any DDL lock waits too.
                await connection.execute(text(f"SET lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'"))
                await connection.execute(
                    text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": f"migrate:{schema}"}
                )
                await connection.commit()
                try:
                    await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                    await connection.commit()
                    await connection.run_sync(migrate)
                    await connection.commit()
                finally:
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(hashtext(:name))"),
                        {"name": f"migrate:{schema}"},
                    )
                    await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run_online())


def live_metadata(schema: str, *read_models: MetaData) -> MetaData:
    """Every table of a service's schema as the code defines it today: its read models, the
    event store's tables and the idempotency keys (what its migrations must have created)."""
    from libs.events.tables import define_event_store_tables
    from libs.servicekit.idempotency import define_idempotency_table

    library = service_metadata(schema)
    define_event_store_tables(library)
    define_idempotency_table(library)
    metadata = service_metadata(schema)
    # a service's own MetaData may already hold the library's tables (for Alembic)
    for models in (*read_models, library):
        for table in models.tables.values():
            if table.key not in metadata.tables:
                table.to_metadata(metadata)
    return metadata


async def schema_drift(database_url: str, schema: str, metadata: MetaData) -> list[Any]:
    """What alembic's autogenerate would change to make the migrated `schema` what `metadata`
    says (empty: the migrations created exactly the live tables). Each service's migration test
    asserts it is empty."""

    def differences(connection: Connection) -> list[Any]:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        migration = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _parents: type_ != "schema" or name == schema,
                "version_table_schema": schema,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        found: list[Any] = compare_metadata(migration, metadata)
        return found

    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(differences)
    finally:
        await engine.dispose()
