"""Keywords per photo, a confidence per caption, and keywords in the full-text index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10

``keywords`` holds a photo's search words: from a model's ImageNet classifier
(``source = "model:<model id>"``, with its probability in ``score``), typed by a
person (``"user"``) or read from a sidecar (``"imported"``). One row per
(photo, word). ``removed`` remembers a word a person took away, so captioning
the photo again does not bring it back; removed rows are neither shown,
searched nor exported.

``captions.confidence`` (0-1, nullable) is the model's estimate that its
caption names only objects that are in the photo.

``captions_fts`` gains a fourth column, ``keywords`` (the photo's keywords
that are not removed, one per line): the FTS5 table is rebuilt with it and its
triggers are remade, plus three on ``keywords``. A keyword change also drops
the photo's caption embeddings (schema 0003), since search by meaning embeds
a caption together with its photo's keywords.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USER_TEXT = """coalesce((SELECT group_concat(c.text, char(10)) FROM captions AS c
                     WHERE c.photo_id = p.id AND (c.is_user OR c.reviewed)), '')"""
_MODEL_TEXT = """coalesce((SELECT group_concat(c.text, char(10)) FROM captions AS c
                     WHERE c.photo_id = p.id AND NOT (c.is_user OR c.reviewed)), '')"""
_KEYWORDS = """coalesce((SELECT group_concat(k.word, char(10)) FROM keywords AS k
                     WHERE k.photo_id = p.id AND NOT k.removed), '')"""


def _fts_table(with_keywords: bool) -> str:
    columns = "user_text, model_text, name" + (", keywords" if with_keywords else "")
    return f"CREATE VIRTUAL TABLE captions_fts USING fts5({columns}, tokenize = 'porter unicode61', prefix = '2 3')"


def _select_rows(with_keywords: bool, where: str) -> str:
    """INSERT of the FTS rows of the photos matching ``where`` (``p`` is ``photos``)."""
    if with_keywords:
        return (
            "INSERT INTO captions_fts (rowid, user_text, model_text, name, keywords) "
            f"SELECT p.id, {_USER_TEXT}, {_MODEL_TEXT}, p.name, {_KEYWORDS} FROM photos AS p {where};"
        )
    return (
        "INSERT INTO captions_fts (rowid, user_text, model_text, name) "
        f"SELECT p.id, {_USER_TEXT}, {_MODEL_TEXT}, p.name FROM photos AS p {where};"
    )


def _triggers(with_keywords: bool) -> dict[str, str]:
    def rebuild(photo_id: str) -> str:
        return f"DELETE FROM captions_fts WHERE rowid = {photo_id}; " + _select_rows(
            with_keywords, f"WHERE p.id = {photo_id}"
        )

    triggers = {
        "photos_fts_ai": f"AFTER INSERT ON photos BEGIN {rebuild('NEW.id')} END",
        "photos_fts_au": (
            "AFTER UPDATE OF id, name ON photos BEGIN "
            f"DELETE FROM captions_fts WHERE rowid = OLD.id; {rebuild('NEW.id')} END"
        ),
        "photos_fts_ad": "AFTER DELETE ON photos BEGIN DELETE FROM captions_fts WHERE rowid = OLD.id; END",
        "captions_fts_ai": f"AFTER INSERT ON captions BEGIN {rebuild('NEW.photo_id')} END",
        "captions_fts_au": (
            "AFTER UPDATE OF photo_id, text, is_user, reviewed ON captions BEGIN "
            f"{rebuild('OLD.photo_id')} {rebuild('NEW.photo_id')} END"
        ),
        "captions_fts_ad": f"AFTER DELETE ON captions BEGIN {rebuild('OLD.photo_id')} END",
    }
    if with_keywords:
        # Search by meaning embeds a caption with its photo's keywords: a keyword change re-embeds.
        stale = "DELETE FROM caption_embeddings WHERE caption_id IN (SELECT id FROM captions WHERE photo_id = {});"
        triggers |= {
            "keywords_fts_ai": (
                f"AFTER INSERT ON keywords WHEN NOT NEW.removed BEGIN {rebuild('NEW.photo_id')} "
                f"{stale.format('NEW.photo_id')} END"
            ),
            "keywords_fts_au": (
                "AFTER UPDATE OF photo_id, word, removed ON keywords BEGIN "
                f"{rebuild('OLD.photo_id')} {rebuild('NEW.photo_id')} "
                f"{stale.format('OLD.photo_id')} {stale.format('NEW.photo_id')} END"
            ),
            "keywords_fts_ad": (
                f"AFTER DELETE ON keywords WHEN NOT OLD.removed BEGIN {rebuild('OLD.photo_id')} "
                f"{stale.format('OLD.photo_id')} END"
            ),
        }
    return triggers


def _remake_index(with_keywords: bool) -> None:
    """Drop the FTS table and every trigger that feeds it, then create and fill them again."""
    for name in _triggers(True):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS captions_fts")
    op.execute(_fts_table(with_keywords))
    op.execute(_select_rows(with_keywords, ""))
    for name, body in _triggers(with_keywords).items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): copying ``captions`` would drop its triggers.
    op.execute("ALTER TABLE captions ADD COLUMN confidence FLOAT")
    op.create_table(
        "keywords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=210), nullable=False),
        sa.Column("removed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name="fk_keywords_photo_id_photos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_keywords"),
        sa.UniqueConstraint("photo_id", "word", name="uq_keywords_photo_id_word"),
    )
    _remake_index(with_keywords=True)


def downgrade() -> None:
    _remake_index(with_keywords=False)
    op.drop_table("keywords")
    # SQLite >= 3.35 drops a column in place, keeping the triggers on ``captions``.
    op.execute("ALTER TABLE captions DROP COLUMN confidence")
