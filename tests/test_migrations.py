"""Schema changes go through Alembic: one line of history, and it builds exactly the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from storage import db
from storage.models import Base


def test_history_has_one_head() -> None:
    """Migrations form one line, so `db upgrade` is unambiguous."""
    heads = ScriptDirectory.from_config(db.alembic_config()).get_heads()
    assert len(heads) == 1, heads


async def _diff(url: str) -> list[object]:
    engine = db.create_engine(url)
    try:
        await db.upgrade(engine)

        def compare(conn: Connection) -> list[object]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_migrations_build_the_models_on_sqlite(tmp_path: Path) -> None:
    """No table, column or index differs between the migrated schema and the models."""
    assert await _diff(f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3") == []


async def test_migrations_build_the_models_on_postgres(pg_url: str) -> None:
    """The same on PostgreSQL, where types are stricter."""
    assert await _diff(pg_url) == []
