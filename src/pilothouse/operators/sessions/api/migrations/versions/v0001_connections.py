"""The connections table.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("session_name", sa.String(253), nullable=False),
        sa.Column("user", sa.String(253), nullable=False),
        sa.Column("client", sa.String(255), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_connections_session", "connections", ["namespace", "session_name"])


def downgrade() -> None:
    op.drop_index("ix_connections_session", table_name="connections")
    op.drop_table("connections")
