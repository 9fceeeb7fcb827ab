"""A server that stays busy logs its connections one by one only at first: every
interval after that is only counted, so the lines and their cost stay flat however long
the churn lasts (issue 20: ``serve qotd`` within 5% of the bare server)."""

from __future__ import annotations

import logging
import re
from typing import Any

from test_serve_logging import all_closed, churn, connections_in, lines, start_qotd

from apps_support import in_thread


def test_a_churn_across_many_intervals_logs_ten_connections_one_by_one(reactor: Any, run: Any, caplog: Any) -> None:
    """Each interval of a churn used to log its first ten connections one by one (with
    their closes): ten lines every ten seconds for as long as it lasted."""
    caplog.set_level(logging.INFO, logger="inspector.catalog")

    async def scenario() -> None:
        handle = start_qotd(reactor, interval=0.02)  # dozens of intervals while 1,000 clients come
        await in_thread(reactor, churn, handle.address.port, 1000)
        await all_closed(handle)
        await handle.stop()

    run(scenario, timeout=120)
    messages = lines(caplog)
    alone = sum(1 for m in messages if re.search(r"connection from \S+$", m))
    # Ten at the start, and ten again only after an interval without a connection (a
    # pause of the machine may make one): far fewer than ten an interval.
    assert alone <= 30, messages
    assert connections_in(messages) == 1000, messages
