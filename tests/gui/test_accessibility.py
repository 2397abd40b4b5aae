"""WCAG 2.2 AA where it applies to a desktop app, checked by walking every widget.

The main window (with a photo shown), the export dialog, the write-metadata dialog and the
retrain dialog are walked in a light and a dark palette: every tab stop has a name a screen
reader can say, no scroll area is an unnamed tab stop, every text's colour reaches 4.5:1 (3:1
for large text), the tab order follows the layout, and nothing is cut at 200 % text size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QRect, QSize, Qt, QThreadPool
from PySide6.QtGui import QAccessible, QColor, QFont, QFontMetrics, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QScrollArea,
    QScrollBar,
    QWidget,
)
from sample_library import Sample

from photoscribe.core.library import Library
from photoscribe.desktop.accessibility import accessible_tree, spoken_name
from photoscribe.desktop.detail import DetailPane
from photoscribe.desktop.export_dialog import ExportDialog
from photoscribe.desktop.item_models import FolderRoles
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.plot import MetricPlot
from photoscribe.desktop.queries import KIND_FOLDER
from photoscribe.desktop.retrain import RetrainDialog
from photoscribe.desktop.settings import open_store
from photoscribe.desktop.sidebar import Sidebar
from photoscribe.desktop.style import AA_LARGE, AA_TEXT, PaletteKeeper, accessible_palette, contrast
from photoscribe.desktop.viewer import PhotoViewer
from photoscribe.desktop.workers import JobRunner
from photoscribe.desktop.write_metadata import WriteMetadataDialog

Role = QPalette.ColorRole
Group = QPalette.ColorGroup
SIZE = (1280, 800)


def dark_palette() -> QPalette:
    """A dark palette as the Fusion/Breeze dark themes give (placeholder text: half-transparent)."""
    pal = QPalette()
    colors = {
        Role.Window: "#353535",
        Role.WindowText: "#f0f0f0",
        Role.Base: "#232323",
        Role.AlternateBase: "#2d2d2d",
        Role.Text: "#f0f0f0",
        Role.Button: "#3c3c3c",
        Role.ButtonText: "#f0f0f0",
        Role.Highlight: "#2a82da",
        Role.HighlightedText: "#ffffff",
        Role.ToolTipBase: "#202020",
        Role.ToolTipText: "#f0f0f0",
        Role.Mid: "#555555",
        Role.Light: "#505050",
        Role.Dark: "#202020",
        Role.Link: "#5aa0e6",
    }
    for role, color in colors.items():
        pal.setColor(role, QColor(color))
    placeholder = QColor("#f0f0f0")
    placeholder.setAlpha(128)
    pal.setColor(Role.PlaceholderText, placeholder)
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        pal.setColor(Group.Disabled, role, QColor("#7f7f7f"))
    return pal


def light_palette() -> QPalette:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app.style().standardPalette()  # Fusion's: #efefef window, #bebebe disabled text


PALETTES: dict[str, Callable[[], QPalette]] = {"light": light_palette, "dark": dark_palette}


@pytest.fixture(params=sorted(PALETTES))
def scheme(request: pytest.FixtureRequest, qapp: QApplication) -> Iterator[str]:
    """The app's palette as ``ensure_application`` installs it, light or dark."""
    old = qapp.palette()
    qapp.setPalette(accessible_palette(PALETTES[request.param]()))
    yield request.param
    qapp.setPalette(old)


@pytest.fixture
def large_text(qapp: QApplication) -> Iterator[float]:
    """The application font at 200 %."""
    old = qapp.font()
    font = QFont(old)
    font.setPointSizeF(old.pointSizeF() * 2)
    qapp.setFont(font)
    yield font.pointSizeF()
    qapp.setFont(old)


def settle() -> None:
    for _ in range(3):
        QApplication.sendPostedEvents()
        QApplication.processEvents()


# ---------------------------------------------------------------------------- the windows walked


@pytest.fixture
def main_window(qtbot: Any, make_window: Callable[..., MainWindow], sample: Sample) -> MainWindow:
    window = make_window(sample.library)
    window.show()
    window.resize(*SIZE)
    qtbot.waitExposed(window)
    window.grid.select_row(window.photos.row_of(sample.ids["meadow"]))
    qtbot.waitUntil(lambda: bool(window.detail.attention.words), timeout=5000)
    settle()
    return window


def open_dialogs(qtbot: Any, window: MainWindow, sample: Sample) -> list[QWidget]:
    runner = JobRunner(QThreadPool())
    export = ExportDialog(window, sample.library, runner=runner)
    write = WriteMetadataDialog(window, sample.library, runner=runner)
    retrain = RetrainDialog(window, runner=runner, settings=open_store(), library=sample.library)
    dialogs: list[QWidget] = [export, write, retrain]
    for dialog in dialogs:
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
    settle()
    return dialogs


def shown(root: QWidget) -> list[QWidget]:
    return [w for w in [root, *root.findChildren(QWidget)] if w.isVisibleTo(root) and w.isVisible()]


def is_part(widget: QWidget) -> bool:
    """Inner parts of a composite control (a spin box's or an editable combo box's line edit)."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractSpinBox | QComboBox):
            return True
        parent = parent.parentWidget()
    return isinstance(widget, QScrollBar)


def tab_stops(root: QWidget) -> list[QWidget]:
    tab = Qt.FocusPolicy.TabFocus
    return [
        w
        for w in shown(root)
        if w.isEnabled() and (w.focusPolicy() & tab) == tab and not is_part(w) and w is not root
    ]


def windows(qtbot: Any, window: MainWindow, sample: Sample) -> list[QWidget]:
    return [window, *open_dialogs(qtbot, window, sample)]


# ---------------------------------------------------------------------------- names and focus


def test_every_tab_stop_has_a_spoken_name_and_no_scroll_area_is_a_tab_stop(
    qtbot: Any, main_window: MainWindow, sample: Sample
) -> None:
    checked = 0
    for root in windows(qtbot, main_window, sample):
        for widget in tab_stops(root):
            where = f"{type(widget).__name__} in {type(root).__name__}"
            assert spoken_name(widget).strip(), f"{where} has no name a screen reader can say"
            # A scroll area as a tab stop shows no focus and says nothing (the EXIF area did).
            assert not isinstance(widget, QScrollArea), f"{where} is an unnamed tab stop"
            assert not isinstance(widget, QLabel), f"{where}: a label is not a tab stop"
            checked += 1
    assert checked >= 30
    # The sort box says what it is for, not only its current value. On Linux Qt makes a combo box's
    # name its current text and says its purpose through the "labelled by" relation (Orca reads
    # both); elsewhere the accessible name is used.
    combo = QAccessible.queryAccessibleInterface(main_window.sort_combo)
    labels = [
        other.text(QAccessible.Text.Name) for other, _ in combo.relations(QAccessible.RelationFlag.Label)
    ]
    assert "Sort by: " in labels or spoken_name(main_window.sort_combo) == "Sort photos by", labels
    assert main_window.sort_combo.accessibleName() == "Sort photos by"
    assert "Sorts the photos" in combo.text(QAccessible.Text.Description)
    # The photo details are one named, described block.
    exif = main_window.detail.exif
    assert spoken_name(exif) == "Photo details"
    assert "Taken:" in exif.accessibleDescription() or "File:" in exif.accessibleDescription()


@pytest.mark.parametrize("part", ["attention", "exif"])
def test_the_attention_words_and_the_photo_details_show_their_focus(
    qtbot: Any, main_window: MainWindow, part: str
) -> None:
    widget = getattr(main_window.detail, part)
    main_window.activateWindow()
    main_window.grid.setFocus()
    qtbot.waitUntil(lambda: main_window.grid.hasFocus(), timeout=2000)
    before = widget.grab().toImage()
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=2000)
    settle()
    after = widget.grab().toImage()
    assert before != after, f"{part} looks the same with and without the keyboard focus"
    ring = QColor(widget.palette().color(Role.Highlight)).rgb()
    assert after.pixel(1, after.height() // 2) == ring or after.pixel(2, after.height() // 2) == ring


# ---------------------------------------------------------------------------- contrast


TEXT_PAIRS = [
    (Role.WindowText, Role.Window),
    (Role.Text, Role.Base),
    (Role.PlaceholderText, Role.Window),  # secondary labels, the sidebar's "FOLDERS", counts
    (Role.PlaceholderText, Role.Base),  # empty grid, photos without a caption, hints in boxes
    (Role.HighlightedText, Role.Highlight),  # selected sidebar entry, selected list rows
    (Role.ButtonText, Role.Button),
    (Role.ToolTipText, Role.ToolTipBase),
]


@pytest.mark.parametrize("name", sorted(PALETTES))
def test_the_palette_roles_used_for_text_reach_aa(qapp: QApplication, name: str) -> None:
    raw = PALETTES[name]()
    fixed = accessible_palette(raw)
    for group in (Group.Active, Group.Inactive):
        for fg, bg in TEXT_PAIRS:
            ratio = contrast(fixed.color(group, fg), fixed.color(group, bg))
            assert ratio >= AA_TEXT, f"{name} {fg.name} on {bg.name}: {ratio:.2f}:1"
    # The placeholder of a disabled box ("Next to each photo (IMG_0001.jpg → …)") is read too.
    ratio = contrast(
        fixed.color(Group.Disabled, Role.PlaceholderText), fixed.color(Group.Disabled, Role.Base)
    )
    assert ratio >= AA_TEXT, f"{name} disabled placeholder: {ratio:.2f}:1"
    # Secondary text stays secondary: lighter than the main text, not simply made black.
    placeholder = fixed.color(Role.PlaceholderText)
    window = fixed.color(Role.Window)
    assert contrast(placeholder, window) < contrast(fixed.color(Role.WindowText), window)
    # What the issue measured on the untouched light palette, and that it is fixed.
    if name == "light":
        assert contrast(raw.color(Group.Disabled, Role.WindowText), raw.color(Role.Window)) < 2


@pytest.mark.parametrize("name", sorted(PALETTES))
def test_the_chart_lines_reach_3_to_1_on_the_chart(qtbot: Any, qapp: QApplication, name: str) -> None:
    plot = MetricPlot()
    qtbot.addWidget(plot)
    plot.setPalette(accessible_palette(PALETTES[name]()))
    base = plot.palette().color(Role.Base)
    for series in plot.series:
        ratio = contrast(plot._line_color(series), base)
        assert ratio >= AA_LARGE, f"{name}: {series.label} line {ratio:.2f}:1"


def test_the_app_starts_with_the_accessible_palette(qapp: QApplication) -> None:
    from photoscribe.desktop.app import ensure_application

    old = qapp.palette()
    qapp.setPalette(light_palette())
    try:
        app = ensure_application()
        pal = app.palette()
        assert contrast(pal.color(Role.PlaceholderText), pal.color(Role.Window)) >= AA_TEXT
        assert contrast(pal.color(Role.HighlightedText), pal.color(Role.Highlight)) >= AA_TEXT
        # A light/dark switch derives it again from the theme's palette: the same colours here (no drift).
        keeper = app.findChild(PaletteKeeper)
        assert keeper is not None
        keeper.reapply()
        assert app.palette().color(Role.PlaceholderText) == pal.color(Role.PlaceholderText)
        assert app.palette().color(Role.Highlight) == pal.color(Role.Highlight)
    finally:
        qapp.setPalette(old)


def label_ratio(label: QLabel) -> tuple[float, float]:
    """(contrast, needed) of a label's text on the window and on the base colour, whichever is worse."""
    pal = label.palette()
    group = Group.Active if label.isEnabled() else Group.Disabled
    fg = pal.color(group, label.foregroundRole())
    ratio = min(contrast(fg, pal.color(group, Role.Window)), contrast(fg, pal.color(group, Role.Base)))
    font = label.font()
    large = font.pointSizeF() >= 18 or (font.bold() and font.pointSizeF() >= 14)
    return ratio, AA_LARGE if large else AA_TEXT


def test_every_label_reaches_aa_contrast(
    qtbot: Any, scheme: str, main_window: MainWindow, sample: Sample
) -> None:
    labels = 0
    for root in [*windows(qtbot, main_window, sample), main_window.welcome, main_window.detail.empty_label]:
        for label in (w for w in [root, *root.findChildren(QLabel)] if isinstance(w, QLabel)):
            if not label.text().strip():
                continue
            ratio, needed = label_ratio(label)
            assert ratio >= needed, f"{scheme}: “{label.text()[:40]}” is {ratio:.2f}:1 (needs {needed})"
            labels += 1
    assert labels >= 40
    state = main_window.detail.state_label
    assert state.text().startswith("Needs review")  # the text the issue measured at 1.62:1
    # The keyword list's "No keywords" row: secondary text, not a disabled row.
    keywords = main_window.detail.keywords.list
    empty = keywords.item(0)
    assert empty.text() == "No keywords" and empty.flags() & Qt.ItemFlag.ItemIsEnabled
    base = keywords.palette().color(Role.Base)
    assert contrast(empty.foreground().color(), base) >= AA_TEXT


def test_status_colours_reach_aa_in_both_palettes(qtbot: Any, scheme: str, main_window: MainWindow) -> None:
    from photoscribe.desktop.style import ERROR, OK, WARNING, set_tone

    label = QLabel("The folder cannot be read: choose another one.", main_window)
    for tone in (ERROR, OK, WARNING):
        set_tone(label, tone)
        ratio, needed = label_ratio(label)
        assert ratio >= needed, f"{scheme} {tone}: {ratio:.2f}:1"
        assert label.property("tone") == tone
    set_tone(label, None)
    assert label.palette().color(Role.WindowText) == QApplication.palette().color(Role.WindowText)


# ---------------------------------------------------------------------------- tab order


def reading_order(widgets: list[QWidget], window: QWidget) -> list[QWidget]:
    """Top to bottom; widgets whose vertical extents overlap are one line, read left to right."""
    rects = {w: QRect(w.mapTo(window, w.rect().topLeft()), w.size()) for w in widgets}
    lines: list[list[QWidget]] = []
    for w in sorted(widgets, key=lambda w: (rects[w].top(), rects[w].left())):
        line = lines[-1] if lines else None
        if line and any(rects[w].top() < rects[o].bottom() - 2 for o in line):
            line.append(w)
        else:
            lines.append([w])
    return [w for line in lines for w in sorted(line, key=lambda w: rects[w].left())]


def focus_chain(window: QWidget, start: QWidget) -> list[QWidget]:
    stops = set(tab_stops(window))
    chain, widget = [start], start.nextInFocusChain()
    while widget is not start and len(chain) < 500:
        if widget in stops:
            chain.append(widget)
        widget = widget.nextInFocusChain()
    return chain


def test_tab_order_follows_the_layout(main_window: MainWindow) -> None:
    window = main_window
    chain = focus_chain(window, window.search)
    areas = [
        ("toolbar", lambda w: w in (window.search, window.sort_combo)),
        ("sidebar", lambda w: w is window.sidebar),
        ("grid", lambda w: w is window.grid),
        ("detail", lambda w: window.detail.isAncestorOf(w)),
        ("status bar", lambda w: window.statusBar().isAncestorOf(w)),
    ]

    def area(w: QWidget) -> int:
        return next(i for i, (_, test) in enumerate(areas) if test(w))

    order = [area(w) for w in chain]
    assert order == sorted(order), [
        f"{areas[a][0]}:{type(w).__name__}" for a, w in zip(order, chain, strict=True)
    ]
    detail = [w for w in chain if window.detail.isAncestorOf(w)]
    assert detail == reading_order(detail, window), [w.accessibleName() for w in detail]
    assert detail[0] is window.detail.attention and detail[1] is window.detail.caption_edit
    assert detail[-1] is window.detail.exif
    assert chain[:4] == [window.search, window.sort_combo, window.sidebar, window.grid]


# ---------------------------------------------------------------------------- 200 % text


def clipped(root: QWidget) -> list[str]:
    """Labels and buttons given less room than their text needs (so it is cut)."""
    problems = []
    for w in shown(root):
        if not isinstance(w, QLabel | QAbstractButton) or is_part(w):
            continue
        if isinstance(w, QLabel) and (
            not w.text().strip() or (w.pixmap() is not None and not w.pixmap().isNull())
        ):
            continue
        if isinstance(w, QLabel) and w.wordWrap():
            need_w, need_h = w.minimumSizeHint().width(), w.heightForWidth(w.width())
        else:
            need_w, need_h = w.minimumSizeHint().width(), w.minimumSizeHint().height()
        if w.width() + 1 < need_w or w.height() + 1 < need_h:
            text = w.text() if hasattr(w, "text") else ""
            problems.append(f"{type(w).__name__} “{text[:30]}” {w.width()}x{w.height()} < {need_w}x{need_h}")
    return problems


def test_nothing_is_cut_at_200_percent_text(
    qtbot: Any, large_text: float, make_window: Callable[..., MainWindow], sample: Sample
) -> None:
    window = make_window(sample.library)
    window.show()
    window.resize(*SIZE)
    qtbot.waitExposed(window)
    window.grid.select_row(window.photos.row_of(sample.ids["meadow"]))
    qtbot.waitUntil(lambda: bool(window.detail.attention.words), timeout=5000)
    settle()
    assert window.font().pointSizeF() == large_text
    assert clipped(window.detail) == []
    # The detail pane's text stays inside the pane (it scrolls down, never sideways).
    pane = window.detail
    for label in (w for w in shown(pane) if isinstance(w, QLabel)):
        right = label.mapTo(pane, label.rect().topRight()).x()
        assert right <= pane.width(), f"“{label.text()[:30]}” runs past the pane ({right} > {pane.width()})"
    assert_sidebar_names_whole(window.sidebar)
    for dialog in open_dialogs(qtbot, window, sample):
        # As large as it asks to be, on a 1280 x 800 screen (not the offscreen test screen's 800 x 600).
        dialog.resize(dialog.sizeHint().boundedTo(QSize(*SIZE)))
        settle()
        assert dialog.width() <= SIZE[0] and dialog.height() <= SIZE[1], type(dialog).__name__
        assert clipped(dialog) == [], type(dialog).__name__


def test_the_welcome_page_is_whole_at_200_percent_text(
    qtbot: Any, large_text: float, make_window: Callable[..., MainWindow], library: Library
) -> None:
    window = make_window(library)  # no folders yet: the welcome page
    window.show()
    window.resize(*SIZE)
    qtbot.waitExposed(window)
    settle()
    assert window.welcome.isVisible()
    assert clipped(window.welcome) == []
    for button in (window.welcome.add_button, window.welcome.import_button, window.welcome.train_button):
        assert button.mapTo(window, button.rect().bottomRight()).x() <= window.width()


def assert_sidebar_names_whole(sidebar: Sidebar) -> None:
    """Each collection's name fits its row beside its count ("Nee…iew" at 160 % before)."""
    model = sidebar.model()
    metrics = QFontMetrics(sidebar.font())
    names = 0
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        if index.data(FolderRoles.Kind) == KIND_FOLDER or not index.data():
            continue
        rect = sidebar.visualRect(index)
        count = index.data(FolderRoles.Count)
        count_width = metrics.horizontalAdvance(f"{count:,}") + 10 if isinstance(count, int) else 0
        room = rect.width() - 12 - 8 - 16 - 8 - 8 - count_width  # SidebarDelegate.paint's layout
        name = index.data()
        assert metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, room) == name, f"{name!r} is cut"
        names += 1
    assert names >= 3


def test_the_retrain_chart_placeholder_stays_inside_its_frame_at_200_percent(
    qtbot: Any, large_text: float
) -> None:
    plot = MetricPlot()
    qtbot.addWidget(plot)
    plot.resize(plot.minimumSizeHint())
    plot.show()
    qtbot.waitExposed(plot)
    fm = QFontMetrics(plot.font())
    side, bottom = plot._margins(fm)
    # The vertical axis titles ("Loss", "Score") sit in the side margins and the tick labels beside
    # them; "Epoch" and the epoch numbers under the frame.
    assert side >= 1.5 * fm.height() + fm.horizontalAdvance("0.000") + 6
    assert bottom >= 2 * fm.height() + 5
    frame_width = plot.width() - 2 * side
    text = fm.boundingRect(
        QRect(0, 0, int(frame_width) - 12, 10_000),
        int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
        "Metrics appear after the first epoch",
    )
    assert text.width() <= frame_width - 12


# ---------------------------------------------------------------------------- the viewer


def test_viewer_zooms_and_goes_full_screen(qtbot: Any, main_window: MainWindow) -> None:
    main_window.grid.setFocus()
    qtbot.keyClick(main_window.grid, Qt.Key.Key_Space)
    viewer = main_window.viewer
    assert isinstance(viewer, PhotoViewer) and viewer.isVisible()
    qtbot.waitUntil(lambda: not viewer._pixmap.isNull(), timeout=5000)
    viewer.activateWindow()  # as a window manager does: the main window's shortcuts stay behind
    qtbot.waitUntil(viewer.isActiveWindow, timeout=2000)
    assert viewer.zoom is None and "fit" in viewer.position.text()
    fit = viewer.scale()
    qtbot.keyClick(viewer, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom == pytest.approx(fit * 1.25)
    assert viewer.image.pixmap().width() == round(viewer._pixmap.width() * viewer.zoom)
    assert f"{round(viewer.zoom * 100)} %" in viewer.position.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(viewer, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom == pytest.approx(fit / 1.25)
    qtbot.keyClick(viewer, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom is None
    for _ in range(30):
        viewer.zoom_by(2)
    assert viewer.zoom == 8.0  # clamped
    viewer.set_zoom(None)
    qtbot.keyClick(viewer, Qt.Key.Key_F11)
    qtbot.waitUntil(viewer.isFullScreen, timeout=2000)
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)  # leaves full screen, keeps the viewer
    qtbot.waitUntil(lambda: not viewer.isFullScreen(), timeout=2000)
    assert viewer.isVisible()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible()


def test_viewer_zooms_with_ctrl_and_the_wheel(qtbot: Any, main_window: MainWindow) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    main_window.grid.setFocus()
    qtbot.keyClick(main_window.grid, Qt.Key.Key_Space)
    viewer = main_window.viewer
    assert viewer is not None
    qtbot.waitUntil(lambda: not viewer._pixmap.isNull(), timeout=5000)
    fit = viewer.scale()
    port = viewer.scroll_area.viewport()

    def wheel(delta: int, mods: Qt.KeyboardModifier) -> None:
        centre = QPointF(port.rect().center())
        event = QWheelEvent(
            centre,
            port.mapToGlobal(centre),
            QPoint(),
            QPoint(0, delta),
            Qt.MouseButton.NoButton,
            mods,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(port, event)

    wheel(120, Qt.KeyboardModifier.NoModifier)
    assert viewer.zoom is None  # a plain wheel does not zoom
    wheel(120, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom == pytest.approx(fit * 1.25)
    viewer.close()


# ---------------------------------------------------------------------------- the tree read aloud


def test_the_accessibility_tree_names_the_grid_the_detail_pane_and_the_editor(
    main_window: MainWindow,
) -> None:
    nodes = list(accessible_tree(main_window))
    names = {n.name for n in nodes}
    for expected in (
        "Photos",
        "Caption",
        "Attention words",
        "Photo details",
        "Sort by: ",
        "Search photos",
    ):
        assert expected in names, expected
    editor = next(n for n in nodes if n.name == "Caption" and n.role == "EditableText")
    assert editor.value.startswith("a small dog") and "Enter" in editor.description
    assert editor.description.startswith("Needs review · by ")  # the caption's state, said on focus
    state = main_window.detail.state_label
    assert spoken_name(state) == state.text()  # the state itself, not "Caption state"
    assert all(n.name for n in nodes if n.focusable and n.role in ("PushButton", "EditableText", "ComboBox"))
    assert isinstance(main_window.detail, DetailPane)
    # Stepping through the words with the arrow keys renames the strip: the reader says the word.
    strip = main_window.detail.attention
    strip.step(1)
    assert spoken_name(strip) == f"Attention words, showing “{strip.words[0]}”"
    strip.set_current(-1)
    assert spoken_name(strip) == "Attention words, showing the photo"
    # A grid cell says its caption, then the file and whether it is reviewed.
    index = main_window.grid.currentIndex()
    assert index.data(Qt.ItemDataRole.AccessibleDescriptionRole) == "meadow.jpg, needs review"
