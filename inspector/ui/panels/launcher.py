"""The launcher panel: a form built from the catalogue, and the list of running services.

The form's fields come from the chosen entry's parameters (defaults as placeholders,
help as tooltips, the catalogue's own validation); a bad value, a busy port or a
refused connection shows in red under the form and in the log panel. Every started
service is listed until it ends; "Stop" stops the selected one. Plug-ins that could not
be loaded are named in a dismissable note at the top (details in the Log).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Sequence

from PySide6.QtCore import QEvent, QSettings, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector import catalog
from inspector.ui.models.services import ServicesModel
from inspector.ui.models.table import Index
from inspector.ui.viewmodel.services import Service, peer_hint
from inspector.ui.widgets import named, row_table

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.ui.launcher")
#: Plug-in problems are logged under this name, so the Log's source says what they are.
plugin_log = logging.getLogger("inspector.plugins")


class StopButtonDelegate(QStyledItemDelegate):
    """Draws a Stop button in a running service's first cell; clicking it stops that service."""

    def __init__(self, on_click: Callable[[int], None], parent: Any = None) -> None:
        super().__init__(parent)
        self.on_click = on_click

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        if not index.data():
            super().paint(painter, option, index)
            return
        button = QStyleOptionButton()
        button.rect = option.rect.adjusted(2, 1, -2, -1)
        button.text = str(index.data())
        button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, option.widget)

    def editorEvent(self, event: QEvent, model: Any, option: QStyleOptionViewItem, index: Index) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.MouseButtonRelease and index.data():
            self.on_click(index.row())
            return True
        return super().editorEvent(event, model, option, index)


class LauncherPanel(QWidget):
    """Pick a catalogue entry, fill its parameters, start it; stop what runs."""

    started = Signal(object)  # Service
    ended = Signal(object)  # Service
    demo_requested = Signal()

    def __init__(self, reactor: ReactorLike, settings: QSettings, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("launcher")
        self.reactor = reactor
        self.settings = settings
        self.entries = catalog.entries()
        self.fields: dict[str, QLineEdit] = {}
        self.flags: dict[str, QCheckBox] = {}  # yes/no parameters ("flag" kind) are check boxes
        self._counter = 0
        self.output_listener: Callable[[Service, str], None] | None = None

        self.entry_box = named(QComboBox(), "launcher.entry")
        self.entry_box.setAccessibleName("What to launch")
        for entry in self.entries:
            self.entry_box.addItem(f"{entry.title} ({entry.transport.upper()})", entry.key)
        self.description = named(QLabel(), "launcher.description")
        self.description.setWordWrap(True)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.error = named(QLabel(), "launcher.error")
        self.error.setAccessibleName("Launch error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d03030; font-weight: bold")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = named(QPushButton("Start"), "launcher.start")
        self.start_button.setToolTip("Start with these parameters (Ctrl+Enter)")
        self.start_button.clicked.connect(self.start_current)
        self.demo_button = named(QPushButton("Demo"), "launcher.demo")
        self.demo_button.setToolTip("Start the demo: echo, QOTD and IRC with bots (Ctrl+D)")
        self.demo_button.clicked.connect(self.demo_requested)

        self.model = ServicesModel(self)
        self.table = row_table(self, "launcher.services", "Running services", self.model)
        self.table.setItemDelegateForColumn(
            0, StopButtonDelegate(lambda row: self.stop(self.model.services[row]), self.table)
        )
        self.table.setColumnWidth(0, 48)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.stop_button = named(QPushButton("Stop"), "launcher.stop")
        self.stop_button.setToolTip("Stop the selected service")
        self.stop_button.clicked.connect(self.stop_selected)
        self.stop_all_button = named(QPushButton("Stop all"), "launcher.stop_all")
        self.stop_all_button.clicked.connect(self.stop_all)
        self.clear_button = named(QPushButton("Clear ended"), "launcher.clear")
        self.clear_button.clicked.connect(self.model.remove_ended)

        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.demo_button)
        stops = QHBoxLayout()
        stops.addWidget(self.stop_button)
        stops.addWidget(self.stop_all_button)
        stops.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plugin_note = self._build_plugin_note()
        layout.addWidget(self.plugin_note)
        layout.addWidget(self.entry_box)
        layout.addWidget(self.description)
        layout.addWidget(self.form_host)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        layout.addWidget(QLabel("Running:"))
        layout.addWidget(self.table, 1)
        layout.addLayout(stops)

        self.entry_box.currentIndexChanged.connect(self._entry_changed)
        last = self.settings.value("launcher/entry", "")
        found = self.entry_box.findData(last)
        if found >= 0:
            self.entry_box.setCurrentIndex(found)
        self._entry_changed()

    # -- plug-ins that could not be loaded ----------------------------------------------

    def _build_plugin_note(self) -> QFrame:
        note = named(QFrame(), "launcher.plugin_note")
        note.setFrameShape(QFrame.Shape.StyledPanel)
        # ".QFrame": the note itself, not the labels inside it (QLabel is a QFrame too).
        note.setStyleSheet(".QFrame { background: #fff4cc; border: 1px solid #d9b44a; border-radius: 3px; }"
                           " QLabel, QToolButton { color: #5a4500; }")
        self.plugin_note_text = named(QLabel(), "launcher.plugin_note.text")
        self.plugin_note_text.setWordWrap(True)
        self.plugin_note_text.setAccessibleName("Plug-ins not loaded")
        dismiss = named(QToolButton(), "launcher.plugin_note.dismiss")
        dismiss.setText("✕")
        dismiss.setToolTip("Dismiss this note (the Log keeps the details)")
        dismiss.setAccessibleName("Dismiss the plug-in note")
        dismiss.setAutoRaise(True)
        dismiss.clicked.connect(note.hide)
        row = QHBoxLayout(note)
        row.setContentsMargins(6, 4, 2, 4)
        row.addWidget(self.plugin_note_text, 1)
        row.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
        note.hide()
        return note

    def show_plugin_problems(self, problems: Sequence[tuple[str, str]]) -> None:
        """Report plug-ins that could not be loaded, given as (short name, full message):
        one Log entry each, and a dismissable note above the form naming them."""
        if not problems:
            self.plugin_note.hide()
            return
        for _name, message in problems:
            plugin_log.warning("%s", message)
        count = len(problems)
        names = ", ".join(name for name, _message in problems)
        plural = "plug-in" if count == 1 else "plug-ins"
        self.plugin_note_text.setText(f"{count} {plural} could not be loaded: {names} — see Log")
        self.plugin_note_text.setToolTip("\n".join(message for _name, message in problems))
        self.plugin_note.show()

    # -- the form ----------------------------------------------------------------------

    @property
    def entry(self) -> Any:
        """The catalogue entry the form is for."""
        return self.entries[self.entry_box.currentIndex()]

    def select_entry(self, name: str, role: str, transport: str = "tcp") -> None:
        """Choose the entry ``name``/``role``/``transport`` (as picking it in the box would)."""
        index = self.entry_box.findData(f"{name} {role} {transport}")
        if index < 0:
            raise KeyError(f"no {name} {role} over {transport} in the catalogue")
        self.entry_box.setCurrentIndex(index)

    def _entry_changed(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields.clear()
        self.flags.clear()
        entry = self.entry
        self.description.setText(entry.description)
        self.error.clear()
        for param in entry.params:
            if param.kind == "flag":
                self._add_flag(entry, param)
                continue
            edit = named(QLineEdit(), f"launcher.param.{param.name}")
            choice = self._choice_box(param, edit)
            edit.setAccessibleName(param.name.replace("_", " "))
            edit.setToolTip(param.help)
            edit.setPlaceholderText(("(none)" if choice is not None else "") if param.default is None
                                    else str(param.default))
            saved = self.settings.value(f"launcher/{entry.key}/{param.name}")
            text = str(saved) if saved is not None else ("" if param.default is None else str(param.default))
            edit.setText(text)
            edit.returnPressed.connect(self.start_current)
            self.fields[param.name] = edit
            label = param.name.replace("_", " ").capitalize()
            if param.kind == "path":
                row = QWidget()
                row_layout = QHBoxLayout(row)
                row_layout.setContentsMargins(0, 0, 0, 0)
                browse = named(QToolButton(), f"launcher.browse.{param.name}")
                browse.setText("…")
                browse.setToolTip(f"Choose the {label.lower()}")
                browse.clicked.connect(lambda _=False, e=edit: self._browse(e))
                row_layout.addWidget(edit, 1)
                row_layout.addWidget(browse)
                self.form.addRow(label, row)
            else:
                self.form.addRow(label, choice if choice is not None else edit)

    def _choice_box(self, param: Any, edit: QLineEdit) -> QComboBox | None:
        """An editable drop-down around ``edit`` of the values ``param`` knows now
        (dissectors, plug-ins included), or None for a plain text field; typing any other
        value still works."""
        if param.choices is None:
            return None
        box = named(QComboBox(), f"launcher.choice.{param.name}")
        box.setLineEdit(edit)
        box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for value in param.choices():
            box.addItem(value if value else "(none)", value)
        box.activated.connect(lambda index, b=box: b.setEditText(str(b.itemData(index) or "")))
        return box

    def _add_flag(self, entry: Any, param: Any) -> None:
        """A yes/no parameter as a check box labelled with its help, checked as last time."""
        box = named(QCheckBox(param.help), f"launcher.param.{param.name}")
        box.setAccessibleName(param.name.replace("_", " "))
        saved = self.settings.value(f"launcher/{entry.key}/{param.name}")
        box.setChecked(str(saved).lower() in ("yes", "true", "1") if saved is not None else bool(param.default))
        self.flags[param.name] = box
        self.form.addRow(param.name.replace("_", " ").capitalize(), box)

    def _browse(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", edit.text())
        if path:
            edit.setText(path)

    def set_value(self, name: str, value: Any) -> None:
        """Type ``value`` into the form field ``name`` (tick or untick it for a yes/no one)."""
        if name in self.flags:
            self.flags[name].setChecked(value is True or str(value).lower() in ("yes", "true", "1"))
            return
        self.fields[name].setText(str(value))

    def values(self) -> dict[str, str]:
        """The form's current text, by parameter name ("yes"/"no" for check boxes)."""
        texts = {name: edit.text() for name, edit in self.fields.items()}
        texts.update({name: "yes" if box.isChecked() else "no" for name, box in self.flags.items()})
        return texts

    # -- starting and stopping -----------------------------------------------------------

    def start_current(self) -> Service | None:
        """Start the chosen entry with the form's values; show an error if that fails."""
        entry = self.entry
        values = self.values()
        # An empty field means "the default" (for optional ones: not given at all).
        service = self.start_entry(entry, {name: text for name, text in values.items() if text.strip()}, from_form=True)
        if service is not None:
            self.settings.setValue("launcher/entry", entry.key)
            for name, text in values.items():
                self.settings.setValue(f"launcher/{entry.key}/{name}", text)
        return service

    def start_entry(self, entry: Any, values: dict[str, Any], from_form: bool = False) -> Service | None:
        """Start ``entry`` with ``values`` (text or typed); list it; None and an error if it fails."""
        self.error.clear()
        try:
            params = entry.validate(values)
            handle = entry.start(self.reactor, **params)
        except Exception as exc:  # a busy port, a bad value: show it, keep the window
            message = f"{entry.title} ({entry.transport}): {exc}"
            self.error.setText(message)
            log.error("could not start %s", message)
            return None
        return self.add_handle(entry, handle, params, from_form)

    def add_handle(self, entry: Any, handle: Any, params: dict[str, Any], from_form: bool = False) -> Service:
        """List an already started ``handle`` (a catalogue entry's, or the demo's) as a
        service: it shows under Running, and Stop and Stop all stop it like any other."""
        self._counter += 1
        service = Service(self._counter, entry, handle, params, from_form=from_form)
        self.model.add(service)
        self._fit_columns()
        handle.on_output(lambda line, s=service: self._output(s, line))
        handle.done.addCallbacks(
            lambda result, s=service: self._ended(s, None), lambda failure, s=service: self._ended(s, failure)
        )
        log.info("started %s", handle.description)
        self.started.emit(service)
        return service

    def _output(self, service: Service, line: str) -> None:
        service.last_output = line
        self.model.changed(service)
        if self.output_listener is not None:
            self.output_listener(service, line)

    def _ended(self, service: Service, failure: Any) -> None:
        if service.status == "stopping":
            # The user stopped it: whatever the close looked like (an IRC server's
            # ERROR, a cut connection), that is a stop, not a failure.
            service.status = "stopped"
            if failure is not None:
                log.info("%s stopped (%s)", service.handle.description, failure.getErrorMessage())
        elif failure is not None:
            service.status = "failed"
            service.error = failure.getErrorMessage()
            self.error.setText(f"{service.handle.description}: {service.error}")
            log.error("%s failed: %s", service.handle.description, service.error,
                      extra={"details": failure.getTraceback()})
        else:
            service.status = "ended"
        self.model.changed(service)
        self._fit_columns()
        self.ended.emit(service)
        return None

    def running(self) -> list[Service]:
        """Services that have not ended."""
        return [s for s in self.model.services if s.running]

    def selected_service(self) -> Service | None:
        """The service selected in the list."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.services[rows[0].row()] if rows else None

    def stop_selected(self) -> None:
        """Stop the selected service."""
        service = self.selected_service()
        if service is not None:
            self.stop(service)

    def stop(self, service: Service) -> Any:
        """Stop ``service``; returns the handle's Deferred."""
        if service.status != "running":
            return None
        service.status = "stopping"
        self.model.changed(service)
        self._fit_columns()
        return service.handle.stop()

    def _fit_columns(self) -> None:
        """Re-measure the fitted columns: Qt does not when rows arrive or a status changes,
        so a short first row would leave "running" cut to "runn…"."""
        self.table.horizontalHeader().resizeSections()

    def stop_all(self) -> None:
        """Stop every running service."""
        for service in self.running():
            self.stop(service)

    def peer_hint(self, service: Service) -> str:
        """The "host:port" a client service connects to."""
        return peer_hint(service.params)
