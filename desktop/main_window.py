"""The main window: sidebar | grid | detail, search, menus, status bar and the welcome page.

The window only arranges widgets and routes signals. Every query, scan,
caption write, model load and export runs on the :class:`JobRunner` or in
``core``'s caption queue; callbacks from other threads arrive through
:class:`~photoscribe.desktop.background.BackgroundServices` signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QSettings, Qt, QThreadPool, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QStandardItemModel,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from photoscribe.core import paths
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library import FolderInfo, Library, LibraryStats
from photoscribe.core.library.meaning import EXTRA_HINT, meaning_search_available
from photoscribe.core.library.scanner import ScanReport, add_folder
from photoscribe.core.library.watcher import ChangeSummary, WatchState, WatchStatus
from photoscribe.core.progress import Progress
from photoscribe.desktop import actions, drafts, library_state, review
from photoscribe.desktop import settings as options
from photoscribe.desktop.background import BackgroundServices, ModelState
from photoscribe.desktop.detail import DetailPane
from photoscribe.desktop.dialogs import FailuresDialog, ModelDialog
from photoscribe.desktop.grid import PhotoGrid
from photoscribe.desktop.item_models import FolderListModel, PhotoListModel
from photoscribe.desktop.model_switch import SwitchModelCommand
from photoscribe.desktop.queries import (
    BROWSE_SORTS,
    FILTER_ALL,
    KIND_FOLDER,
    SORT_ADDED,
    SORT_ADDED_OLDEST,
    SORT_NAME,
    SORT_NAME_DESC,
    SORT_RELEVANCE,
    SORT_TAKEN,
    SORT_TAKEN_OLDEST,
    PhotoRow,
    count_label,
    count_rows,
    export_scope,
)
from photoscribe.desktop.sidebar import Sidebar
from photoscribe.desktop.status import CaptionStatus
from photoscribe.desktop.thumbnail_loader import ThumbnailLoader
from photoscribe.desktop.viewer import PhotoViewer
from photoscribe.desktop.welcome import WelcomePage
from photoscribe.desktop.workers import Job, JobRunner

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 150
STATS_DEBOUNCE_MS = 1000
SORTS = (
    (SORT_TAKEN, "Date taken, newest first"),
    (SORT_TAKEN_OLDEST, "Date taken, oldest first"),
    (SORT_ADDED, "Date added, newest first"),
    (SORT_ADDED_OLDEST, "Date added, oldest first"),
    (SORT_NAME, "Name, A to Z"),
    (SORT_NAME_DESC, "Name, Z to A"),
    (SORT_RELEVANCE, "Relevance"),
)
PAGE_WELCOME, PAGE_LIBRARY = 0, 1
# Redo: Ctrl+Shift+Z (Linux, macOS) and Ctrl+Y (Windows habits), each bound once.
REDO_KEYS = ("Ctrl+Shift+Z", "Ctrl+Y")

AddFolderFn = Callable[..., Any]


def local_dirs(urls: Sequence[QUrl]) -> list[str]:
    return [url.toLocalFile() for url in urls if url.isLocalFile() and Path(url.toLocalFile()).is_dir()]


class MainWindow(QMainWindow):
    """The photoscribe window.

    Args:
        library: the open library.
        runner: where background jobs run (default: the global thread pool).
        settings: persistent settings (default: ``QSettings()`` of the "photoscribe" organisation).
        services: the model/queue/watcher owner (default: a new one).
        thumbnails: the thumbnail loader (default: one with a private thread pool).
        add_folder_fn: scans a new folder, ``(library, path, on_progress=, cancel=) -> (FolderInfo, report)``.
    """

    def __init__(
        self,
        library: Library,
        *,
        runner: JobRunner | None = None,
        settings: QSettings | None = None,
        services: BackgroundServices | None = None,
        thumbnails: ThumbnailLoader | None = None,
        add_folder_fn: AddFolderFn | None = None,
    ) -> None:
        super().__init__()
        self.library = library
        self.runner = runner if runner is not None else JobRunner(QThreadPool.globalInstance(), self)
        self.settings = settings if settings is not None else options.open_store()
        self.services = services if services is not None else BackgroundServices(library, self.runner, self)
        self.thumbnails = (
            thumbnails
            if thumbnails is not None
            else ThumbnailLoader(
                parent=self, cache_budget=options.THUMBNAIL_CACHE_MB.read(self.settings) * 1024 * 1024
            )
        )
        self.add_folder_fn = add_folder_fn if add_folder_fn is not None else add_folder
        self.photos = PhotoListModel(library, self.runner, self.thumbnails, parent=self)
        self.folders = FolderListModel(library, self.runner, self)
        self._failures_dialog: FailuresDialog | None = None
        self._dialogs: list[QWidget] = []
        self._last_date_sort = SORT_TAKEN
        self._has_folders = bool(library.list_folders())  # a tiny query: decides the first page
        self._count_query: Any = None
        self.viewer: PhotoViewer | None = None
        self.grid_menu: QMenu | None = None

        self.setWindowTitle("Photoscribe")
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self._build_widgets()
        self._build_toolbar()
        self._build_status()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self._set_page()
        library_state.install(self)  # read-only mode; a damaged library said in a dialog
        self.review = review.install(self)  # accept-and-next, Enter saves and moves on, Esc
        self.drafts = drafts.install(self)  # the caption being typed survives a crash
        self._refresh_counts()
        self._apply_query()

    # ================================================================== construction

    def _build_widgets(self) -> None:
        self.sidebar = Sidebar()
        self.sidebar.setModel(self.folders)
        self.grid = PhotoGrid()
        self.grid.setModel(self.photos)
        self.undo_stack = QUndoStack(self)
        self.detail = DetailPane(self.library, self.runner, undo_stack=self.undo_stack)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([210, 690, 380])
        self.splitter.setChildrenCollapsible(False)
        self.welcome = WelcomePage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.splitter)
        self.setCentralWidget(self.pages)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Search")
        bar.setObjectName("searchToolbar")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        bar.setStyleSheet("QToolBar { padding: 5px 8px; spacing: 6px; border: none; }")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search captions and file names  (Ctrl+F)")
        if not meaning_search_available():  # say how to get "puppy" to find the dog
            self.search.setPlaceholderText("Search captions and file names: words only (see tooltip)")
            self.search.setToolTip(EXTRA_HINT)
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search photos")
        self.search.setAccessibleDescription(
            'Words, "exact phrases" and -excluded words; results update as you type'
        )
        self.search.setMinimumWidth(320)
        self.search.setMaximumWidth(560)
        bar.addWidget(self.search)
        self.search.installEventFilter(self)  # Esc in the box clears it
        self.count_label = QLabel("")
        self.count_label.setAccessibleName("Number of photos shown")
        self.count_label.setContentsMargins(8, 0, 0, 0)
        bar.addWidget(self.count_label)
        spacer = QWidget()
        spacer.setFixedWidth(16)
        bar.addWidget(spacer)
        sort_label = QLabel("Sort by: ")  # the combo box's label for screen readers too (its buddy)
        bar.addWidget(sort_label)
        self.sort_combo = QComboBox()
        self.sort_combo.setAccessibleName("Sort photos by")
        self.sort_combo.setAccessibleDescription("Sorts the photos in the grid")
        for key, label in SORTS:
            self.sort_combo.addItem(label, key)
        sort_label.setBuddy(self.sort_combo)
        bar.addWidget(self.sort_combo)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._update_sort_items()

    def _build_status(self) -> None:
        self.status = CaptionStatus()
        self.statusBar().addPermanentWidget(self.status)
        self.statusBar().setSizeGripEnabled(True)
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(STATS_DEBOUNCE_MS)
        self._refresh_timer = QTimer(self)  # after watcher changes: reload the grid and sidebar
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(STATS_DEBOUNCE_MS)

    def _action(
        self,
        menu: Any,
        text: str,
        slot: Callable[..., Any],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        *,
        checkable: bool = False,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.add_folder_action = self._action(file_menu, "&Add folder…", self.choose_folder, "Ctrl+O")
        self.remove_folder_action = self._action(file_menu, "&Remove folder", self.remove_current_folder)
        file_menu.addSeparator()
        self.export_action = self._action(file_menu, "&Export alt text…", self.open_export, "Ctrl+E")
        self.write_metadata_action = self._action(
            file_menu,
            "&Write descriptions into photo files…",
            self.open_write_metadata,
            tip="Write alt text, descriptions and keywords into the selected or shown photo files (asks first)",
        )
        self.write_metadata_action.setEnabled(False)  # until the grid shows photos
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", self.close, "Ctrl+Q")
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit = bar.addMenu("&Edit")
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        # Each key once: a key bound twice is "Ambiguous shortcut overload" in Qt, and neither runs.
        self.redo_action.setShortcuts([QKeySequence(k) for k in REDO_KEYS])
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            edit.addAction(action)
            self.addAction(action)
        edit.addSeparator()
        self.save_caption_action = self._action(
            edit, "&Save caption", self.detail.save_caption, QKeySequence.StandardKey.Save
        )
        self.copy_action = self._action(edit, "&Copy alt text", self.copy_alt_text, "Ctrl+Shift+C")
        self.edit_caption_action = self._action(edit, "&Edit caption", self.detail.focus_caption, "F2")
        self.mark_reviewed_action = self._action(edit, "&Mark reviewed", self.mark_reviewed, "Ctrl+R")
        edit.addSeparator()
        self.find_action = self._action(edit, "&Find…", self.focus_search, QKeySequence.StandardKey.Find)
        edit.addSeparator()
        self.copy_caption_action = self._action(edit, "Copy capt&ion", self.copy_caption)
        self.remove_photos_action = self._action(
            edit, "Remove from &library…", lambda: self.remove_selected_photos()
        )
        # Delete, Space and Enter are handled by the grid itself (not on text being edited); the menus
        # show them as hints.
        self.remove_photos_action.setShortcut(QKeySequence(Qt.Key.Key_Delete))
        self.remove_photos_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.show_in_folder_action = self._action(edit, "Show in file &manager", self.show_in_file_manager)
        self.view_photo_action = QAction("&View photo", self)
        self.view_photo_action.setShortcuts(
            [QKeySequence(Qt.Key.Key_Space), QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)]
        )
        self.view_photo_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.view_photo_action.triggered.connect(lambda: self.open_viewer(self.grid.currentIndex().row()))

        view = bar.addMenu("&View")
        self.show_sidebar_action = self._action(
            view, "Show &sidebar", lambda on: self.sidebar.setVisible(on), "Ctrl+Shift+S", checkable=True
        )
        self.show_detail_action = self._action(
            view, "Show &details", lambda on: self.detail.setVisible(on), "Ctrl+Shift+D", checkable=True
        )
        view.addSeparator()
        self.zoom_in_action = self._action(
            view, "&Larger thumbnails", lambda: self.zoom(1), QKeySequence.StandardKey.ZoomIn
        )
        self.zoom_out_action = self._action(
            view, "S&maller thumbnails", lambda: self.zoom(-1), QKeySequence.StandardKey.ZoomOut
        )

        model = bar.addMenu("&Model")
        self.model_action = self._action(model, "&Active model…", self.choose_model)
        self.import_model_action = self._action(model, "&Import model…", self.import_model)
        model.addSeparator()
        self.recaption_selection_action = self._action(
            model, "Re-caption &selection", self.recaption_selection
        )
        self.recaption_all_action = self._action(model, "Re-caption &all", self.recaption_all)
        self.retry_failed_action = self._action(
            model, "Retry &failed photos", self.retry_failed, tip="Caption again the photos that failed"
        )
        self.pause_action = self._action(model, "&Pause captioning", self._toggle_pause, checkable=True)
        model.addSeparator()
        self.retrain_action = self._action(model, "&Retrain…", self.open_retrain)

        self.detail.set_selection_actions(
            [
                self.mark_reviewed_action,
                self.recaption_selection_action,
                self.copy_action,
                self.copy_caption_action,
                self.remove_photos_action,
            ]
        )

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Photoscribe", self.show_about)
        self._action(help_menu, "Open &data folder", lambda: self._open_path(paths.data_dir()))
        self._action(help_menu, "Show &log", self.show_log)

    def _connect(self) -> None:
        self.search.textChanged.connect(self._on_search_text)
        self._search_timer.timeout.connect(self._apply_query)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_changed)
        self.sidebar.entryActivated.connect(lambda *_: self._apply_query())
        self.grid.currentPhotoChanged.connect(self._on_current_photo)
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self._update_detail())
        self.grid.viewRequested.connect(self.open_viewer)
        self.grid.removeRequested.connect(self.remove_selected_photos)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.photos.queryFinished.connect(self._on_query_finished)
        for signal in (self.photos.modelReset, self.photos.rowsInserted, self.photos.rowsRemoved):
            signal.connect(self._update_write_metadata_action)
        self.photos.loadFailed.connect(lambda message: self.show_message(f"Search failed: {message}"))
        self.folders.refreshed.connect(self._on_folders_refreshed)
        self.detail.captionSaved.connect(self._on_caption_saved)
        self.detail.keywordsChanged.connect(self._on_caption_saved)  # the row's keywords and matches
        self.detail.failed.connect(self.show_message)
        self.welcome.addFolderRequested.connect(self.choose_folder)
        self.welcome.importModelRequested.connect(self.import_model)
        self.welcome.trainRequested.connect(self.open_retrain)
        self.status.pauseToggled.connect(self.set_paused)
        self.status.failuresRequested.connect(self.show_failures)
        self._stats_timer.timeout.connect(self._refresh_counts)
        self._refresh_timer.timeout.connect(self._refresh_library_views)
        services = self.services
        services.captionProgress.connect(self._on_caption_progress)
        services.captioned.connect(self._on_captioned)
        services.foldersChanged.connect(self._on_folders_changed)
        services.watchStatusChanged.connect(self._on_watch_status)
        services.modelChanged.connect(self._on_model_changed)
        services.queueStateChanged.connect(self._on_queue_state)
        services.semanticReady.connect(self._on_semantic_ready)
        self._on_model_changed(services.model)
        self._on_queue_state()
        # Keyboard users, in the order things are laid out: search -> sort (the toolbar, on top) ->
        # sidebar -> grid -> the detail pane, top to bottom (its attention words, then the caption).
        self.setTabOrder(self.search, self.sort_combo)
        self.setTabOrder(self.sort_combo, self.sidebar)
        self.setTabOrder(self.sidebar, self.grid)
        self.setTabOrder(self.grid, self.detail.attention)

    # ================================================================== settings

    def _restore_settings(self) -> None:
        s = self.settings
        self.restoreGeometry(options.WINDOW_GEOMETRY.read(s))
        self.restoreState(options.WINDOW_STATE.read(s))
        self.splitter.restoreState(options.WINDOW_SPLITTER.read(s))
        self.grid.set_thumbnail_size(options.THUMBNAIL_SIZE.read(s))
        show_sidebar = options.SHOW_SIDEBAR.read(s)
        show_detail = options.SHOW_DETAIL.read(s)
        self.show_sidebar_action.setChecked(show_sidebar)
        self.show_detail_action.setChecked(show_detail)
        self.sidebar.setVisible(show_sidebar)
        self.detail.setVisible(show_detail)
        sort = options.SORT.read(s)
        self._last_date_sort = sort
        self._select_sort(sort)

    def save_settings(self) -> None:
        s = self.settings
        options.WINDOW_GEOMETRY.write(s, self.saveGeometry())
        options.WINDOW_STATE.write(s, self.saveState())
        options.WINDOW_SPLITTER.write(s, self.splitter.saveState())
        options.THUMBNAIL_SIZE.write(s, self.grid.thumbnail_size)
        options.SHOW_SIDEBAR.write(s, self.show_sidebar_action.isChecked())
        options.SHOW_DETAIL.write(s, self.show_detail_action.isChecked())
        options.SORT.write(s, self._last_date_sort)
        s.sync()

    @property
    def device(self) -> str:
        return options.DEVICE.read(self.settings)

    @property
    def beam_size(self) -> int:
        return options.BEAM_SIZE.read(self.settings)

    def active_model(self) -> str | None:
        """The model to use: the one chosen here last, else ``core``'s active model (shared with the CLI)."""
        chosen = options.ACTIVE_MODEL.read(self.settings)
        if chosen and Path(chosen).is_file():
            return chosen
        fallback = paths.active_model_path()
        return str(fallback) if fallback is not None else None

    # ================================================================== start-up and shutdown

    def start(self, model: str | Path | None = None) -> None:
        """Watch the library's folders, catch up with what changed while the app was closed (a
        rescan in the background) and start captioning with ``model`` (or the active one).

        A read-only library is only browsed: nothing is watched, scanned or captioned."""
        if self.library.read_only is not None:
            return
        folders = self.library.list_folders()
        self.services.start_watching([f.path for f in folders])
        self.services.start_embedding()
        if folders:
            self.services.slow_runner.submit(  # seconds on a big library: not in the grid's way
                Job(self.services.catch_up),
                receiver=self,
                on_finished=self._after_startup_scan,
                on_failed=lambda exc, _tb: self.show_message(f"Checking the folders failed: {exc}"),
            )
        path = str(model) if model is not None else self.active_model()
        if path:
            self.use_model(path, remember=model is None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.search
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
            and self.search.text()
        ):
            self.search.clear()
            return True
        return super().eventFilter(watched, event)

    def _after_startup_scan(self, report: ScanReport) -> None:
        changed = report.added + report.updated + report.moved + report.missing
        if changed:
            self._refresh_library_views()
        self.show_message(
            f"Checked your folders for changes while Photoscribe was closed: {actions.describe_scan(report)}."
        )

    def confirm_unsaved_edit(self) -> bool:
        """Ask what to do with a caption being edited; False when the user cancels."""
        if not self.detail.has_unsaved_edit:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved caption",
            "The caption you are editing has not been saved. Save it before quitting?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            try:
                self.detail.save_now()
            except PhotoscribeError as exc:
                QMessageBox.warning(self, "Unsaved caption", f"The caption could not be saved: {exc}")
                return False
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.confirm_unsaved_edit():
            event.ignore()
            return
        self.drafts.window_closing()
        self.save_settings()
        for dialog in self._dialogs:
            dialog.close()
        self.services.shutdown()
        self.thumbnails.shutdown()
        self.runner.cancel_all()
        self.runner.wait(5000)
        super().closeEvent(event)

    # ================================================================== pages

    def _set_page(self) -> None:
        self.pages.setCurrentIndex(PAGE_LIBRARY if self._has_folders else PAGE_WELCOME)
        self.toolbar.setVisible(self._has_folders)  # nothing to search on the welcome page
        for action in (
            self.remove_folder_action,
            self.copy_action,
            self.mark_reviewed_action,
            self.edit_caption_action,
            self.find_action,
        ):
            action.setEnabled(self._has_folders)

    def _on_folders_refreshed(self) -> None:
        self._has_folders = self.folders.folder_count() > 0
        self._set_page()
        if not self.sidebar.currentIndex().isValid():
            self.sidebar.select_entry(FILTER_ALL)

    def _on_folders_changed(self, summary: ChangeSummary) -> None:
        """The watcher changed the library (on its thread; this runs on ours): refresh soon."""
        for photo_id in summary.updated:
            self.thumbnails.invalidate(photo_id)  # the file changed: its thumbnail may have too
        self._refresh_timer.start()

    def _on_watch_status(self, status: WatchStatus) -> None:
        """A watch was lost, re-armed or fell back to rescans (the watcher rescanned the folder on its
        own thread; this runs on ours): say so in the status bar, refresh if the rescan changed things."""
        name = Path(status.folder).name or status.folder
        report = status.report
        if report is not None:
            if report.added + report.updated + report.moved + report.missing:
                self._refresh_library_views()
            what = "is back and watched again" if status.state is WatchState.REARMED else "was rescanned"
            self.show_message(f"{name} {what}; checked for changes: {actions.describe_scan(report)}.")
        elif status.state is WatchState.LOST:
            self.show_message(f"{name} is gone (a drive unplugged?); it is watched again when it is back.", 0)
        else:
            self.show_message(f"{name}: {status.message}.", 0)

    def _refresh_library_views(self) -> None:
        self.photos.refresh()
        self._refresh_counts()

    # ================================================================== search

    def focus_search(self) -> None:
        if self.pages.currentIndex() == PAGE_LIBRARY:
            self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.search.selectAll()

    def _on_search_text(self, text: str) -> None:
        self._update_sort_items()
        self._search_timer.start()

    def _update_sort_items(self) -> None:
        """Relevance ranks search results; dates order browsing. Offer what applies now."""
        has_text = bool(self.search.text().strip())
        model = self.sort_combo.model()
        assert isinstance(model, QStandardItemModel)
        for row in range(self.sort_combo.count()):
            is_relevance = self.sort_combo.itemData(row) == SORT_RELEVANCE
            model.item(row).setEnabled(is_relevance == has_text)
        self._select_sort(SORT_RELEVANCE if has_text else self._last_date_sort)

    def _select_sort(self, key: str) -> None:
        index = self.sort_combo.findData(key)
        if index >= 0 and index != self.sort_combo.currentIndex():
            self.sort_combo.blockSignals(True)
            self.sort_combo.setCurrentIndex(index)
            self.sort_combo.blockSignals(False)

    def _on_sort_changed(self, _index: int) -> None:
        key = self.sort_combo.currentData()
        if key in BROWSE_SORTS:
            self._last_date_sort = key
        self._apply_query()

    def _apply_query(self) -> None:
        self._search_timer.stop()
        kind, folder_id = self.sidebar.current_entry()
        text = self.search.text()
        self.photos.set_query(
            text=text,
            filter=FILTER_ALL if kind == KIND_FOLDER else kind,
            folder=folder_id if kind == KIND_FOLDER else None,
            sort=self.sort_combo.currentData() or SORT_TAKEN,
        )

    def _refresh_count(self) -> None:
        """Count every photo the current query shows (in the background; pages load lazily)."""
        query = self.photos.query
        self._count_query = query
        self.runner.submit(
            Job(count_rows, self.library, query, self.photos.semantic),
            receiver=self,
            on_finished=partial(self._show_count, query),
            on_failed=lambda _exc, _tb: self.count_label.setText(""),
        )

    def _show_count(self, query: Any, count: int) -> None:
        if query == self._count_query:  # not an older query's answer
            self.count_label.setText(count_label(count, text_query=query.has_text))

    def _on_query_finished(self) -> None:
        self._refresh_count()
        query = self.photos.query
        if query.has_text:
            self.grid.empty_text = f"No photos match “{query.text.strip()}”."
        elif self._has_folders:
            self.grid.empty_text = "No photos here."
        else:
            self.grid.empty_text = "Add a folder to see your photos here."
        self.grid.viewport().update()
        current = self.detail.photo_id
        row = self.photos.row_of(current) if current is not None else None
        if row is not None:
            self.grid.select_row(row)
        elif current is not None:
            self.detail.show_photo(None)

    # ================================================================== folders

    def choose_folder(self) -> None:
        start = options.LAST_FOLDER.read(self.settings) or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Add a folder of photos", start)
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        """Scan a folder into the library in the background, then watch it and caption its photos."""
        options.LAST_FOLDER.write(self.settings, path)
        name = Path(path).name or path
        self.show_message(f"Adding {name}…")
        self.status.scan.set_progress(Progress("scan", 0, None))
        self.runner.submit(
            Job(self.add_folder_fn, self.library, path),
            receiver=self,
            on_progress=self.status.scan.set_progress,
            on_finished=lambda result: self._on_folder_added(path, result),
            on_failed=lambda exc, _tb: self._on_scan_failed(path, exc),
            on_cancelled=lambda: self.status.scan.set_progress(None),
        )

    def _on_folder_added(self, path: str, result: tuple[FolderInfo, ScanReport]) -> None:
        self.status.scan.set_progress(None)
        folder, report = result
        watched = folder.path
        self.services.watch(watched)
        self.services.wake()
        self._has_folders = True
        self._set_page()
        self.photos.refresh()
        self._refresh_counts()
        self.show_message(f"Added {Path(watched).name or watched}: {actions.describe_scan(report)}.")

    def _on_scan_failed(self, path: str, exc: BaseException) -> None:
        self.status.scan.set_progress(None)
        self.show_message(f"{path} could not be added: {exc}")

    def remove_current_folder(self) -> None:
        kind, folder_id = self.sidebar.current_entry()
        entry = self.folders.entry(self.sidebar.currentIndex().row())
        if kind != KIND_FOLDER or folder_id is None or entry is None:
            self.show_message("Select a folder in the sidebar to remove it.")
            return
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Remove {entry.path} and its captions from the library?\nThe photos themselves are not touched.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.services.unwatch(entry.path or "")
        self.runner.submit(
            Job(self.library.remove_folder, folder_id, progress=False),
            receiver=self,
            on_finished=lambda _n: self._after_folder_removed(entry.path or ""),
            on_failed=lambda exc, _tb: self.show_message(f"The folder could not be removed: {exc}"),
        )

    def _after_folder_removed(self, path: str) -> None:
        self.sidebar.select_entry(FILTER_ALL)
        self._refresh_library_views()
        self.show_message(f"Removed {path} from the library.")

    # ================================================================== drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and local_dirs(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls() and local_dirs(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = local_dirs(event.mimeData().urls()) if event.mimeData().hasUrls() else []
        if not folders:
            event.ignore()
            return
        event.acceptProposedAction()
        for path in folders:
            self.add_folder(path)

    # ================================================================== editing

    def selected_rows(self) -> list[PhotoRow]:
        rows = (self.photos.row_of(photo_id) for photo_id in self.grid.selected_photo_ids())
        return [data for row in rows if row is not None and (data := self.photos.photo_row(row)) is not None]

    def copy_alt_text(self) -> None:
        texts = [row.alt_text for row in self.selected_rows() if row.alt_text]
        if not texts:
            self.show_message("The selected photos have no caption to copy.")
            return
        QGuiApplication.clipboard().setText("\n".join(texts))
        self.show_message(f"Copied the alt text of {len(texts)} photo{'s' if len(texts) > 1 else ''}.")

    def copy_caption(self) -> None:
        texts = [row.caption for row in self.selected_rows() if row.caption]
        if not texts:
            self.show_message("The selected photos have no caption to copy.")
            return
        QGuiApplication.clipboard().setText("\n".join(texts))
        self.show_message(f"Copied {len(texts)} caption{'s' if len(texts) > 1 else ''}.")

    def show_in_file_manager(self) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        folder = Path(rows[0].path).parent
        if not folder.is_dir():
            self.show_message(f"The folder {folder} is not there (is the drive connected?).")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_message(f"No file manager could be opened; the photo is in {folder}")

    def remove_selected_photos(self, *, confirm: bool = True) -> None:
        """Forget the selected photos and their captions, after asking; the files stay on disk."""
        rows = self.selected_rows()
        if not rows:
            return
        what = f"“{rows[0].name}”" if len(rows) == 1 else f"these {len(rows)} photos"
        if confirm:
            answer = QMessageBox.question(
                self,
                "Remove from library",
                f"Remove {what} and {'its captions' if len(rows) == 1 else 'their captions'} from the "
                "library?\n\nThe files stay on disk. A photo that is still in a watched folder comes "
                "back, uncaptioned, at the next scan of that folder.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        if self.detail.photo_id in {row.photo_id for row in rows}:
            self.detail.discard_edit()  # the caption being edited goes with its photo
        ids = [row.photo_id for row in rows]
        self.runner.submit(
            Job(actions.forget_photos, self.library, ids, progress=False),
            receiver=self,
            on_finished=lambda n: self._after_removed(n),
            on_failed=lambda exc, _tb: self.show_message(f"Removing failed: {exc}"),
        )

    def _after_removed(self, count: int) -> None:
        self.undo_stack.clear()  # the captions those steps would restore are gone
        self._refresh_library_views()
        self.show_message(
            f"Removed {count} photo{'s' if count != 1 else ''} from the library; the files stay."
        )

    def open_viewer(self, row: int) -> None:
        """Show the photo at ``row`` of the grid large, with its caption (Space, Enter, double-click)."""
        if not 0 <= row < self.photos.rowCount():
            return
        viewer = PhotoViewer(self.photos, row, self.runner, self)
        viewer.rowChanged.connect(self.grid.select_row)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.viewer = viewer
        viewer.show()

    def _on_current_photo(self, _photo_id: int | None) -> None:
        self._update_detail(force=True)

    def _update_detail(self, *, force: bool = False) -> None:
        """One photo selected: show it; several: say how many and offer what applies to all."""
        ids = self.grid.selected_photo_ids()
        if len(ids) > 1:
            if self.detail.selection_count != len(ids):
                self.detail.show_selection(len(ids))
            return
        current = self.grid.current_photo_id()
        if force or self.detail.selection_count or current != self.detail.photo_id:
            self.detail.show_photo(current)

    def _grid_menu(self, pos: QPoint) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        if index.row() not in {i.row() for i in self.grid.selectionModel().selectedIndexes()}:
            self.grid.select_row(index.row())
        menu = QMenu(self)
        menu.addAction(self.view_photo_action)
        menu.addSeparator()
        for action in (self.copy_caption_action, self.copy_action, self.show_in_folder_action):
            menu.addAction(action)
        menu.addSeparator()
        for action in (self.recaption_selection_action, self.mark_reviewed_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.write_metadata_action)
        menu.addSeparator()
        menu.addAction(self.remove_photos_action)
        self.grid_menu = menu
        menu.popup(self.grid.viewport().mapToGlobal(pos))

    def mark_reviewed(self) -> None:
        ids = self.grid.selected_photo_ids()
        if len(ids) <= 1 and self.detail.photo_id is not None:
            self.detail.mark_reviewed()
            return
        self.runner.submit(
            Job(actions.mark_all_reviewed, self.library, ids, progress=False),
            receiver=self,
            on_finished=self._after_review,
            on_failed=lambda exc, _tb: self.show_message(f"Marking reviewed failed: {exc}"),
        )

    def _after_review(self, ids: list[int]) -> None:
        self.photos.update_photos(ids)
        if self.detail.photo_id in ids:
            self.detail.reload()
        self._stats_timer.start()
        self.show_message(f"Marked {len(ids)} captions reviewed.")

    def _on_caption_saved(self, photo_id: int) -> None:
        self.photos.update_photos([photo_id])
        self._stats_timer.start()

    # ================================================================== view

    def zoom(self, steps: int) -> None:
        self.grid.zoom(steps)

    # ================================================================== captioning

    def _on_caption_progress(self, progress: Progress) -> None:
        self.status.set_caption_progress(progress)

    def _on_captioned(self, photo_ids: list[int]) -> None:
        self.photos.update_photos(photo_ids)
        if self.detail.photo_id in photo_ids:
            self.detail.reload()
        self._stats_timer.start()

    def _on_semantic_ready(self, semantic: Any) -> None:
        """Search by meaning is ready: text searches become hybrid ("≈" marks meaning-only matches)."""
        self.photos.semantic = semantic
        if self.photos.query.has_text:
            self.photos.refresh()

    def _on_model_changed(self, state: ModelState) -> None:
        self.status.set_model(state)
        self.welcome.set_model_state(state)
        self.status.set_captioning_available(self.services.captioning)
        for action in (self.recaption_selection_action, self.recaption_all_action, self.pause_action):
            action.setEnabled(state.ready)
        if state.error:
            self.show_message(state.describe())

    def _on_queue_state(self) -> None:
        self.status.set_captioning_available(self.services.captioning)
        self.status.set_paused(self.services.paused)
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(self.services.paused)
        self.pause_action.blockSignals(False)

    def _toggle_pause(self, checked: bool) -> None:
        self.set_paused(checked)

    def set_paused(self, paused: bool) -> None:
        self.services.set_paused(paused)
        self.show_message("Captioning paused." if paused else "Captioning resumed.")

    def use_model(self, path: str, *, remember: bool = True) -> None:
        if remember:
            options.ACTIVE_MODEL.write(self.settings, path)
            paths.set_active_model(path)
        self.services.load_model(path, device=self.device, beam_size=self.beam_size)

    def switch_model(self, path: str) -> None:
        """Use another model, undoably: Undo goes back to the previous one, whose captions are shown
        again (switching deletes no caption; only "Re-caption all" makes new ones)."""
        previous = self.services.model.path or self.active_model()
        if not previous or Path(previous).resolve() == Path(path).resolve():
            self.use_model(path)
            return
        self.undo_stack.push(SwitchModelCommand(self, previous, path))

    def choose_model(self) -> None:
        dialog = ModelDialog(
            self.services.model.path or self.active_model(), self.device, self.beam_size, self
        )
        if dialog.exec() != ModelDialog.DialogCode.Accepted:
            return
        options.DEVICE.write(self.settings, dialog.device)
        options.BEAM_SIZE.write(self.settings, dialog.beam_size)
        if dialog.model_path:
            self.switch_model(dialog.model_path)

    def import_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a captioning model", str(Path.home()), "Photoscribe models (*.pt *.pth *.ckpt)"
        )
        if path:
            self.import_model_from(path)

    def import_model_from(self, path: str) -> None:
        name = Path(path).name
        self.show_message(f"Importing {name}…", 0)  # until the import ends, however long it takes
        self.runner.submit(
            Job(actions.import_model_file, path),
            receiver=self,
            on_finished=lambda target: self._after_import(name, target),
            on_failed=lambda exc, _tb: self.show_message(f"{name} is not a usable model: {exc}"),
        )

    def _after_import(self, name: str, target: Path) -> None:
        self.show_message(f"Imported {name} as {target.name}; loading it…")
        self.switch_model(str(target))

    def recaption_selection(self) -> None:
        """Caption the selected photos again with the active model (people's captions stay)."""
        rows = self.selected_rows()
        if not rows:
            self.show_message("Select the photos to re-caption first.")
            return
        ids = [row.photo_id for row in rows]
        self.runner.submit(
            Job(
                actions.recaption,
                self.library,
                ids,
                [row.path for row in rows],
                self.services.model.name,
                progress=False,
            ),
            receiver=self,
            on_finished=lambda _n: self._after_recaption(ids),
            on_failed=lambda exc, _tb: self.show_message(f"Re-captioning failed: {exc}"),
        )
        self.show_message(
            f"{len(ids)} photo{'s' if len(ids) != 1 else ''} queued for captioning with the active model."
        )

    def recaption_all(self) -> None:
        """Caption every photo again with the active model, after asking (it can take hours)."""
        answer = QMessageBox.question(
            self,
            "Re-caption all photos",
            "Caption every photo again with the active model?\n"
            "Captions you wrote or reviewed are kept; the model's other captions are replaced.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.runner.submit(
            Job(actions.recaption, self.library, None, (), self.services.model.name, progress=False),
            receiver=self,
            on_finished=lambda _n: self._after_recaption(None),
            on_failed=lambda exc, _tb: self.show_message(f"Re-captioning failed: {exc}"),
        )
        self.show_message("Every photo is queued for captioning with the active model.")

    def retry_failed(self) -> None:
        """Forget every caption failure (in the background) so that the queue tries those photos again."""
        self.runner.submit(
            Job(self.library.retry_failed, progress=False),
            on_finished=self._after_retry_failed,
            on_failed=lambda exc, _tb: self.show_message(f"Could not reset the failures: {exc}"),
        )

    def _after_retry_failed(self, count: int) -> None:
        self.show_message(
            f"{count:,} failed photos will be captioned again." if count else "No failed photos."
        )
        if count:
            self._after_recaption(None)

    def _after_recaption(self, photo_ids: list[int] | None) -> None:
        self.services.wake()
        if photo_ids is None:
            self.photos.refresh()
        else:
            self.photos.update_photos(photo_ids)
        if self.detail.photo_id is not None and (photo_ids is None or self.detail.photo_id in photo_ids):
            self.detail.reload()
        self._stats_timer.start()

    # ================================================================== dialogs

    def _keep(self, dialog: QWidget) -> QWidget:
        self._dialogs = [d for d in self._dialogs if d.isVisible()]
        self._dialogs.append(dialog)
        return dialog

    def open_retrain(self) -> None:
        try:
            from photoscribe.desktop.retrain import RetrainDialog
        except ImportError as exc:
            self.show_message(f"Training is not available in this build ({exc}).")
            return
        current = self.services.model.path or self.active_model()
        dialog = RetrainDialog(self, self.runner, self.settings, library=self.library, current_model=current)
        dialog.modelReady.connect(self.switch_model)
        self._keep(dialog).show()

    def open_export(self) -> None:
        try:
            from photoscribe.desktop.export_dialog import ExportDialog
        except ImportError as exc:
            self.show_message(f"Export is not available in this build ({exc}).")
            return
        scope = export_scope(self.photos.query, self.grid.selected_photo_ids())
        self._keep(ExportDialog(self, self.library, self.runner, scope=scope)).show()

    def open_write_metadata(self) -> None:
        """Ask, then write the selection's (else the view's) captions into the photo files."""
        from photoscribe.desktop.write_metadata import WriteMetadataDialog

        scope = export_scope(self.photos.query, self.grid.selected_photo_ids())
        self._keep(WriteMetadataDialog(self, self.library, self.runner, scope=scope)).show()

    def _update_write_metadata_action(self, *_args: object) -> None:
        self.write_metadata_action.setEnabled(self.photos.rowCount() > 0)

    def _after_retry(self) -> None:
        self.services.wake()
        self._refresh_counts()

    def show_failures(self) -> None:
        if self._failures_dialog is None:
            self._failures_dialog = FailuresDialog(self.library, self.runner, self)
            self._failures_dialog.retryRequested.connect(self._after_retry)
        self._failures_dialog.reload()
        self._failures_dialog.show()
        self._failures_dialog.raise_()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Photoscribe",
            f"<h3>Photoscribe {actions.photoscribe_version()}</h3><p>Captions your photo library on your own computer (Show, Attend and "
            "Tell), makes it searchable and exports alt text.</p>"
            f"<p>Library: <code>{self.library.path}</code><br>Data: <code>{paths.data_dir()}</code></p>",
        )

    def show_log(self) -> None:
        from photoscribe.desktop.error_reporting import log_file

        self._open_path(log_file())

    def _open_path(self, path: Path) -> None:
        if not path.exists():
            self.show_message(f"{path} does not exist yet.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    # ================================================================== status

    def show_message(self, text: str, msecs: int = 8000) -> None:
        log.info("%s", text)
        self.statusBar().showMessage(text, msecs)

    def refresh_stats(self) -> None:
        self.runner.submit(Job(self.library.stats, progress=False), receiver=self, on_finished=self._on_stats)

    def _on_stats(self, stats: LibraryStats) -> None:
        self.status.set_stats(stats)

    def _refresh_counts(self) -> None:
        self.refresh_stats()
        self.folders.refresh()
