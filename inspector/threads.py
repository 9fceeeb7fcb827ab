"""Threads: the reactor's thread pool and the bridges between threads and the loop.

Blocking work (name lookups, file reads, CPU-heavy parsing) runs in a pool thread;
its result comes back to the loop thread through ``reactor.callFromThread``.
``deferToThread`` wraps that in a Deferred; ``blockingCallFromThread`` goes the other
way, letting a non-loop thread wait for a call made in the loop.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from inspector.failure import Failure
from inspector.interfaces import IReactorThreads

log = logging.getLogger("inspector.threads")

__all__ = [
    "ThreadPool",
    "deferToThread",
    "deferToThreadPool",
    "blockingCallFromThread",
    "callMultipleInThread",
]

_STOP = object()


class ThreadPool:
    """A pool of daemon worker threads, started lazily up to ``maxthreads``.

    Work items queue up in FIFO order; a worker is only started when no idle worker
    can take the new item, so an idle pool costs no threads.
    """

    def __init__(self, minthreads: int = 0, maxthreads: int = 10, name: str = "inspector") -> None:
        if minthreads < 0 or maxthreads < 1 or minthreads > maxthreads:
            raise ValueError(f"bad pool size: minthreads={minthreads}, maxthreads={maxthreads}")
        self.min = minthreads
        self.max = maxthreads
        self.name = name
        self.started = False
        self.joined = False
        self.threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._pending = 0

    def start(self) -> None:
        """Start the pool (and its ``min`` threads)."""
        with self._lock:
            self.started = True
            self.joined = False
            while len(self.threads) < self.min:
                self._spawn()
            self._grow()

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._worker, name=f"{self.name}-pool-{len(self.threads)}", daemon=True
        )
        self.threads.append(thread)
        self._idle += 1  # counts as idle until it takes an item
        thread.start()

    def _grow(self) -> None:
        # Called with the lock held: start workers for items no idle worker will take.
        while self._pending > self._idle and len(self.threads) < self.max:
            self._spawn()

    def callInThread(self, func: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Run ``func(*args, **kw)`` in a worker thread; exceptions are logged."""
        self.callInThreadWithCallback(None, func, *args, **kw)

    def callInThreadWithCallback(
        self, onResult: Callable[[bool, Any], Any] | None, func: Callable[..., Any], *args: Any, **kw: Any
    ) -> None:
        """Run ``func`` in a worker; then call ``onResult(success, result_or_failure)`` there."""
        if self.joined:
            raise RuntimeError("the thread pool has been stopped")
        with self._lock:
            self._pending += 1
            self._queue.put((onResult, func, args, kw))
            if self.started:
                self._grow()

    def _worker(self) -> None:
        get = self._queue.get
        lock = self._lock
        while True:
            item = get()
            with lock:
                self._idle -= 1
                if item is not _STOP:
                    self._pending -= 1
            if item is _STOP:
                return
            onResult, func, args, kw = item
            try:
                result = func(*args, **kw)
                ok = True
            except BaseException:
                result = Failure()
                ok = False
                if onResult is None:
                    log.error("Unhandled error in thread pool call %r", func, exc_info=True)
            if onResult is not None:
                try:
                    onResult(ok, result)
                except BaseException:
                    log.error("Error in thread pool result callback", exc_info=True)
            del item, func, args, kw, result
            with lock:
                self._idle += 1

    def adjustPoolsize(self, minthreads: int | None = None, maxthreads: int | None = None) -> None:
        """Change the pool's size limits; grows at once if work is waiting."""
        minthreads = self.min if minthreads is None else minthreads
        maxthreads = self.max if maxthreads is None else maxthreads
        if minthreads < 0 or maxthreads < 1 or minthreads > maxthreads:
            raise ValueError(f"bad pool size: minthreads={minthreads}, maxthreads={maxthreads}")
        with self._lock:
            self.min, self.max = minthreads, maxthreads
            if self.started:
                while len(self.threads) < self.min:
                    self._spawn()
                self._grow()

    def stop(self, timeout: float = 5.0) -> None:
        """Let queued work finish, then end every worker (waiting up to ``timeout`` each)."""
        with self._lock:
            self.joined = True
            self.started = False
            threads = list(self.threads)
            self.threads = []
        for _ in threads:
            self._queue.put(_STOP)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(timeout)
        with self._lock:
            self._idle = 0


def deferToThreadPool(
    reactor: IReactorThreads, threadpool: ThreadPool, f: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Run ``f`` in ``threadpool``; return a Deferred fired in ``reactor``'s thread."""
    from inspector.defer import Deferred

    d: Deferred[Any] = Deferred()

    def onResult(success: bool, result: Any) -> None:
        if success:
            reactor.callFromThread(d.callback, result)
        else:
            reactor.callFromThread(d.errback, result)

    threadpool.callInThreadWithCallback(onResult, f, *args, **kwargs)
    return d


def deferToThread(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``f`` in the default reactor's thread pool; return a Deferred of its result."""
    from inspector.reactors import default_reactor

    reactor = default_reactor()
    return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args, **kwargs)


def callMultipleInThread(tupleList: list[tuple[Callable[..., Any], tuple, dict]]) -> None:
    """Run several ``(f, args, kwargs)`` one after another in one pool thread."""
    from inspector.reactors import default_reactor

    def run_all() -> None:
        for f, a, kw in tupleList:
            f(*a, **kw)

    default_reactor().callInThread(run_all)


def blockingCallFromThread(reactor: IReactorThreads, f: Callable[..., Any], *a: Any, **kw: Any) -> Any:
    """From a non-loop thread: run ``f`` in the loop, wait, and return or raise its result.

    ``f`` may return a Deferred; the call waits until it fires.
    """
    from inspector.defer import maybeDeferred

    done = threading.Event()
    box: list[Any] = []

    def in_loop() -> None:
        def store(result: Any) -> None:
            box.append(result)
            done.set()

        maybeDeferred(f, *a, **kw).addBoth(store)

    reactor.callFromThread(in_loop)
    done.wait()
    result = box[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result
