"""Persistence: SQLAlchemy models, the async engine, repositories and Alembic migrations."""
