"""Harden tasks: 64-bit ids never reused, and the database enforcing what the API promises.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

- id becomes BIGINT (PostgreSQL; the identity's sequence follows the column).
  SQLite keeps INTEGER, its only rowid type (64-bit already), and gains
  AUTOINCREMENT, so a deleted task's id is never handed out again: the same
  rule as an identity column.
- Named CHECK constraints on both engines: status and priority take only the
  API's values, title is 1-200 characters, description at most 2000 (SQLite
  ignores VARCHAR lengths; the CHECKs do not).

Batch mode: SQLite cannot add a CHECK or change a column in place, so the table
is copied into a new one with the rows kept; PostgreSQL runs plain ALTERs.
Expand/contract: a 0.1.0 process works on the new schema unchanged (same
columns; it never writes values the CHECKs refuse).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHECKS = {
    "ck_tasks_title_length": "length(title) BETWEEN 1 AND 200",
    "ck_tasks_description_length": "length(description) <= 2000",
    "ck_tasks_status": "status IN ('todo', 'in_progress', 'done')",
    "ck_tasks_priority": "priority IN ('low', 'medium', 'high')",
}


def upgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column(
            "id",
            existing_type=sa.Integer(),
            type_=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            existing_nullable=False,
        )
        for name, condition in CHECKS.items():
            batch.create_check_constraint(op.f(name), condition)


def downgrade() -> None:
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": False}) as batch:
        for name in CHECKS:
            batch.drop_constraint(op.f(name), type_="check")
        batch.alter_column(
            "id",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            type_=sa.Integer(),
            existing_nullable=False,
        )
