"""The bar over a proxied session in the session view: both legs with their states, which
mark means which direction on the leg shown, a button to the other leg, and a line to
inject toward the server or the client.

It shows only while the selected connection is a leg of a running proxy's session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from inspector.ui.viewmodel.proxy import leg_legend, legs_header, parse_chunk
from inspector.ui.viewmodel.store import Store
from inspector.ui.widgets import named

if TYPE_CHECKING:
    from inspector.proxy import ProxySession

log = logging.getLogger("inspector.ui.proxy")

__all__ = ["ProxySessionBar", "LINE_ENDS"]

#: What the inject line ends with: (shown, bytes as typed escapes).
LINE_ENDS = (("\\r\\n", "\\r\\n"), ("\\n", "\\n"), ("nothing", ""))
INJECT_HINT = "A line to inject (escapes: \\r \\n \\t \\xHH); Enter sends it"


class ProxySessionBar(QFrame):
    """Header and inject line for the proxied session whose leg is shown."""

    #: The user asked to see the other leg (its connection id).
    go_to_leg = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("session.proxy")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.session: ProxySession | None = None
        self.conn_id = 0
        self.header = named(QLabel(), "session.proxy.header")
        self.header.setAccessibleName("Proxied session")
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-weight: bold")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.legend = named(QLabel(), "session.proxy.legend")
        self.legend.setWordWrap(True)
        self.other_button = named(QPushButton(), "session.proxy.other")
        self.other_button.setToolTip("Select the other leg of this session in Connections")
        self.other_button.clicked.connect(self._go_to_other)

        self.direction = named(QComboBox(), "session.proxy.direction")
        self.direction.setAccessibleName("Inject toward")
        self.direction.addItem("to the server (client → server)", "up")
        self.direction.addItem("to the client (server → client)", "down")
        self.line = named(QLineEdit(), "session.proxy.inject")
        self.line.setAccessibleName("Line to inject")
        self.line.setPlaceholderText(INJECT_HINT)
        self.line.returnPressed.connect(self.inject)
        self.line_end = named(QComboBox(), "session.proxy.line_end")
        self.line_end.setAccessibleName("Line end")
        self.line_end.setToolTip("Appended to the injected line")
        for shown, typed in LINE_ENDS:
            self.line_end.addItem(shown, typed)
        self.inject_button = named(QPushButton("Inject"), "session.proxy.inject_button")
        self.inject_button.setToolTip("Send the line as if that peer's side had written it: not held, "
                                      "no added latency")
        self.inject_button.clicked.connect(self.inject)
        self.error = named(QLabel(), "session.proxy.error")
        self.error.setStyleSheet("color: #d03030; font-weight: bold")
        self.error.setWordWrap(True)
        self.error.hide()

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header, 1)
        top.addWidget(self.other_button, 0, Qt.AlignmentFlag.AlignTop)
        inject_row = QHBoxLayout()
        inject_row.setContentsMargins(0, 0, 0, 0)
        inject_row.addWidget(QLabel("Inject"))
        inject_row.addWidget(self.direction)
        inject_row.addWidget(self.line, 1)
        inject_row.addWidget(self.line_end)
        inject_row.addWidget(self.inject_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addLayout(inject_row)
        layout.addWidget(self.error)
        self.hide()

    def show_session(self, session: ProxySession | None, conn_id: int, store: Store) -> None:
        """Show ``session`` seen from its leg ``conn_id`` (None hides the bar)."""
        if session is not self.session:
            self.error.hide()
        self.session = session
        self.conn_id = conn_id
        if session is None:
            self.hide()
            return
        self.update_from(store)
        self.show()

    def update_from(self, store: Store) -> None:
        """Re-read both legs' states (each window refresh while shown)."""
        session = self.session
        if session is None:
            return
        header = legs_header(session, store)
        if header != self.header.text():
            self.header.setText(header)
        self.legend.setText(leg_legend(session, self.conn_id))
        client_id, upstream_id = session.conn_ids()
        other = upstream_id if self.conn_id == client_id else client_id
        self.other_button.setText(f"Go to {'upstream' if other == upstream_id else 'client'} leg #{other}"
                                  if other else "Other leg not traced")
        self.other_button.setEnabled(bool(other))
        live = session.state != "ended"
        for widget in (self.direction, self.line, self.line_end, self.inject_button):
            widget.setEnabled(live)
        ended = f"Session {session.id} has ended: nothing can be injected"
        self.line.setPlaceholderText(INJECT_HINT if live else ended)

    def _go_to_other(self) -> None:
        session = self.session
        if session is None:
            return
        client_id, upstream_id = session.conn_ids()
        other = upstream_id if self.conn_id == client_id else client_id
        if other:
            self.go_to_leg.emit(other)

    def inject(self) -> None:
        """Send the typed line (and its line end) in the chosen direction; a bad escape or an
        ended session is said in red under the line, which keeps the text to be corrected."""
        session = self.session
        text = self.line.text()
        if session is None or not text:
            return
        direction = str(self.direction.currentData())
        try:
            data = parse_chunk(text) + parse_chunk(str(self.line_end.currentData()))
            session.inject(direction, data)
        except (ValueError, RuntimeError) as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            self.error.setText(f"Not injected: {message}")
            self.error.show()
            log.error("could not inject into session %s: %s", session.id, message)
            return
        self.error.hide()
        log.info("injected %d bytes %s into proxy session %s", len(data),
                 "client → server" if direction == "up" else "server → client", session.id)
        self.line.clear()
