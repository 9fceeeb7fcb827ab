r"""A finger server shaped like the later steps of Twisted's finger tutorial.

One service holds the users; adapters registered with ``components.registerAdapter`` turn
it into the factories that serve them: finger (RFC 1288) through ``strports.service`` and a
status setter through ``internet.TCPServer``, grouped in a ``MultiService``. Ported from
Twisted by changing the imports only (``twisted.application`` -> ``inspector.application``,
``twisted.internet``/``twisted.python`` -> ``inspector``, ``twisted.protocols`` ->
``inspector.protocols``).

Run it with ``inspector run examples/finger_components.tac --headless``, then::

    inspector connect finger --query moshez                      # Happy and well
    printf 'moshez\nat lunch\n' | inspector connect raw --port 8080 --line-end '\r\n'   # ok\x0d
    inspector connect finger --query moshez                      # at lunch

FINGER_PORT and SETTER_PORT choose other ports.
"""

import os

from zope.interface import Interface, implementer

from inspector import components, defer, protocol
from inspector.application import internet, service, strports
from inspector.protocols import basic

FINGER_PORT = int(os.environ.get("FINGER_PORT", "8079"))
SETTER_PORT = int(os.environ.get("SETTER_PORT", "8080"))


class IFingerService(Interface):
    def getUser(user):
        """A Deferred of the status of ``user`` (bytes)."""

    def getUsers():
        """A Deferred of the list of known user names."""


class IFingerSetterService(Interface):
    def setUser(user, status):
        """Record a new status for ``user``."""


class IFingerFactory(Interface):
    def getUser(user):
        """A Deferred of the status of ``user``."""

    def buildProtocol(addr):
        """A protocol answering one finger query."""


class IFingerSetterFactory(Interface):
    def setUser(user, status):
        """Record a new status for ``user``."""

    def buildProtocol(addr):
        """A protocol reading a user line and a status line."""


def internal_error(failure):
    return b"Internal error in server"


class FingerProtocol(basic.LineReceiver):
    """Reads one user name, answers with the status and hangs up."""

    def lineReceived(self, user):
        looking = self.factory.getUser(user.strip())
        looking.addErrback(internal_error)
        looking.addCallback(self.answer)

    def answer(self, status):
        self.transport.write(status + b"\r\n")
        self.transport.loseConnection()


@implementer(IFingerFactory)
class FingerFactoryFromService(protocol.ServerFactory):
    protocol = FingerProtocol

    def __init__(self, service):
        self.service = service

    def getUser(self, user):
        return self.service.getUser(user)


components.registerAdapter(FingerFactoryFromService, IFingerService, IFingerFactory)


class FingerSetterProtocol(basic.LineReceiver):
    """Reads a user line then a status line, records them and says ok."""

    def connectionMade(self):
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)
        if len(self.lines) == 2:
            self.factory.setUser(*self.lines)
            self.sendLine(b"ok")
            self.transport.loseConnection()


@implementer(IFingerSetterFactory)
class FingerSetterFactoryFromService(protocol.ServerFactory):
    protocol = FingerSetterProtocol

    def __init__(self, service):
        self.service = service

    def setUser(self, user, status):
        self.service.setUser(user, status)


components.registerAdapter(FingerSetterFactoryFromService, IFingerSetterService, IFingerSetterFactory)


@implementer(IFingerService, IFingerSetterService)
class MemoryFingerService(service.Service):
    """The users and their statuses, kept in memory."""

    def __init__(self, users):
        self.users = dict(users)

    def getUser(self, user):
        return defer.succeed(self.users.get(user, b"No such user"))

    def getUsers(self):
        return defer.succeed(sorted(self.users))

    def setUser(self, user, status):
        self.users[user] = status


application = service.Application("finger", uid=1, gid=1)  # the ids are kept, never switched to
users = MemoryFingerService({b"moshez": b"Happy and well"})
users.setName("users")  # names show in logs and in the window's Running list
serviceCollection = service.IServiceCollection(application)
users.setServiceParent(serviceCollection)

servers = service.MultiService()
servers.setName("servers")
servers.setServiceParent(serviceCollection)
strports.service(f"tcp:{FINGER_PORT}:interface=127.0.0.1", IFingerFactory(users)).setServiceParent(servers)
internet.TCPServer(SETTER_PORT, IFingerSetterFactory(users), interface="127.0.0.1").setServiceParent(servers)
