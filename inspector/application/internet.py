"""``twisted.application.internet``'s names: services that listen, connect or tick."""

from inspector.service import (
    ClientService,
    StreamServerEndpointService,
    TCPClient,
    TCPServer,
    TimerService,
    UDPServer,
    backoffPolicy,
)

__all__ = [
    "TCPServer", "TCPClient", "UDPServer", "TimerService", "StreamServerEndpointService",
    "ClientService", "backoffPolicy",
]
