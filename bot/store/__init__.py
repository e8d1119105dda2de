"""Persistence: SQLAlchemy 2 models, the engine, queries, Alembic migrations."""
