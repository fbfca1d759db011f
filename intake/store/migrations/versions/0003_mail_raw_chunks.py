"""keep a mail's raw bytes in slices (mail_raw_chunks) instead of one mails.raw value

A mail with ten 20 MB PDFs is about 270 MB; as one column value it had to be one bytes object in
the poller (and again inside the database driver). New mails are written as 1 MiB slices, streamed
from disk; ``mails.raw`` stays for the mails recorded before this revision and becomes nullable.
``mails.raw_size`` records the size of new ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mail_raw_chunks',
        sa.Column('mail_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['mail_id'], ['mails.id']),
        sa.PrimaryKeyConstraint('mail_id', 'seq'),
    )
    with op.batch_alter_table('mails') as batch_op:
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column('raw_size', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # a mail recorded in slices gets its bytes back into mails.raw before the slices go
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text('SELECT DISTINCT mail_id FROM mail_raw_chunks'))]
    for mail_id in ids:
        data = b''.join(row[0] for row in bind.execute(
            sa.text('SELECT data FROM mail_raw_chunks WHERE mail_id = :m ORDER BY seq'), {'m': mail_id}))
        bind.execute(sa.text('UPDATE mails SET raw = :raw WHERE id = :m'), {'raw': data, 'm': mail_id})
    bind.execute(sa.text("UPDATE mails SET raw = :empty WHERE raw IS NULL"), {'empty': b''})
    with op.batch_alter_table('mails') as batch_op:
        batch_op.drop_column('raw_size')
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table('mail_raw_chunks')
