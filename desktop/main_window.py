"""The main window: sidebar | grid | detail, search, menus, status bar and the welcome page.

The window only arranges widgets and routes signals. Every query, scan,
caption write, model load and export runs on the :class:`JobRunner` or in
``core``'s caption queue; callbacks from other threads arrive through
:class:`~photoscribe.desktop.background.BackgroundServices` signals. Its actions are declared in
``window_actions`` and laid out by ``menus``; the commands they run live in ``captioning_controller``,
``selection_commands``, ``folder_commands`` and ``window_dialogs``; the toolbar is ``search_bar``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSettings, Qt, QThreadPool, QTimer
from PySide6.QtGui import (
    QCloseEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
)

from photoscribe.core import paths
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library import FolderInfo, Library, LibraryStats
from photoscribe.core.library.meaning import meaning_search_available
from photoscribe.core.library.scanner import ScanReport, add_folder
from photoscribe.core.library.watcher import ChangeSummary, WatchState, WatchStatus
from photoscribe.core.progress import Progress
from photoscribe.desktop import actions, drafts, library_state, menus, review, window_actions
from photoscribe.desktop.background import BackgroundServices, ModelState
from photoscribe.desktop.captioning_controller import CaptioningController
from photoscribe.desktop.detail import DetailPane
from photoscribe.desktop.folder_commands import FolderCommands
from photoscribe.desktop.grid import PhotoGrid
from photoscribe.desktop.item_models import FolderListModel, PhotoListModel
from photoscribe.desktop.queries import (
    FILTER_ALL,
    KIND_FOLDER,
    count_label,
    count_rows,
)
from photoscribe.desktop.search_bar import SearchBar
from photoscribe.desktop.selection_commands import SelectionCommands
from photoscribe.desktop.settings import (
    BEAM_SIZE,
    DEVICE,
    LAST_FOLDER,
    SHOW_DETAIL,
    SHOW_SIDEBAR,
    SORT,
    THUMBNAIL_CACHE_MB,
    THUMBNAIL_SIZE,
    WINDOW_GEOMETRY,
    WINDOW_SPLITTER,
    WINDOW_STATE,
    open_store,
)
from photoscribe.desktop.sidebar import Sidebar
from photoscribe.desktop.status import CaptionStatus
from photoscribe.desktop.thumbnail_loader import ThumbnailLoader
from photoscribe.desktop.viewer import PhotoViewer
from photoscribe.desktop.welcome import WelcomePage
from photoscribe.desktop.window_actions import ActionAttributes
from photoscribe.desktop.window_dialogs import WindowDialogs
from photoscribe.desktop.workers import Job, JobRunner

log = logging.getLogger(__name__)

STATS_DEBOUNCE_MS = 1000
PAGE_WELCOME, PAGE_LIBRARY = 0, 1

AddFolderFn = Callable[..., Any]


class MainWindow(QMainWindow, ActionAttributes):
    """The photoscribe window.

    Args:
        library: the open library.
        runner: where background jobs run (default: the global thread pool).
        settings: persistent settings (default: the app's settings file, :func:`~photoscribe.desktop.settings.open_store`).
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
        self.settings = settings if settings is not None else open_store()
        self.services = services if services is not None else BackgroundServices(library, self.runner, self)
        self.thumbnails = (
            thumbnails
            if thumbnails is not None
            else ThumbnailLoader(
                parent=self, cache_budget=THUMBNAIL_CACHE_MB.read(self.settings) * 1024 * 1024
            )
        )
        self.add_folder_fn = add_folder_fn if add_folder_fn is not None else add_folder
        self.photos = PhotoListModel(library, self.runner, self.thumbnails, parent=self)
        self.folders = FolderListModel(library, self.runner, self)
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
        self.captioning = CaptioningController(self)  # the Model menu's commands
        self.selection_commands = SelectionCommands(self)  # copy, mark reviewed, remove the selected photos
        self.dialogs = WindowDialogs(self)  # export, write metadata, retrain, About, the log
        self.folder_commands = FolderCommands(self)  # add (a dialog or a drop), remove
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
        self.toolbar = SearchBar(meaning_search=meaning_search_available(), parent=self)
        self.search, self.count_label, self.sort_combo = (
            self.toolbar.search,
            self.toolbar.count_label,
            self.toolbar.sort_combo,
        )
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

    def _build_menus(self) -> None:
        """The actions of :mod:`window_actions`, laid out as :mod:`menus` says."""
        self.menu_actions = window_actions.create_actions(self, self.undo_stack)
        menus.build_menu_bar(self.menuBar(), self.menu_actions)
        for name in menus.ON_WINDOW:
            self.addAction(self.menu_actions[name])
        self.detail.set_selection_actions(menus.selection_actions(self.menu_actions))

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

    def _connect(self) -> None:
        self.toolbar.queryChanged.connect(self._apply_query)
        self.sidebar.entryActivated.connect(lambda *_: self._apply_query())
        self.grid.currentPhotoChanged.connect(self._on_current_photo)
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self._update_detail())
        self.grid.viewRequested.connect(self.open_viewer)
        self.grid.removeRequested.connect(self.selection_commands.remove_selected_photos)
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
        self.welcome.addFolderRequested.connect(self.folder_commands.choose_folder)
        self.welcome.importModelRequested.connect(self.captioning.import_model)
        self.welcome.trainRequested.connect(self.dialogs.open_retrain)
        self.status.pauseToggled.connect(self.captioning.set_paused)
        self.status.failuresRequested.connect(self.captioning.show_failures)
        self._stats_timer.timeout.connect(self._refresh_counts)
        self._refresh_timer.timeout.connect(self._refresh_library_views)
        services = self.services
        services.captionProgress.connect(self._on_caption_progress)
        services.captioned.connect(self._on_captioned)
        services.foldersChanged.connect(self._on_folders_changed)
        services.watchStatusChanged.connect(self._on_watch_status)
        services.modelChanged.connect(self._on_model_changed)
        services.queueStateChanged.connect(self._on_queue_state)
        services.meaningReady.connect(self._on_meaning_ready)
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
        self.restoreGeometry(WINDOW_GEOMETRY.read(s))
        self.restoreState(WINDOW_STATE.read(s))
        self.splitter.restoreState(WINDOW_SPLITTER.read(s))
        self.grid.set_thumbnail_size(THUMBNAIL_SIZE.read(s))
        show_sidebar = SHOW_SIDEBAR.read(s)
        show_detail = SHOW_DETAIL.read(s)
        self.show_sidebar_action.setChecked(show_sidebar)
        self.show_detail_action.setChecked(show_detail)
        self.sidebar.setVisible(show_sidebar)
        self.detail.setVisible(show_detail)
        self.toolbar.restore_sort(SORT.read(s))

    def save_settings(self) -> None:
        s = self.settings
        WINDOW_GEOMETRY.write(s, self.saveGeometry())
        WINDOW_STATE.write(s, self.saveState())
        WINDOW_SPLITTER.write(s, self.splitter.saveState())
        THUMBNAIL_SIZE.write(s, self.grid.thumbnail_size)
        SHOW_SIDEBAR.write(s, self.show_sidebar_action.isChecked())
        SHOW_DETAIL.write(s, self.show_detail_action.isChecked())
        SORT.write(s, self.toolbar.last_date_sort)
        s.sync()

    @property
    def device(self) -> str:
        return DEVICE.read(self.settings)

    @property
    def beam_size(self) -> int:
        return BEAM_SIZE.read(self.settings)

    def active_model(self) -> str | None:
        """The model to use: ``core``'s active model, as the CLI's (``$PHOTOSCRIBE_MODEL`` first)."""
        path = paths.active_model_path()
        return str(path) if path is not None else None

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
            self.use_model(path, remember=False)  # already core's active model, or a --model for this run

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
        self.dialogs.close_all()
        self.services.shutdown()
        self.thumbnails.shutdown()
        self.runner.cancel_all()
        self.runner.wait(5000)
        super().closeEvent(event)

    # ================================================================== pages

    def _set_page(self) -> None:
        self.pages.setCurrentIndex(PAGE_LIBRARY if self._has_folders else PAGE_WELCOME)
        self.toolbar.setVisible(self._has_folders)  # nothing to search on the welcome page
        window_actions.set_enabled(self.menu_actions, "folders", self._has_folders)

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

    def _apply_query(self) -> None:
        self.toolbar.timer.stop()
        kind, folder_id = self.sidebar.current_entry()
        text = self.search.text()
        self.photos.set_query(
            text=text,
            filter=FILTER_ALL if kind == KIND_FOLDER else kind,
            folder=folder_id if kind == KIND_FOLDER else None,
            sort=self.toolbar.current_sort(),
        )

    def _refresh_count(self) -> None:
        """Count every photo the current query shows (in the background; pages load lazily)."""
        query = self.photos.query
        self._count_query = query
        self.runner.submit(
            Job(count_rows, self.library, query, self.photos.meaning_search),
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

    def add_folder(self, path: str) -> None:
        """Scan a folder into the library in the background, then watch it and caption its photos."""
        LAST_FOLDER.write(self.settings, path)
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

    # ================================================================== editing

    def view_current_photo(self) -> None:
        self.open_viewer(self.grid.currentIndex().row())

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
        menu = menus.grid_menu(self, self.menu_actions)
        self.grid_menu = menu
        menu.popup(self.grid.viewport().mapToGlobal(pos))

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

    def _on_meaning_ready(self, meaning_search: Any) -> None:
        """Search by meaning is ready: text searches become hybrid ("≈" marks meaning-only matches)."""
        self.photos.meaning_search = meaning_search
        if self.photos.query.has_text:
            self.photos.refresh()

    def _on_model_changed(self, state: ModelState) -> None:
        self.status.set_model(state)
        self.welcome.set_model_state(state)
        self.status.set_captioning_available(self.services.captioning)
        window_actions.set_enabled(self.menu_actions, "model", state.ready)
        if state.error:
            self.show_message(state.describe())

    def _on_queue_state(self) -> None:
        self.status.set_captioning_available(self.services.captioning)
        self.status.set_paused(self.services.paused)
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(self.services.paused)
        self.pause_action.blockSignals(False)

    def use_model(self, path: str, *, remember: bool = True) -> None:
        if remember:
            paths.set_active_model(path)
        self.services.load_model(path, device=self.device, beam_size=self.beam_size)

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

    def _update_write_metadata_action(self, *_args: object) -> None:
        window_actions.set_enabled(self.menu_actions, "photos", self.photos.rowCount() > 0)

    def _after_retry(self) -> None:
        self.services.wake()
        self._refresh_counts()

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
