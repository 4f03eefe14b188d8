"""The tasks table as release 0.1.0 created it (create_all, before migrations).

Revision ID: 0001
Revises:
Create Date: 2026-12-02

A SQLite database made by 0.1.0 has exactly this table and no alembic_version:
service/schema.py recognises it and stamps it at this revision, so 0002 then
upgrades it in place with its rows. The primary key is named by the naming
convention (0.1.0 left it unnamed; nothing refers to that name). The id is an
identity column on PostgreSQL; SQLite ignores Identity and makes the INTEGER
primary key the rowid, as 0.1.0 did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("status", sa.String(length=11), nullable=False),
        sa.Column("priority", sa.String(length=6), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )


def downgrade() -> None:
    op.drop_table("tasks")
