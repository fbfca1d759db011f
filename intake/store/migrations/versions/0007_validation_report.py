"""keep the ETSI TS 119 102-2 validation report (XML) of every decided submission

The back office offers it for download; it is the evidence of how the signature was judged
(AdES indication, validation objects, time of validation). Deferred in the model, so lists of
submissions do not load it.

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-25 16:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch_op:
        batch_op.add_column(sa.Column('validation_report', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch_op:
        batch_op.drop_column('validation_report')
