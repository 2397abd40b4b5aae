"""The "Export alt text" dialog: CSV, JSON, an HTML page or XMP sidecars, in the background.

The exporters themselves live in :mod:`photoscribe.core.library.export`; this
dialog picks one, runs it in a :class:`~photoscribe.desktop.workers.Job` and
reports its :class:`~photoscribe.core.library.export.ExportSummary`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStandardPaths, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core import paths
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library.export import (
    ExportSummary,
    export_csv,
    export_html,
    export_json,
    write_xmp_sidecars,
)
from photoscribe.core.library.export_scope import WHOLE_LIBRARY, ExportScope
from photoscribe.core.library.xmp import SIDECAR_EXT, SIDECAR_STEM
from photoscribe.core.progress import Progress, ProgressCallback
from photoscribe.desktop.dialog_parts import ScopedJobDialog, push_button, set_tab_chain
from photoscribe.desktop.style import ERROR, set_tone
from photoscribe.desktop.workers import Job

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

FAILURES_SHOWN = 5
LOW_CONFIDENCE_OPTION = "Include low-confidence captions"

FILE, FOLDER, BESIDE = "file", "folder", "beside"


def _xmp_beside(
    library: Library,
    *,
    scope: ExportScope = WHOLE_LIBRARY,
    reviewed_only: bool = True,
    include_low_confidence: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    xmp_sidecar_name: str = SIDECAR_EXT,
) -> ExportSummary:
    """Sidecars next to the photos; ``out_path`` becomes the library's top folder, for "Open folder"."""
    summary = write_xmp_sidecars(
        library,
        None,
        scope=scope,
        reviewed_only=reviewed_only,
        include_low_confidence=include_low_confidence,
        on_progress=on_progress,
        cancel=cancel,
        xmp_sidecar_name=xmp_sidecar_name,
    )
    folders = [f.path for f in library.list_folders()]
    top = Path(os.path.commonpath(folders)) if folders else None
    return dataclasses.replace(summary, out_path=top)


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    destination: str  # FILE, FOLDER or BESIDE
    run: Callable[..., ExportSummary]
    suffix: str = ""  # for FILE
    file_filter: str = ""
    noun: str = "captions"


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("csv", "CSV spreadsheet", FILE, export_csv, ".csv", "CSV files (*.csv)"),
    ExportFormat("json", "JSON", FILE, export_json, ".json", "JSON files (*.json)"),
    ExportFormat("html", "HTML page", FILE, export_html, ".html", "HTML pages (*.html *.htm)"),
    ExportFormat("xmp-beside", "XMP sidecars next to the photos", BESIDE, _xmp_beside, noun="sidecars"),
    ExportFormat("xmp-folder", "XMP sidecars into a folder", FOLDER, write_xmp_sidecars, noun="sidecars"),
)


def default_export_base() -> Path:
    """Where exports go unless the user picks another place: Documents/photo-alt-text, or under
    ``$PHOTOSCRIBE_HOME`` when that keeps everything of photoscribe's in one folder."""
    if os.environ.get(paths.HOME_ENV):
        return paths.data_dir() / "exports" / "photo-alt-text"
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "photo-alt-text"


def describe_scope(scope: ExportScope, count: int) -> str:
    """What the export covers, said before writing: "Export 6 selected photos", "Export the 41
    photos of this search", "Export all 220 photos of the library"."""
    noun = "photo" if count == 1 else "photos"
    if scope.photo_ids is not None:
        return f"Export {count:,} selected {noun}"
    if scope.is_library:
        return f"Export all {count:,} {noun} of the library" if count != 1 else "Export the library's 1 photo"
    if scope.query.strip():
        where = "this search"
    elif scope.folder is not None and not (scope.needs_review or scope.uncaptioned or scope.added_since):
        where = "this folder"
    else:
        where = "this view"
    return f"Export the {count:,} {noun} of {where}" if count != 1 else f"Export the 1 photo of {where}"


def describe_summary(summary: ExportSummary, fmt: ExportFormat, reviewed_only: bool) -> str:
    """``Wrote 123 sidecars, skipped 4 uncaptioned.`` plus the failures, if any."""
    noun = fmt.noun if summary.written != 1 else fmt.noun.rstrip("s")
    where = f" to {summary.out_path.name}" if fmt.destination == FILE and summary.out_path else ""
    skipped = "without a reviewed caption" if reviewed_only else "uncaptioned"
    lines = [f"Wrote {summary.written} {noun}{where}, skipped {summary.skipped} {skipped}."]
    if summary.failed:
        lines.append(f"{len(summary.failed)} could not be written:")
        lines += [f"  {path}: {why}" for path, why in summary.failed[:FAILURES_SHOWN]]
        if len(summary.failed) > FAILURES_SHOWN:
            lines.append(f"  … and {len(summary.failed) - FAILURES_SHOWN} more (see the log)")
    if summary.low_confidence:
        lines.append(summary.low_confidence_note(f'"{LOW_CONFIDENCE_OPTION}"') + ".")
    if summary.kept:
        note = summary.kept_note()
        lines.append(note[0].upper() + note[1:] + " (photoscribe never replaces a person's text):")
        lines += [f"  {Path(path).name}" for path, _ in summary.kept[:FAILURES_SHOWN]]
        if len(summary.kept) > FAILURES_SHOWN:
            lines.append(f"  … and {len(summary.kept) - FAILURES_SHOWN} more")
    return "\n".join(lines)


class ExportDialog(ScopedJobDialog):
    """Export each photo's best caption as alt text."""

    title = "Export alt text"

    def _set_up(self) -> None:
        self.scope_count = self.scope.count(self.library)
        self.summary: ExportSummary | None = None
        self._job: Job | None = None
        self._saved_dest = ""  # the file or folder typed before "next to the photos" was chosen
        self._close_when_stopped = False
        self._base = default_export_base()
        self._build()
        self._on_format_changed()
        self.resize(560, 300)

    # ----------------------------------------------------------------- layout

    def _build(self) -> None:
        root = QVBoxLayout(self)
        self.scope_label = QLabel(describe_scope(self.scope, self.scope_count))
        self.scope_label.setAccessibleName("What will be exported")
        root.addWidget(self.scope_label)
        root.addWidget(self._build_form())

        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName("Export progress")
        self.progress_bar.setFormat("%v / %m photos")
        self.progress_bar.hide()
        root.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setAccessibleName("Export result")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.hide()
        root.addWidget(self.status_label)
        root.addStretch(1)

        buttons = QHBoxLayout()
        self.open_button = push_button(
            "&Open folder", "Open the folder with the exported files", self.open_folder
        )
        self.open_button.hide()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        self.export_button = push_button("&Export", "Start the export", self.export)
        self.export_button.setDefault(True)
        self.cancel_button = push_button("&Cancel", "Cancel the export", self.cancel)
        self.close_button = push_button("Close", "Close the dialog", self.reject)
        for button in (self.export_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        root.addLayout(buttons)

        chain = [
            self.format_combo,
            self.dest_edit,
            self.browse_button,
            self.reviewed_check,
            self.low_confidence_check,
            self.sidecar_combo,
            self.export_button,
            self.cancel_button,
            self.open_button,
            self.close_button,
        ]
        set_tab_chain(chain)

    def _build_form(self) -> QWidget:
        """What to export and where: format, destination, which captions, sidecar names."""
        self.form_panel = QWidget()
        form = QFormLayout(self.form_panel)
        form.setContentsMargins(0, 0, 0, 0)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Export format")
        for fmt in FORMATS:
            self.format_combo.addItem(fmt.label, fmt.key)
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        form.addRow("&Format:", self.format_combo)
        row = QHBoxLayout()
        self.dest_edit = QLineEdit()
        self.dest_edit.setAccessibleName("Destination")
        self.dest_edit.textChanged.connect(self._update_controls)
        self.browse_button = push_button("Browse…", "Choose the destination", self._browse)
        row.addWidget(self.dest_edit, 1)
        row.addWidget(self.browse_button)
        self.dest_label = QLabel("&Save to:")
        self.dest_label.setBuddy(self.dest_edit)
        form.addRow(self.dest_label, row)
        self.reviewed_check = QCheckBox("Reviewed captions only")
        self.reviewed_check.setAccessibleName("Export reviewed captions only")
        self.reviewed_check.setToolTip(
            "Only captions a person wrote or approved; unchecked, the model's unreviewed captions go "
            "too (marked machine-generated in CSV, JSON and HTML)"
        )
        self.reviewed_check.setChecked(True)
        form.addRow("", self.reviewed_check)
        self.low_confidence_check = QCheckBox(LOW_CONFIDENCE_OPTION)
        self.low_confidence_check.setAccessibleName("Also export low-confidence captions")
        self.low_confidence_check.setToolTip(
            "Unreviewed captions the model is not confident about may name objects that are not in "
            "the photo; they are left out unless this is checked"
        )
        form.addRow("", self.low_confidence_check)
        self.sidecar_combo = QComboBox()
        self.sidecar_combo.setAccessibleName("Name of a new sidecar")
        self.sidecar_combo.setToolTip("An existing sidecar of either name is always merged into")
        self.sidecar_combo.addItem("IMG_0001.jpg.xmp (digiKam, darktable)", SIDECAR_EXT)
        self.sidecar_combo.addItem("IMG_0001.xmp (Lightroom)", SIDECAR_STEM)
        self.sidecar_label = QLabel("New &sidecars:")
        self.sidecar_label.setBuddy(self.sidecar_combo)
        form.addRow(self.sidecar_label, self.sidecar_combo)
        return self.form_panel

    # ----------------------------------------------------------------- destination

    @property
    def format(self) -> ExportFormat:
        return FORMATS[max(self.format_combo.currentIndex(), 0)]

    def _on_format_changed(self) -> None:
        fmt = self.format
        if not self.running:  # the last export's result belongs to the last format
            self._set_status("")
            self.progress_bar.hide()
            self.open_button.hide()
        current = self.dest_edit.text().strip()
        if fmt.destination == BESIDE:
            self.dest_label.setText("&Save to:")
            self.dest_edit.setEnabled(False)
            self.dest_edit.setPlaceholderText("Next to each photo (IMG_0001.jpg → IMG_0001.jpg.xmp)")
            self._saved_dest = current or self._saved_dest
            self.dest_edit.clear()
        else:
            self.dest_edit.setEnabled(True)
            previous = current or self._saved_dest
            if fmt.destination == FILE:
                self.dest_label.setText("&Save as:")
                self.dest_edit.setPlaceholderText(f"File to write ({fmt.suffix})")
                path = Path(previous) if previous else self._base
                if not previous or path.suffix.lower() in {f.suffix for f in FORMATS if f.suffix}:
                    self.dest_edit.setText(str(path.with_suffix(fmt.suffix)))
                elif previous and not path.suffix:
                    self.dest_edit.setText(str(path) + fmt.suffix)
            else:
                self.dest_label.setText("&Folder:")
                self.dest_edit.setPlaceholderText("Folder for the sidecars (mirrors your photo folders)")
                path = Path(previous) if previous else self._base
                self.dest_edit.setText(str(path.with_suffix("") if path.suffix else path))
        self.browse_button.setEnabled(fmt.destination != BESIDE)
        is_xmp = fmt.run in (_xmp_beside, write_xmp_sidecars)
        self.sidecar_combo.setVisible(is_xmp)
        self.sidecar_label.setVisible(is_xmp)
        self._update_controls()

    def _browse(self) -> None:
        fmt = self.format
        current = self.dest_edit.text().strip() or str(self._base)
        if fmt.destination == FILE:
            path, _ = QFileDialog.getSaveFileName(self, "Export alt text", current, fmt.file_filter)
            if path and not Path(path).suffix:
                path += fmt.suffix
        else:
            path = QFileDialog.getExistingDirectory(self, "Folder for the XMP sidecars", current)
        if path:
            self.dest_edit.setText(path)

    # ----------------------------------------------------------------- export

    @property
    def running(self) -> bool:
        return self._job is not None

    def confirm_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace file?", f"{path.name} already exists in {path.parent}. Replace it?"
        )
        return answer == QMessageBox.StandardButton.Yes

    def export(self) -> None:
        """Run the chosen exporter in the background."""
        if self.running or not self.export_button.isEnabled():
            return
        fmt = self.format
        reviewed_only = self.reviewed_check.isChecked()
        args: tuple[Any, ...] = (self.library,)
        options: dict[str, Any] = {
            "scope": self.scope,
            "reviewed_only": reviewed_only,
            "include_low_confidence": self.low_confidence_check.isChecked(),
        }
        if fmt.run in (_xmp_beside, write_xmp_sidecars):
            options["xmp_sidecar_name"] = self.sidecar_combo.currentData()
        if fmt.destination != BESIDE:
            dest = Path(self.dest_edit.text().strip()).expanduser()
            args += (dest,)
            if fmt.destination == FILE:
                if dest.is_file() and not self.confirm_overwrite(dest):
                    return
                options["overwrite"] = True  # asked (or nothing there); photos are refused in core
        job = Job(fmt.run, *args, **options)
        self._job = job
        self.summary = None
        self.progress_bar.setRange(0, 0)  # busy until the first report
        self.progress_bar.setFormat("%v / %m photos")  # not the last run's "Done"
        self.progress_bar.show()
        self.open_button.hide()
        self._set_status("Exporting…")
        self._update_controls()
        self.runner.submit(
            job,
            receiver=self,
            on_progress=lambda p: self._on_progress(job, p),
            on_finished=lambda summary: self._on_finished(job, fmt, reviewed_only, summary),
            on_failed=lambda exc, tb: self._on_failed(job, exc),
            on_cancelled=lambda: self._on_cancelled(job, fmt),
        )

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._set_status("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, job: Job, p: Progress) -> None:
        if job is self._job:
            self.progress_bar.setRange(0, max(p.total or 0, 1))
            self.progress_bar.setValue(p.done)

    def _on_finished(self, job: Job, fmt: ExportFormat, reviewed_only: bool, summary: ExportSummary) -> None:
        if job is not self._job:
            return
        # A cancel that came too late to stop the export ends here: the export happened.
        self._job = None
        self.summary = summary
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.progress_bar.setFormat("Done")
        self._set_status(describe_summary(summary, fmt, reviewed_only), error=bool(summary.failed))
        self.open_button.setVisible(self._folder() is not None)
        self._update_controls()
        self._close_if_asked()

    def _on_cancelled(self, job: Job, fmt: ExportFormat) -> None:
        if job is not self._job:
            return
        self._job = None
        kept = " Sidecars already written were kept." if fmt.noun == "sidecars" else " Nothing was written."
        self._stopped("Export cancelled." + kept, error=False)

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        if job is not self._job:
            return
        self._job = None
        message = str(exc) if isinstance(exc, PhotoscribeError) else f"{type(exc).__name__}: {exc}"
        self._stopped(f"Export failed: {message}", error=True)

    def _stopped(self, text: str, *, error: bool) -> None:
        self.progress_bar.hide()
        self.progress_bar.setFormat("%v / %m photos")
        self._set_status(text, error=error)
        self._update_controls()
        self._close_if_asked()

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        set_tone(self.status_label, ERROR if error else None)
        self.status_label.setVisible(bool(text))

    def _folder(self) -> Path | None:
        out = self.summary.out_path if self.summary else None
        if out is None:
            return None
        return out.parent if self.format.destination == FILE or out.is_file() else out

    def open_folder(self) -> None:
        folder = self._folder()
        if folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _update_controls(self) -> None:
        busy = self.running
        self.form_panel.setEnabled(not busy)
        needs_dest = self.format.destination != BESIDE
        self.export_button.setEnabled(not busy and (not needs_dest or bool(self.dest_edit.text().strip())))
        self.cancel_button.setEnabled(busy)
        self.close_button.setEnabled(True)

    # ----------------------------------------------------------------- closing

    def reject(self) -> None:
        """Esc / Close while exporting cancels the export first, then closes."""
        if self.running:
            self._close_when_stopped = True
            self.cancel()
            return
        super().reject()

    def _close_if_asked(self) -> None:
        if self._close_when_stopped:
            self._close_when_stopped = False
            super().reject()
