"""The main window: assembles canvas, preview, docks, menus and the render worker, and runs documents."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSpinBox,
    QSplitter,
    QStyle,
    QToolBar,
    QWidget,
)

from paintgan import __version__ as app_version
from paintgan.documents import Document, export_ora, load_document, render_layers_rgba, save_document
from paintgan.errors import PaintGANError
from paintgan.images import read_label_map, read_rgb, write_image
from paintgan.labels import LabelSet, ade20k_labelset, check_indices, coco_labelset, landscape_labelset, remap
from paintgan.models import import_model
from paintgan.sketch import image_to_sketch
from ui import icons
from ui.autosave import Autosaver
from ui.canvas import Canvas
from ui.dialogs import CanvasSizeDialog, SettingsDialog
from ui.document_state import DocumentState
from ui.layers_panel import LayersPanel
from ui.model_menu import PLACEHOLDER_NOTICE, CardDialog, ModelEntry, ModelSelector, catalog
from ui.palette import SHORTCUT_KEYS, Palette
from ui.preview import Preview
from ui.render_worker import DRAFT, REFINE, RESTYLE, RendererFactory, RenderRequest, RenderResult, RenderWorker
from ui.restyle_panel import LIVE, PHOTO, RestylePanel
from ui.settings import Settings
from ui.tools import TOOL_CLASSES, Tool

log = logging.getLogger("paintgan.window")
DEFAULT_SIDE = 512
DOCUMENT_FILTER = "PaintGAN painting (*.paintgan)"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"
LABEL_MAP_KINDS = {
    "labels": "Label map in this model's labels (index or colour PNG)",
    "ade20k": "ADE20K label map (index PNG)",
    "coco": "COCO-Stuff label map (index PNG)",
}
BRUSH_MIN, BRUSH_MAX = 1, 400
DROP_SUFFIXES = (".paintgan", ".pth", ".safetensors")
# The restyle thumbnails' picture while the canvas is blank: the bundled landscape's render of a CC0 eval map.
STYLE_SAMPLE = Path(__file__).resolve().parent / "assets" / "style_sample.jpg"
FLAT_STD = 8.0  # levels: a result flatter than this in every channel holds nothing to show a style on


class MainWindow(QMainWindow):
    """`MainWindow(settings)` builds the whole app around the installed models (not shown)."""

    def __init__(self, settings: Settings | None = None, renderer_factory: RendererFactory | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.entries: list[ModelEntry] = catalog()
        self.render_entry = self._initial_entry()
        self.label_set: LabelSet = self.render_entry.label_set or landscape_labelset()
        self.path: Path | None = None
        self.seed = 0
        self.style_reference: np.ndarray | None = None
        self.photo: np.ndarray | None = None
        self.last_message = ""
        self._brush_size = 24.0
        self._pen_size = 3.0
        self._min_revision = 0  # results of an older document are dropped
        self._render_queued = False
        self._closing = False
        self._models_ready = False
        self._first_picture_logged = False  # packaging/startup_time.py reads these two log lines

        self.document = DocumentState(*self._blank_layers(DEFAULT_SIDE, DEFAULT_SIDE), self._undo_bytes())
        self.canvas = Canvas(self.document)
        self.preview = Preview()
        self.preview.set_painting_source(self.canvas.display_rgb)
        self.palette = Palette()
        self.restyle_panel = RestylePanel()
        self.layers_panel = LayersPanel()
        self.model_selector = ModelSelector()
        self.worker = RenderWorker(renderer_factory, self)
        self.tools: dict[str, Tool] = {cls.info.key: cls(self) for cls in TOOL_CLASSES}
        self.tool: Tool = self.tools["brush"]

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("canvasSplitter")
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.preview)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([620, 520])
        self.setCentralWidget(self.splitter)

        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self._build_docks()
        self._build_status()
        self._connect()

        self.palette.set_label_set(self.label_set)
        self._apply_colours()
        self.set_tool("brush")
        self._refresh_model_widgets()
        self._update_title()
        self.resize(1440, 880)
        self._restore_layout()

        self.worker.preview_side = self.settings.preview_resolution
        self.worker.idle_ms = self.settings.refine_idle_ms
        self.worker.start()
        # The worker imports torch and loads the models (seconds on a slow CPU); the window is up meanwhile and
        # says so until the first models are in.
        self.preview.set_loading(True)
        self.statusBar().showMessage("Loading the models…")
        self._push_models()
        self.autosaver = Autosaver(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        QTimer.singleShot(0, self._send_request)

    # --- set-up ----------------------------------------------------------------------------------------------
    def _initial_entry(self) -> ModelEntry:
        wanted = self.settings.model_choice("render")
        renderable = [e for e in self.entries if e.input_kind in ("labels", "sketch")]
        for entry in renderable:
            if entry.name == wanted:
                return entry
        trained = [e for e in renderable if e.input_kind == "labels" and not e.placeholder]
        return (trained or [e for e in renderable if e.input_kind == "labels"] or renderable)[0]

    def _undo_bytes(self) -> int:
        return self.settings.undo_megabytes << 20

    def _blank_layers(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        doc = Document.new(width, height, self.label_set, fill_label=self.background_value)
        return doc.labels, doc.sketch

    def _action(self, text: str, slot: Callable[..., object],
                shortcut: str | QKeySequence | QKeySequence.StandardKey | list[QKeySequence] | None = None,
                tip: str = "", icon: QIcon | None = None, checkable: bool = False, toggle: bool = False) -> QAction:
        """`toggle`: the slot follows the checked state however it changes (menus, code, restored settings)."""
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(icon)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts(shortcut)
            else:
                action.setShortcut(shortcut)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable or toggle)
        (action.toggled if toggle else action.triggered).connect(slot)
        return action

    def _build_actions(self) -> None:
        std = self.style().standardIcon
        sp = QStyle.StandardPixmap
        self.new_action = self._action("&New…", self.new_document_dialog, QKeySequence.StandardKey.New,
                                       "New painting", std(sp.SP_FileIcon))
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                                        "Open a .paintgan painting", std(sp.SP_DialogOpenButton))
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save, "Save the painting",
                                        std(sp.SP_DialogSaveButton))
        self.save_as_action = self._action("Save &As…", self.save_as_dialog, QKeySequence("Ctrl+Shift+S"))
        self.import_labels_action = self._action("Import &label map…", self.import_label_map_dialog)
        self.import_sketch_action = self._action("Import image as &sketch…", self.import_sketch_dialog)
        self.export_action = self._action("&Export result…", self.export_result_dialog, QKeySequence("Ctrl+E"))
        self.export_ora_action = self._action("Export layers (&OpenRaster)…", self.export_layers_dialog)
        self.copy_action = self._action("&Copy result", self.copy_result, QKeySequence("Ctrl+Shift+C"))
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.undo_action = self.document.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.undo_action.setIcon(std(sp.SP_ArrowBack))
        self.redo_action = self.document.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setIcon(std(sp.SP_ArrowForward))
        self.resize_action = self._action("Canvas &size…", self.resize_dialog, QKeySequence("Ctrl+Alt+C"))
        self.clear_sketch_action = self._action("Clear sketch layer", self.clear_sketch)

        self.fit_action = self._action("&Fit to window", self.canvas.fit, QKeySequence("Ctrl+0"))
        self.actual_action = self._action("&100 %", self.canvas.actual_size, QKeySequence("Ctrl+1"))
        self.zoom_in_action = self._action("Zoom &in", lambda: self.canvas.zoom_by(1.25),
                                           [QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")])
        self.zoom_out_action = self._action("Zoom &out", lambda: self.canvas.zoom_by(0.8), QKeySequence("Ctrl+-"))
        self.split_action = self._action("&Split view", lambda on: self.preview.set_mode("split" if on else "result"),
                                         QKeySequence("Ctrl+\\"), toggle=True)
        self.before_action = self._action("&Before restyle", self.preview.set_before, QKeySequence("\\"),
                                          toggle=True)

        self.live_action = self._action("Live", self.set_live, QKeySequence("Ctrl+L"),
                                        "Render while you paint", icons.icon("live"), toggle=True)
        self.live_action.setObjectName("liveToggle")
        self.live_action.setChecked(self.settings.live)
        self.render_action = self._action("Render now", self.render_now, QKeySequence("Ctrl+R"),
                                          "Render the painting now", std(sp.SP_BrowserReload))
        self.variation_action = self._action("New variation", self.new_variation, QKeySequence("Ctrl+Shift+R"),
                                             "A new random seed", icons.icon("variation"))
        self.style_ref_action = self._action("Style reference image…", self.style_reference_dialog)
        self.clear_style_action = self._action("Clear style reference", self.clear_style_reference)
        self.import_model_action = self._action("&Import checkpoint…", self.import_checkpoint_dialog,
                                                QKeySequence("Ctrl+I"))
        self.card_action = self._action("Model &card…", self.show_card)
        self.settings_action = self._action("&Preferences…", self.settings_dialog, QKeySequence.StandardKey.Preferences)

        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for key, tool in self.tools.items():
            info = tool.info
            action = self._action(info.title, lambda _=False, k=key: self.set_tool(k), QKeySequence(info.shortcut),
                                  f"{info.title} ({info.shortcut})", icons.icon(key), checkable=True)
            action.setObjectName(f"tool_{key}")
            self.tool_group.addAction(action)
            self.tool_actions[key] = action
        self.smaller_action = self._action("Smaller brush", lambda: self.change_size(1 / 1.25), QKeySequence("["))
        self.bigger_action = self._action("Bigger brush", lambda: self.change_size(1.25), QKeySequence("]"))
        self.addActions([self.smaller_action, self.bigger_action])
        self.label_shortcuts = []
        for position, key in enumerate(SHORTCUT_KEYS):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(lambda p=position: self.palette.select_position(p))
            self.label_shortcuts.append(shortcut)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.new_action, self.open_action])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addActions([self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.import_labels_action, self.import_sketch_action])
        file_menu.addSeparator()
        file_menu.addActions([self.export_action, self.export_ora_action, self.copy_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.undo_action, self.redo_action])
        edit.addSeparator()
        edit.addActions([self.resize_action, self.clear_sketch_action])
        edit.addSeparator()
        edit.addAction(self.settings_action)
        view = bar.addMenu("&View")
        view.addActions([self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action])
        view.addSeparator()
        view.addActions([self.split_action, self.before_action])
        self.view_menu = view
        tools = bar.addMenu("&Tools")
        tools.addActions(list(self.tool_actions.values()))
        tools.addSeparator()
        tools.addActions([self.smaller_action, self.bigger_action])
        render = bar.addMenu("&Render")
        render.addActions([self.live_action, self.render_action, self.variation_action])
        render.addSeparator()
        render.addActions([self.style_ref_action, self.clear_style_action])
        model = bar.addMenu("&Model")
        self.render_menu = model.addMenu("&Render model")
        self.refine_menu = model.addMenu("Re&fine model")
        self.restyle_menu = model.addMenu("Re&style")
        for menu in (self.render_menu, self.refine_menu, self.restyle_menu):
            menu.aboutToShow.connect(self._fill_model_menus)
        model.addSeparator()
        model.addActions([self.import_model_action, self.card_action])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard shortcuts", self.show_shortcuts, QKeySequence("F1")))
        help_menu.addAction(self._action("&About PaintGAN", self.show_about))
        self._refresh_recent()

    def _build_toolbars(self) -> None:
        top = QToolBar("Main", self)
        top.setObjectName("mainToolbar")
        top.setIconSize(QSize(20, 20))
        top.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        top.addActions([self.new_action, self.open_action, self.save_action])
        top.addSeparator()
        top.addActions([self.undo_action, self.redo_action])
        top.addSeparator()
        self.size_box = QSpinBox(self)
        self.size_box.setObjectName("brushSize")
        self.size_box.setRange(BRUSH_MIN, BRUSH_MAX)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Brush size ([ and ])")
        self.size_box.setValue(int(self._brush_size))
        self.size_box.valueChanged.connect(self._size_edited)
        top.addWidget(QLabel(" Size ", self))
        top.addWidget(self.size_box)
        top.addSeparator()
        top.addWidget(QLabel(" Model ", self))
        top.addWidget(self.model_selector)
        self.refine_selector = ModelSelector(self)
        self.refine_selector.setObjectName("refineSelector")
        self.refine_selector.setToolTip("Heavier model that renders the final picture when you stop painting")
        self.refine_selector.setMinimumContentsLength(12)
        top.addWidget(QLabel(" Refine ", self))
        top.addWidget(self.refine_selector)
        top.addSeparator()
        top.addActions([self.live_action, self.render_action, self.variation_action])
        for action in (self.live_action, self.render_action):
            top.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.seed_box = QSpinBox(self)
        self.seed_box.setObjectName("seed")
        self.seed_box.setRange(0, 2**31 - 1)
        self.seed_box.setToolTip("Seed for models that can make several pictures of one painting")
        self.seed_box.valueChanged.connect(self.set_seed)
        top.addWidget(QLabel(" Seed ", self))
        top.addWidget(self.seed_box)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, top)

        tools = QToolBar("Tools", self)
        tools.setObjectName("toolsToolbar")
        tools.setIconSize(QSize(26, 26))
        tools.setOrientation(Qt.Orientation.Vertical)
        for key, action in self.tool_actions.items():
            if key == "pen":
                tools.addSeparator()
            tools.addAction(action)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _build_docks(self) -> None:
        self.view_menu.addSeparator()
        self.palette_dock = self._dock("Labels", "paletteDock", self.palette, Qt.DockWidgetArea.RightDockWidgetArea)
        self.layers_dock = self._dock("Layers", "layersDock", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.restyle_dock = self._dock("Restyle", "restyleDock", self.restyle_panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.palette_dock, self.layers_dock, self.restyle_dock], [330, 110, 330],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.palette_dock], [250], Qt.Orientation.Horizontal)

    def _build_status(self) -> None:
        status = self.statusBar()
        self.device_label = QLabel("Device: …", self)
        self.device_label.setObjectName("statusDevice")
        self.model_label = QLabel("", self)
        self.model_label.setObjectName("statusModel")
        self.render_label = QLabel("Last render: —", self)
        self.render_label.setObjectName("statusRender")
        self.busy_label = QLabel("", self)
        self.busy_label.setObjectName("statusBusy")
        self.busy_label.setMinimumWidth(80)
        self.cursor_label = QLabel("", self)
        self.zoom_label = QLabel("", self)
        for widget in (self.cursor_label, self.zoom_label, self.model_label, self.device_label, self.render_label,
                       self.busy_label):
            status.addPermanentWidget(widget)

    def _connect(self) -> None:
        self.document.changed.connect(self._document_changed)
        self.document.dirtyChanged.connect(lambda _dirty: self._update_title())
        self.palette.labelChosen.connect(lambda _index: self.canvas.setFocus())
        self.canvas.cursorMoved.connect(self._cursor_moved)
        self.canvas.viewChanged.connect(lambda zoom: self.zoom_label.setText(f"{zoom * 100:.0f} %"))
        self.layers_panel.displayChanged.connect(self.canvas.set_layer_display)
        self.model_selector.modelChosen.connect(self.choose_render_model)
        self.refine_selector.modelChosen.connect(self.choose_refine_model)
        self.restyle_panel.restyleChosen.connect(self.choose_restyle_model)
        self.restyle_panel.strengthChanged.connect(self.preview.set_strength)
        self.preview.modeChanged.connect(lambda mode: self.split_action.setChecked(mode == "split"))
        self.restyle_panel.targetChanged.connect(self._target_changed)
        self.restyle_panel.openPhotoRequested.connect(self.open_photo_dialog)
        self.restyle_panel.beforeToggled.connect(self.before_action.setChecked)
        self.restyle_panel.beforeToggled.connect(self.preview.set_before)
        self.before_action.toggled.connect(self.restyle_panel.before.setChecked)
        self.worker.resultReady.connect(self._on_result)
        self.worker.failed.connect(self._on_render_failed)
        self.worker.modelFailed.connect(self._on_model_failed)
        self.worker.modelsChanged.connect(self._on_models_changed)
        self.worker.thumbnailReady.connect(self.restyle_panel.set_thumbnail)
        self.worker.busyChanged.connect(self._busy_changed)

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.splitter_state()
        if splitter is not None:
            self.splitter.restoreState(splitter)

    # --- ToolHost --------------------------------------------------------------------------------------------
    @property
    def label_value(self) -> int:
        return self.palette.current_index

    @property
    def background_value(self) -> int:
        return int(self.label_set.labels[0].index)

    @property
    def brush_size(self) -> float:
        return self._brush_size

    @property
    def pen_size(self) -> float:
        return self._pen_size

    def pick_label(self, value: int) -> None:
        if not self.palette.select_index(value):
            self.status(f"Index {value} is not a label of {self.label_set.name}")

    # --- tools -----------------------------------------------------------------------------------------------
    def set_tool(self, key: str) -> None:
        if self.tool.active:
            self.tool.cancel()
        self.tool = self.tools[key]
        self.canvas.tool = self.tool
        self.tool_actions[key].setChecked(True)
        self._sync_size_box()

    def _sketch_tool(self) -> bool:
        return self.tool.info.key == "pen"

    def _sync_size_box(self) -> None:
        size = self._pen_size if self._sketch_tool() else self._brush_size
        self.size_box.blockSignals(True)
        self.size_box.setValue(round(size))
        self.size_box.blockSignals(False)
        self.size_box.setEnabled(self.tool.info.sized)
        self.canvas.set_cursor_size(size if self.tool.info.sized else 0.0)

    def set_brush_size(self, size: float) -> None:
        size = float(min(max(size, BRUSH_MIN), BRUSH_MAX))
        if self._sketch_tool():
            self._pen_size = size
        else:
            self._brush_size = size
        self._sync_size_box()

    def change_size(self, factor: float) -> None:
        current = self._pen_size if self._sketch_tool() else self._brush_size
        target = current * factor
        # Small brushes must still move by at least a pixel per key press.
        target = max(target, current + 1) if factor > 1 else min(target, current - 1)
        self.set_brush_size(round(target))

    def _size_edited(self, value: int) -> None:
        self.set_brush_size(value)

    # --- models ----------------------------------------------------------------------------------------------
    def _entry(self, name: str) -> ModelEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def _refine_candidates(self) -> list[ModelEntry]:
        return [e for e in self.entries if e.input_kind == self.render_entry.input_kind and e.name !=
                self.render_entry.name and not e.placeholder]

    def _refresh_model_widgets(self) -> None:
        renderable = [e for e in self.entries if e.input_kind in ("labels", "sketch")]
        self.model_selector.set_entries(renderable, self.render_entry.name)
        none = ModelEntry("", self.render_entry.input_kind, None, False, None)
        refine = [none, *self._refine_candidates()]
        self.refine_selector.set_entries(refine, self.settings.model_choice("refine"))
        self.refine_selector.setItemText(0, "None")
        restyles = [e for e in self.entries if e.input_kind == "image"]
        self.restyle_panel.set_models([e.name for e in restyles], self.settings.model_choice("restyle"),
                                      frozenset(e.name for e in restyles if e.placeholder))
        self._update_model_status()

    def _fill_model_menus(self) -> None:
        """The Model menu mirrors the selectors (rebuilt when shown, so it never disagrees with them)."""
        restyles = [(e.name, e.title) for e in self.entries if e.input_kind == "image"]
        for menu, choices, current, pick in (
            (self.render_menu, [(self.model_selector.itemData(i), self.model_selector.itemText(i))
                                for i in range(self.model_selector.count())],
             self.model_selector.current_name, self.model_selector.select),
            (self.refine_menu, [(self.refine_selector.itemData(i), self.refine_selector.itemText(i))
                                for i in range(self.refine_selector.count())],
             self.refine_selector.current_name, self.refine_selector.select),
            (self.restyle_menu, [("", "None"), *restyles], self.restyle_panel.current, self.restyle_panel.select),
        ):
            menu.clear()
            group = QActionGroup(menu)
            for name, title in choices:
                action = menu.addAction(title)
                action.setCheckable(True)
                action.setChecked(name == current)
                action.setActionGroup(group)
                action.triggered.connect(lambda _=False, n=name, f=pick: f(n))

    def _update_model_status(self, device: str = "") -> None:
        entry = self.render_entry
        self.model_label.setText(f"Model: {entry.title}")
        encoder = entry.card is not None and bool(entry.card.encoder_config)
        self.style_ref_action.setEnabled(encoder)
        self.style_ref_action.setToolTip("Match the colours and mood of a picture" if encoder else
                                         "This model has no style encoder")
        self.preview.set_placeholder_notice(PLACEHOLDER_NOTICE if entry.placeholder else "")
        if device:
            self.device_label.setText(f"Device: {device}")

    def _push_models(self, roles: tuple[str, ...] = (DRAFT, REFINE, RESTYLE)) -> None:
        specs = {}
        if DRAFT in roles:
            specs[DRAFT] = self.render_entry.spec
        if REFINE in roles:
            refine = self._entry(self.refine_selector.current_name)
            specs[REFINE] = refine.spec if refine else None
        if RESTYLE in roles:
            restyle = self._entry(self.restyle_panel.current)
            specs[RESTYLE] = restyle.spec if restyle else None
        self.worker.label_input = self.render_entry.input_kind == "labels"
        # Leave a core to the UI thread by default, so the brush never waits for the model.
        threads = self.settings.threads or max(1, (os.cpu_count() or 2) - 1)
        self.worker.set_models(specs, self.settings.device, threads)

    def choose_render_model(self, name: str) -> None:
        entry = self._entry(name)
        if entry is None or entry.name == self.render_entry.name:
            return
        self.render_entry = entry
        self.settings.set_model_choice("render", name)
        if entry.label_set is not None and entry.label_set != self.label_set:
            self._adopt_label_set(entry.label_set)
        self._refresh_model_widgets()
        self._push_models((DRAFT, REFINE))
        self.document.mark_dirty()

    def _adopt_label_set(self, label_set: LabelSet) -> None:
        """A model with other labels: translate the painting through the label tables where they match."""
        old = self.label_set
        try:
            via = "ade20k" if label_set.name == "ade20k" else "coco" if label_set.name == "coco" else "name"
            labels = remap(self.document.labels, old, label_set, via=via, fill=label_set.labels[0].index)
        except PaintGANError as exc:
            self.show_message(str(exc))
            return
        self.label_set = label_set
        self.palette.set_label_set(label_set)
        self._apply_colours()
        self.document.replace_layers(labels, self.document.sketch.copy(), "Change labels")

    def choose_refine_model(self, name: str) -> None:
        self.settings.set_model_choice("refine", name)
        self._push_models((REFINE,))

    def choose_restyle_model(self, name: str) -> None:
        self.settings.set_model_choice("restyle", name)
        self._push_models((RESTYLE,))
        self.document.mark_dirty()

    def _busy_changed(self, busy: bool) -> None:
        self.busy_label.setText(("rendering…" if self._models_ready else "loading models…") if busy else "")

    def _on_models_changed(self, info: dict) -> None:
        name, _placeholder, device = info.get(DRAFT, ("", False, ""))
        if not self._models_ready:
            self._models_ready = True
            log.info("models ready (draft %s on %s)", name, device or "?")
            self.preview.set_loading(False)
            self.statusBar().clearMessage()
        self._update_model_status(device)
        restyles = [(e.name, e.spec) for e in self.entries if e.input_kind == "image"]
        if restyles:
            self.worker.request_thumbnails(restyles, self._thumbnail_sample())

    def _thumbnail_sample(self) -> np.ndarray:
        """A small picture every style is shown on: the current result (else the painting's colours) once it
        holds something; on a blank canvas, a landscape the bundled painter made, since a flat field shows only
        what each style does where there is nothing to restyle."""
        image = self.preview.image()
        if image is None:
            image = self.canvas.display_rgb()
        if float(image.reshape(-1, image.shape[-1]).std(axis=0).max()) < FLAT_STD:
            sample = cv2.imread(str(STYLE_SAMPLE), cv2.IMREAD_COLOR)
            if sample is not None:  # a broken install keeps the old behaviour rather than no thumbnails
                image = cv2.cvtColor(sample, cv2.COLOR_BGR2RGB)
        return cv2.resize(image, (96, 96), interpolation=cv2.INTER_AREA)

    def _on_model_failed(self, role: str, message: str) -> None:
        self.show_message(f"The {role} model could not be loaded: {message}")

    def show_card(self) -> None:
        card = self.render_entry.model_card()
        if card is not None:
            CardDialog(card, f"Model card: {self.render_entry.name}", self).open()

    def import_checkpoint(self, path: str) -> bool:
        """Import through the engine (which refuses anything that would not render); show the card."""
        self.status(f"Importing {Path(path).name}…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a big checkpoint takes seconds to check
        try:
            card = import_model(path)
        except PaintGANError as exc:
            self.show_message(f"Import failed, nothing was changed: {exc}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.entries = catalog()
        self._refresh_model_widgets()
        dialog = CardDialog(card, f"Imported: {card.name}", self)
        dialog.open()
        self.status(f"Imported model {card.name} into your model folder")
        return True

    # --- rendering -------------------------------------------------------------------------------------------
    def _document_changed(self) -> None:
        if self.live_action.isChecked() and self.restyle_panel.target == LIVE:
            self._schedule_render()

    def _schedule_render(self) -> None:
        # Coalesce all edits of one event-loop turn into one request.
        if not self._render_queued:
            self._render_queued = True
            QTimer.singleShot(0, self._send_request)

    def _send_request(self, force: bool = False) -> None:
        """Ask for the picture of what is on the canvas now (the worker ignores a repeat unless forced)."""
        self._render_queued = False
        if self._closing:
            return
        if self.restyle_panel.target == PHOTO:
            if self.photo is not None:
                self.worker.request(RenderRequest(self.document.revision, self.photo, photo=True), force)
            return
        layer = self.document.labels if self.render_entry.input_kind == "labels" else self.document.sketch
        label_set = self.label_set if self.render_entry.input_kind == "labels" else None
        self.worker.request(RenderRequest(self.document.revision, layer.copy(), seed=self.seed,
                                          style=self.style_reference, label_set=label_set), force)

    def render_now(self) -> None:
        """The Render now button: renders even when nothing changed (after a failure, say)."""
        self._send_request(force=True)

    def set_live(self, on: bool) -> None:
        self.settings.live = bool(on)
        if on:
            self._send_request()

    def set_seed(self, seed: int) -> None:
        if seed != self.seed:
            self.seed = int(seed)
            self.document.mark_dirty()
            self._send_request()

    def new_variation(self) -> None:
        self.seed_box.setValue(random.randrange(1, 2**31 - 1))

    def _on_result(self, result: RenderResult) -> None:
        if result.revision < self._min_revision or self._closing:
            return  # made from a document that is no longer open
        shown = self.preview.shown
        if shown is not None and result.stage == DRAFT and shown.revision > result.revision:
            return  # stale: a newer picture is already on screen
        if self.preview.show_result(result):
            self.render_label.setText(f"Last render: {result.ms:.0f} ms")
            if not self._first_picture_logged:
                self._first_picture_logged = True
                log.info("first picture shown (%s by %s, %.0f ms)", result.stage, result.model_name, result.ms)

    def _on_render_failed(self, message: str) -> None:
        self.preview.set_error(message)
        self.status(f"Render failed: {message}")

    def _target_changed(self, target: str) -> None:
        if target == PHOTO and self.photo is None:
            self.open_photo_dialog()
        self._send_request()

    def set_photo(self, rgb: np.ndarray) -> None:
        self.photo = rgb
        self.restyle_panel.photo.setChecked(True)
        self._send_request()

    def open_photo(self, path: str) -> bool:
        try:
            rgb = read_rgb(path)
        except PaintGANError as exc:
            self.show_message(str(exc))
            return False
        self.set_photo(rgb)
        return True

    def set_style_reference(self, rgb: np.ndarray | None) -> None:
        self.style_reference = rgb
        self._send_request()

    def clear_style_reference(self) -> None:
        self.set_style_reference(None)

    # --- documents -------------------------------------------------------------------------------------------
    def _update_title(self) -> None:
        name = self.path.name if self.path else "Untitled"
        self.setWindowTitle(f"{name}[*] — PaintGAN")
        self.setWindowModified(self.document.dirty)

    def _start_document(self, labels: np.ndarray, sketch: np.ndarray, path: Path | None) -> None:
        self.document.reset(labels, sketch)
        self._min_revision = self.document.revision
        self.path = path
        self.preview.clear()
        self.canvas.fit()
        self._update_title()
        self._send_request()

    def new_document(self, width: int = DEFAULT_SIDE, height: int = DEFAULT_SIDE) -> bool:
        if not self.maybe_save():
            return False
        self._start_document(*self._blank_layers(width, height), None)
        return True

    def open_document(self, path: str | Path) -> bool:
        """Open a .paintgan file; a broken one leaves the current painting untouched."""
        if not self.maybe_save():
            return False
        try:
            doc = load_document(path)
        except PaintGANError as exc:
            self.show_message(f"Cannot open {Path(path).name}: {exc}")
            self.settings.remove_recent_file(str(Path(path).resolve()))
            self._refresh_recent()
            return False
        if doc.label_set != self.label_set:
            self.label_set = doc.label_set
            self.palette.set_label_set(doc.label_set)
            self._apply_colours()
        self._start_document(doc.labels, doc.sketch, Path(path))
        self.seed_box.blockSignals(True)
        self.seed_box.setValue(int(doc.seed or 0))
        self.seed_box.blockSignals(False)
        self.seed = int(doc.seed or 0)
        if doc.render_model and self._entry(doc.render_model):
            self.model_selector.select(doc.render_model)
        # The document's restyle wins over the one remembered from the last session, "None" included: a painting
        # reopens as it was saved. A style that is not installed here falls back to none, and says so.
        restyle = doc.restyle_model or ""
        if restyle and not self._entry(restyle):
            self.status(f"{Path(path).name} was restyled with {restyle!r}, which is not installed; shown without it")
            restyle = ""
        self.restyle_panel.select(restyle)
        self.restyle_panel.strength.setValue(round(float(doc.restyle_strength) * 100))
        self.document.mark_clean()
        self._remember(Path(path))
        self.status(f"Opened {Path(path).name}")
        return True

    def to_document(self) -> Document:
        return Document(
            labels=self.document.labels.copy(),
            sketch=self.document.sketch.copy(),
            label_set=self.label_set,
            render_model=self.render_entry.name,
            restyle_model=self.restyle_panel.current or None,
            restyle_strength=self.restyle_panel.strength.value() / 100.0,
            seed=self.seed,
            app_version=app_version,
        )

    def save_to(self, path: str | Path) -> bool:
        try:
            save_document(self.to_document(), path)
        except PaintGANError as exc:
            self.show_message(f"Not saved: {exc}")
            return False
        self.path = Path(path)
        self.document.mark_clean()
        self._remember(self.path)
        self._update_title()
        self.status(f"Saved {self.path.name}")
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as_dialog()
        return self.save_to(self.path)

    def _remember(self, path: Path) -> None:
        self.settings.add_recent_file(str(path))
        self.settings.last_folder = str(path.resolve().parent)
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_document(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def maybe_save(self) -> bool:
        """Before losing unsaved work: True to go on (saved or discarded), False to stay."""
        if not self.document.dirty:
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' (tests replace this; a person gets a dialog)."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self, "Unsaved painting", f"Save the changes to {self.path.name if self.path else 'Untitled'}?",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def resize_canvas(self, width: int, height: int) -> None:
        """Scale the painting to a new size (labels by nearest neighbour, so no new classes appear)."""
        if (width, height) == (self.document.width, self.document.height):
            return
        labels = cv2.resize(self.document.labels, (width, height), interpolation=cv2.INTER_NEAREST)
        sketch = cv2.resize(self.document.sketch, (width, height), interpolation=cv2.INTER_AREA)
        self.document.replace_layers(labels, sketch, f"Canvas size {width} × {height}")
        self.canvas.fit()

    def clear_sketch(self) -> None:
        self.document.replace_layers(self.document.labels.copy(), np.zeros_like(self.document.sketch),
                                     "Clear sketch")

    def import_label_map(self, path: str, kind: str = "labels") -> bool:
        """Replace the label layer with a map from a file; the canvas takes its size."""
        try:
            if kind == "labels":
                indices, snapped = read_label_map(path, self.label_set)
                check_indices(indices, self.label_set)
            else:
                source = ade20k_labelset() if kind == "ade20k" else coco_labelset()
                raw, snapped = read_label_map(path, None)
                indices = remap(raw, source, self.label_set, via=kind, fill=self.background_value)
        except PaintGANError as exc:
            self.show_message(f"Cannot import {Path(path).name}: {exc}")
            return False
        h, w = indices.shape
        sketch = self.document.sketch
        if sketch.shape != (h, w):
            sketch = cv2.resize(sketch, (w, h), interpolation=cv2.INTER_AREA)
        self.document.replace_layers(indices.astype(self.document.labels.dtype), sketch, "Import label map")
        self.canvas.fit()
        note = f"; {snapped} pixels were not palette colours and were snapped to the nearest label" if snapped else ""
        self.status(f"Imported label map {Path(path).name}{note}")
        if snapped:
            self.show_message(f"{snapped} pixels of {Path(path).name} were not exact label colours; "
                              "each was snapped to the nearest label colour.", error=False)
        return True

    def import_sketch(self, path: str) -> bool:
        """Extract lines from a picture into the sketch layer, scaled to the canvas."""
        try:
            ink = image_to_sketch(read_rgb(path))
        except PaintGANError as exc:
            self.show_message(f"Cannot import {Path(path).name}: {exc}")
            return False
        size = (self.document.width, self.document.height)
        if ink.shape[::-1] != size:
            ink = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
        self.document.replace_layers(self.document.labels.copy(), ink, "Import sketch")
        self.status(f"Imported lines from {Path(path).name} into the sketch layer")
        return True

    def export_result(self, path: str) -> bool:
        image = self.preview.image()
        if image is None:
            self.show_message("There is no picture to export yet: paint something, or press Render now.")
            return False
        try:
            write_image(path, image)
        except PaintGANError as exc:
            self.show_message(f"Not exported: {exc}")
            return False
        self.status(f"Exported {Path(path).name}")
        return True

    def export_layers(self, path: str) -> bool:
        doc = self.to_document()
        layers = list(render_layers_rgba(doc))
        image = self.preview.image()
        if image is not None and image.shape[:2] == doc.labels.shape:
            alpha = np.full(image.shape[:2] + (1,), 255, np.uint8)
            layers.append(("Result", np.concatenate([image, alpha], axis=2)))
        try:
            export_ora(path, layers, self.document.width, self.document.height)
        except PaintGANError as exc:
            self.show_message(f"Not exported: {exc}")
            return False
        self.status(f"Exported layers to {Path(path).name}")
        return True

    def copy_result(self) -> None:
        if self.preview.qimage is not None:
            QGuiApplication.clipboard().setImage(self.preview.qimage)
            self.status("Result copied to the clipboard")

    # --- dialogs (thin: every one ends in a method above, which tests call directly) --------------------------
    def _folder(self) -> str:
        return self.settings.last_folder or str(Path.home())

    def new_document_dialog(self) -> None:
        dialog = CanvasSizeDialog("New painting", self.document.width, self.document.height, parent=self)
        if dialog.exec():
            self.new_document(*dialog.size())

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open painting", self._folder(), DOCUMENT_FILTER)
        if path:
            self.open_document(path)

    def save_as_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save painting", self._folder(), DOCUMENT_FILTER)
        if not path:
            return False
        if not path.endswith(".paintgan"):
            path += ".paintgan"
        return self.save_to(path)

    def resize_dialog(self) -> None:
        dialog = CanvasSizeDialog("Canvas size", self.document.width, self.document.height,
                                  "The painting is scaled to the new size.", self)
        if dialog.exec():
            self.resize_canvas(*dialog.size())

    def import_label_map_dialog(self) -> None:
        filters = ";;".join(f"{title} (*.png)" for title in LABEL_MAP_KINDS.values())
        path, chosen = QFileDialog.getOpenFileName(self, "Import label map", self._folder(), filters)
        if path:
            kind = next((k for k, title in LABEL_MAP_KINDS.items() if chosen.startswith(title)), "labels")
            self.import_label_map(path, kind)

    def import_sketch_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import image as sketch", self._folder(), IMAGE_FILTER)
        if path:
            self.import_sketch(path)

    def export_result_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export result", self._folder(), "PNG (*.png);;JPEG (*.jpg)")
        if path:
            self.export_result(path)

    def export_layers_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export layers", self._folder(), "OpenRaster (*.ora)")
        if path:
            self.export_layers(path if path.endswith(".ora") else path + ".ora")

    def open_photo_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Photo to restyle", self._folder(), IMAGE_FILTER)
        if path:
            self.open_photo(path)
        elif self.photo is None:
            self.restyle_panel.live.setChecked(True)

    def style_reference_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Style reference", self._folder(), IMAGE_FILTER)
        if path:
            try:
                self.set_style_reference(read_rgb(path))
            except PaintGANError as exc:
                self.show_message(str(exc))

    def import_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import checkpoint", self._folder(),
                                              "Models (*.pth *.safetensors *.onnx)")
        if path:
            self.import_checkpoint(path)

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            dialog.apply()
            self.apply_settings()

    def apply_settings(self) -> None:
        self.worker.preview_side = self.settings.preview_resolution
        self.worker.idle_ms = self.settings.refine_idle_ms
        self.document.undo_bytes = self._undo_bytes()
        self.autosaver.restart()
        self._push_models()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, what) for every action with a shortcut, read from the actions themselves."""
        rows = []
        for action in self.findChildren(QAction):
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
            if keys:
                rows.append((keys, action.text().replace("&", "").rstrip("…")))
        rows.append((f"{SHORTCUT_KEYS[0]} … {SHORTCUT_KEYS[-1]}", "Pick one of the first ten labels"))
        rows.append(("Space + drag, middle drag", "Pan"))
        rows.append(("Wheel", "Zoom about the pointer"))
        rows.append(("Esc, right click", "Cancel the stroke or shape in progress"))
        return sorted(set(rows), key=lambda row: row[1].lower())

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{what}</td></tr>"
                       for keys, what in self.shortcut_rows())
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>",
                          QMessageBox.StandardButton.Close, self)
        box.setObjectName("shortcutsBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> None:
        QMessageBox.about(self, "About PaintGAN",
                          f"<b>PaintGAN {app_version}</b><br>Paint label maps or line sketches; a GAN renders the "
                          "picture as you paint, and CycleGAN / GANILLA models restyle it.")

    # --- messages & status -----------------------------------------------------------------------------------
    def show_message(self, text: str, error: bool = True) -> None:
        """A message box that does not block the event loop (the app keeps running behind it)."""
        self.last_message = text
        self.status(text)
        box = QMessageBox(QMessageBox.Icon.Warning if error else QMessageBox.Icon.Information, "PaintGAN", text,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("messageBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _cursor_moved(self, x: int, y: int) -> None:
        if x < 0:
            self.cursor_label.setText("")
            return
        label = int(self.document.labels[y, x])
        name = next((lab.short_name for lab in self.label_set.labels if lab.index == label), str(label))
        self.cursor_label.setText(f"{x}, {y}  {name}")

    def _apply_colours(self) -> None:
        self.canvas.set_colours({label.index: label.colour for label in self.label_set.labels})

    # --- drag and drop ---------------------------------------------------------------------------------------
    @staticmethod
    def _dropped(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        return [Path(u.toLocalFile()) for u in urls if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower()
                in DROP_SUFFIXES]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """A painting opens; a checkpoint is imported (as with File ▸ Open and Model ▸ Import)."""
        for path in self._dropped(event):
            if path.suffix.lower() == ".paintgan":
                self.open_document(path)
            else:
                self.import_checkpoint(str(path))
        event.acceptProposedAction()

    # --- closing ---------------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.settings.set_splitter_state(self.splitter.saveState())
        self.settings.sync()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop timers and the render worker; safe to call twice."""
        self._closing = True
        self.autosaver.close()
        started = time.monotonic()
        if not self.worker.stop():
            self.status(f"render worker did not stop within {time.monotonic() - started:.0f} s")

