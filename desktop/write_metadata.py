"""The "Write descriptions into photo files" dialog: says what will change, asks, then writes in the background.

The writing itself is :func:`photoscribe.core.library.embed.embed_photos` (exiv2, atomic per
file, never replaces a person's text). This dialog is its confirmation: it counts what would be
written (:func:`~photoscribe.core.library.embed.plan_embed`, in the background), says so in plain
words with Cancel as the default button, then runs the batch in a
:class:`~photoscribe.desktop.workers.Job` with progress and Cancel, and ends with a summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library.embed import (
    EmbedPlan,
    EmbedSummary,
    can_embed,
    embed_photos,
    plan_embed,
)
from photoscribe.core.library.export_scope import ExportScope
from photoscribe.core.progress import Progress
from photoscribe.desktop.dialog_parts import ScopedJobDialog
from photoscribe.desktop.fit_scroll import FitScroll
from photoscribe.desktop.style import ERROR, set_tone
from photoscribe.desktop.workers import Job

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

TITLE = "Write descriptions into photo files"
LISTED = 200  # photos named per list in the summary; the rest are counted
WHAT_IS_WRITTEN = (
    "This changes the photo files themselves. Into each photo with a {which}, photoscribe writes:\n"
    "•  the alt text (XMP Iptc4xmpCore:AltTextAccessibility; ExtDescrAccessibility when it is long),\n"
    "•  the description (XMP dc:description, IPTC Caption-Abstract, EXIF ImageDescription),\n"
    "•  its keywords (XMP dc:subject, IPTC Keywords), added to those already there; none is removed.\n\n"
    "A description or alt text a person already wrote is never replaced: it is kept, and the summary "
    "names those photos. The image data and every other metadata field stay as they are, and each "
    "file is replaced in one step, so none is ever left half-written. Formats that cannot hold this "
    "text (HEIC, RAW and others) are skipped.\n\n"
    "To leave your photos untouched, use File ▸ Export alt text (XMP sidecars) instead."
)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_target(scope: ExportScope, count: int) -> str:
    """Which photos, said before writing: "the 6 selected photos", "the 41 photos of this search"."""
    photos = _plural(count, "photo")
    if scope.photo_ids is not None:
        return f"the {photos.replace('photo', 'selected photo', 1)}"
    if scope.is_library:
        return f"all {photos} of the library"
    if scope.query.strip():
        where = "this search"
    elif scope.folder is not None and not (scope.needs_review or scope.uncaptioned or scope.added_since):
        where = "this folder"
    else:
        where = "this view"
    return f"the {photos} of {where}"


def describe_plan(plan: EmbedPlan, reviewed_only: bool) -> str:
    """ "6 photo files will be written. 2 photos without a reviewed caption are left alone. ..." """
    caption = "reviewed caption" if reviewed_only else "caption"
    lines = [
        f"{_plural(plan.to_write, 'photo file')} will be written."
        if plan.to_write
        else f"None of these photos has a {caption} to write into a file of a format that can hold it."
    ]
    if plan.without_caption:
        lines.append(f"{_plural(plan.without_caption, 'photo')} without a {caption} will not be touched.")
    if plan.low_confidence:
        lines.append(
            f"{_plural(plan.low_confidence, 'unreviewed caption')} the model is not confident about "
            "will not be written (review them first)."
        )
    if plan.unsupported:
        names = ", ".join(Path(p).name for p in plan.unsupported[:5])
        more = f" and {len(plan.unsupported) - 5} more" if len(plan.unsupported) > 5 else ""
        lines.append(
            f"{_plural(len(plan.unsupported), 'photo')} in a format that cannot be written will be "
            f"skipped: {names}{more}."
        )
    return " ".join(lines)


def _listing(paths: list[str], detail: Callable[[str], str] | None = None) -> list[str]:
    lines = [f"  {Path(p).name} ({Path(p).parent}){detail(p) if detail else ''}" for p in paths[:LISTED]]
    if len(paths) > LISTED:
        lines.append(f"  … and {len(paths) - LISTED:,} more (see the log)")
    return lines


def describe_summary(summary: EmbedSummary, reviewed_only: bool, planned: int | None = None) -> str:
    """What was done, in plain words: written, unchanged, kept (which photos), skipped, failed (why)."""
    lines = []
    if summary.cancelled:
        done = summary.written + summary.unchanged + len(summary.failed)
        of = f" of {planned:,}" if planned is not None else ""
        lines.append(
            f"Cancelled after {done:,}{of} photos. Files written before the cancel have their new text; "
            "the others were not touched, and no file is half-written."
        )
    unchanged = (
        f"; {summary.unchanged:,} already had this text and {'was' if summary.unchanged == 1 else 'were'} "
        "not changed"
        if summary.unchanged
        else ""
    )
    lines.append(f"Wrote into {_plural(summary.written, 'photo file')}{unchanged}.")
    if summary.skipped:
        caption = "reviewed caption" if reviewed_only else "caption"
        lines.append(f"Skipped {_plural(summary.skipped, 'photo')} without a {caption}.")
    if summary.kept:
        lines.append("")
        lines.append(
            f"Kept a person's text in {_plural(len(summary.kept), 'photo')} (photoscribe never replaces it):"
        )
        fields = dict(summary.kept)
        lines += _listing([p for p, _ in summary.kept], lambda p: f": {', '.join(fields[p])} kept")
    unsupported = [p for p, _ in summary.failed if not can_embed(p)]
    failed = [(p, why) for p, why in summary.failed if can_embed(p)]
    if unsupported:
        lines.append("")
        lines.append(f"Skipped {_plural(len(unsupported), 'photo')} in a format that cannot be written:")
        lines += _listing(unsupported)
    if failed:
        reasons = dict(failed)
        lines.append("")
        lines.append(f"Could not write {_plural(len(failed), 'photo')}; each was left as it was:")
        lines += _listing([p for p, _ in failed], lambda p: f": {reasons[p]}")
    return "\n".join(lines)


class WriteMetadataDialog(ScopedJobDialog):
    """Confirm, then write each photo's caption and keywords into its file (see the module docstring)."""

    title = TITLE

    def _set_up(self) -> None:
        self.plan: EmbedPlan | None = None
        self.summary: EmbedSummary | None = None
        self._plan_job: Job | None = None
        self._job: Job | None = None
        self.setAccessibleDescription(
            "Asks before writing alt text, descriptions and keywords into the photo files themselves. "
            "Cancel is the default button."
        )
        self._build()
        self.resize(620, 460)
        self._plan()

    # ----------------------------------------------------------------- layout

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        # The question and its explanation scroll when they do not fit (at 200 % text size);
        # the progress, the result and the buttons stay in view below them.
        text = QWidget()
        root = QVBoxLayout(text)
        root.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(FitScroll(text), 1)
        self.target_label = QLabel("")
        self.target_label.setAccessibleName("Photos to write into")
        self.target_label.setWordWrap(True)
        font = self.target_label.font()
        font.setBold(True)
        self.target_label.setFont(font)
        root.addWidget(self.target_label)
        self.explanation = QLabel("")
        self.explanation.setAccessibleName("What will be written")
        self.explanation.setWordWrap(True)
        self.explanation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        root.addWidget(self.explanation)
        self.unreviewed_check = QCheckBox("&Include unreviewed captions")
        self.unreviewed_check.setAccessibleName("Also write captions nobody has reviewed")
        self.unreviewed_check.setToolTip(
            "Off: only captions a person wrote or approved go into the files. On: the model's unreviewed "
            "captions go too, except those it is not confident about."
        )
        self.unreviewed_check.toggled.connect(lambda _on: self._plan())
        root.addWidget(self.unreviewed_check)
        self.plan_label = QLabel("")
        self.plan_label.setAccessibleName("How many photo files will be written")
        self.plan_label.setWordWrap(True)
        root.addWidget(self.plan_label)
        root.addStretch(1)
        root = outer

        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName("Writing progress")
        self.progress_bar.setFormat("%v / %m photos")
        self.progress_bar.hide()
        root.addWidget(self.progress_bar)
        self.result_view = QPlainTextEdit()
        self.result_view.setReadOnly(True)
        self.result_view.setAccessibleName("What was written")
        self.result_view.hide()
        root.addWidget(self.result_view, 1)
        root.addStretch(0)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.write_button = QPushButton("&Write into files")
        self.write_button.setAccessibleName("Write into the photo files")
        self.write_button.setAutoDefault(False)
        self.write_button.setDefault(False)
        self.write_button.clicked.connect(lambda _checked=False: self.write())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel without writing anything")
        self.cancel_button.setDefault(True)  # Enter never writes into the photos
        self.cancel_button.clicked.connect(lambda _checked=False: self.reject())
        buttons.addWidget(self.write_button)
        buttons.addWidget(self.cancel_button)
        root.addLayout(buttons)
        QWidget.setTabOrder(self.unreviewed_check, self.cancel_button)
        QWidget.setTabOrder(self.cancel_button, self.write_button)
        self._update_text()

    @property
    def reviewed_only(self) -> bool:
        return not self.unreviewed_check.isChecked()

    def _update_text(self) -> None:
        count = self.plan.in_scope if self.plan is not None else None
        target = describe_target(self.scope, count) if count is not None else "the chosen photos"
        self.target_label.setText(f"Write descriptions into the files of {target}?")
        which = "reviewed caption" if self.reviewed_only else "caption"
        self.explanation.setText(WHAT_IS_WRITTEN.format(which=which))
        if self.plan is None:
            self.plan_label.setText("Counting the photos to write…")
            self.write_button.setText("&Write into files")
        else:
            self.plan_label.setText(describe_plan(self.plan, self.reviewed_only))
            self.write_button.setText(f"&Write into {_plural(self.plan.to_write, 'file')}")
        self.write_button.setEnabled(self.plan is not None and self.plan.to_write > 0 and not self.running)

    # ----------------------------------------------------------------- counting

    def _plan(self) -> None:
        """Count what would be written (in the background: a big library takes a moment)."""
        self.plan = None
        self._update_text()
        job = Job(plan_embed, self.library, self.scope, reviewed_only=self.reviewed_only, progress=False)
        self._plan_job = job
        self.runner.submit(
            job,
            receiver=self,
            on_finished=lambda plan: self._on_plan(job, plan),
            on_failed=lambda exc, _tb: self._on_plan_failed(job, exc),
        )

    def _on_plan(self, job: Job, plan: EmbedPlan) -> None:
        if job is self._plan_job:
            self._plan_job = None
            self.plan = plan
            self._update_text()

    def _on_plan_failed(self, job: Job, exc: BaseException) -> None:
        if job is self._plan_job:
            self._plan_job = None
            self.plan_label.setText(f"Could not count the photos: {_message(exc)}")
            set_tone(self.plan_label, ERROR)

    # ----------------------------------------------------------------- writing

    @property
    def running(self) -> bool:
        return self._job is not None

    def write(self) -> None:
        """Start writing (the Write button; never the default button)."""
        if self.running or self.plan is None or not self.write_button.isEnabled():
            return
        planned = self.plan.to_write + len(self.plan.unsupported)  # what embed_photos goes through
        reviewed_only = self.reviewed_only
        job = Job(embed_photos, self.library, scope=self.scope, reviewed_only=reviewed_only)
        self._job = job
        self.unreviewed_check.setEnabled(False)
        self.write_button.hide()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setAccessibleName("Stop writing; files already written keep their new text")
        self.progress_bar.setRange(0, max(planned, 1))
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.plan_label.setText("Writing…")
        self.runner.submit(
            job,
            receiver=self,
            on_progress=lambda p: self._on_progress(job, p),
            on_finished=lambda summary: self._on_finished(job, summary, reviewed_only, planned),
            on_failed=lambda exc, _tb: self._on_failed(job, exc),
            on_cancelled=lambda: self._on_cancelling(job),
        )

    def cancel(self) -> None:
        """Stop after the file being written (it is either fully written or untouched)."""
        if self._job is not None:
            self._job.cancel()
            self.plan_label.setText("Cancelling after the current photo…")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, job: Job, p: Progress) -> None:
        if job is self._job:
            self.progress_bar.setRange(0, max(p.total or 0, 1))
            self.progress_bar.setValue(p.done)
            if p.message:
                self.plan_label.setText(f"Writing… {p.message}")

    def _on_cancelling(self, job: Job) -> None:
        # embed_photos returns what it did when cancelled (_on_finished); should it raise
        # CancelledError instead, the job ends here and nothing follows.
        if job is self._job:
            self._job = None
            self.plan_label.setText("Cancelled.")
            self._finish()

    def _on_finished(self, job: Job, summary: EmbedSummary, reviewed_only: bool, planned: int) -> None:
        if job is not self._job:
            return
        self._job = None
        self.summary = summary
        if not summary.cancelled:
            self.progress_bar.setValue(self.progress_bar.maximum())
        problems = any(can_embed(path) for path, _ in summary.failed)  # not the skipped formats
        status = "Done, with problems." if problems else "Done."
        self.plan_label.setText("Cancelled." if summary.cancelled else status)
        set_tone(self.plan_label, ERROR if problems else None)
        self.result_view.setPlainText(describe_summary(summary, reviewed_only, planned))
        self.result_view.show()
        log.info(
            "wrote metadata into %d files (%d unchanged, %d kept a person's text, %d failed)",
            summary.written,
            summary.unchanged,
            len(summary.kept),
            len(summary.failed),
        )
        self._finish()

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._job:
            return
        self._job = None
        self.plan_label.setText(f"Writing stopped: {_message(exc)}")
        set_tone(self.plan_label, ERROR)
        self._finish()

    def _finish(self) -> None:
        self.cancel_button.setText("Close")
        self.cancel_button.setAccessibleName("Close")
        self.cancel_button.setEnabled(True)

    # ----------------------------------------------------------------- closing

    def reject(self) -> None:
        """Cancel / Esc / the window's close button: before writing, closes having written nothing;
        while writing, stops after the current photo and stays open to say what was written."""
        if self.running:
            self.cancel()
            return
        super().reject()


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, PhotoscribeError) else f"{type(exc).__name__}: {exc}"
