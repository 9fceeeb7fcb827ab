"""The session panel: one connection's bytes (text and hex), its parsed messages, a send line.

"Decode as…" (the button above the messages, or the connections' context menu) shows the
messages another dissector finds in the connection's recorded bytes, as Wireshark does;
the choice holds while the connection stays selected and follows new bytes.

Incoming bytes are tinted blue and every line of them is marked ``◀``, outgoing ones
orange and marked ``▶``, in both the text and the hex view, so direction reads without
colour (both marks are in DejaVu, the usual fallback font). New data is appended; the view follows the end
only while the user has not scrolled away from it.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.dissect.decode import Decoded, Redecoder
from inspector.ui.models.messages import DIRECTION_COLOURS, MessagesModel
from inspector.ui.panels.decode_menu import add_decode_actions
from inspector.ui.viewmodel import format as fmt
from inspector.ui.viewmodel.hexdump import hex_lines, printable
from inspector.ui.viewmodel.session import DIRECTION_MARKS, session_title
from inspector.ui.viewmodel.store import Connection, Store
from inspector.ui.viewmodel.store import Message as Row
from inspector.ui.widgets import named, row_table, splitter

log = logging.getLogger("inspector.ui")

MAX_BLOCKS = 20_000
SEND_HINT = "Type a line and press Enter to send it"
NO_CONNECTION = "Select a client connection to send lines on it."
NOT_A_CLIENT = "Lines can be sent only by a client started from the launcher (echo, IRC)."
#: Bytes of a session rendered per refresh at most (a multiple of the hex line width).
RENDER_BUDGET = 16 * 1024
#: Shown above a TLS connection's session: its bytes are the plaintext inside TLS. A word,
#: not a padlock glyph: DejaVu (the usual fallback font) has no padlock.
TLS_MARK = "TLS (decrypted)"
TLS_TIP = "The bytes shown are the plaintext inside the TLS session, not what went on the wire"
#: Shown above the TCP connection under a TLS session: its bytes are the encrypted records.
TLS_WIRE_MARK = "TLS records (encrypted, as on the wire)"
DECODE_TIP = ("Decode this connection's recorded bytes again with another dissector "
              "(as Wireshark's Decode As); the choice holds while the connection stays selected")
#: Decoded messages shown per connection at most (as many as the store keeps of its own).
MAX_DECODED = 20_000


def decoded_row(found: Decoded) -> Row:
    """A re-decoded message as a row of the messages table: its fields become parameters
    (bytes are left out: the summary already shows them)."""
    message = found.message
    params: list[str] = []
    listed = message.fields.get("params")
    if isinstance(listed, (list, tuple)):
        params = [str(p) for p in listed]
    else:
        for key, value in message.fields.items():
            if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value) != message.summary:
                params.append(f"{key}={value}")
    return Row(found.time, message.direction, message.kind, message.summary, tuple(params))


class StreamView(QPlainTextEdit):
    """A read-only text view that follows its end unless the user scrolled up."""

    def __init__(self, name: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_BLOCKS)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

    def at_end(self) -> bool:
        """True when the view shows the end of the stream."""
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 2

    def append_runs(self, runs: list[tuple[str, str]]) -> None:
        """Append (direction, text) runs, coloured by direction, keeping the user's place."""
        if not runs:
            return
        bar = self.verticalScrollBar()
        follow = self.at_end()
        position = bar.value()
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        for direction, text in runs:
            style = QTextCharFormat()
            style.setForeground(DIRECTION_COLOURS.get(direction, QColor(128, 128, 128)))
            cursor.insertText(text, style)
        cursor.endEditBlock()
        if follow:
            bar.setValue(bar.maximum())
        else:
            bar.setValue(position)


class SessionPanel(QWidget):
    """Shows the selected connection's stream; clients get a line to send."""

    send_requested = Signal(int, str)

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("session")
        self.store = store
        self.connection: Connection | None = None
        self._chunk_index = 0
        self._chunk_offset = 0
        self._offsets = {"in": 0, "out": 0}
        self._last_direction = ""
        self._ends_with_newline = True
        self._backlog = False

        self.title = named(QLabel("Select a connection to read its session."), "session.title")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tls_mark = named(QLabel(), "session.tls")
        self.tls_mark.setAccessibleName("TLS connection")
        self.tls_mark.setToolTip(TLS_TIP)
        self.tls_mark.setWordWrap(True)
        self.tls_mark.setStyleSheet("color: #1a7f37; font-weight: bold")
        self.tls_mark.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tls_mark.hide()
        self._tls_scanned = 0
        self.text_view = StreamView("session.text")
        self.text_view.setAccessibleName("Session text")
        self.hex_view = StreamView("session.hex")
        self.hex_view.setAccessibleName("Session hex")
        self.tabs = named(QTabWidget(), "session.tabs")
        self.tabs.addTab(self.text_view, "Text")
        self.tabs.addTab(self.hex_view, "Hex")

        self.messages = MessagesModel(self)
        self.message_table = row_table(
            self, "session.messages", "Parsed messages", self.messages, padding=4, single=False
        )
        self.message_table.setColumnWidth(3, 160)
        self.message_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.message_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.message_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)

        #: The dissector the messages are decoded with (None: the protocol's own messages).
        self.decoding: str | None = None
        self._decoder: Redecoder | None = None
        self._decoded: list[Row] = []
        self._decoder_done = False
        self.decode_button = named(QPushButton("Decode as…"), "session.decode")
        self.decode_button.setToolTip(DECODE_TIP)
        self.decode_button.clicked.connect(self._show_decode_menu)
        self.decode_button.setEnabled(False)  # until a connection is shown
        self.decode_menu: QMenu | None = None
        self.decode_label = named(QLabel(), "session.decoded")
        self.decode_label.setAccessibleName("Decoded as")
        self.decode_label.setWordWrap(True)
        self.decode_label.setTextFormat(Qt.TextFormat.RichText)
        # Tinted like a filter bar: what the table shows is not what the protocol reported.
        self.decode_label.setStyleSheet("background: #fff4c2; color: #3a3000; padding: 2px 4px")
        self.decode_label.linkActivated.connect(lambda _link: self.decode_as(None))
        self.decode_label.hide()
        decode_row = QHBoxLayout()
        decode_row.setContentsMargins(0, 0, 0, 0)
        decode_row.addWidget(self.decode_label, 1)
        decode_row.addStretch(0)
        decode_row.addWidget(self.decode_button)
        messages_side = QWidget()
        messages_layout = QVBoxLayout(messages_side)
        messages_layout.setContentsMargins(0, 0, 0, 0)
        messages_layout.addLayout(decode_row)
        messages_layout.addWidget(self.message_table, 1)

        self.input = named(QLineEdit(), "session.input")
        self.input.setAccessibleName("Line to send")
        self.input.returnPressed.connect(self._send)
        self.send_button = named(QPushButton("Send"), "session.send")
        self.send_button.clicked.connect(self._send)
        self.send_error = named(QLabel(), "session.send_error")
        self.send_error.setAccessibleName("Send error")
        self.send_error.setStyleSheet("color: #d03030; font-weight: bold")
        self.send_error.setWordWrap(True)
        self.send_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.send_error.hide()
        self.output = named(QLabel(), "session.output")
        self.output.setAccessibleName("Last output of this connection's client")
        self.output.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.output.hide()
        self._set_input_enabled(False, NO_CONNECTION)

        send_row = QHBoxLayout()
        send_row.addWidget(self.input, 1)
        send_row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.tls_mark)
        layout.addWidget(self.output)
        layout.addWidget(splitter(Qt.Orientation.Horizontal, (self.tabs, 3), (messages_side, 2)), 1)
        layout.addLayout(send_row)
        layout.addWidget(self.send_error)
        #: Why lines cannot be sent on ``conn`` ("" when they can); the window sets it.
        self.send_refusal: Any = lambda conn: NOT_A_CLIENT

    def set_store(self, store: Store) -> None:
        """Read sessions from another store; clears the view."""
        self.store = store
        self.show_connection(None)

    def show_connection(self, conn_id: int | None) -> None:
        """Show connection ``conn_id`` from its first byte (None clears the view)."""
        self.connection = self.store.connections.get(conn_id) if conn_id is not None else None
        self.show_send_error("")
        self.show_output("")
        self.text_view.clear()
        self.hex_view.clear()
        self._chunk_index = 0
        self._chunk_offset = 0
        self._offsets = {"in": 0, "out": 0}
        self._last_direction = ""
        self._ends_with_newline = True
        self._tls_scanned = 0
        self.tls_mark.hide()
        self._stop_decoding()
        conn = self.connection
        self.decode_button.setEnabled(conn is not None)
        if conn is None:
            self.title.setText("Select a connection to read its session.")
            self.messages.show([], 0.0)
            self._set_input_enabled(False, NO_CONNECTION)
            return
        self.messages.show(conn.messages, conn.opened_at)
        self._update_tls_mark(look_for_session=True)
        self._update_title()
        self._append_new()
        self._update_input()

    def refresh(self) -> None:
        """Append what the selected connection received or sent since the last refresh."""
        conn = self.connection
        if conn is None:
            return
        if conn.id in self.store.grown_sessions or self._backlog:
            self._append_new()
            if self._decoder is not None:
                self._decode_new()
            self.messages.grow()
            self._update_tls_mark()
            if self.message_table.verticalScrollBar().value() >= self.message_table.verticalScrollBar().maximum() - 2:
                self.message_table.scrollToBottom()
        if conn.id in self.store.changed_connections:
            if self._decoder is not None and not conn.is_open and not self._decoder_done:
                self._decode_new()  # the stream ended: the dissector's unfinished tail
                self.messages.grow()
            if not self.tls_mark.isVisible():
                self._update_tls_mark(look_for_session=True)
            self._update_title()
            self._update_input()

    # -- Decode as… ----------------------------------------------------------------------

    def decode_as(self, name: str | None) -> None:
        """Show the selected connection's messages as dissector ``name`` finds them in its
        recorded bytes (None: the protocol's own messages, as recorded). A dissector that
        cannot be made is reported above the table; one that raises gives an error row."""
        conn = self.connection
        if conn is None:
            return
        self._stop_decoding()
        if name is None:
            self.messages.show(conn.messages, conn.opened_at)
            return
        try:
            decoder = Redecoder(name)
        except Exception as exc:  # unknown, or a plug-in whose factory fails
            log.error("cannot decode connection #%s as %s: %s", conn.id, name, exc)
            self.decode_label.setText(f'<span style="color: #d03030">Cannot decode as {escape(name)}: '
                                      f"{escape(str(exc))}</span>")
            self.decode_label.show()
            return
        self.decoding = name
        self._decoder = decoder
        self._decoded = []
        self._decoder_done = False
        self.messages.show(self._decoded, conn.opened_at)
        self._decode_new()
        self.messages.grow()
        self._update_decode_label()
        self.decode_label.setToolTip(f"The messages the {name} dissector finds in this connection's "
                                     "recorded bytes; the link shows the ones its protocol reported")
        self.decode_label.show()

    def _update_decode_label(self) -> None:
        conn, decoder = self.connection, self._decoder
        if conn is None or decoder is None:
            return
        name = escape(decoder.name)
        if decoder.failed:
            text = f"Decoding as <b>{name}</b> failed: the red row says why, the Log has the traceback"
        else:
            kept = conn.bytes_in + conn.bytes_out > conn.kept
            text = f"Decoded as <b>{name}</b>" + (f" (the first {escape(fmt.size(conn.kept))} kept)" if kept else "")
        self.decode_label.setText(text + " — <a href=\"recorded\">show as recorded</a>")

    def _stop_decoding(self) -> None:
        self.decoding = None
        self._decoder = None
        self._decoded = []
        self.decode_label.hide()
        self.decode_label.clear()

    def _decode_new(self) -> None:
        """Feed the decoder what the connection recorded since the last call (all of it,
        at most ``MAX_DECODED`` rows); once it closed, the dissector's unfinished tail."""
        conn, decoder = self.connection, self._decoder
        if conn is None or decoder is None:
            return
        failed = decoder.failed
        found = decoder.update(conn.chunks)
        if not conn.is_open and not self._decoder_done:
            self._decoder_done = True
            found += decoder.finish()
        if decoder.failed and not failed:
            self._update_decode_label()
        room = MAX_DECODED - len(self._decoded)
        self._decoded.extend(decoded_row(item) for item in found[:max(room, 0)])

    def _show_decode_menu(self) -> None:
        """The Decode as… menu under the button (it does not block the loop)."""
        menu = QMenu(self)
        menu.setObjectName("session.decode_menu")
        add_decode_actions(menu, self.decoding, self.decode_as)
        menu.aboutToHide.connect(menu.deleteLater)
        self.decode_menu = menu
        menu.popup(self.decode_button.mapToGlobal(self.decode_button.rect().bottomLeft()))

    def _update_tls_mark(self, look_for_session: bool = False) -> None:
        """Show the TLS mark once the connection has a ``tls`` message (its handshake
        summary); only messages not looked at before are scanned. ``look_for_session``
        (on selection or a state change, not per byte) also marks the TCP connection
        under a TLS session."""
        conn = self.connection
        assert conn is not None
        if look_for_session and not conn.messages and self._carries_tls(conn):
            self.tls_mark.setText(TLS_WIRE_MARK)
            self.tls_mark.setToolTip("The TCP connection under a TLS session; its decrypted bytes are on "
                                     "the connection of the protocol above it")
            self.tls_mark.show()
        messages = conn.messages
        for message in messages[self._tls_scanned:]:
            if message.kind == "tls":  # "handshake done: TLSv1.3 CIPHER; no ALPN; peer ..."
                short = message.summary.split(";", 1)[0].removeprefix("handshake done: ")
                self.tls_mark.setText(f"{TLS_MARK}: {short}" if short else TLS_MARK)
                self.tls_mark.setToolTip(f"{TLS_TIP}\n{message.summary}")
                self.tls_mark.show()
        self._tls_scanned = len(messages)

    def _carries_tls(self, conn: Connection) -> bool:
        """True if ``conn`` is the TCP connection under a TLS session: another connection
        with the same addresses began with a ``tls`` message (its handshake). Looked up
        only when a connection is shown or changes state, never per byte."""
        for other in self.store.connections.values():
            if (other.id != conn.id and other.local == conn.local and other.peer == conn.peer
                    and any(message.kind == "tls" for message in other.messages[:2])):
                return True
        return False

    def _update_title(self) -> None:
        conn = self.connection
        assert conn is not None
        self.title.setText(session_title(conn))

    def _append_new(self) -> None:
        """Render what arrived since the last call, at most ``RENDER_BUDGET`` bytes a
        refresh so a burst never stalls a frame (the rest follows on the next ones)."""
        conn = self.connection
        assert conn is not None
        text_runs: list[tuple[str, str]] = []
        hex_runs: list[tuple[str, str]] = []
        chunks = conn.chunks
        budget = RENDER_BUDGET
        self._backlog = False
        while self._chunk_index < len(chunks):
            chunk = chunks[self._chunk_index]
            piece = bytes(chunk.data[self._chunk_offset : self._chunk_offset + budget])
            if piece:
                self._render(chunk.direction, piece, text_runs, hex_runs)
                self._chunk_offset += len(piece)
                budget -= len(piece)
            if self._chunk_offset < len(chunk.data):
                self._backlog = True
                break
            if self._chunk_index == len(chunks) - 1:
                break
            self._chunk_index += 1
            self._chunk_offset = 0
            if budget <= 0:
                self._backlog = True
                break
        self.text_view.append_runs(text_runs)
        self.hex_view.append_runs(hex_runs)

    def _render(
        self, direction: str, piece: bytes, text_runs: list[tuple[str, str]], hex_runs: list[tuple[str, str]]
    ) -> None:
        # Every line starts with its direction's mark, so the view reads without colour;
        # a line that goes on in the next chunk keeps the mark it started with.
        mark = DIRECTION_MARKS[direction]
        parts: list[str] = []
        at_line_start = self._ends_with_newline
        if direction != self._last_direction:
            if self._last_direction and not self._ends_with_newline:
                parts.append("\n")
            at_line_start = True
            self._last_direction = direction
        for line in printable(piece).splitlines(keepends=True):
            if at_line_start:
                parts.append(f"{mark} ")
            parts.append(line)
            at_line_start = line.endswith("\n")
        text = "".join(parts)
        if text:
            self._ends_with_newline = text.endswith("\n")
        text_runs.append((direction, text))
        lines = hex_lines(piece, self._offsets[direction])
        self._offsets[direction] += len(piece)
        hex_runs.append((direction, "".join(f"{mark} {line}\n" for line in lines)))

    def show_send_error(self, message: str) -> None:
        """Say, right under the line to send, why the last line was not sent ("" clears)."""
        self.send_error.setText(message)
        self.send_error.setVisible(bool(message))

    def show_output(self, line: str) -> None:
        """Show what this connection's client last reported (an echo with its round-trip
        time, a quote, a chat line); "" hides it."""
        self.output.setText(f"Last output: {line}" if line else "")
        self.output.setToolTip(line)
        self.output.setVisible(bool(line))

    def _update_input(self) -> None:
        conn = self.connection
        if conn is None:
            self._set_input_enabled(False, NO_CONNECTION)
        elif not conn.is_open:
            self._set_input_enabled(False, f"Connection #{conn.id} is {conn.state}: nothing can be sent on it.")
        else:
            reason = self.send_refusal(conn)
            self._set_input_enabled(not reason, reason)

    def _set_input_enabled(self, enabled: bool, reason: str = "") -> None:
        """Enable the send line, or disable it saying why (placeholder and tooltips)."""
        self.input.setEnabled(enabled)
        self.send_button.setEnabled(enabled)
        self.input.setPlaceholderText(SEND_HINT if enabled else reason)
        self.input.setToolTip("" if enabled else reason)
        self.send_button.setToolTip("Send the line (Enter)" if enabled else reason)

    def _send(self) -> None:
        conn = self.connection
        text = self.input.text()
        if conn is None or not text or not self.input.isEnabled():
            return
        self.send_requested.emit(conn.id, text)
        if not self.send_error.isVisible():
            self.input.clear()  # a refused line stays, to be corrected
