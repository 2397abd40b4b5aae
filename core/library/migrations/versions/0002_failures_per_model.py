"""Failures are counted per (file, model): a broken model no longer blocks a good one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

``failures.model`` names the model whose captioning failed ('' for a failure
that does not depend on the model, such as a file that cannot be read). The
unique key becomes (path, model). A model stops trying a photo when its own
failures plus the model-independent ones reach ``max_attempts`` (default 3).

Existing rows cannot tell which model failed: they keep ``model = ''`` and
their attempts are capped at ``RETRY_ONCE`` (2, one short of the default
limit), so the photos they describe are retried once by whichever model runs
next (and once by each other model) instead of being given up for good. The
downgrade cannot restore the attempts the cap lowered.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Attempts kept on a failure from before this revision: one short of the default limit of 3.
RETRY_ONCE = 2


def upgrade() -> None:
    with op.batch_alter_table("failures", recreate="always") as batch:
        batch.add_column(sa.Column("model", sa.String(length=200), server_default="", nullable=False))
        batch.drop_constraint("uq_failures_path", type_="unique")
        batch.create_unique_constraint("uq_failures_path_model", ["path", "model"])
        batch.create_index("ix_failures_path", ["path"])
    op.execute(f"UPDATE failures SET attempts = {RETRY_ONCE} WHERE attempts > {RETRY_ONCE}")


def downgrade() -> None:
    # Keep, per file, the failure with the most attempts: the old schema holds one row per path.
    op.execute(
        "DELETE FROM failures WHERE id NOT IN ("
        " SELECT id FROM (SELECT id, row_number() OVER ("
        "  PARTITION BY path ORDER BY attempts DESC, last_attempt DESC, id DESC) AS n FROM failures)"
        " WHERE n = 1)"
    )
    with op.batch_alter_table("failures", recreate="always") as batch:
        batch.drop_index("ix_failures_path")
        batch.drop_constraint("uq_failures_path_model", type_="unique")
        batch.create_unique_constraint("uq_failures_path", ["path"])
        batch.drop_column("model")
