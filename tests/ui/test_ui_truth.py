"""The window tells the truth (issue 14): what it lists, how it names states, where it
says what went wrong — driven as a person would, over real loopback sockets."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QTableView

from ui_support import find, table_rows

SERVICE = 2  # the running-services table: Stop button, #, Service, Status, Last output
STATUS = 3


def menu_action(window: Any, menu_title: str, name: str) -> Any:
    """The action ``name`` as found in the menu bar's ``menu_title`` menu (asserting it is there)."""
    for menu_action_ in window.menuBar().actions():
        if menu_action_.text().replace("&", "") == menu_title:
            for action in menu_action_.menu().actions():
                if action.objectName() == name:
                    return action
    raise AssertionError(f"no {name} in the {menu_title} menu")


def demo_row(services: QTableView) -> list[str] | None:
    return next((row for row in table_rows(services) if row[SERVICE].startswith("demo")), None)


def test_stop_all_stops_the_demo_and_its_queries(qtbot: Any, window: Any) -> None:
    services = find(window, QTableView, "launcher.services")
    qtbot.mouseClick(find(window, QPushButton, "launcher.demo"), Qt.MouseButton.LeftButton)
    # The demo is listed like any other service, and Run offers "Stop demo" while it runs.
    qtbot.waitUntil(lambda: demo_row(services) is not None and demo_row(services)[STATUS] == "running", timeout=10000)
    stop_demo = menu_action(window, "Run", "action.stop_demo")
    assert stop_demo.isVisible() and stop_demo.isEnabled()
    # Let the once-a-second QOTD query run at least once.
    qtbot.waitUntil(lambda: any(c.protocol == "CollectingClient" or "qotd" in c.protocol.lower() and c.role == "client"
                                for c in window.store.connections.values()), timeout=10000)

    qtbot.mouseClick(find(window, QPushButton, "launcher.stop_all"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.launcher.running(), timeout=10000)
    assert demo_row(services)[STATUS] in ("stopped", "ended")
    assert not stop_demo.isVisible()
    qtbot.waitUntil(lambda: window.store.open_count() == 0, timeout=10000)
    # Nothing keeps querying: no new connection in more than one QOTD period.
    seen = len(window.store.connections)
    qtbot.wait(1500)
    assert len(window.store.connections) == seen
    qtbot.waitUntil(lambda: window.status.text().endswith(" 0 services"), timeout=5000)


def test_run_menu_stops_the_demo(qtbot: Any, window: Any) -> None:
    services = find(window, QTableView, "launcher.services")
    menu_action(window, "Run", "action.demo").trigger()
    qtbot.waitUntil(lambda: len(window.launcher.running()) >= 4, timeout=10000)
    menu_action(window, "Run", "action.stop_demo").trigger()
    qtbot.waitUntil(lambda: not window.launcher.running(), timeout=10000)
    assert demo_row(services) is not None
