"""Languages (issue 18 part 6): the pages' language of each user, and the pinyin search key of
customer names (full pinyin and initials, ``domain/name_search.py``), back-filled here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.domain.name_search import has_han, search_key

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("name_search", sa.String(), nullable=False, server_default=""))
    customers = sa.table("customers", sa.column("id", sa.Integer), sa.column("name", sa.String),
                         sa.column("name_search", sa.String))
    conn = op.get_bind()
    last = 0
    while True:  # keyset pages: constant memory whatever the number of customers
        rows = conn.execute(
            sa.select(customers.c.id, customers.c.name)
            .where(customers.c.id > last)
            .order_by(customers.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        updates = [{"cid": row[0], "key": search_key(row[1])} for row in rows if has_han(row[1] or "")]
        if updates:
            conn.execute(
                customers.update().where(customers.c.id == sa.bindparam("cid")).values(
                    name_search=sa.bindparam("key")
                ),
                updates,
            )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("name_search")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
