"""The welcome page shown while the library has no folders: what state the app is in, and next steps."""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from photoscribe.core.model.encoder_files import ENV_VAR, hub_cache_path
from photoscribe.desktop.background import ModelState
from photoscribe.desktop.fit_scroll import FitScroll
from photoscribe.desktop.style import secondary

ENCODER = "resnet50"


def encoder_weights_path() -> tuple[Path | None, Path]:
    """(the ImageNet weights file found, or None; where torchvision keeps it)."""
    expected = hub_cache_path(ENCODER)
    explicit = os.environ.get(ENV_VAR)
    for candidate in (Path(explicit).expanduser() if explicit else None, expected):
        if candidate is not None and candidate.is_file():
            return candidate, expected
    return None, expected


def model_paragraph(state: ModelState) -> str:
    if state.loading:
        return "Loading the captioning model…"
    if state.error:
        return (
            f"<b>The captioning model could not be loaded.</b> {html.escape(state.error)}<br>"
            "Browsing, search, writing captions and export all work without it."
        )
    if state.ready:
        return (
            f"<b>Captioning model “{html.escape(state.name or '')}” is ready.</b> "
            "Photos you add are captioned in the background; you can review and edit every caption."
        )
    return (
        "<b>No captioning model yet.</b> Photoscribe is fully usable without one: browse, search, "
        "write captions and export alt text. Import a trained model (a <code>.pt</code> file) or train "
        "one on captioned photos to have captions written for you."
    )


def weights_paragraph(found: Path | None, expected: Path) -> str:
    base = (
        "Retraining works out of the box with the EfficientNet-Lite0 encoder, whose ImageNet weights "
        "came with photoscribe."
    )
    if found is not None:
        return f"{base} ResNet-50 weights are here too: <code>{html.escape(str(found))}</code>."
    return (
        f"{base} For a ResNet-50 encoder, the Retrain dialog downloads torchvision's "
        f"<code>{html.escape(expected.name)}</code> when you ask it to; offline, copy that file to<br>"
        f"<code>{html.escape(str(expected))}</code> "
        "(or point the <code>PHOTOSCRIBE_ENCODER_WEIGHTS</code> environment variable at it)."
    )


class WelcomePage(QWidget):
    """Plain-words explanation of the app's state with buttons for the next steps."""

    addFolderRequested = Signal()
    importModelRequested = Signal()
    trainRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Welcome")
        # The card scrolls when it does not fit (at 200 % text size in a small window).
        page = QVBoxLayout(self)
        page.setContentsMargins(0, 0, 0, 0)
        inner = QWidget()
        page.addWidget(FitScroll(inner))
        outer = QVBoxLayout(inner)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        card = QFrame()
        card.setObjectName("welcomeCard")
        card.setStyleSheet(
            "#welcomeCard { background: palette(base); border: 1px solid palette(mid); border-radius: 12px; }"
        )
        card.setMaximumWidth(680)
        card.setMinimumWidth(520)
        column = QVBoxLayout(card)
        column.setContentsMargins(36, 30, 36, 30)
        column.setSpacing(14)

        title = QLabel("Welcome to Photoscribe")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        column.addWidget(title)

        self.intro = self._paragraph(
            "Photoscribe writes alt text for your photos, so you can find them by what they show and "
            "export descriptions for websites and screen readers.<br><br>"
            "<b>Your library has no folders yet.</b> Add a folder of photos to start: photoscribe reads "
            "it, keeps watching it for new photos, and never changes your files."
        )
        column.addWidget(self.intro)
        self.model_text = self._paragraph("")
        self.model_text.setAccessibleName("Captioning model status")
        column.addWidget(self.model_text)
        self.weights_text = self._paragraph("")
        self.weights_text.setAccessibleName("Encoder weights status")
        self.weights_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.weights_text)

        buttons = QHBoxLayout()
        buttons.setSpacing(10)
        self.add_button = QPushButton("Add folder…")
        self.add_button.setDefault(True)
        self.add_button.setAccessibleName("Add a folder of photos")
        self.add_button.clicked.connect(self.addFolderRequested)
        self.import_button = QPushButton("Import model…")
        self.import_button.setAccessibleName("Import a trained captioning model")
        self.import_button.clicked.connect(self.importModelRequested)
        self.train_button = QPushButton("Train a model…")
        self.train_button.setAccessibleName("Train a captioning model")
        self.train_button.clicked.connect(self.trainRequested)
        for button in (self.add_button, self.import_button, self.train_button):
            button.setMinimumHeight(34)
            buttons.addWidget(button)
        buttons.addStretch(1)
        column.addSpacing(6)
        column.addLayout(buttons)
        hint = self._paragraph("Tip: you can also drop a folder onto this window.")
        secondary(hint)
        column.addWidget(hint)

        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.set_model_state(ModelState())

    @staticmethod
    def _paragraph(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        return label

    def set_model_state(self, state: ModelState) -> None:
        self.model_text.setText(model_paragraph(state))
        self.import_button.setText("Import another model…" if state.ready else "Import model…")
        self.refresh_weights()

    def refresh_weights(self) -> None:
        found, expected = encoder_weights_path()
        self.weights_text.setText(weights_paragraph(found, expected))
