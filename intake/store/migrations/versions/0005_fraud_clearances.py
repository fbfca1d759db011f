"""four eyes on suspected fraud: fraud_clearances (a request by one supervisor, the decision of another)

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25 16:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fraud_clearances',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('requested_by', sa.String(length=100), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision', sa.String(length=20), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_fraud_clearances_submission_id', 'fraud_clearances', ['submission_id'])
    op.create_index('uq_fraud_clearance_open', 'fraud_clearances', ['submission_id'], unique=True,
                    sqlite_where=sa.text('decided_at IS NULL'), postgresql_where=sa.text('decided_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_fraud_clearance_open', table_name='fraud_clearances')
    op.drop_index('ix_fraud_clearances_submission_id', table_name='fraud_clearances')
    op.drop_table('fraud_clearances')
