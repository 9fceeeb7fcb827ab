"""A program written for Twisted runs here with import changes only (issue 16's promise).

The program below uses ``LoopingCall``, ``deferLater``, ``react``, ``TimeoutMixin``,
``Logger``, ``inlineCallbacks`` with ``returnValue`` and a ``StringTransport`` unit test,
exactly as Twisted's documentation shows them. It runs once as written, on Twisted, and
once with its imports rewritten to Inspector's, each in its own interpreter; the two
outputs must be the same.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAM = '''
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin

log = Logger()


class Greeter(LineReceiver, TimeoutMixin):
    def connectionMade(self):
        self.setTimeout(5)

    def lineReceived(self, line):
        self.resetTimeout()
        log.info("got {line!r}", line=line)
        self.sendLine(b"hello " + line)

    def timeoutConnection(self):
        self.sendLine(b"bye")
        self.transport.loseConnection()


def unit_test():
    clock = task.Clock()
    proto = Greeter()
    proto.callLater = clock.callLater
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"ada\\r\\n")
    print("after ada:", transport.value())
    clock.advance(4)
    proto.dataReceived(b"bob\\r\\n")
    clock.advance(4)
    print("idle 4 s:", transport.value(), transport.disconnecting)
    clock.advance(2)
    print("idle 6 s:", transport.value(), transport.disconnecting)


@defer.inlineCallbacks
def doubled_later(clock, value):
    result = yield task.deferLater(clock, 0.01, lambda: value * 2)
    defer.returnValue(result)


def main(reactor):
    unit_test()
    ticks = []

    def tick():
        ticks.append(len(ticks))
        if len(ticks) == 3:
            loop.stop()

    loop = task.LoopingCall(tick)
    done = loop.start(0.01)
    done.addCallback(lambda stopped: print("ticks:", ticks, stopped is loop))
    done.addCallback(lambda _: doubled_later(reactor, 21))
    done.addCallback(lambda answer: print("answer:", answer))
    return done


task.react(main)
'''

#: The only edits a user makes: Twisted's modules become Inspector's.
IMPORTS = {
    "from twisted.internet import defer, task": "from inspector import defer, task",
    "from twisted.internet.testing import": "from inspector.testing import",
    "from twisted.logger import": "from inspector.logger import",
    "from twisted.protocols.basic import": "from inspector.protocols.basic import",
    "from twisted.protocols.policies import": "from inspector.policies import",
}


def _run(source: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INSPECTOR_REACTOR": "selectors", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60, env=env)


def test_a_twisted_program_runs_here_with_import_changes_only() -> None:
    pytest.importorskip("twisted", reason="Twisted (the bench extra) is the reference this compares against")
    ported = PROGRAM
    for theirs, ours in IMPORTS.items():
        assert theirs in ported
        ported = ported.replace(theirs, ours)
    assert "twisted" not in ported

    reference = _run(PROGRAM)
    assert reference.returncode == 0, reference.stderr
    here = _run(ported)
    assert here.returncode == 0, here.stderr
    assert here.stdout == reference.stdout
    assert "ticks: [0, 1, 2] True" in here.stdout and "answer: 42" in here.stdout
    assert "idle 6 s: b'hello ada\\r\\nhello bob\\r\\nbye\\r\\n' True" in here.stdout
