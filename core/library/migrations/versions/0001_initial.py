"""Initial library schema: folders, photos, captions, failures and the FTS5 caption index.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

``captions_fts`` holds one row per photo (rowid = photos.id) with three columns:
the captions a person wrote or approved (``user_text``), the other model
captions (``model_text``) and the file name (``name``). Triggers on ``photos``
and ``captions`` rebuild a photo's row from scratch whenever anything it is
made of changes, so the index cannot drift from the tables. The FTS table
keeps its own copy of the text (it is not external-content), which is what
lets ``snippet()`` work and makes delete-by-rowid exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_row(photo_id: str) -> str:
    """SQL that re-derives the FTS row of photo ``photo_id`` (a trigger expression such as NEW.id)."""
    return f"""
    DELETE FROM captions_fts WHERE rowid = {photo_id};
    INSERT INTO captions_fts (rowid, user_text, model_text, name)
    SELECT p.id,
           coalesce((SELECT group_concat(c.text, char(10)) FROM captions AS c
                     WHERE c.photo_id = p.id AND (c.is_user OR c.reviewed)), ''),
           coalesce((SELECT group_concat(c.text, char(10)) FROM captions AS c
                     WHERE c.photo_id = p.id AND NOT (c.is_user OR c.reviewed)), ''),
           p.name
    FROM photos AS p WHERE p.id = {photo_id};"""


FTS_TABLE = """
CREATE VIRTUAL TABLE captions_fts USING fts5(
    user_text, model_text, name,
    tokenize = 'porter unicode61', prefix = '2 3'
)"""

TRIGGERS = {
    "photos_fts_ai": f"AFTER INSERT ON photos BEGIN {_rebuild_row('NEW.id')} END",
    "photos_fts_au": (
        "AFTER UPDATE OF id, name ON photos BEGIN "
        f"DELETE FROM captions_fts WHERE rowid = OLD.id; {_rebuild_row('NEW.id')} END"
    ),
    "photos_fts_ad": "AFTER DELETE ON photos BEGIN DELETE FROM captions_fts WHERE rowid = OLD.id; END",
    "captions_fts_ai": f"AFTER INSERT ON captions BEGIN {_rebuild_row('NEW.photo_id')} END",
    "captions_fts_au": (
        "AFTER UPDATE OF photo_id, text, is_user, reviewed ON captions BEGIN "
        f"{_rebuild_row('OLD.photo_id')} {_rebuild_row('NEW.photo_id')} END"
    ),
    "captions_fts_ad": f"AFTER DELETE ON captions BEGIN {_rebuild_row('OLD.photo_id')} END",
}


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("recursive", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_folders"),
        sa.UniqueConstraint("path", name="uq_folders_path"),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("camera", sa.Text(), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("feature", sa.LargeBinary(), nullable=True),
        sa.Column("feature_model", sa.String(length=200), nullable=True),
        sa.CheckConstraint("status IN ('new', 'captioned', 'failed', 'missing')", name="ck_photos_status"),
        sa.ForeignKeyConstraint(
            ["folder_id"], ["folders.id"], name="fk_photos_folder_id_folders", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.UniqueConstraint("path", name="uq_photos_path"),
    )
    op.create_index("ix_photos_folder_id", "photos", ["folder_id"])
    op.create_index("ix_photos_content_hash", "photos", ["content_hash"])
    op.create_index("ix_photos_status", "photos", ["status"])
    op.create_index("ix_photos_feature_model", "photos", ["feature_model"])
    op.create_index("ix_photos_taken_at", "photos", ["taken_at"])
    op.create_table(
        "captions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("is_user", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("alternatives", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("attention", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("language", sa.String(length=35), server_default="en", nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name="fk_captions_photo_id_photos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_captions"),
        sa.UniqueConstraint("photo_id", "source", name="uq_captions_photo_id_source"),
    )
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("last_attempt", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name="fk_failures_photo_id_photos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_failures"),
        sa.UniqueConstraint("path", name="uq_failures_path"),
    )
    op.create_index("ix_failures_photo_id", "failures", ["photo_id"])

    op.execute(FTS_TABLE)
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS captions_fts")
    op.drop_index("ix_failures_photo_id", table_name="failures")
    op.drop_table("failures")
    op.drop_table("captions")
    for index in ("taken_at", "feature_model", "status", "content_hash", "folder_id"):
        op.drop_index(f"ix_photos_{index}", table_name="photos")
    op.drop_table("photos")
    op.drop_table("folders")
