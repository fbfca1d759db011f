"""customer search: trigram indexes on PostgreSQL, so a name, e-mail or phone fragment is found
without reading every profile

The back office searches profiles by fragments (``LIKE '%berz%'``), which a B-tree cannot serve:
at 100,000 profiles each search read the whole table (200-300 ms, growing with the bank). pg_trgm's
GIN indexes serve ``LIKE`` on the very expressions ``intake.web.customers.search`` writes. Where
the extension cannot be created (no privilege), the upgrade says so and search stays a scan.
SQLite (the embedded default, small installations) keeps scanning.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 19:50:00
"""
import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

#: index name -> the expression, exactly as intake.web.customers.search writes it on PostgreSQL.
INDEXES = {
    'ix_profiles_first_name_trgm': "lower(fields ->> 'first_name')",
    'ix_profiles_last_name_trgm': "lower(fields ->> 'last_name')",
    'ix_profiles_email_trgm': "lower(fields ->> 'email')",
    'ix_profiles_phone_trgm': "(fields ->> 'phone')",
    'ix_profiles_national_id_trgm': "lower(national_id)",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    except DBAPIError as exc:
        log.warning("pg_trgm could not be created (%s): customer search reads every profile; "
                    "a superuser can run CREATE EXTENSION pg_trgm and this migration's CREATE INDEX "
                    "statements later", type(exc).__name__)
        return
    for name, expression in INDEXES.items():
        op.execute(f'CREATE INDEX IF NOT EXISTS {name} ON profiles USING gin (({expression}) gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in INDEXES:
        op.execute(f'DROP INDEX IF EXISTS {name}')
