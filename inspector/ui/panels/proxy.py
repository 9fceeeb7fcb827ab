"""The proxy panel: a running proxy's faults, changed live, and the chunks its holds keep.

Pick the proxy (the one whose session is selected in Connections is picked for you),
change any fault and it applies at once to every session. While a direction is held,
what arrives is listed here (session, direction, size, how long it waited, its bytes);
select one to edit it (text with escapes, or hex), then release it or drop it; Release
all and Drop all act on every chunk listed. The list follows the proxy's events and is
redrawn at most once per window refresh.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.panels.proxy_faults import FaultsForm
from inspector.ui.viewmodel.proxy import chunk_text, chunk_texts, held_summary, parse_chunk
from inspector.ui.viewmodel.store import Store
from inspector.ui.widgets import named, row_table

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike
    from inspector.proxy import Proxy, ProxySession

log = logging.getLogger("inspector.ui.proxy")

__all__ = ["ProxyPanel", "HELD_HEADERS"]

HELD_HEADERS = ("Chunk", "Session", "Direction", "Size", "Held for", "Bytes")
NO_PROXY = ("No proxy is running. Start one from the launcher (Proxy), or run "
            "inspector proxy --listen PORT --to HOST:PORT")
#: Seconds between redraws of the held list when nothing happened (its ages grow).
AGE_REFRESH = 1.0

#: (session, direction, chunk id): one held chunk, as the list's rows remember it.
ChunkKey = tuple[int, str, int]


class ProxyPanel(QWidget):
    """Faults and held chunks of the chosen running proxy."""

    def __init__(self, store: Store, reactor: ReactorLike, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("proxy")
        self.store = store
        self.reactor = reactor
        #: The running proxies (the window points it at its launcher's services).
        self.proxies: Callable[[], list[Proxy]] = lambda: []
        self.proxy: Proxy | None = None
        self._listed: list[Proxy] = []
        self._dirty = True
        self._drawn_at = 0.0
        self._keys: list[ChunkKey] = []
        self._sessions: dict[int, ProxySession] = {}
        self._editing: ChunkKey | None = None

        self.choice = named(QComboBox(), "proxy.choice")
        self.choice.setAccessibleName("Proxy")
        self.choice.currentIndexChanged.connect(self._chosen)
        self.note = named(QLabel(NO_PROXY), "proxy.note")
        self.note.setWordWrap(True)
        self.faults_form = FaultsForm()
        self.faults_form.on_applied = lambda name: self._mark_dirty()
        faults_box = QGroupBox("Faults — applied at once to every session of this proxy")
        faults_layout = QVBoxLayout(faults_box)
        faults_layout.addWidget(self.faults_form)

        self.summary = named(QLabel(), "proxy.held_summary")
        self.summary.setWordWrap(True)
        self.held_model = QStandardItemModel(0, len(HELD_HEADERS), self)
        self.held_model.setHorizontalHeaderLabels(list(HELD_HEADERS))
        self.held_table = row_table(self, "proxy.held", "Held chunks", self.held_model, padding=4)
        header = self.held_table.horizontalHeader()
        for column in range(len(HELD_HEADERS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.held_table.selectionModel().selectionChanged.connect(lambda *_: self._chunk_selected())
        self.release_button = self._button("Release", "proxy.release", "Send the selected chunk on", self.release)
        self.drop_button = self._button("Drop", "proxy.drop", "Discard the selected chunk", self.drop)
        self.release_all_button = self._button("Release all", "proxy.release_all",
                                               "Send every listed chunk on, in order", self.release_all)
        self.drop_all_button = self._button("Drop all", "proxy.drop_all", "Discard every listed chunk",
                                            self.drop_all)
        self.editor = named(QPlainTextEdit(), "proxy.editor")
        self.editor.setAccessibleName("Held chunk's bytes")
        self.editor.setPlaceholderText("Select a held chunk to edit its bytes (\\r \\n \\t \\xHH escapes, or hex)")
        self.editor.setMaximumHeight(self.fontMetrics().height() * 3 + 12)
        self.hex_box = named(QCheckBox("Hex"), "proxy.editor_hex")
        self.hex_box.setToolTip("Edit the chunk as hex pairs instead of text with escapes")
        self.hex_box.toggled.connect(lambda _on: self._fill_editor())
        self.save_button = self._button("Save edit", "proxy.save", "Replace the chunk's bytes with the text above",
                                        self.save_edit)
        self.error = named(QLabel(), "proxy.error")
        self.error.setStyleSheet("color: #d03030; font-weight: bold")
        self.error.setWordWrap(True)
        self.error.hide()

        held_box = QGroupBox("Held chunks")
        held_layout = QVBoxLayout(held_box)
        held_layout.addWidget(self.summary)
        # The actions beside the list, so chunks, buttons and editor fit a short dock.
        list_row = QHBoxLayout()
        list_row.addWidget(self.held_table, 1)
        actions = QVBoxLayout()
        for button in (self.release_button, self.drop_button, self.release_all_button, self.drop_all_button):
            actions.addWidget(button)
        actions.addStretch(1)
        list_row.addLayout(actions)
        held_layout.addLayout(list_row, 1)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.editor, 1)
        edit_side = QVBoxLayout()
        edit_side.addWidget(self.hex_box)
        edit_side.addWidget(self.save_button)
        edit_side.addStretch(1)
        edit_row.addLayout(edit_side)
        held_layout.addLayout(edit_row)
        held_layout.addWidget(self.error)

        # In a scroll area: the dock shares its column with Connections and must be able
        # to shrink without squeezing that table.
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addWidget(faults_box)
        body_layout.addWidget(held_box, 1)
        held_box.setMinimumHeight(self.fontMetrics().height() * 12)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Proxy:"))
        top.addWidget(self.choice, 1)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(scroll, 1)
        self._show_proxy(None)

    def _button(self, text: str, name: str, tip: str, slot: Callable[[], Any]) -> QPushButton:
        button = named(QPushButton(text), name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- the window's refresh --------------------------------------------------------------

    def set_store(self, store: Store) -> None:
        """The proxies are live objects: a recording changes nothing here."""
        self.store = store

    def refresh(self) -> None:
        """Follow proxies that started or stopped, and redraw the held list if it changed."""
        running = self.proxies()
        if running != self._listed:
            self._list_proxies(running)
        if self.proxy is not None:
            now = self.reactor.seconds()
            if self._dirty or now - self._drawn_at >= AGE_REFRESH:
                self._draw_held(now)

    def _list_proxies(self, running: list[Proxy]) -> None:
        current = self.proxy
        self._listed = list(running)
        self.choice.blockSignals(True)
        try:
            self.choice.clear()
            for proxy in running:
                self.choice.addItem(f"{proxy.label or '?'} → {proxy.upstream_label}")
            index = running.index(current) if current in running else len(running) - 1
            self.choice.setCurrentIndex(index)
        finally:
            self.choice.blockSignals(False)
        self._show_proxy(running[index] if index >= 0 else None)

    def _chosen(self, index: int) -> None:
        self._show_proxy(self._listed[index] if 0 <= index < len(self._listed) else None)

    def choose(self, proxy: Proxy) -> None:
        """Show ``proxy`` (the proxy of the session selected in Connections)."""
        if proxy is self.proxy:
            return
        if proxy not in self._listed:
            self._list_proxies([*self._listed, proxy])
        self.choice.setCurrentIndex(self._listed.index(proxy))

    def _show_proxy(self, proxy: Proxy | None) -> None:
        if self.proxy is not None:
            self.proxy.remove_listener(self._event)
            self.proxy.faults.remove_listener(self._faults_changed)
        self.proxy = proxy
        self.note.setVisible(proxy is None)
        self.choice.setEnabled(proxy is not None)
        self.faults_form.show_faults(proxy.faults if proxy is not None else None)
        if proxy is not None:
            proxy.on_event(self._event)
            proxy.faults.on_change(self._faults_changed)
        self._editing = None
        self.editor.clear()
        self._draw_held(self.reactor.seconds())

    def _event(self, what: str, session: ProxySession) -> None:
        self._dirty = True

    def _faults_changed(self, name: str) -> None:
        self.faults_form.reload()
        self._dirty = True

    def _mark_dirty(self) -> None:
        self._dirty = True

    # -- the held list ---------------------------------------------------------------------

    def _draw_held(self, now: float) -> None:
        self._dirty = False
        self._drawn_at = now
        proxy = self.proxy
        selected = self.selected_key()
        rows: list[tuple[ChunkKey, tuple[str, ...]]] = []
        self._sessions = {}
        if proxy is not None:
            for session in proxy.live.values():
                self._sessions[session.id] = session
                for direction in ("up", "down"):
                    for chunk in session.held(direction):
                        texts = chunk_texts(chunk, now)
                        rows.append(((session.id, direction, chunk.id),
                                     (texts[0], str(session.id), *texts[1:])))
        self._keys = [key for key, _texts in rows]
        self.held_model.setRowCount(len(rows))
        for row, (_key, texts) in enumerate(rows):
            for column, text in enumerate(texts):
                item = self.held_model.item(row, column)
                if item is None:
                    self.held_model.setItem(row, column, QStandardItem(text))
                elif item.text() != text:
                    item.setText(text)
        if selected in self._keys:
            self.held_table.selectRow(self._keys.index(selected))
        elif selected is not None:
            self.held_table.clearSelection()
        self.summary.setText(self._summary())
        self._update_buttons()

    def _summary(self) -> str:
        proxy = self.proxy
        if proxy is None:
            return ""
        if not self._sessions:
            held = [name for name, on in (("client → server", proxy.faults.hold_up),
                                          ("server → client", proxy.faults.hold_down)) if on]
            return ("No live session" + (f"; holding {' and '.join(held)}" if held else
                                         "; tick a Hold above to queue what passes"))
        return "\n".join(held_summary(session) for session in self._sessions.values())

    def _update_buttons(self) -> None:
        one = self.selected_key() is not None
        for button in (self.release_button, self.drop_button, self.save_button):
            button.setEnabled(one)
        self.editor.setEnabled(one)
        for button in (self.release_all_button, self.drop_all_button):
            button.setEnabled(bool(self._keys))

    def selected_key(self) -> ChunkKey | None:
        """The held chunk selected in the list, as (session, direction, chunk id)."""
        rows = self.held_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._keys):
            return None
        return self._keys[rows[0].row()]

    def _chunk_selected(self) -> None:
        key = self.selected_key()
        if key != self._editing:
            self._editing = key
            self._fill_editor()
        self._update_buttons()

    def _chunk(self, key: ChunkKey) -> Any:
        session = self._sessions.get(key[0])
        if session is None:
            return None
        return next((chunk for chunk in session.held(key[1]) if chunk.id == key[2]), None)

    def _fill_editor(self) -> None:
        key = self._editing
        chunk = self._chunk(key) if key is not None else None
        if chunk is None:
            self.editor.clear()
            return
        self.editor.setPlainText(chunk.data.hex(" ") if self.hex_box.isChecked() else chunk_text(chunk.data))

    # -- acting on chunks -----------------------------------------------------------------

    def _act(self, what: str, action: Callable[[], Any]) -> None:
        self.error.hide()
        try:
            action()
        except (KeyError, ValueError, RuntimeError) as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            self.error.setText(f"Not {what}: {message}")
            self.error.show()
            log.error("held chunk not %s: %s", what, message)
        self._draw_held(self.reactor.seconds())

    def save_edit(self) -> None:
        """Replace the selected chunk's bytes with the editor's text (escapes or hex)."""
        key = self.selected_key()
        if key is None:
            return
        session = self._sessions[key[0]]
        self._act("edited", lambda: session.edit(key[1], key[2], parse_chunk(self.editor.toPlainText(),
                                                                             self.hex_box.isChecked())))
        self._fill_editor()

    def release(self) -> None:
        """Send the selected chunk on (the hold stays on for what comes next)."""
        key = self.selected_key()
        if key is not None:
            session = self._sessions[key[0]]
            self._act("released", lambda: session.release(key[1], key[2]))

    def drop(self) -> None:
        """Discard the selected chunk."""
        key = self.selected_key()
        if key is not None:
            session = self._sessions[key[0]]
            self._act("dropped", lambda: session.drop(key[1], key[2]))

    def release_all(self) -> None:
        """Send every listed chunk on, each session and direction in order."""
        def run() -> None:
            for session in self._sessions.values():
                for direction in ("up", "down"):
                    if session.held(direction):
                        session.release(direction)
        self._act("released", run)

    def drop_all(self) -> None:
        """Discard every listed chunk."""
        def run() -> None:
            for session in self._sessions.values():
                for direction in ("up", "down"):
                    if session.held(direction):
                        session.drop(direction)
        self._act("dropped", run)
