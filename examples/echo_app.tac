"""An echo server written as a user would: a protocol, its factory, and an Application.

Run it with ``inspector run examples/echo_app.tac --headless`` (Ctrl-C stops it), then
talk to it with ``nc 127.0.0.1 8007``. ECHO_PORT chooses another port.
"""

import os

from inspector.protocol import Factory, Protocol
from inspector.service import Application, TCPServer


class Echo(Protocol):
    """Sends every byte it receives straight back."""

    def dataReceived(self, data):
        self.transport.write(data)


class EchoFactory(Factory):
    protocol = Echo


port = int(os.environ.get("ECHO_PORT", "8007"))
application = Application("echo")
TCPServer(port, EchoFactory(), interface="127.0.0.1").setServiceParent(application)
