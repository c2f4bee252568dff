"""channel settings: private channels, channel notices, package icons, the server error log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a NOT NULL column with a default in place everywhere;
    # on PostgreSQL the batch is plain ALTER TABLE statements
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("private_channel", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("icon_key", sa.String(length=600), nullable=True))

    op.create_table(
        "channel_notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("channel_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_notices_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "server_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("server_errors")
    with op.batch_alter_table("channel_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_notices_owner_id"))
    op.drop_table("channel_notices")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_column("icon_key")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("private_channel")
