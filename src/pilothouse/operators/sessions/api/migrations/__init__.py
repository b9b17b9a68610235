"""Alembic migrations of the sessions API database (see :mod:`..db`)."""
