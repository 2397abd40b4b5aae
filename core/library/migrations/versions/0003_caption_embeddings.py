"""Sentence embeddings of captions, for search by meaning.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

``caption_embeddings`` holds, per caption and embedding model, the caption's
L2-normalised sentence embedding as little-endian float16 (``dim`` values).
A row is deleted with its caption (foreign key) and by a trigger when the
caption's text changes, so a caption without a row for a model is exactly a
caption that model still has to embed: the table is the embedding queue.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "caption_embeddings_stale"


def upgrade() -> None:
    op.create_table(
        "caption_embeddings",
        # AUTOINCREMENT: ids are never reused, so "id > the last one read" finds every new row.
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "caption_id",
            sa.Integer(),
            sa.ForeignKey(
                "captions.id", ondelete="CASCADE", name="fk_caption_embeddings_caption_id_captions"
            ),
            nullable=False,
        ),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("caption_id", "model", name="uq_caption_embeddings_caption_id_model"),
        sqlite_autoincrement=True,
    )
    # The queue looks captions up by (model, caption_id); the unique key starts with caption_id.
    op.create_index("ix_caption_embeddings_model", "caption_embeddings", ["model", "caption_id"])
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF text ON captions "
        "WHEN OLD.text IS NOT NEW.text BEGIN "
        "DELETE FROM caption_embeddings WHERE caption_id = OLD.id; END"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    op.drop_index("ix_caption_embeddings_model", table_name="caption_embeddings")
    op.drop_table("caption_embeddings")
