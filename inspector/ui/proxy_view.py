"""Proxies in the window: wires the Proxy panel, the session view's proxy bar and the
connections table's Link column to the proxies the launcher runs.

Selecting either leg of a proxied session shows the bar over the session (both legs,
their states, a line to inject) and picks that proxy in the Proxy panel; the Link column
appears once a connection has a linked leg, and double-clicking a linked row (or the
bar's button, or its context menu entry) selects the other leg. ``start_proxy`` starts
what ``inspector proxy --listen --to`` asks for as a launcher row.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QBoxLayout, QMenu

from inspector.ui.panels.proxy import ProxyPanel
from inspector.ui.panels.proxy_session import ProxySessionBar
from inspector.ui.viewmodel.connections import LINK_COLUMN
from inspector.ui.viewmodel.proxy import find_session, proxies_of

if TYPE_CHECKING:
    from inspector.proxy import Proxy
    from inspector.ui.main_window import MainWindow

log = logging.getLogger("inspector.ui.proxy")

__all__ = ["ProxyView", "start_proxy", "INJECT_INSTEAD"]

#: Why the session's send line is off on a proxied leg, and what to use instead.
INJECT_INSTEAD = "A proxied session: use Inject above to send a line toward the server or the client."


class ProxyView:
    """The window's proxy wiring (one per window)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.panel = cast(ProxyPanel, window.panels["Proxy"])
        self.panel.proxies = self.proxies
        self.bar = ProxySessionBar()
        # Under the session's title line, above its bytes.
        cast(QBoxLayout, window.session.layout()).insertWidget(1, self.bar)
        self.bar.go_to_leg.connect(self.go_to)
        connections = window.connections
        connections.table.setColumnHidden(LINK_COLUMN, True)
        connections.table.doubleClicked.connect(self._double_clicked)
        # After the panel's own slot has built its menu: add "Go to the other leg".
        connections.table.customContextMenuRequested.connect(lambda _pos: self._extend_menu())
        connections.connection_selected.connect(self._selected)
        self._link_shown = False
        # The session's send line belongs to launcher clients; a proxied leg has Inject.
        refusal = window.session.send_refusal
        window.session.send_refusal = lambda conn: (
            INJECT_INSTEAD if window.live and find_session(self.proxies(), conn.id) is not None else refusal(conn))

    def proxies(self) -> list[Proxy]:
        """The proxies of the launcher's running services (the Proxy entry's, and
        ``inspector proxy``'s)."""
        return proxies_of(service.handle for service in self.window.launcher.running())

    def refresh(self) -> None:
        """Each window refresh: keep the bar's states current, show the Link column once needed."""
        window = self.window
        store = window.store
        if not self._link_shown and any(
                store.connections[i].linked for i in (*store.new_connections, *store.changed_connections)
                if i in store.connections):
            self._link_shown = True
            table = window.connections.table
            table.setColumnHidden(LINK_COLUMN, False)
            table.setColumnWidth(LINK_COLUMN, 130)
            header = table.horizontalHeader()  # next to Role, where it is read with it
            header.moveSection(header.visualIndex(LINK_COLUMN), header.visualIndex(2))
        if self.bar.session is not None:
            self.bar.update_from(store)

    def _selected(self, conn_id: int) -> None:
        session = find_session(self.proxies(), conn_id) if self.window.live else None
        self.bar.show_session(session, conn_id, self.window.store)
        if session is not None:
            self.panel.choose(session.proxy)

    def go_to(self, conn_id: int) -> None:
        """Select connection ``conn_id`` (the other leg) in Connections and show its session."""
        self.window.connections.select_connection(conn_id)

    def _linked_of_row(self, index: QModelIndex) -> int:
        connections = self.window.connections
        if not index.isValid():
            return 0
        conn = connections.model.connection(connections.proxy.mapToSource(index).row())
        return conn.linked

    def _double_clicked(self, index: QModelIndex) -> None:
        other = self._linked_of_row(index)
        if other:
            self.go_to(other)

    def _extend_menu(self) -> None:
        connections = self.window.connections
        menu = connections.context_menu
        other = self._linked_of_row(connections.table.currentIndex())
        if not isinstance(menu, QMenu) or not other:
            return
        menu.addSeparator()
        action = menu.addAction(f"Go to the other leg (#{other})")
        action.setObjectName("connections.other_leg")
        action.triggered.connect(lambda _checked=False, o=other: self.go_to(o))


def start_proxy(window: Any, args: Any) -> Any:
    """Start the proxy ``inspector proxy --listen --to`` describes as a launcher row (its
    faults editable in the Proxy panel); a bad flag or a busy port is said in the
    launcher's error line and the Log. Returns the service, or None."""
    from inspector import catalog
    from inspector.catalog.proxy import ProxyHandle
    from inspector.commands.proxy import make_proxy
    from inspector.failure import Failure
    from inspector.proxy import server_endpoint_string

    launcher = window.launcher
    entry = catalog.find("proxy", "server")
    try:
        proxy = make_proxy(args, window.reactor)
        outcome: list[Any] = []
        proxy.listen(server_endpoint_string(args.listen)).addBoth(outcome.append)
        if outcome and isinstance(outcome[0], Failure):
            outcome[0].raiseException()
    except Exception as exc:  # a bad flag, a busy port: say so in the window, keep it open
        message = f"inspector proxy --listen {args.listen} --to {args.upstream}: {exc.args[0] if exc.args else exc}"
        launcher.error.setText(message)
        log.error("could not start the proxy: %s", message)
        return None
    handle = ProxyHandle(entry, proxy)
    if outcome:
        handle.listening(outcome[0])
    return launcher.add_handle(entry, handle, {"listen": args.listen, "upstream": args.upstream})
