"""The window's search toolbar: the search box, the number of photos shown and the sort order.

:class:`SearchBar` debounces typing and offers the sorts that apply (relevance while searching,
dates and names while browsing); it emits ``queryChanged`` and the window runs the query.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QToolBar, QWidget

from photoscribe.core.library.meaning import EXTRA_HINT
from photoscribe.desktop.queries import (
    BROWSE_SORTS,
    SORT_ADDED,
    SORT_ADDED_OLDEST,
    SORT_NAME,
    SORT_NAME_DESC,
    SORT_RELEVANCE,
    SORT_TAKEN,
    SORT_TAKEN_OLDEST,
)

SEARCH_DEBOUNCE_MS = 150
SORTS = (
    (SORT_TAKEN, "Date taken, newest first"),
    (SORT_TAKEN_OLDEST, "Date taken, oldest first"),
    (SORT_ADDED, "Date added, newest first"),
    (SORT_ADDED_OLDEST, "Date added, oldest first"),
    (SORT_NAME, "Name, A to Z"),
    (SORT_NAME_DESC, "Name, Z to A"),
    (SORT_RELEVANCE, "Relevance"),
)


class SearchBar(QToolBar):
    """Search box | count | "Sort by" combo box.

    Args:
        meaning_search: whether search by meaning is installed; without it the box says how to get it.

    Signals:
        queryChanged: the text settled (after a short pause in typing) or the sort changed.
    """

    queryChanged = Signal()

    def __init__(self, *, meaning_search: bool, parent: QWidget | None = None) -> None:
        super().__init__("Search", parent)
        self.setObjectName("searchToolbar")
        self.setMovable(False)
        self.setFloatable(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        self.setStyleSheet("QToolBar { padding: 5px 8px; spacing: 6px; border: none; }")
        self.last_date_sort = SORT_TAKEN  # the browsing sort to go back to when the search is cleared
        self._build(meaning_search)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SEARCH_DEBOUNCE_MS)
        self.update_sort_items()
        self.search.textChanged.connect(self._on_text)
        self.timer.timeout.connect(self.queryChanged)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_changed)

    def _build(self, meaning_search: bool) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search captions and file names  (Ctrl+F)")
        if not meaning_search:  # say how to get "puppy" to find the dog
            self.search.setPlaceholderText("Search captions and file names: words only (see tooltip)")
            self.search.setToolTip(EXTRA_HINT)
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search photos")
        self.search.setAccessibleDescription(
            'Words, "exact phrases" and -excluded words; results update as you type'
        )
        self.search.setMinimumWidth(320)
        self.search.setMaximumWidth(560)
        self.addWidget(self.search)
        self.search.installEventFilter(self)  # Esc in the box clears it
        self.count_label = QLabel("")
        self.count_label.setAccessibleName("Number of photos shown")
        self.count_label.setContentsMargins(8, 0, 0, 0)
        self.addWidget(self.count_label)
        spacer = QWidget()
        spacer.setFixedWidth(16)
        self.addWidget(spacer)
        sort_label = QLabel("Sort by: ")  # the combo box's label for screen readers too (its buddy)
        self.addWidget(sort_label)
        self.sort_combo = QComboBox()
        self.sort_combo.setAccessibleName("Sort photos by")
        self.sort_combo.setAccessibleDescription("Sorts the photos in the grid")
        for key, label in SORTS:
            self.sort_combo.addItem(label, key)
        sort_label.setBuddy(self.sort_combo)
        self.addWidget(self.sort_combo)

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

    def _on_text(self, _text: str) -> None:
        self.update_sort_items()
        self.timer.start()

    def update_sort_items(self) -> None:
        """Relevance ranks search results; dates order browsing. Offer what applies now."""
        has_text = bool(self.search.text().strip())
        model = self.sort_combo.model()
        assert isinstance(model, QStandardItemModel)
        for row in range(self.sort_combo.count()):
            is_relevance = self.sort_combo.itemData(row) == SORT_RELEVANCE
            model.item(row).setEnabled(is_relevance == has_text)
        self.select_sort(SORT_RELEVANCE if has_text else self.last_date_sort)

    def select_sort(self, key: str) -> None:
        """Show ``key`` as the current sort, without emitting ``queryChanged``."""
        index = self.sort_combo.findData(key)
        if index >= 0 and index != self.sort_combo.currentIndex():
            self.sort_combo.blockSignals(True)
            self.sort_combo.setCurrentIndex(index)
            self.sort_combo.blockSignals(False)

    def restore_sort(self, key: str) -> None:
        """The browsing sort saved last time."""
        self.last_date_sort = key
        self.select_sort(key)

    def _on_sort_changed(self, _index: int) -> None:
        key = self.sort_combo.currentData()
        if key in BROWSE_SORTS:
            self.last_date_sort = key
        self.queryChanged.emit()

    def current_sort(self) -> str:
        return self.sort_combo.currentData() or SORT_TAKEN
