"""What a catalogue server (``inspector serve``) logs about its connections under churn.

The first connections of each interval are logged one by one, the rest are counted in
one summary line, errors are always logged and DEBUG (``-v``) logs each; over real
loopback connections on every reactor, the counts in the log add up to what happened.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import struct
from typing import Any

import pytest

from inspector import catalog
from inspector.defer import Deferred

from apps_support import in_thread

SUMMARY = re.compile(r"([\d,]+) connections in the last [\d.]+ s \((\d+) of them logged above\), (\d+) open")


def churn(port: int, count: int, reset_last: bool = False) -> None:
    """``count`` QOTD clients one after another: connect, read the quote, close."""
    for i in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            while sock.recv(4096):  # the quote, then the server's FIN
                pass
            if reset_last and i == count - 1:  # close with a reset: the server sees an error
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def all_closed(handle: Any) -> None:
    """Wait until the server has seen every connection close (each one was accepted:
    its client read the quote)."""
    await handle.all_closed()


def lines(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "inspector.catalog"]


def connections_in(messages: list[str]) -> int:
    """How many connections the log accounts for: summaries plus those logged alone."""
    opened_alone = sum(1 for m in messages if re.search(r"connection from \S+$", m))
    total = 0
    for m in messages:
        found = SUMMARY.search(m)
        if found:
            total += int(found.group(1).replace(",", "")) - int(found.group(2))
    return total + opened_alone


def start_qotd(reactor: Any, interval: float) -> Any:
    handle = catalog.find("qotd", "server").start(reactor, port=0, quote="An apple a day")
    handle.connection_log.interval = interval
    return handle


def test_a_thousand_quick_connections_make_a_few_lines_that_count_them_all(reactor, run, caplog) -> None:
    caplog.set_level(logging.INFO, logger="inspector.catalog")

    async def scenario() -> None:
        handle = start_qotd(reactor, interval=600.0)  # one interval: the summary comes at stop()
        await in_thread(reactor, churn, handle.address.port, 1000)
        await all_closed(handle)
        await handle.stop()

    run(scenario, timeout=120)
    messages = lines(caplog)
    assert len(messages) <= 30, messages
    assert connections_in(messages) == 1000, messages
    assert sum(1 for m in messages if re.search(r"connection from \S+$", m)) == 10
    assert sum(1 for m in messages if " closed: " in m) == 10  # each logged open has its close
    assert any("1,000 connections in the last" in m and "0 open" in m for m in messages), messages
    assert any("-v logs each" in m for m in messages)


def test_the_summary_comes_by_itself_after_the_interval(reactor, run, caplog) -> None:
    caplog.set_level(logging.INFO, logger="inspector.catalog")

    async def scenario() -> list[str]:
        handle = start_qotd(reactor, interval=0.3)
        summarised: Deferred = Deferred()

        class Waiter(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if SUMMARY.search(record.getMessage()) and not summarised.called:
                    reactor.callFromThread(summarised.callback, None)

        waiter = Waiter()
        logging.getLogger("inspector.catalog").addHandler(waiter)
        try:
            await in_thread(reactor, churn, handle.address.port, 40)
            await all_closed(handle)
            await summarised  # no stop(): the reactor's timer writes it
            counted = list(lines(caplog))
        finally:
            logging.getLogger("inspector.catalog").removeHandler(waiter)
            await handle.stop()
        return counted

    messages = run(scenario, timeout=60)
    assert any(SUMMARY.search(m) for m in messages)
    assert connections_in(lines(caplog)) == 40


def test_errors_are_always_logged(reactor, run, caplog) -> None:
    caplog.set_level(logging.INFO, logger="inspector.catalog")

    async def scenario() -> None:
        handle = start_qotd(reactor, interval=600.0)
        await in_thread(reactor, churn, handle.address.port, 30, True)
        await all_closed(handle)
        await handle.stop()

    run(scenario, timeout=60)
    messages = lines(caplog)
    closes = [m for m in messages if " closed: " in m]
    assert len(closes) == 11, messages  # the first ten, and the reset one among the rest
    assert "reset" in closes[-1].lower() or "lost" in closes[-1].lower(), closes[-1]
    assert connections_in(messages) == 30


def test_verbose_logs_every_connection(reactor, run, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="inspector.catalog")

    async def scenario() -> None:
        handle = start_qotd(reactor, interval=600.0)
        await in_thread(reactor, churn, handle.address.port, 50)
        await all_closed(handle)
        await handle.stop()

    run(scenario, timeout=60)
    messages = lines(caplog)
    assert sum(1 for m in messages if re.search(r"connection from \S+$", m)) == 50
    assert sum(1 for m in messages if " closed: " in m) == 50
    assert not any(SUMMARY.search(m) for m in messages)


@pytest.mark.parametrize("reactor_name", ["selectors", "asyncio", "qt"])
def test_the_command_under_churn_logs_a_bounded_count_that_adds_up(reactor_name) -> None:
    from test_commands import Serving  # the running-command helper of the serve tests

    server = Serving("qotd", "--port", "0", "--quote", "An apple a day", "--reactor", reactor_name)
    try:
        churn(server.port(), 300)
        server.wait_for(r"counting them in one line")
        assert server.stop(signal.SIGINT) == 0  # stopping writes the summary of the last interval
    finally:
        server.kill()
    messages = [line.split(": ", 1)[1] for line in server.lines if "inspector.catalog" in line]
    assert len(messages) <= 60, server.log  # 10 per 10 s at most, whatever the machine's speed
    assert connections_in(messages) == 300, server.log
    assert "Traceback" not in server.log
