"""Alembic migrations, packaged with the code (`Store.migrate()` runs them)."""
