"""channel mirrors: labels that follow an upstream channel (synced mirrors and proxies)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_mirrors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("upstream", sa.String(length=2000), nullable=False),
        sa.Column("upstream_token", sa.String(length=500), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column("last_summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "label"),
    )
    # batch mode, as 0002: the same operations on SQLite and PostgreSQL
    with op.batch_alter_table("channel_mirrors", schema=None) as batch_op:
        batch_op.create_index("ix_channel_mirrors_due", ["next_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channel_mirrors", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_mirrors_due")
    op.drop_table("channel_mirrors")
