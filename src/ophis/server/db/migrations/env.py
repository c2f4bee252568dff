"""Alembic environment: runs migrations against the URL the server passes in."""

from alembic import context
from sqlalchemy import create_engine, text

from ophis.server.db.models import Base

#: PostgreSQL advisory lock key: servers started together migrate one after the other
_MIGRATION_LOCK = 0x0F15_0001

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url)
with engine.connect() as connection, connection.begin():
    # One transaction holds the lock and every step: it commits whole or not at all.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
