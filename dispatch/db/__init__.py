"""Data layer: SQLAlchemy models, the session factory, Alembic migrations."""
