"""The library's active model, and a full-text index of the caption each photo shows, no other.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

``library_state`` (key, value) holds settings of the library itself; ``active_model`` is the
model the library is captioned with. A photo shows its newest caption a person wrote or
approved, else the active model's caption, else its newest model caption
(:data:`photoscribe.core.library.captions.BEST_CAPTION_ORDER`). Switching models deletes no
caption: switching back shows the previous model's captions again.

``captions_fts`` indexed every caption of a photo, so a search found a photo by the words of a
caption it no longer shows (a discarded model's). Its triggers are remade so that ``user_text``
holds the person's caption the photo shows and ``model_text`` the model caption it shows (empty
when a person's caption is shown), as the view ``captions_fts_rows`` derives them; changing
``active_model`` re-derives the rows of the photos that either model captioned. The FTS table
itself is unchanged; every row is derived again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "(SELECT s.value FROM library_state AS s WHERE s.key = 'active_model')"
_PREFERRED = "(c.is_user OR c.reviewed)"
# The caption a photo shows, as captions.BEST_CAPTION_ORDER ranks them.
_USER_TEXT = f"""coalesce((SELECT c.text FROM captions AS c WHERE c.photo_id = p.id AND {_PREFERRED}
                     ORDER BY c.created_at DESC, c.id DESC LIMIT 1), '')"""
_MODEL_TEXT = f"""coalesce((SELECT c.text FROM captions AS c WHERE c.photo_id = p.id
                     AND NOT EXISTS (SELECT 1 FROM captions AS u WHERE u.photo_id = p.id AND (u.is_user OR u.reviewed))
                     ORDER BY coalesce(c.source = {_ACTIVE}, 0) DESC, c.created_at DESC, c.id DESC
                     LIMIT 1), '')"""
_OLD_USER_TEXT = """coalesce((SELECT group_concat(c.text, char(10)) FROM captions AS c
                     WHERE c.photo_id = p.id AND (c.is_user OR c.reviewed)), '')"""
_OLD_MODEL_TEXT = """coalesce((SELECT group_concat(c.text, char(10)) FROM captions AS c
                     WHERE c.photo_id = p.id AND NOT (c.is_user OR c.reviewed)), '')"""
_KEYWORDS = """coalesce((SELECT group_concat(k.word, char(10)) FROM keywords AS k
                     WHERE k.photo_id = p.id AND NOT k.removed), '')"""


VIEW = "captions_fts_rows"
# The FTS row of each photo (photo_id, user_text, model_text, name, keywords), one definition for the
# triggers and for a repair's rebuild; SQLite flattens it, so "WHERE photo_id = ?" reads one photo.
_VIEW_SQL = (
    f"CREATE VIEW {VIEW} (photo_id, user_text, model_text, name, keywords) AS "
    f"SELECT p.id, {_USER_TEXT}, {_MODEL_TEXT}, p.name, {_KEYWORDS} FROM photos AS p"
)


def _rows(shown: bool, which: str = "") -> str:
    """INSERT of the FTS rows of the photos whose id satisfies ``which`` (``"= NEW.id"``; all if empty)."""
    columns = "user_text, model_text, name, keywords"
    if shown:
        where = f"WHERE photo_id {which}" if which else ""
        return f"INSERT INTO captions_fts (rowid, {columns}) SELECT photo_id, {columns} FROM {VIEW} {where};"
    where = f"WHERE p.id {which}" if which else ""
    return (
        f"INSERT INTO captions_fts (rowid, {columns}) "
        f"SELECT p.id, {_OLD_USER_TEXT}, {_OLD_MODEL_TEXT}, p.name, {_KEYWORDS} FROM photos AS p {where};"
    )


def _triggers(shown: bool) -> dict[str, str]:
    """Migration 0004's triggers, with the rows derived as ``shown`` says, plus (``shown``) those on
    ``library_state``."""

    def rebuild(photo_id: str) -> str:
        return f"DELETE FROM captions_fts WHERE rowid = {photo_id}; " + _rows(shown, f"= {photo_id}")

    stale = (
        "DELETE FROM caption_embeddings WHERE caption_id IN (SELECT id FROM captions WHERE photo_id = {});"
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
            "AFTER UPDATE OF photo_id, text, is_user, reviewed, source, created_at ON captions BEGIN "
            f"{rebuild('OLD.photo_id')} {rebuild('NEW.photo_id')} END"
        ),
        "captions_fts_ad": f"AFTER DELETE ON captions BEGIN {rebuild('OLD.photo_id')} END",
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
    if shown:
        # The photos whose shown caption can change with the active model: those either model captioned.
        def touched(*models: str) -> str:
            ids = f"(SELECT c.photo_id FROM captions AS c WHERE c.source IN ({', '.join(models)}))"
            return f"DELETE FROM captions_fts WHERE rowid IN {ids}; " + _rows(True, f"IN {ids}")

        triggers |= {
            "library_state_fts_ai": (
                f"AFTER INSERT ON library_state WHEN NEW.key = 'active_model' BEGIN {touched('NEW.value')} END"
            ),
            "library_state_fts_au": (
                "AFTER UPDATE ON library_state WHEN NEW.key = 'active_model' OR OLD.key = 'active_model' "
                f"BEGIN {touched('OLD.value', 'NEW.value')} END"
            ),
            "library_state_fts_ad": (
                f"AFTER DELETE ON library_state WHEN OLD.key = 'active_model' BEGIN {touched('OLD.value')} END"
            ),
        }
    return triggers


def _remake(shown: bool) -> None:
    for name in _triggers(True):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    if shown:
        op.execute(_VIEW_SQL)
    op.execute("DELETE FROM captions_fts")
    op.execute(_rows(shown))
    for name, body in _triggers(shown).items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def upgrade() -> None:
    # The old triggers go first: the schema's own pages then have room for the new table's entry,
    # and the file keeps its layout (a library damaged in its middle still loses data, not its schema).
    for name in _triggers(False):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.create_table(
        "library_state",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_library_state"),
    )
    _remake(shown=True)


def downgrade() -> None:
    _remake(shown=False)
    op.drop_table("library_state")
