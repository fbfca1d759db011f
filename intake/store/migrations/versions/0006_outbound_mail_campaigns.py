"""outbound mail (transactional outbox), contact-change alerts, refresh campaigns

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-25 16:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('criteria', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('blank_lv', sa.LargeBinary(), nullable=True),
        sa.Column('blank_en', sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        'outbound_messages',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('dedupe_key', sa.String(200), nullable=False, unique=True),
        sa.Column('kind', sa.String(30), nullable=False),
        sa.Column('channel', sa.String(10), nullable=False),
        sa.Column('recipient', sa.String(320), nullable=False),
        sa.Column('national_id', sa.String(40), nullable=True),
        sa.Column('submission_id', sa.Integer(), sa.ForeignKey('submissions.id'), nullable=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=True),
        sa.Column('lang', sa.String(5), nullable=False),
        sa.Column('message_id', sa.String(300), nullable=False, unique=True),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('raw_sha256', sa.String(64), nullable=True),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_outbound_status_next', 'outbound_messages', ['status', 'updated_at'])
    op.create_index('ix_outbound_recipient_created', 'outbound_messages', ['recipient', 'created_at'])
    op.create_index('ix_outbound_messages_national_id', 'outbound_messages', ['national_id'])
    op.create_index('ix_outbound_messages_submission_id', 'outbound_messages', ['submission_id'])
    op.create_index('ix_outbound_messages_campaign_id', 'outbound_messages', ['campaign_id'])
    op.create_index('ix_outbound_messages_created_at', 'outbound_messages', ['created_at'])
    op.create_table(
        'contact_alerts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('national_id', sa.String(40), nullable=False),
        sa.Column('submission_id', sa.Integer(), sa.ForeignKey('submissions.id'), nullable=True),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_contact_alerts_national_id', 'contact_alerts', ['national_id'])
    op.create_index('ix_contact_alerts_until', 'contact_alerts', ['until'])
    op.create_table(
        'campaign_recipients',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False),
        sa.Column('national_id', sa.String(40), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('submission_id', sa.Integer(), sa.ForeignKey('submissions.id'), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('campaign_id', 'national_id', name='uq_campaign_recipient'),
    )
    op.create_index('ix_campaign_recipients_campaign_id', 'campaign_recipients', ['campaign_id'])
    op.create_index('ix_campaign_recipients_national_id', 'campaign_recipients', ['national_id'])


    # replies look a sender up by the e-mail on file (intake.mailout.replies.EMAIL_EXPRESSIONS)
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute("CREATE INDEX ix_profiles_email ON profiles (lower(fields ->> 'email'))")
    elif dialect == 'sqlite':
        op.execute("CREATE INDEX ix_profiles_email ON profiles (lower(json_extract(fields, '$.email')))")


def downgrade() -> None:
    op.execute('DROP INDEX IF EXISTS ix_profiles_email')
    op.drop_table('campaign_recipients')
    op.drop_table('contact_alerts')
    op.drop_table('outbound_messages')
    op.drop_table('campaigns')
