"""user content on its own origin: sign-ins to one deployment or notebook server, and a
deployment's own CSP sandbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_content_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_content_sessions_account_id", "user_content_sessions", ["account_id"])
    op.create_index("ix_user_content_sessions_expires_at", "user_content_sessions", ["expires_at"])
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sandbox", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("sandbox")
    op.drop_index("ix_user_content_sessions_expires_at", "user_content_sessions")
    op.drop_index("ix_user_content_sessions_account_id", "user_content_sessions")
    op.drop_table("user_content_sessions")
