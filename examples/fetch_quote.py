"""A QOTD (RFC 865) client written as a user would: ``main(reactor, host, port)``.

Start a server with ``inspector serve qotd`` (port 8017), then run
``inspector run examples/fetch_quote.py --headless -- 127.0.0.1 8017``: it prints the
quote and exits 0, or exits 1 if the server cannot be reached.
"""

from inspector.defer import Deferred
from inspector.protocol import ClientCreator, Protocol


class QuoteReader(Protocol):
    """Collects what the server sends; the quote is complete when the server closes."""

    def connectionMade(self):
        # Made here, not in __init__: ClientCreator builds the protocol before it knows
        # whether the connection succeeds, and a Deferred that never fires is reported.
        self.received = []
        self.finished = Deferred()

    def dataReceived(self, data):
        self.received.append(data)

    def connectionLost(self, reason):
        self.finished.callback(b"".join(self.received).decode("utf-8", "replace").strip())


def main(reactor, host="127.0.0.1", port="8017"):
    connecting = ClientCreator(reactor, QuoteReader).connectTCP(host, int(port), timeout=10)
    connecting.addCallback(lambda reader: reader.finished)
    connecting.addCallback(print)
    return connecting
