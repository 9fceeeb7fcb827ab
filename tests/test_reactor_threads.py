"""Threads: callFromThread, callInThread, the pool, deferToThread, blockingCallFromThread."""

from __future__ import annotations

import threading

import pytest

from inspector.defer import Deferred, inlineCallbacks
from inspector.threads import ThreadPool, blockingCallFromThread, deferToThreadPool


def test_call_from_eight_threads_runs_every_call_once_in_the_loop_thread(reactor, run):
    per_thread = 500

    def scenario():
        loop_thread = threading.current_thread()
        seen = []
        d = Deferred()
        total = 8 * per_thread

        def record(tid, i):
            assert threading.current_thread() is loop_thread
            seen.append((tid, i))
            if len(seen) == total:
                d.callback(seen)

        barrier = threading.Barrier(8)

        def worker(tid):
            barrier.wait()
            for i in range(per_thread):
                reactor.callFromThread(record, tid, i)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        d.addBoth(lambda r: [t.join() for t in threads] and r)
        return d

    seen = run(scenario)
    assert sorted(seen) == sorted((t, i) for t in range(8) for i in range(per_thread))
    for tid in range(8):  # each thread's calls keep their order
        assert [i for t, i in seen if t == tid] == list(range(per_thread))


def test_call_from_thread_wakes_an_idle_loop(reactor, run):
    def scenario():
        d = Deferred()
        # Nothing else is scheduled for a long time: only the waker can get us out.
        far = reactor.callLater(30, d.callback, "timer")
        threading.Timer(0.05, reactor.callFromThread, (d.callback, "woken")).start()
        return d.addBoth(lambda r: (far.active() and far.cancel(), r)[1])

    assert run(scenario, timeout=5) == "woken"


def test_nested_thread_call_runs_once(reactor, run):
    """A thread call that runs the loop's queue again itself must not run twice."""

    def scenario():
        ran = []
        d = Deferred()

        def reenter():
            ran.append("outer")
            reactor.runUntilCurrent()  # what a nested (modal) loop does

        reactor.callFromThread(reenter)
        reactor.callFromThread(ran.append, "second")
        reactor.callLater(0.05, d.callback, None)
        return d.addCallback(lambda _: ran)

    assert run(scenario) == ["outer", "second"]


def test_call_in_thread_and_exceptions_in_pool_are_logged(reactor, run, caplog):
    def scenario():
        d = Deferred()

        def work():
            reactor.callFromThread(d.callback, threading.current_thread().name)

        def broken():
            raise RuntimeError("pool work broke")

        reactor.callInThread(broken)
        reactor.callInThread(work)
        return d

    name = run(scenario)
    assert name != threading.current_thread().name
    assert any(r.exc_info and "pool work broke" in str(r.exc_info[1]) for r in caplog.records)


def test_defer_to_thread_pool_result_and_failure(reactor, run):
    @inlineCallbacks
    def scenario():
        pool = reactor.getThreadPool()
        value = yield deferToThreadPool(reactor, pool, sum, [1, 2, 3])
        try:
            yield deferToThreadPool(reactor, pool, int, "not a number")
        except ValueError as exc:
            return value, str(exc)
        return value, None

    value, message = run(scenario)
    assert value == 6
    assert "not a number" in message


def test_blocking_call_from_thread_waits_for_a_deferred(reactor, run):
    def scenario():
        d = Deferred()

        def in_loop(x):
            later = Deferred()
            reactor.callLater(0.01, later.callback, x * 2)
            return later

        def in_thread():
            try:
                result = blockingCallFromThread(reactor, in_loop, 21)
                with pytest.raises(ZeroDivisionError):
                    blockingCallFromThread(reactor, lambda: 1 / 0)
            except BaseException as exc:  # hand any surprise back to the test
                reactor.callFromThread(d.errback, exc)
                return
            reactor.callFromThread(d.callback, result)

        reactor.callInThread(in_thread)
        return d

    assert run(scenario) == 42


def test_thread_pool_is_stopped_at_shutdown(reactor, run):
    def scenario():
        reactor.suggestThreadPoolSize(3)
        return reactor.getThreadPool()

    pool = run(scenario)
    assert pool.joined
    assert all(not t.is_alive() for t in pool.threads)
    assert reactor.threadpool is None


def test_thread_pool_limits_and_bad_sizes():
    pool = ThreadPool(0, 2)
    pool.start()
    try:
        gate = threading.Event()
        done = []
        for i in range(6):
            pool.callInThread(lambda i=i: (gate.wait(5), done.append(i)))
        assert len(pool.threads) <= 2
        gate.set()
    finally:
        pool.stop()
    assert sorted(done) == list(range(6))
    with pytest.raises(ValueError):
        ThreadPool(3, 1)
    with pytest.raises(RuntimeError):
        pool.callInThread(print)


def test_resolve_address_literal_and_unresolvable_name(reactor, run):
    from inspector.error import DNSLookupError

    @inlineCallbacks
    def scenario():
        literal = yield reactor.resolve("127.0.0.1")
        local = yield reactor.resolve("localhost")
        try:
            yield reactor.resolve("no-such-host.invalid")
        except DNSLookupError as exc:
            return literal, local, exc
        return literal, local, None

    literal, local, exc = run(scenario)
    assert literal == "127.0.0.1"
    assert local in ("127.0.0.1", "::1")
    assert isinstance(exc, DNSLookupError)


def test_defer_to_thread_uses_the_default_reactor():
    from inspector import reactors
    from inspector.threads import deferToThread

    from reactor_support import run_reactor_until

    reactors._uninstall()
    default = reactors.install("selectors")
    try:
        def scenario():
            return deferToThread(lambda a, b: (a + b, threading.current_thread().name), 2, b=3)

        total, thread_name = run_reactor_until(default, scenario)
    finally:
        default.close()
        reactors._uninstall()
    assert total == 5
    assert thread_name != threading.current_thread().name


@pytest.mark.skipif(not hasattr(__import__("os"), "eventfd"), reason="eventfd waker (Linux)")
def test_call_from_thread_racing_close_writes_nothing_into_a_reused_descriptor(monkeypatch) -> None:
    """A thread's wake-up caught between its check and its write while the loop closes must
    not land in the file that takes the closed descriptor's number next (a socket here)."""
    import os
    import socket

    from inspector import reactors

    reactor = reactors.create("selectors")
    real_write = os.eventfd_write
    writing, release = threading.Event(), threading.Event()

    def slow_write(fd: int, value: int) -> None:
        writing.set()
        release.wait(5)
        real_write(fd, value)

    monkeypatch.setattr(os, "eventfd_write", slow_write)
    caller = threading.Thread(target=reactor.callFromThread, args=(print,))
    caller.start()
    assert writing.wait(5)
    pair: list[socket.socket] = []

    def close_then_reuse() -> None:
        reactor.close()
        pair.extend(socket.socketpair())  # lowest free numbers: the waker's, once closed

    closer = threading.Thread(target=close_then_reuse)
    closer.start()
    closer.join(0.3)  # close() would be done by now were it not waiting for the write
    release.set()
    caller.join(5)
    closer.join(5)
    a, b = pair
    try:
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(64)
        a.setblocking(False)
        with pytest.raises(BlockingIOError):
            a.recv(64)
    finally:
        a.close()
        b.close()
