"""Alembic migrations: every schema change is a revision in versions/ (worker/engine/schema.py)."""
