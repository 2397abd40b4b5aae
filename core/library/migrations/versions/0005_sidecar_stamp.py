"""The stamp of each photo's XMP sidecars, so that a sidecar edited on its own is read again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``photos.sidecar_stamp`` (text, nullable) holds the size and mtime of the photo's
sidecars (``photo.jpg.xmp``, ``photo.xmp``) when its metadata was last read
(:mod:`photoscribe.core.library.sidecars`). A rescan compares it with the
sidecars on disk and re-reads the descriptions of photos whose sidecar was
written, replaced or deleted while the photo itself stayed the same. Existing
rows start at NULL ("no sidecar"): a photo that has a sidecar is read once more
by the next rescan, which is harmless (imports are idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): copying ``photos`` would drop the triggers that feed search.
    op.execute("ALTER TABLE photos ADD COLUMN sidecar_stamp TEXT")


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place, keeping the triggers on ``photos``.
    op.execute("ALTER TABLE photos DROP COLUMN sidecar_stamp")
