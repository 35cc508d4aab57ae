"""Durable storage: one SQL layer (SQLAlchemy Core, async) for SQLite and PostgreSQL, one migration history."""
