"""``strports.service("tcp:8079", factory)``: a listening service from an endpoint string.

The description is any server endpoint string :func:`inspector.endpoints.serverFromString`
takes (``tcp:PORT[:interface=ADDR]``, ``tcp6:``, ``ssl:``, ``unix:``). As in Twisted, the
service raises a failure to listen from ``privilegedStartService`` rather than only logging
it, so ``inspector run`` reports a busy port and exits non-zero.
"""

from __future__ import annotations

from inspector.endpoints import serverFromString
from inspector.interfaces import IProtocolFactory, ReactorLike
from inspector.service import StreamServerEndpointService

__all__ = ["service"]


def service(
    description: str, factory: IProtocolFactory, reactor: ReactorLike | None = None
) -> StreamServerEndpointService:
    """A service listening on ``description`` with ``factory`` while it runs.

    ``reactor`` defaults to the process-wide one (the reactor ``inspector run`` chose).
    A bad description raises ValueError naming the problem, when the ``.tac`` loads.
    """
    if reactor is None:
        from inspector.reactors import default_reactor

        reactor = default_reactor()
    listening = StreamServerEndpointService(serverFromString(reactor, description), factory)
    listening._raiseSynchronously = True
    return listening
