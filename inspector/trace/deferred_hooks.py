"""Hooks for Deferreds (a mixin of the Tracer), called from ``inspector/defer.py``.

These run at the hook, not later: a Deferred's number and creation site, and a
callback's result description, must be taken while the objects exist, and holding a
Deferred for later would change when "Unhandled error in Deferred" is reported.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections import OrderedDict
from types import FrameType
from typing import TYPE_CHECKING, Any

from inspector.trace import events as ev
from inspector.trace.util import callable_location, callable_name, is_failure, reason_parts, safe_repr

if TYPE_CHECKING:
    from inspector.failure import Failure

_now = time.monotonic

#: Frames in these files are skipped when looking for where a Deferred was created.
_SKIP_FILES: set[str] = {__file__}


def skip_frames_in(filename: str) -> None:
    """Treat code in ``filename`` as framework plumbing when finding creation sites."""
    _SKIP_FILES.add(filename)


def describe_result(result: Any, limit: int) -> str:
    """A short, safe description of a callback's result or a Deferred's outcome."""
    if is_failure(result):
        error_type, message = reason_parts(result)
        return f"{error_type}: {message}"[:limit]
    return safe_repr(result, limit)


class DeferredHooks:
    """Deferred hooks; expects the Tracer's capture machinery and context."""

    config: Any
    trace: Any
    turn: int
    reactor: str
    timer: int
    # Provided by Tracer (see Tracer.__init__ for what each holds).
    _deferreds: OrderedDict[int, int]
    _deferred_ids: int
    _callbacks: list[tuple[int, str, float, Any]]
    _pending_since: OrderedDict[int, tuple[float, str, str]]
    _waiting_on: OrderedDict[int, int]
    _held: OrderedDict[int, int]
    _unfired: OrderedDict[int, Any]
    _unfired_refs: dict[Any, int]
    _abandoned: list[int]

    def _emit(self, event: ev.Event) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _warn(self, category: str, message: str, subject: int = 0, details: str = "") -> None:  # pragma: no cover
        raise NotImplementedError

    def _slow(self, name: str, location: str, duration: float) -> None:  # pragma: no cover
        raise NotImplementedError

    def _context_conn(self) -> int:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def sync(self) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    # -- ids ------------------------------------------------------------------------

    def _did(self, d: Any) -> int:
        did = self._deferreds.get(id(d))
        if did is None:
            did = self._register_deferred(d, "", "(created before tracing)")
        return did

    def _register_deferred(self, d: Any, site: str, function: str) -> int:
        self._deferred_ids += 1
        did = self._deferred_ids
        deferreds = self._deferreds
        deferreds[id(d)] = did
        if len(deferreds) > self.config.tracked_deferreds:
            deferreds.popitem(last=False)
        now = _now()
        conn = self._context_conn()
        self._pending_since[did] = (now, site, function)
        if len(self._pending_since) > self.config.pending_deferreds:
            self._pending_since.popitem(last=False)
        # A Deferred dropped before it ever fires is reported as abandoned, so the window
        # does not count it as pending forever; the reference goes once it fires.
        ref = weakref.ref(d, self._deferred_collected)
        self._unfired[did] = ref
        self._unfired_refs[ref] = did
        if len(self._unfired) > self.config.pending_deferreds:
            self._unfired_refs.pop(self._unfired.popitem(last=False)[1], None)
        self._emit(ev.DeferredCreated(0, now, self.reactor, self.turn, conn, did, site, function,
                                      self.timer))
        return did

    def _deferred_collected(self, ref: Any) -> None:
        # Runs wherever the last reference went (inside any hook, even inside _emit):
        # only note it here; _report_abandoned emits the warnings later.
        did = self._unfired_refs.pop(ref, 0)
        if did:
            self._abandoned.append(did)

    def _report_abandoned(self) -> None:
        """Say which Deferreds were garbage-collected without ever firing."""
        abandoned, self._abandoned = self._abandoned, []
        for did in abandoned:
            self._unfired.pop(did, None)
            self._waiting_on.pop(did, None)
            created = self._pending_since.pop(did, None)
            site, function = (created[1], created[2]) if created is not None else ("", "")
            self._warn(
                "abandoned",
                f"Deferred {did} was garbage-collected without ever firing",
                subject=did,
                details=f"created at {site or '?'} in {function or '?'}",
            )

    # -- hooks ----------------------------------------------------------------------

    def deferred_created(self, d: Any) -> None:
        """``d`` was just constructed; its site is the first caller outside plumbing."""
        frame: FrameType | None = sys._getframe(1)
        skip = _SKIP_FILES
        while frame is not None and frame.f_code.co_filename in skip:
            frame = frame.f_back
        if frame is None:
            site = function = ""
        else:
            code = frame.f_code
            site, function = f"{code.co_filename}:{frame.f_lineno}", code.co_name
        self._register_deferred(d, site, function)

    def callbacks_added(self, d: Any, callback: Any, errback: Any) -> None:
        """``callback`` and/or ``errback`` were added to ``d`` at one point of its chain."""
        if callback is None and errback is None:
            return
        if callback is errback:
            kind, name = "both", callable_name(callback)
        elif errback is None:
            kind, name = "callback", callable_name(callback)
        elif callback is None:
            kind, name = "errback", callable_name(errback)
        else:
            kind, name = "both", f"{callable_name(callback)} / {callable_name(errback)}"
        self._emit(ev.CallbackAdded(0, _now(), self.reactor, self.turn, self._context_conn(),
                                    self._did(d), name, kind))

    def callback_started(self, d: Any, fn: Any, current: Any) -> None:
        """``fn`` is about to run on ``d`` with ``current`` (a value or a Failure)."""
        self._callbacks.append((self._did(d), "failure" if is_failure(current) else "value",
                                _now(), fn))

    def callback_finished(self, d: Any, result: Any) -> None:
        """The callback of the matching :meth:`callback_started` returned ``result``."""
        if not self._callbacks:
            return
        did, input_kind, start, fn = self._callbacks.pop()
        duration = _now() - start
        name = callable_name(fn)
        self._emit(ev.CallbackRan(0, start, self.reactor, self.turn, self._context_conn(), did,
                                  name, duration, input_kind, type(result).__name__,
                                  describe_result(result, self.config.repr_limit)))
        self._waiting_on.pop(did, None)
        if duration > self.config.slow_callback:
            self._slow(name, callable_location(fn), duration)

    def deferred_chained(self, d: Any, other: Any) -> None:
        """A callback of ``d`` returned ``other``; ``d`` waits for it."""
        did, other_id = self._did(d), self._did(other)
        self._waiting_on[did] = other_id
        if len(self._waiting_on) > self.config.pending_deferreds:
            self._waiting_on.popitem(last=False)
        self._emit(ev.DeferredChained(0, _now(), self.reactor, self.turn, self._context_conn(),
                                      did, other_id))

    def deferred_resumed(self, d: Any, inner: Any) -> None:
        """``inner``, which ``d`` waited on (:meth:`deferred_chained`), has its result;
        ``d``'s chain goes on with it."""
        did = self._did(d)
        self._waiting_on.pop(did, None)
        self._emit(ev.DeferredResumed(0, _now(), self.reactor, self.turn, self._context_conn(),
                                      did, self._did(inner)))

    def deferred_paused(self, d: Any) -> None:
        """``d.pause()`` was called."""
        self._emit(ev.DeferredPaused(0, _now(), self.reactor, self.turn, self._context_conn(),
                                     self._did(d)))

    def deferred_unpaused(self, d: Any) -> None:
        """``d.unpause()`` was called."""
        self._emit(ev.DeferredUnpaused(0, _now(), self.reactor, self.turn, self._context_conn(),
                                       self._did(d)))

    def deferred_fired(self, d: Any, result: Any) -> None:
        """``d`` got its result (``callback`` or ``errback``)."""
        did = self._did(d)
        self._pending_since.pop(did, None)
        ref = self._unfired.pop(did, None)
        if ref is not None:
            self._unfired_refs.pop(ref, None)
        if is_failure(result):
            error_type, message = reason_parts(result)
            self._emit(ev.DeferredFailed(0, _now(), self.reactor, self.turn, self._context_conn(),
                                         did, error_type, message))
        else:
            self._emit(ev.DeferredFired(0, _now(), self.reactor, self.turn, self._context_conn(),
                                        did, type(result).__name__,
                                        describe_result(result, self.config.repr_limit)))

    def deferred_cancelled(self, d: Any) -> None:
        """``d.cancel()`` was called."""
        self._emit(ev.DeferredCancelled(0, _now(), self.reactor, self.turn, self._context_conn(),
                                        self._did(d)))

    def deferred_failure_held(self, d: Any, holder: Any) -> None:
        """``d``'s chain ended in a Failure, now kept by ``holder`` until handled or collected."""
        self._held[id(holder)] = self._did(d)
        if len(self._held) > self.config.pending_deferreds:
            self._held.popitem(last=False)

    def deferred_unhandled(self, holder: object, failure: Failure) -> None:
        """The Failure kept by ``holder`` (named by :meth:`deferred_failure_held`, or a
        Deferred) was garbage-collected without anyone handling it. Never raises: it runs
        from garbage collection."""
        try:
            self._report_unhandled(holder, failure)
        except Exception:  # noqa: BLE001 - never raise out of garbage collection
            pass

    def _report_unhandled(self, holder: Any, failure: Any) -> None:
        did = self._held.pop(id(holder), 0) or self._deferreds.get(id(holder), 0)
        error_type, message = reason_parts(failure)
        text = ""
        get_traceback = getattr(failure, "getTraceback", None)
        if get_traceback is not None:
            try:
                text = get_traceback()
            except Exception:  # noqa: BLE001 - report what we can
                text = ""
        self._emit(ev.DeferredUnhandled(0, _now(), self.reactor, self.turn, self._context_conn(),
                                        did, error_type, message, text))
        self.sync()
        chain = self.trace.chain(did) if did else []
        details = "\n".join(
            f"Deferred {s.id} created at {s.site or '?'} in {s.function or '?'}: "
            + (", ".join(c.name for c in s.callbacks) or "no callbacks")
            for s in chain
        )
        self._warn("unhandled", f"Unhandled error in Deferred {did}: {error_type}: {message}",
                   subject=did, details=details)

    # -- the long-pending check -----------------------------------------------------------

    def _check_pending(self, now: float) -> None:
        """Warn once about each Deferred pending longer than the configured limit.

        Each one warned about leaves the creation-ordered queue, so a check costs only
        the warnings it raises.
        """
        limit = now - self.config.pending_deferred
        pending = self._pending_since
        while pending:
            did, (created, site, function) = next(iter(pending.items()))
            if created > limit:
                break
            pending.popitem(last=False)
            other = self._waiting_on.get(did)
            waits = f"waits on Deferred {other}" if other else "waits for callback() or errback()"
            self._warn(
                "pending",
                f"Deferred {did} pending for {now - created:.0f} s; {waits}",
                subject=did,
                details=f"created at {site or '?'} in {function or '?'}",
            )
